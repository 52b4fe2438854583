//! Unit tests of `check`'s findings and `status`'s rows and rendering.

use super::check::*;
use super::status::*;
use super::table::*;
use super::*;
use crate::core::lsn::Lsn;
use crate::core::model::{ClusterView, NodeState, Settings, Slot, WalReceiver, Walsender};

fn settings() -> Settings {
    Settings {
        synchronous_commit: "on".into(),
        synchronous_standby_names: "ANY 1 (standby1, standby2)".into(),
        wal_level: "replica".into(),
        max_wal_senders: "10".into(),
        max_replication_slots: "10".into(),
        hot_standby: "on".into(),
        hot_standby_feedback: "on".into(),
        wal_keep_size: "0".into(),
        max_slot_wal_keep_size: "10GB".into(),
    }
}

fn node(name: &str, state: Option<NodeState>) -> NodeReport {
    let mut r = NodeReport::new(name, name);
    r.up = state.is_some();
    r.state = state;
    if !r.up {
        r.last_error = Some("connect to x: connection refused".into());
    }
    r
}

fn primary() -> NodeState {
    NodeState {
        server_version: "15.18".into(),
        system_identifier: Some("1".into()),
        wal_lsn: Some(Lsn(3000)),
        walsenders: ["standby1", "standby2"]
            .iter()
            .map(|n| Walsender {
                application_name: n.to_string(),
                state: Some("streaming".into()),
                sent_lsn: Some(Lsn(3000)),
                write_lsn: Some(Lsn(2000)),
                flush_lsn: Some(Lsn(2000)),
                replay_lsn: Some(Lsn(1000)),
                sync_state: Some("quorum".into()),
                ..Walsender::default()
            })
            .collect(),
        slots: vec![Slot {
            slot_name: "standby1".into(),
            slot_type: "physical".into(),
            active: true,
            restart_lsn: Some(Lsn(1000)),
            ..Slot::default()
        }],
        settings: settings(),
        ..NodeState::default()
    }
}

fn standby(slot: Option<&str>) -> NodeState {
    NodeState {
        server_version: "15.18".into(),
        system_identifier: Some("1".into()),
        in_recovery: true,
        wal_lsn: Some(Lsn(1000)),
        replay_lsn: Some(Lsn(1000)),
        replay_paused: Some(false),
        wal_receiver: Some(WalReceiver {
            status: Some("streaming".into()),
            slot_name: slot.map(str::to_string),
            ..WalReceiver::default()
        }),
        settings: settings(),
        ..NodeState::default()
    }
}

fn problems(f: &[Finding]) -> Vec<String> {
    f.iter()
        .filter(|f| f.severity == Severity::Problem)
        .map(|f| f.what.clone())
        .collect()
}

#[test]
fn healthy_cluster_has_no_problem_but_a_slotless_standby_is_flagged() {
    let nodes = [
        node("primary", Some(primary())),
        node("standby1", Some(standby(Some("standby1")))),
        node("standby2", Some(standby(None))),
    ];
    let users = vec!["exporter".to_string(); 3];
    let p = problems(&check_cluster(&nodes, &users));
    assert_eq!(
        p,
        ["streams without a replication slot: the primary may remove WAL it still needs"]
    );
}

#[test]
fn missing_pg_monitor_and_minimal_wal_level_come_with_their_fix() {
    let mut p = primary();
    p.privilege_missing = true;
    p.settings.wal_level = "minimal".into();
    let f = check_cluster(&[node("primary", Some(p))], &["mon".to_string()]);
    let fixes: Vec<_> = f
        .iter()
        .filter(|f| f.severity == Severity::Problem)
        .filter_map(|f| f.fix.clone())
        .collect();
    assert!(
        fixes.contains(&"GRANT pg_monitor TO mon;".to_string()),
        "{fixes:?}"
    );
    assert!(
        fixes.iter().any(|x| x.contains("wal_level = 'replica'")),
        "{fixes:?}"
    );
}

#[test]
fn cluster_wide_checks_catch_split_brain_and_foreign_nodes() {
    let mut other = primary();
    other.system_identifier = Some("2".into());
    let nodes = [
        node("a", Some(primary())),
        node("b", Some(other)),
        node("c", None),
    ];
    let p = problems(&check_cluster(&nodes, &[]));
    assert!(p.iter().any(|x| x.contains("2 primaries")), "{p:?}");
    assert!(
        p.iter()
            .any(|x| x.contains("2 different system identifiers")),
        "{p:?}"
    );
    assert!(p.iter().any(|x| x.starts_with("unreachable")), "{p:?}");
}

#[test]
fn a_quorum_that_cannot_be_met_is_a_problem() {
    let mut p = primary();
    p.settings.synchronous_standby_names = "ANY 2 (standby1, ghost)".into();
    let nodes = [
        node("primary", Some(p)),
        node("standby1", Some(standby(Some("standby1")))),
    ];
    let probs = problems(&check_cluster(&nodes, &[]));
    assert!(
        probs.iter().any(|x| x.contains("commits will block")),
        "{probs:?}"
    );
}

#[test]
fn status_rows_show_lag_per_stage_from_the_upstream() {
    let nodes = [
        node("primary", Some(primary())),
        node("standby1", Some(standby(Some("standby1")))),
    ];
    let view = ClusterView {
        primaries: 1,
        ..ClusterView::default()
    };
    let s = cluster_status("pg", &nodes, &view);
    let row = &s.nodes[1];
    assert_eq!(
        (
            row.lag_sent_bytes,
            row.lag_write_bytes,
            row.lag_flush_bytes,
            row.lag_replay_bytes
        ),
        (Some(0), Some(1000), Some(1000), Some(2000))
    );
    assert_eq!(s.slots[0].retained_bytes, Some(2000));
    let text = render_status(&s, false);
    assert!(
        text.contains("standby1") && text.contains("1000 B"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(json["nodes"][1]["lag_replay_bytes"], 2000);
}

#[test]
fn human_bytes_uses_iec_units() {
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(WARN_BYTES), "512.0 MiB");
    assert_eq!(human_bytes(CRIT_BYTES + CRIT_BYTES / 2), "1.5 GiB");
}
