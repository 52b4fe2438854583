//! Unit tests of `check`'s findings and `status`'s rows and rendering.

use std::sync::Arc;

use super::check::*;
use super::status::*;
use super::table::*;
use super::*;
use crate::core::lsn::Lsn;
use crate::core::model::{
    ClusterView, NodeState, PatroniDynamicConfig, PatroniMemberView, PatroniView, RecoverySettings,
    Settings, Slot, WalReceiver, Walsender,
};

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
        settings: Arc::new(settings()),
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
        settings: Arc::new(settings()),
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
    Arc::make_mut(&mut p.settings).wal_level = "minimal".into();
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
    Arc::make_mut(&mut p.settings).synchronous_standby_names = "ANY 2 (standby1, ghost)".into();
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
    let static_nodes: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let s = cluster_status("pg", &nodes, &view, None, &static_nodes, &[]);
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

fn recovery(delay_ms: &str, restore: &str, timeout: &str) -> Option<Arc<RecoverySettings>> {
    Some(Arc::new(RecoverySettings {
        recovery_min_apply_delay: Some(delay_ms.into()),
        restore_command: Some(restore.into()),
        archive_mode: Some("on".into()),
        archive_timeout: Some(timeout.into()),
    }))
}

#[test]
fn delayed_and_archive_fed_standbys_are_said_to_be_so_by_design() {
    let mut p = primary();
    p.recovery = recovery("0", "", "0");
    let mut delayed = standby(Some("standby1"));
    delayed.recovery = recovery("300000", "", "0");
    let mut fed = standby(None);
    fed.wal_receiver = None;
    fed.recovery = recovery("0", "cp /a/%f %p", "0");
    let mut archive_node = node("archive1", Some(fed));
    archive_node.expect_streaming = false;
    let nodes = [
        node("primary", Some(p)),
        node("standby1", Some(delayed)),
        archive_node,
    ];
    let view = crate::core::cluster::observe(
        &mut crate::core::cluster::ClusterHistory::new(
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(1),
        ),
        0.0,
        &nodes,
    );
    let static_nodes: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let status = cluster_status("pg", &nodes, &view, None, &static_nodes, &[]);
    assert_eq!(status.nodes[1].state, "streaming (delayed by design, 5min)");
    assert_eq!(
        status.nodes[2].state,
        "not streaming (archive-fed by design)"
    );
    let f = check_cluster(&nodes, &[]);
    let said = |text: &str| f.iter().any(|x| x.what.contains(text));
    assert!(said("delayed by design, 5min"), "{f:?}");
    // The primary has archive_timeout = 0 while archive1 is fed from the archive: a note.
    let note = f
        .iter()
        .find(|x| x.what.starts_with("archive_timeout = 0 while archive1"))
        .unwrap_or_else(|| panic!("{f:?}"));
    assert_eq!(note.severity, Severity::Note);
    // Declared: no "fell back" problem.
    assert!(!said("not streaming: its stream broke"), "{f:?}");

    // The same standby undeclared: its fall-back to the archive is a problem.
    let mut nodes = nodes;
    nodes[2].expect_streaming = true;
    let f = check_cluster(&nodes, &[]);
    assert!(
        problems(&f)
            .iter()
            .any(|p| p.contains("replays from the WAL archive")),
        "{f:?}"
    );
}

#[test]
fn human_durations_read_as_an_operator_writes_them() {
    assert_eq!(human_duration(300.0), "5min");
    assert_eq!(human_duration(5400.0), "1h 30min");
    assert_eq!(human_duration(15.0), "15s");
    assert_eq!(human_duration(0.0), "0s");
}

fn patroni_member(name: &str, role: &str, candidate: Option<bool>) -> PatroniMemberView {
    PatroniMemberView {
        node: name.into(),
        discovered: true,
        up: true,
        member: true,
        role: Some(role.into()),
        state: Some(
            if role == "leader" {
                "running"
            } else {
                "streaming"
            }
            .into(),
        ),
        failover_candidate: candidate,
        not_candidate_because: match candidate {
            Some(false) if role == "leader" => Some("it is the leader".into()),
            Some(false) => Some("tagged nofailover".into()),
            _ => None,
        },
        failover_lag_bytes: (role != "leader").then_some(1000),
        ..PatroniMemberView::default()
    }
}

/// m1 the leader (primary), m2 and m3 replicas and candidates, asynchronous.
fn patroni_cluster() -> (PatroniView, Vec<NodeReport>) {
    let mut p = primary();
    Arc::make_mut(&mut p.settings).synchronous_standby_names = String::new();
    let view = PatroniView {
        members: vec![
            patroni_member("m1", "leader", Some(false)),
            patroni_member("m2", "replica", Some(true)),
            patroni_member("m3", "replica", Some(true)),
        ],
        reachable: true,
        paused: Some(false),
        failover_candidates: Some(2),
        config: Some(PatroniDynamicConfig {
            synchronous_mode: "off".into(),
            maximum_lag_on_failover_bytes: 1 << 20,
            ..PatroniDynamicConfig::default()
        }),
        ..PatroniView::default()
    };
    let nodes = vec![
        node("m1", Some(p)),
        node("m2", Some(standby(Some("m2")))),
        node("m3", Some(standby(Some("m3")))),
    ];
    (view, nodes)
}

#[test]
fn a_healthy_patroni_cluster_has_no_problem_and_shows_lag_beside_the_maximum() {
    let (view, nodes) = patroni_cluster();
    let f = check_patroni(&view, None, &nodes);
    assert_eq!(problems(&f), Vec::<String>::new());
    let whats: Vec<&str> = f.iter().map(|f| f.what.as_str()).collect();
    assert!(
        whats.contains(&"2 failover candidate(s): m2, m3"),
        "{whats:?}"
    );
    assert!(
        whats.contains(&"every DCS member reachable over SQL (3)"),
        "{whats:?}"
    );
    let lag = f
        .iter()
        .find(|f| f.node.as_deref() == Some("m2") && f.what.starts_with("lag"))
        .unwrap();
    assert_eq!(lag.severity, Severity::Ok);
    assert!(
        lag.what
            .contains("maximum_lag_on_failover 1.0 MiB (1048576 bytes)")
    );
}

#[test]
fn an_unreachable_rest_api_is_one_problem_with_the_error() {
    let view = PatroniView::default();
    let f = check_patroni(
        &view,
        Some("GET http://10.0.0.1:8008/cluster: connection refused"),
        &[],
    );
    assert_eq!(
        problems(&f),
        [
            "Patroni REST API unreachable from the exporter: GET http://10.0.0.1:8008/cluster: connection refused"
        ]
    );
}

#[test]
fn no_failover_candidate_is_a_problem_with_every_members_reason() {
    let (mut view, nodes) = patroni_cluster();
    for m in view.members.iter_mut().skip(1) {
        m.failover_candidate = Some(false);
        m.not_candidate_because = Some("maintenance mode (paused): no automatic failover".into());
    }
    view.paused = Some(true);
    view.failover_candidates = Some(0);
    let f = check_patroni(&view, None, &nodes);
    let p = problems(&f);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("no failover candidate"), "{p:?}");
    assert!(
        p[0].contains("m1: it is the leader; m2: maintenance mode (paused)"),
        "{p:?}"
    );
    assert!(
        f.iter()
            .any(|f| f.severity == Severity::Note && f.what.starts_with("maintenance mode on"))
    );
}

#[test]
fn synchronous_mode_and_synchronous_standby_names_must_agree() {
    // synchronous_mode on, but the leader's synchronous_standby_names is empty.
    let (mut view, nodes) = patroni_cluster();
    view.config.as_mut().unwrap().synchronous_mode = "on".into();
    let p = problems(&check_patroni(&view, None, &nodes));
    assert!(
        p.iter().any(|x| x
            .contains("synchronous_mode = on but the leader's synchronous_standby_names is empty")),
        "{p:?}"
    );
    // The reverse: off, and the leader has a list Patroni does not manage.
    let (view, mut nodes) = patroni_cluster();
    Arc::make_mut(&mut nodes[0].state.as_mut().unwrap().settings).synchronous_standby_names =
        "m2".into();
    let p = problems(&check_patroni(&view, None, &nodes));
    assert!(
        p.iter().any(|x| x.starts_with(
            "synchronous_mode is off but the leader has synchronous_standby_names = 'm2'"
        )),
        "{p:?}"
    );
    // Both on: fine.
    let (mut view, mut nodes) = patroni_cluster();
    view.config.as_mut().unwrap().synchronous_mode = "on".into();
    Arc::make_mut(&mut nodes[0].state.as_mut().unwrap().settings).synchronous_standby_names =
        "m2".into();
    assert_eq!(
        problems(&check_patroni(&view, None, &nodes)),
        Vec::<String>::new()
    );
}

#[test]
fn a_dcs_member_unreachable_over_sql_or_not_polled_is_named() {
    let (view, mut nodes) = patroni_cluster();
    nodes[2] = node("m3", None);
    let p = problems(&check_patroni(&view, None, &nodes));
    assert_eq!(p, ["DCS members unreachable over SQL: m3"]);
    nodes.pop();
    let p = problems(&check_patroni(&view, None, &nodes));
    assert_eq!(
        p,
        [
            "DCS members unreachable over SQL: m3 (not polled: not a [[cluster.node]] and discover = false)"
        ]
    );
}

#[test]
fn a_replica_past_maximum_lag_on_failover_is_a_note_beside_its_reason() {
    let (mut view, nodes) = patroni_cluster();
    view.members[2].failover_lag_bytes = Some(3 << 20);
    let f = check_patroni(&view, None, &nodes);
    let lag = f
        .iter()
        .find(|f| f.node.as_deref() == Some("m3") && f.what.starts_with("lag"))
        .unwrap();
    assert_eq!(lag.severity, Severity::Note);
    assert!(
        lag.what.starts_with("lag 3.0 MiB (3145728 bytes"),
        "{}",
        lag.what
    );
}

#[test]
fn status_shows_patroni_role_state_candidate_and_origin() {
    let (mut view, nodes) = patroni_cluster();
    view.members[0].discovered = false;
    let sql = ClusterView {
        primaries: 1,
        ..ClusterView::default()
    };
    let s = cluster_status("ha", &nodes, &sql, Some(&view), &["m1".to_string()], &[]);
    assert_eq!(s.nodes[0].origin, "static");
    assert_eq!(s.nodes[1].origin, "discovered");
    assert_eq!(s.nodes[0].patroni_role.as_deref(), Some("leader"));
    assert_eq!(s.nodes[1].patroni_state.as_deref(), Some("streaming"));
    assert_eq!(s.nodes[1].failover_candidate, Some(true));
    let text = render_status(&s, false);
    assert!(
        text.contains("patroni role") && text.contains("discovered"),
        "{text}"
    );
    assert!(text.contains("2 failover candidate(s)"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(json["nodes"][0]["patroni_role"], "leader");
    assert_eq!(json["nodes"][2]["origin"], "discovered");
    assert_eq!(json["patroni"]["failover_candidates"], 2);
    // Without Patroni: no Patroni columns, every node static.
    let s = cluster_status(
        "pg",
        &nodes,
        &sql,
        None,
        &["m1".into(), "m2".into(), "m3".into()],
        &[],
    );
    assert!(
        s.nodes
            .iter()
            .all(|r| r.origin == "static" && r.patroni_role.is_none())
    );
    assert!(!render_status(&s, false).contains("patroni"));
}
