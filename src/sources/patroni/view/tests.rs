//! Table tests of the Patroni view: recorded `/cluster` replies of real Patroni against
//! hand-made node reports (the SQL truth).

use super::*;
use crate::core::lsn::Lsn;
use crate::core::model::NodeState;
use crate::sources::patroni::api::{parse_cluster, parse_config, parse_history};

const NOW: f64 = 1_764_584_600.0;
const MIB: u64 = 1 << 20;

fn fixture(file: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/patroni/4.1.4/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn reply(version: &str) -> PatroniStatus {
    PatroniStatus {
        version: Some(version.into()),
        scope: Some("pg".into()),
        dcs_last_seen: Some(NOW as i64 - 3),
        ..PatroniStatus::default()
    }
}

/// A pass of Patroni 4.1.4 that saw `cluster` and got an answer from every member's /patroni.
fn round(cluster: &str) -> PatroniRound {
    let cluster = parse_cluster(&fixture(cluster)).unwrap();
    let members = cluster
        .members
        .iter()
        .map(|m| (m.name.clone().unwrap(), Ok(reply("4.1.4"))))
        .collect();
    PatroniRound {
        at: NOW,
        cluster: Some(cluster),
        cluster_error: None,
        members,
        history: Some(parse_history(&fixture("history-initial.json")).unwrap()),
        config: Some(parse_config(&fixture("config.json")).unwrap()),
    }
}

fn primary(name: &str, lsn: u64, tl: u32) -> NodeReport {
    NodeReport {
        up: true,
        state: Some(NodeState {
            in_recovery: false,
            timeline_id: Some(tl),
            wal_lsn: Some(Lsn(lsn)),
            ..NodeState::default()
        }),
        ..NodeReport::new(name, name)
    }
}

fn standby(name: &str, receive: u64, replay: u64) -> NodeReport {
    NodeReport {
        up: true,
        state: Some(NodeState {
            in_recovery: true,
            timeline_id: Some(1),
            wal_lsn: Some(Lsn(replay)),
            receive_lsn: Some(Lsn(receive)),
            replay_lsn: Some(Lsn(replay)),
            ..NodeState::default()
        }),
        ..NodeReport::new(name, name)
    }
}

fn sql(primaries: u32) -> ClusterView {
    ClusterView {
        primaries,
        ..ClusterView::default()
    }
}

fn view(
    round: &PatroniRound,
    nodes: &[NodeReport],
    primaries: u32,
    memory: &mut Memory,
) -> PatroniView {
    memory.update_membership(round, NOW, Duration::from_secs(3600));
    judge(Some(round), &[], nodes, &sql(primaries), NOW, memory)
}

#[test]
fn a_healthy_cluster_agrees_and_both_replicas_are_candidates() {
    let r = round("cluster-healthy.json");
    let nodes = [
        primary("m1", 64 * MIB, 1),
        standby("m2", 64 * MIB, 64 * MIB),
        standby("m3", 64 * MIB, 64 * MIB),
    ];
    let v = view(&r, &nodes, 1, &mut Memory::default());
    assert!(v.reachable);
    assert_eq!(v.leader_mismatch, Some(false));
    assert_eq!(v.cluster_unlocked, Some(false));
    assert_eq!(v.paused, Some(false));
    assert_eq!(v.failover_candidates, Some(2));
    let roles: Vec<_> = v
        .members
        .iter()
        .map(|m| (m.node.as_str(), m.role.as_deref(), m.failover_candidate))
        .collect();
    assert_eq!(
        roles,
        [
            ("m1", Some("leader"), Some(false)),
            ("m2", Some("replica"), Some(true)),
            ("m3", Some("replica"), Some(true))
        ]
    );
    assert!(v.members.iter().all(|m| m.up && m.member && m.discovered));
    assert_eq!(v.members[0].dcs_last_seen_age, Some(3.0));
    assert_eq!(v.timeline_switches, Some(0));
    assert_eq!(v.last_promotion, None);
    assert_eq!(v.last_failover_lost_bytes, None);
}

#[test]
fn leader_agreement_is_judged_against_sql() {
    let r = round("cluster-healthy.json");
    let cases = [
        // (what, nodes, SQL primaries) → mismatch
        (
            "Patroni's leader is in recovery (demoted behind its back)",
            vec![standby("m1", 1, 1), primary("m2", 1, 2)],
            1,
            Some(true),
        ),
        (
            "two SQL primaries",
            vec![primary("m1", 1, 1), primary("m2", 1, 2)],
            2,
            Some(true),
        ),
        (
            "the leader's node is down: unknown",
            vec![NodeReport::new("m1", "m1"), primary("m2", 1, 2)],
            1,
            None,
        ),
    ];
    for (what, nodes, primaries, want) in cases {
        let v = view(&r, &nodes, primaries, &mut Memory::default());
        assert_eq!(v.leader_mismatch, want, "{what}");
    }
}

#[test]
fn replicas_past_maximum_lag_on_failover_by_received_wal_are_not_candidates() {
    let r = round("cluster-healthy.json");
    // config.json: maximum_lag_on_failover as recorded (Patroni's default 1 MiB when absent).
    let max = r
        .config
        .as_ref()
        .unwrap()
        .maximum_lag_on_failover_or_default();
    let leader = 512 * MIB;
    let nodes = [
        primary("m1", leader, 1),
        // Received everything, replayed little: Patroni counts received WAL.
        standby("m2", leader, leader - 400 * MIB),
        // Received too little.
        standby("m3", leader - max - 1, leader - max - 1),
    ];
    let v = view(&r, &nodes, 1, &mut Memory::default());
    assert_eq!(v.failover_candidates, Some(1));
    assert_eq!(v.members[1].failover_candidate, Some(true));
    assert_eq!(v.members[2].failover_candidate, Some(false));
    assert!(
        v.members[2]
            .not_candidate_because
            .as_deref()
            .unwrap()
            .contains("exceeds maximum_lag_on_failover")
    );
}

#[test]
fn maintenance_mode_leaves_no_candidate() {
    let r = round("cluster-paused.json");
    let nodes = [
        primary("m1", MIB, 1),
        standby("m2", MIB, MIB),
        standby("m3", MIB, MIB),
    ];
    let v = view(&r, &nodes, 1, &mut Memory::default());
    assert_eq!(v.paused, Some(true));
    assert_eq!(v.failover_candidates, Some(0));
}

#[test]
fn the_data_a_failover_lost_is_the_old_primarys_last_position_past_the_switch_lsn() {
    let mut memory = Memory::default();
    let mut r = round("cluster-healthy.json");
    let history = parse_history(&fixture("history-after-switchover.json")).unwrap();
    let switch = history.entries[0].switch_lsn;
    // Seen before the failover: the old primary wrote 3 MiB past what became the switch point.
    let before = [
        primary("m1", switch + 3 * MIB, 1),
        standby("m2", switch, switch),
    ];
    view(&r, &before, 1, &mut memory);
    r.history = Some(history);
    let after = [
        standby("m1", switch, switch),
        primary("m2", switch + MIB, 2),
    ];
    let v = view(&r, &after, 1, &mut memory);
    assert_eq!(v.last_failover_lost_bytes, Some(3 * MIB));
    assert_eq!(v.timeline_switches, Some(1));
    let p = v.last_promotion.unwrap();
    assert_eq!((p.node.as_deref(), p.timeline), (Some("m2"), 2));
    assert!(p.timestamp.is_some());
    // A clean switchover: the old primary's last position is before the switch LSN.
    let mut clean = Memory::default();
    let mut r2 = round("cluster-healthy.json");
    view(&r2, &[primary("m1", switch - 200, 1)], 1, &mut clean);
    r2.history = Some(parse_history(&fixture("history-after-switchover.json")).unwrap());
    let v = view(&r2, &after, 1, &mut clean);
    assert_eq!(v.last_failover_lost_bytes, Some(0));
    // An exporter that never saw the old timeline cannot say.
    let v = view(&r2, &after, 1, &mut Memory::default());
    assert_eq!(v.last_failover_lost_bytes, None);
}

#[test]
fn a_member_gone_from_the_dcs_stays_until_forget_after() {
    let mut memory = Memory::default();
    let r = round("cluster-healthy.json");
    assert!(memory.update_membership(&r, NOW, Duration::from_secs(60)));
    assert!(
        !memory.update_membership(&r, NOW, Duration::from_secs(60)),
        "same pass, no change"
    );
    let mut gone = r.clone();
    gone.at = NOW + 10.0;
    gone.cluster
        .as_mut()
        .unwrap()
        .members
        .retain(|m| m.name.as_deref() != Some("m3"));
    gone.members.remove("m3");
    assert!(
        !memory.update_membership(&gone, NOW + 10.0, Duration::from_secs(60)),
        "still polled"
    );
    let v = judge(Some(&gone), &[], &[], &sql(1), NOW + 10.0, &mut memory);
    let m3 = v.members.iter().find(|m| m.node == "m3").unwrap();
    assert!(!m3.member && !m3.up && m3.role.is_none());
    // Past forget_after it is forgotten.
    let mut later = gone.clone();
    later.at = NOW + 100.0;
    assert!(memory.update_membership(&later, NOW + 100.0, Duration::from_secs(60)));
    assert_eq!(memory.polled().len(), 2);
    // A pass where no member answered /cluster keeps the listing as it was.
    let mut blind = later.clone();
    blind.at = NOW + 200.0;
    blind.cluster = None;
    assert!(!memory.update_membership(&blind, NOW + 200.0, Duration::from_secs(60)));
}

#[test]
fn before_the_first_pass_everything_is_unknown() {
    let v = judge(None, &[], &[], &sql(1), NOW, &mut Memory::default());
    assert_eq!(v, PatroniView::default());
    assert!(!v.reachable);
}
