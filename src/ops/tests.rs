//! Unit tests of `check`'s findings and `status`'s rows and rendering.

use super::check::*;
use super::status::*;
use super::table::*;
use super::*;
use crate::core::lsn::Lsn;
use crate::core::model::{
    ClusterView, NodeState, RecoverySettings, Settings, Slot, WalReceiver, Walsender,
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

fn recovery(delay_ms: &str, restore: &str, timeout: &str) -> Option<RecoverySettings> {
    Some(RecoverySettings {
        recovery_min_apply_delay: Some(delay_ms.into()),
        restore_command: Some(restore.into()),
        archive_mode: Some("on".into()),
        archive_timeout: Some(timeout.into()),
    })
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
    let status = cluster_status("pg", &nodes, &view);
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
