//! Tests of the renderer: the golden file of a rich snapshot (also linted by `promtool`), and
//! focused cases for NULL handling, lag rules, label mapping, enums and escaping.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use super::*;
use crate::core::lsn::Lsn;
use crate::core::model::{
    Archiver, ClusterView, EndpointView, ErrorKind, ExporterState, PatroniDynamicConfig,
    PatroniMemberView, PatroniPromotion, PatroniView, PgbouncerDatabaseView, PgpoolBackendView,
    RecoverySettings, ReloadStatus, Settings, StandbyView, Subscription, WalReceiver,
};

const BUILD: BuildInfo = BuildInfo {
    version: "0.1.0",
    revision: "abc1234",
};

/// The primary's current LSN in the fixture.
const POS: u64 = 0x5_0000_0000;
const NOW: f64 = 1_700_000_000.0;
const KIB: u64 = 1024;

fn lsn(v: u64) -> Option<Lsn> {
    Some(Lsn(v))
}

fn settings(commit: &str, names: &str) -> Arc<Settings> {
    Arc::new(Settings {
        synchronous_commit: commit.into(),
        synchronous_standby_names: names.into(),
        max_slot_wal_keep_size: "1GB".into(),
        ..Settings::default()
    })
}

fn up_node(name: &str, state: NodeState) -> NodeReport {
    NodeReport {
        up: true,
        poll_duration: Some(0.0042),
        last_success: Some(NOW + 0.5),
        state: Some(state),
        ..NodeReport::new(name, name)
    }
}

fn primary_state() -> NodeState {
    NodeState {
        server_version_num: 170_002,
        server_version: "17.2 (Debian 17.2-1.pgdg120+1)".into(),
        system_identifier: Some("7301234567890123456".into()),
        in_recovery: false,
        timeline_id: Some(3),
        wal_lsn: lsn(POS),
        server_now: NOW,
        settings: settings("on", r#"ANY 1 ("node_b", "node c")"#),
        walsenders: vec![
            Walsender {
                application_name: "node_b".into(),
                state: Some("streaming".into()),
                sent_lsn: lsn(POS),
                write_lsn: lsn(POS - 4 * KIB),
                flush_lsn: lsn(POS - 8 * KIB),
                replay_lsn: lsn(POS - 16 * KIB),
                write_lag: Some(0.001),
                flush_lag: Some(0.002),
                replay_lag: Some(0.5),
                sync_priority: Some(1),
                sync_state: Some("quorum".into()),
                reply_time: Some(NOW - 0.25),
                ..Walsender::default()
            },
            // pg_receivewal: no replay position, and NULL lags once idle.
            Walsender {
                application_name: "pg_receivewal".into(),
                state: Some("streaming".into()),
                sent_lsn: lsn(POS),
                write_lsn: lsn(POS),
                flush_lsn: lsn(POS - 64 * KIB),
                replay_lsn: None,
                write_lag: None,
                flush_lag: None,
                replay_lag: None,
                sync_priority: Some(0),
                sync_state: Some("async".into()),
                reply_time: Some(NOW - 10.0),
                ..Walsender::default()
            },
            // A subscriber on the logical slot "cdc": not a standby.
            Walsender {
                application_name: "orders".into(),
                state: Some("streaming".into()),
                sent_lsn: lsn(POS),
                write_lsn: lsn(POS - 512 * KIB),
                flush_lsn: lsn(POS - 512 * KIB),
                replay_lsn: lsn(POS - 512 * KIB),
                sync_state: Some("async".into()),
                slot_type: Some("logical".into()),
                slot_name: Some("cdc".into()),
                ..Walsender::default()
            },
        ],
        recovery: Some(Arc::new(RecoverySettings {
            recovery_min_apply_delay: Some("0".into()),
            restore_command: Some(String::new()),
            archive_mode: Some("on".into()),
            archive_timeout: Some("60".into()),
        })),
        archiver: Some(Archiver {
            archived_count: Some(1234),
            failed_count: Some(3),
            last_archived_wal: Some("000000030000000500000000".into()),
            last_failed_wal: Some("00000003000000040000FFFF".into()),
            last_archived_time: Some(NOW - 30.0),
            last_failed_time: Some(NOW - 600.0),
        }),
        slots: vec![
            Slot {
                slot_name: "node_b".into(),
                slot_type: "physical".into(),
                database: None,
                active: true,
                active_pid: None,
                restart_lsn: lsn(POS - 16 * KIB),
                confirmed_flush_lsn: None,
                wal_status: Some("reserved".into()),
                safe_wal_size: Some(1 << 30),
                xmin_age: Some(12),
                catalog_xmin_age: None,
                inactive_since: None,
                conflicting: None,
                invalidation_reason: None,
            },
            Slot {
                slot_name: "cdc".into(),
                slot_type: "logical".into(),
                database: Some("app".into()),
                active: false,
                active_pid: None,
                restart_lsn: lsn(POS - 1024 * KIB),
                confirmed_flush_lsn: lsn(POS - 512 * KIB),
                wal_status: Some("extended".into()),
                safe_wal_size: Some((1 << 30) - 1024 * 1024),
                xmin_age: None,
                catalog_xmin_age: Some(345),
                inactive_since: Some(NOW - 3600.0),
                conflicting: Some(false),
                invalidation_reason: None,
            },
            Slot {
                slot_name: "laggard".into(),
                slot_type: "physical".into(),
                database: None,
                active: false,
                active_pid: None,
                restart_lsn: lsn(POS - (1 << 30) - 16 * 1024 * KIB),
                confirmed_flush_lsn: None,
                wal_status: Some("unreserved".into()),
                safe_wal_size: Some(-16 * 1024 * 1024),
                xmin_age: None,
                catalog_xmin_age: None,
                inactive_since: Some(NOW - 7200.0),
                conflicting: None,
                invalidation_reason: None,
            },
            Slot {
                slot_name: "old_replica".into(),
                slot_type: "physical".into(),
                database: None,
                active: false,
                active_pid: None,
                restart_lsn: None,
                confirmed_flush_lsn: None,
                wal_status: Some("lost".into()),
                safe_wal_size: None,
                xmin_age: None,
                catalog_xmin_age: None,
                inactive_since: Some(NOW - 86400.0),
                conflicting: None,
                invalidation_reason: Some("wal_removed".into()),
            },
        ],
        ..NodeState::default()
    }
}

/// node_b: a standby of node_a that feeds node_c (cascading).
fn cascading_state() -> NodeState {
    let replay = POS - 16 * KIB;
    NodeState {
        server_version_num: 170_002,
        server_version: "17.2 (Debian 17.2-1.pgdg120+1)".into(),
        system_identifier: Some("7301234567890123456".into()),
        in_recovery: true,
        timeline_id: Some(3),
        wal_lsn: lsn(replay),
        receive_lsn: lsn(POS - 8 * KIB),
        replay_lsn: lsn(replay),
        replay_paused: Some(false),
        last_replay_timestamp: Some(NOW - 0.375),
        server_now: NOW + 0.125,
        wal_receiver: Some(WalReceiver {
            status: Some("streaming".into()),
            received_tli: Some(3),
            written_lsn: lsn(POS - 4 * KIB),
            flushed_lsn: lsn(POS - 8 * KIB),
            last_msg_receipt_time: Some(NOW + 0.0625),
            latest_end_lsn: lsn(POS),
            slot_name: Some("node_b".into()),
            sender_host: Some("10.0.0.11".into()),
            sender_port: Some(5432),
        }),
        walsenders: vec![Walsender {
            // Upper case on purpose: matched to node_c case-insensitively.
            application_name: "NODE_C".into(),
            state: Some("streaming".into()),
            sent_lsn: lsn(replay),
            write_lsn: lsn(replay),
            flush_lsn: lsn(replay),
            replay_lsn: lsn(replay - 2 * KIB),
            write_lag: None,
            flush_lag: None,
            replay_lag: Some(1.25),
            sync_priority: Some(0),
            sync_state: Some("async".into()),
            reply_time: Some(NOW - 1.0),
            ..Walsender::default()
        }],
        slots: vec![Slot {
            slot_name: "node_c".into(),
            slot_type: "physical".into(),
            database: None,
            active: true,
            restart_lsn: lsn(replay - 2 * KIB),
            wal_status: Some("reserved".into()),
            ..Slot::default()
        }],
        settings: settings("on", ""),
        // A delayed standby (5 min) that may also restore from the archive.
        recovery: Some(Arc::new(RecoverySettings {
            recovery_min_apply_delay: Some("300000".into()),
            restore_command: Some("cp /archive/%f %p".into()),
            archive_mode: Some("on".into()),
            archive_timeout: Some("0".into()),
        })),
        archiver: Some(Archiver {
            archived_count: Some(0),
            failed_count: Some(0),
            ..Archiver::default()
        }),
        ..NodeState::default()
    }
}

/// app_1: the primary of another cluster, subscribed to node_a's slot "cdc".
fn subscriber_state() -> NodeState {
    NodeState {
        server_version_num: 170_002,
        server_version: "17.2".into(),
        system_identifier: Some("7309999999999999999".into()),
        in_recovery: false,
        timeline_id: Some(1),
        wal_lsn: lsn(0x1_0000_0000),
        server_now: NOW,
        settings: settings("on", ""),
        subscriptions: vec![
            Subscription {
                name: "orders".into(),
                enabled: Some(true),
                slot_name: Some("cdc".into()),
                worker_running: Some(true),
                received_lsn: lsn(POS - 256 * KIB),
                latest_end_lsn: lsn(POS - 512 * KIB),
                last_msg_receipt_time: Some(NOW - 2.0),
                apply_error_count: Some(3),
                sync_error_count: Some(0),
                tables: Some(BTreeMap::from([("r".into(), 4), ("d".into(), 1)])),
            },
            // Disabled, its slot on no polled node: no lag, no publisher.
            Subscription {
                name: "legacy".into(),
                enabled: Some(false),
                slot_name: Some("elsewhere".into()),
                worker_running: Some(false),
                apply_error_count: Some(0),
                sync_error_count: Some(0),
                ..Subscription::default()
            },
        ],
        ..NodeState::default()
    }
}

/// dr_1: the standby leader of a standby cluster streaming from node_a.
fn standby_leader_state() -> NodeState {
    NodeState {
        server_version_num: 170_002,
        server_version: "17.2".into(),
        system_identifier: Some("7301234567890123456".into()),
        in_recovery: true,
        timeline_id: Some(3),
        wal_lsn: lsn(POS - 32 * KIB),
        receive_lsn: lsn(POS - 32 * KIB),
        replay_lsn: lsn(POS - 32 * KIB),
        server_now: NOW,
        wal_receiver: Some(WalReceiver {
            status: Some("streaming".into()),
            sender_host: Some("10.0.0.11".into()),
            sender_port: Some(5432),
            ..WalReceiver::default()
        }),
        settings: settings("on", ""),
        ..NodeState::default()
    }
}

/// node_c: a standby of node_b polled by a role without pg_monitor: its WAL receiver row and its
/// walsender row (to node_d) are there, with every detail hidden.
fn hidden_state() -> NodeState {
    NodeState {
        server_version_num: 150_008,
        server_version: "15.8".into(),
        system_identifier: None,
        in_recovery: true,
        postmaster_start_us: None,
        timeline_id: Some(3),
        wal_lsn: lsn(POS - 18 * KIB),
        receive_lsn: lsn(POS - 16 * KIB),
        replay_lsn: lsn(POS - 18 * KIB),
        replay_paused: Some(false),
        last_replay_timestamp: None,
        server_now: NOW + 0.25,
        wal_receiver: Some(WalReceiver::default()),
        walsenders: vec![Walsender {
            application_name: "node_d".into(),
            ..Walsender::default()
        }],
        slots: vec![Slot {
            slot_name: "spare".into(),
            slot_type: "physical".into(),
            ..Slot::default()
        }],
        settings: settings("on", ""),
        // pg_settings leaves out restore_command for a role without pg_read_all_settings.
        recovery: Some(Arc::new(RecoverySettings {
            recovery_min_apply_delay: Some("0".into()),
            ..RecoverySettings::default()
        })),
        archiver: None,
        subscriptions: vec![],
        slots_fingerprint: None,
        slots_lsn: None,
        conf_load_us: None,
        privilege_missing: true,
    }
}

fn down_node() -> NodeReport {
    let mut n = NodeReport::new("node_d", "node_d");
    n.poll_duration = Some(0.8);
    n.errors_total.insert(ErrorKind::Timeout, 5);
    n.errors_total.insert(ErrorKind::Connect, 1);
    n.last_error = Some("poll node_d: timed out after 800ms".into());
    n
}

fn rich_snapshot() -> Snapshot {
    let mut node_a = up_node("node_a", primary_state());
    node_a.errors_total.insert(ErrorKind::Connect, 2);
    node_a.address = Some(("10.0.0.11".into(), 5432));
    let mut node_d = down_node();
    node_d.expect_streaming = false;
    let mut snapshot = Snapshot::new(vec![
        ClusterSnapshot {
            name: "main".into(),
            nodes: vec![
                node_a,
                up_node("node_b", cascading_state()),
                up_node("node_c", hidden_state()),
                node_d,
            ],
            view: ClusterView {
                primaries: 1,
                nodes_up: 3,
                nodes_configured: 4,
                timelines: 1,
                system_identifiers: 1,
                standbys: vec![
                    StandbyView {
                        node: "node_b".into(),
                        streaming: Some(true),
                        lag_bytes: Some(16 * KIB),
                        lag_seconds: Some(0.5),
                    },
                    StandbyView {
                        node: "node_c".into(),
                        streaming: Some(true),
                        lag_bytes: Some(18 * KIB),
                        lag_seconds: Some(1.75),
                    },
                    StandbyView {
                        node: "node_d".into(),
                        streaming: Some(false),
                        lag_bytes: None,
                        lag_seconds: None,
                    },
                ],
                rpo_bytes: Some(8 * KIB),
                failovers_total: 2,
                last_failover_timestamp: Some(NOW - 10_000.0),
                last_failover_duration: Some(12.5),
                is_standby_cluster: Some(false),
                source: None,
                standby_leader: None,
                rounds_late: 3,
            },
            patroni: Some(patroni_view()),
            endpoints: endpoint_views(),
        },
        ClusterSnapshot {
            name: "app".into(),
            nodes: vec![up_node("app_1", subscriber_state())],
            view: ClusterView {
                primaries: 1,
                nodes_up: 1,
                nodes_configured: 1,
                timelines: 1,
                system_identifiers: 1,
                is_standby_cluster: Some(false),
                ..ClusterView::default()
            },
            patroni: None,
            endpoints: Vec::new(),
        },
        ClusterSnapshot {
            name: "dr".into(),
            nodes: vec![up_node("dr_1", standby_leader_state())],
            view: ClusterView {
                primaries: 0,
                nodes_up: 1,
                nodes_configured: 1,
                timelines: 1,
                system_identifiers: 1,
                standbys: vec![StandbyView {
                    node: "dr_1".into(),
                    streaming: Some(true),
                    lag_bytes: None,
                    lag_seconds: None,
                }],
                is_standby_cluster: Some(true),
                source: Some(("10.0.0.11".into(), "5432".into())),
                standby_leader: Some("dr_1".into()),
                ..ClusterView::default()
            },
            patroni: None,
            endpoints: Vec::new(),
        },
    ]);
    snapshot.exporter = ExporterState {
        reload: Some(ReloadStatus {
            successful: true,
            last_success: 1_700_000_000.5,
        }),
        shard: Default::default(),
    };
    snapshot
}

/// Patroni's view of the rich cluster: node_a leads, node_b could take over, node_c is tagged
/// nofailover, node_d crashed and left the DCS (its REST API does not answer).
/// A VIP on node_a, a hung haproxy, pgpool calling node_b primary and not knowing node_c, and
/// pgbouncer routing app_rw to node_b and app_ro to an address outside the cluster.
fn endpoint_views() -> Vec<EndpointView> {
    let errors = |timeouts: u64| {
        ErrorKind::ALL
            .iter()
            .map(|k| {
                (
                    *k,
                    if *k == ErrorKind::Timeout {
                        timeouts
                    } else {
                        0
                    },
                )
            })
            .collect()
    };
    vec![
        EndpointView {
            name: "vip-rw".into(),
            kind: "postgres".into(),
            host: "10.0.0.100".into(),
            port: 5432,
            expect: Some("primary".into()),
            up: true,
            check_duration: Some(0.0021),
            errors_total: errors(0),
            target: Some("node_a".into()),
            is_primary: Some(true),
            expectation_met: Some(true),
            ..EndpointView::default()
        },
        EndpointView {
            name: "haproxy-ro".into(),
            kind: "postgres".into(),
            host: "10.0.0.101".into(),
            port: 5433,
            expect: Some("standby".into()),
            up: false,
            check_duration: Some(0.8),
            errors_total: errors(3),
            last_error: Some(
                "check endpoint haproxy-ro (host=10.0.0.101 port=5433): no answer within 800ms"
                    .into(),
            ),
            ..EndpointView::default()
        },
        EndpointView {
            name: "pgpool".into(),
            kind: "pgpool".into(),
            host: "10.0.0.102".into(),
            port: 9999,
            expect: Some("primary".into()),
            up: true,
            check_duration: Some(0.004),
            errors_total: errors(0),
            target: Some("node_b".into()),
            is_primary: Some(false),
            expectation_met: Some(false),
            pgpool_backends: vec![
                PgpoolBackendView {
                    node: "node_a".into(),
                    listed: true,
                    status: Some("down".into()),
                    role: Some("standby".into()),
                    role_correct: Some(false),
                    delay_bytes: Some(0),
                    selects_total: Some(120),
                    load_balance_node: Some(false),
                    health_check_failures_total: Some(4),
                    ..PgpoolBackendView::default()
                },
                PgpoolBackendView {
                    node: "node_b".into(),
                    listed: true,
                    status: Some("up".into()),
                    role: Some("primary".into()),
                    role_correct: Some(false),
                    delay_seconds: Some(0.000568),
                    selects_total: Some(7),
                    load_balance_node: Some(true),
                    health_check_failures_total: Some(0),
                    ..PgpoolBackendView::default()
                },
                PgpoolBackendView {
                    node: "node_c".into(),
                    listed: false,
                    ..PgpoolBackendView::default()
                },
            ],
            ..EndpointView::default()
        },
        EndpointView {
            name: "pgbouncer".into(),
            kind: "pgbouncer".into(),
            host: "10.0.0.103".into(),
            port: 6432,
            up: true,
            check_duration: Some(0.001),
            errors_total: errors(0),
            pgbouncer_databases: vec![
                PgbouncerDatabaseView {
                    database: "app_ro".into(),
                    node: Some("10.0.9.9:5432".into()),
                    expect: Some("standby".into()),
                    expectation_met: None,
                    clients_waiting: 0,
                    max_wait_seconds: 0.0,
                },
                PgbouncerDatabaseView {
                    database: "app_rw".into(),
                    node: Some("node_b".into()),
                    expect: Some("primary".into()),
                    expectation_met: Some(false),
                    clients_waiting: 3,
                    max_wait_seconds: 2.5,
                },
            ],
            ..EndpointView::default()
        },
    ]
}

fn patroni_view() -> PatroniView {
    let member = |node: &str, role: &str, state: &str, candidate: bool| PatroniMemberView {
        node: node.into(),
        discovered: true,
        up: true,
        version: Some("4.1.4".into()),
        scope: Some("main".into()),
        member: true,
        role: Some(role.into()),
        state: Some(state.into()),
        dcs_last_seen_age: Some(1.5),
        failsafe_active: Some(false),
        pending_restart: Some(node == "node_c"),
        failover_candidate: Some(candidate),
        not_candidate_because: None,
        failover_lag_bytes: None,
    };
    PatroniView {
        members: vec![
            member("node_a", "leader", "running", false),
            member("node_b", "sync_standby", "streaming", true),
            member("node_c", "replica", "streaming", false),
            PatroniMemberView {
                node: "node_d".into(),
                discovered: true,
                ..PatroniMemberView::default()
            },
        ],
        reachable: true,
        paused: Some(false),
        cluster_unlocked: Some(false),
        leader_mismatch: Some(false),
        failover_candidates: Some(1),
        config: Some(PatroniDynamicConfig {
            synchronous_mode: "on".into(),
            synchronous_mode_strict: false,
            failsafe_mode: false,
            maximum_lag_on_failover_bytes: 1 << 20,
            ttl_seconds: Some(30),
            loop_wait_seconds: Some(10),
        }),
        timeline_switches: Some(2),
        last_promotion: Some(PatroniPromotion {
            timestamp: Some(NOW - 10_000.0),
            node: Some("node_a".into()),
            timeline: 3,
        }),
        scheduled_switchover_timestamp: Some(NOW + 3600.0),
        last_failover_lost_bytes: Some(0),
    }
}

#[test]
fn patroni_unknowns_stay_absent() {
    let mut snapshot = rich_snapshot();
    let p = Arc::make_mut(&mut snapshot.clusters[0])
        .patroni
        .as_mut()
        .unwrap();
    p.leader_mismatch = None;
    p.failover_candidates = None;
    p.last_failover_lost_bytes = None;
    p.config = None;
    let fams = families(&snapshot, &BUILD);
    for name in [
        "pg_replication_patroni_leader_mismatch",
        "pg_replication_patroni_failover_candidates",
        "pg_replication_cluster_last_failover_lost_bytes",
        "pg_replication_patroni_ttl_seconds",
        "pg_replication_patroni_config_info",
    ] {
        assert!(
            !fams.iter().any(|f| f.name() == name),
            "{name} must be absent"
        );
    }
    // The member whose REST API does not answer: up 0, member 0, and nothing Patroni did not say.
    let text = render(&snapshot, &BUILD);
    assert!(text.contains("pg_replication_patroni_up{cluster=\"main\",node=\"node_d\"} 0"));
    assert!(text.contains("pg_replication_patroni_member{cluster=\"main\",node=\"node_d\"} 0"));
    for family in [
        "patroni_role",
        "patroni_state",
        "patroni_failover_candidate{",
        "patroni_dcs_last_seen",
    ] {
        assert!(
            !text
                .lines()
                .any(|l| l.contains(family) && l.contains("node=\"node_d\"")),
            "{family} of node_d must be absent"
        );
    }
}

/// A one-node cluster around `state`, for focused tests.
fn single(state: NodeState) -> Snapshot {
    Snapshot::new(vec![ClusterSnapshot {
        name: "c".into(),
        nodes: vec![up_node("n", state)],
        view: ClusterView::default(),
        patroni: None,
        endpoints: Vec::new(),
    }])
}

type Series = Vec<(BTreeMap<String, String>, f64)>;

/// The series of one family as (labels, value), empty when the family is absent.
fn series(fams: &[MetricFamily], name: &str) -> Series {
    fams.iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter().map(move |m| (f.get_field_type(), m)))
        .map(|(kind, m)| {
            let labels = m
                .get_label()
                .iter()
                .map(|l| (l.name().to_owned(), l.value().to_owned()))
                .collect();
            let v = match kind {
                MetricType::COUNTER => m.get_counter().get_value(),
                _ => m.get_gauge().get_value(),
            };
            (labels, v)
        })
        .collect()
}

/// The value of the one series of `name` whose labels include `want`, if any.
fn value(fams: &[MetricFamily], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let hits: Vec<f64> = series(fams, name)
        .into_iter()
        .filter(|(l, _)| {
            want.iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .collect();
    assert!(hits.len() <= 1, "{name} {want:?} matches {hits:?}");
    hits.first().copied()
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/metrics.prom")
}

#[test]
fn golden_file_matches_the_rich_snapshot() {
    let text = render(&rich_snapshot(), &BUILD);
    let path = golden_path();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {}: {e} (create it with UPDATE_GOLDEN=1 cargo test --lib metrics)",
            path.display()
        )
    });
    assert!(
        text == want,
        "render() differs from {}; review the diff and rerun with UPDATE_GOLDEN=1\n--- got ---\n{text}",
        path.display()
    );
}

/// `promtool check metrics` lints the exposition (counter suffixes, units, HELP). node_exporter
/// runs it in CI; here it runs on the golden fixture and on hostile label values.
#[test]
fn promtool_accepts_the_rendered_metrics() {
    for snapshot in [rich_snapshot(), hostile_snapshot()] {
        let text = render(&snapshot, &BUILD);
        let child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = child.unwrap_or_else(|e| {
            panic!("run promtool: {e}; install it (Debian: apt-get install prometheus) or put it on PATH")
        });
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool check metrics: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_rich_snapshot_exercises_every_family() {
    let fams = families(&rich_snapshot(), &BUILD);
    let got: Vec<&str> = fams.iter().map(|f| f.name()).collect();
    let all: Vec<&str> = defs::ALL.iter().map(|d| d.name).collect();
    assert_eq!(got, all);
}

#[test]
fn definitions_are_sorted_unique_and_namespaced_and_series_carry_exactly_their_labels() {
    let names: Vec<&str> = defs::ALL.iter().map(|d| d.name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        names, sorted,
        "defs::ALL must be sorted by name, no duplicates"
    );
    for def in defs::ALL {
        assert!(def.name.starts_with("pg_replication_"), "{}", def.name);
        assert_eq!(
            def.kind == defs::Kind::Counter,
            def.name.ends_with("_total"),
            "{}",
            def.name
        );
        // Every series carries cluster, except the exporter's own (build_info, SPEC §4.1, the
        // config reload gauges, the shard families, §11, and its pages); node-level ones carry
        // node.
        if !EXPORTER_LEVEL.contains(&def.name) {
            assert_eq!(def.labels[0], "cluster", "{}", def.name);
        }
    }
    for fam in families(&rich_snapshot(), &BUILD) {
        let def = defs::ALL.iter().find(|d| d.name == fam.name()).unwrap();
        for m in fam.get_metric() {
            let got: Vec<&str> = m.get_label().iter().map(|l| l.name()).collect();
            assert_eq!(got, def.labels, "{}", def.name);
        }
    }
}

/// The families about the exporter itself, which carry no cluster label.
const EXPORTER_LEVEL: &[&str] = &[
    defs::EXPORTER_BUILD_INFO.name,
    defs::CONFIG_LAST_RELOAD_SUCCESSFUL.name,
    defs::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS.name,
    defs::EXPORTER_SHARD_INFO.name,
    defs::EXPORTER_CLUSTERS.name,
    defs::EXPORTER_PAGES_BUILT_TOTAL.name,
    defs::EXPORTER_PAGE_BUILD_SECONDS_TOTAL.name,
];

/// Serves fixed families through `prometheus::Registry`, whose descriptor checks and gather()
/// (which validates and re-sorts series by label values) the rendered families must pass.
struct Fixed {
    families: Vec<MetricFamily>,
    descs: Vec<Desc>,
}

impl Collector for Fixed {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }
    fn collect(&self) -> Vec<MetricFamily> {
        self.families.clone()
    }
}

#[test]
fn families_pass_a_registry_unchanged() {
    let snapshot = rich_snapshot();
    let descs = defs::ALL
        .iter()
        .map(|def| {
            Desc::new(
                def.name.to_owned(),
                def.help.to_owned(),
                def.labels.iter().map(|l| (*l).to_owned()).collect(),
                HashMap::new(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", def.name))
        })
        .collect();
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(Fixed {
            families: families(&snapshot, &BUILD),
            descs,
        }))
        .unwrap();
    assert_eq!(registry.gather(), families(&snapshot, &BUILD));
}

#[test]
fn nullable_values_are_absent_not_zero() {
    // Every Option in the model set to None, on a standby with a walsender and a slot.
    let state = NodeState {
        server_version_num: 170_000,
        in_recovery: true,
        server_now: NOW,
        wal_receiver: Some(WalReceiver {
            status: Some("streaming".into()),
            ..WalReceiver::default()
        }),
        walsenders: vec![Walsender {
            application_name: "x".into(),
            ..Walsender::default()
        }],
        slots: vec![Slot {
            slot_name: "s".into(),
            slot_type: "logical".into(),
            ..Slot::default()
        }],
        ..NodeState::default()
    };
    let mut snapshot = single(state);
    let node = &mut Arc::make_mut(&mut snapshot.clusters[0]).nodes[0];
    node.poll_duration = None;
    node.last_success = None;
    Arc::make_mut(&mut snapshot.clusters[0]).view.standbys = vec![StandbyView {
        node: "n".into(),
        streaming: Some(false),
        lag_bytes: None,
        lag_seconds: None,
    }];
    let fams = families(&snapshot, &BUILD);
    for def in [
        &defs::POLL_DURATION_SECONDS,
        &defs::LAST_POLL_SUCCESS_TIMESTAMP_SECONDS,
        &defs::NODE_TIMELINE_ID,
        &defs::NODE_WAL_LSN_BYTES,
        &defs::NODE_RECEIVE_LSN_BYTES,
        &defs::NODE_REPLAY_PAUSED,
        &defs::NODE_LAST_REPLAY_TIMESTAMP_SECONDS,
        &defs::WAL_RECEIVER_LAST_MESSAGE_AGE_SECONDS,
        &defs::LAG_BYTES,
        &defs::LAG_SECONDS,
        &defs::SYNC_STATE,
        &defs::SYNC_PRIORITY,
        &defs::STANDBY_STATE,
        &defs::STANDBY_REPLY_AGE_SECONDS,
        &defs::SLOT_RETAINED_BYTES,
        &defs::SLOT_WAL_STATUS,
        &defs::SLOT_SAFE_WAL_SIZE_BYTES,
        &defs::SLOT_CONFIRMED_FLUSH_LAG_BYTES,
        &defs::SLOT_XMIN_AGE,
        &defs::SLOT_CATALOG_XMIN_AGE,
        &defs::SLOT_INACTIVE_SINCE_TIMESTAMP_SECONDS,
        &defs::SLOT_CONFLICTING,
        &defs::STANDBY_LAG_BYTES,
        &defs::STANDBY_LAG_SECONDS,
        &defs::CLUSTER_RPO_BYTES,
        &defs::CLUSTER_LAST_FAILOVER_TIMESTAMP_SECONDS,
        &defs::CLUSTER_LAST_FAILOVER_DURATION_SECONDS,
    ] {
        assert_eq!(
            series(&fams, def.name),
            vec![],
            "{} should be absent",
            def.name
        );
    }
    // What is known is still there: the node is up, the slot exists, the standby is not streaming.
    assert_eq!(value(&fams, defs::UP.name, &[]), Some(1.0));
    assert_eq!(
        value(&fams, defs::SLOT_ACTIVE.name, &[("slot", "s")]),
        Some(0.0)
    );
    assert_eq!(value(&fams, defs::STANDBY_STREAMING.name, &[]), Some(0.0));
    // system_identifier NULL → empty label, the info series stays.
    assert_eq!(
        value(&fams, defs::NODE_INFO.name, &[("system_identifier", "")]),
        Some(1.0)
    );
}

#[test]
fn a_down_node_has_only_health_series() {
    let fams = families(&rich_snapshot(), &BUILD);
    let node_d: Vec<&str> = fams
        .iter()
        .filter(|f| {
            f.get_metric().iter().any(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == "node" && l.value() == "node_d")
            })
        })
        .map(|f| f.name())
        .collect();
    assert_eq!(
        node_d,
        [
            // The enum of where a front-end leads runs over every polled node (0 here).
            "pg_replication_endpoint_target",
            "pg_replication_node_expect_streaming",
            // Its Patroni member is gone from the DCS and its REST API down: only that is said.
            "pg_replication_patroni_member",
            "pg_replication_patroni_up",
            defs::POLL_DURATION_SECONDS.name,
            defs::POLL_ERRORS_TOTAL.name,
            defs::STANDBY_STREAMING.name,
            defs::UP.name,
        ]
    );
    assert_eq!(
        value(&fams, defs::UP.name, &[("node", "node_d")]),
        Some(0.0)
    );
    let errors = |kind| {
        value(
            &fams,
            defs::POLL_ERRORS_TOTAL.name,
            &[("node", "node_d"), ("kind", kind)],
        )
    };
    assert_eq!(errors("timeout"), Some(5.0));
    assert_eq!(errors("connect"), Some(1.0));
    assert_eq!(errors("privilege"), Some(0.0));
    assert_eq!(series(&fams, defs::POLL_ERRORS_TOTAL.name).len(), 6 * 6);
}

fn one_walsender(ws: Walsender, sender: u64) -> Vec<MetricFamily> {
    families(
        &single(NodeState {
            wal_lsn: lsn(sender),
            server_now: NOW,
            walsenders: vec![ws],
            ..NodeState::default()
        }),
        &BUILD,
    )
}

#[test]
fn lag_seconds_null_is_zero_only_when_that_stage_has_no_byte_lag() {
    let fams = one_walsender(
        Walsender {
            application_name: "s".into(),
            sent_lsn: lsn(1000),
            write_lsn: lsn(1000),
            flush_lsn: lsn(900),
            replay_lsn: lsn(800),
            write_lag: None,
            flush_lag: None,
            replay_lag: Some(2.5),
            ..Walsender::default()
        },
        1000,
    );
    let secs = |stage| value(&fams, defs::LAG_SECONDS.name, &[("stage", stage)]);
    assert_eq!(secs("write"), Some(0.0), "NULL lag, 0 bytes: caught up");
    assert_eq!(secs("flush"), None, "NULL lag, 100 bytes behind: unknown");
    assert_eq!(secs("replay"), Some(2.5));
    assert_eq!(secs("sent"), None, "there is no sent_lag column");
    let bytes = |stage| value(&fams, defs::LAG_BYTES.name, &[("stage", stage)]);
    assert_eq!(
        [
            bytes("sent"),
            bytes("write"),
            bytes("flush"),
            bytes("replay")
        ],
        [Some(0.0), Some(0.0), Some(100.0), Some(200.0)]
    );

    // A NULL stage LSN leaves both byte and time lag of that stage absent, not 0.
    let fams = one_walsender(
        Walsender {
            application_name: "s".into(),
            write_lsn: None,
            write_lag: None,
            ..Walsender::default()
        },
        1000,
    );
    assert_eq!(
        value(&fams, defs::LAG_BYTES.name, &[("stage", "write")]),
        None
    );
    assert_eq!(
        value(&fams, defs::LAG_SECONDS.name, &[("stage", "write")]),
        None
    );
}

#[test]
fn lag_bytes_saturate_when_the_standby_reports_a_position_ahead_of_the_sender() {
    let fams = one_walsender(
        Walsender {
            application_name: "s".into(),
            sent_lsn: lsn(1500),
            write_lsn: lsn(1200),
            flush_lsn: lsn(1000),
            replay_lsn: lsn(400),
            ..Walsender::default()
        },
        1000,
    );
    let bytes = |stage| value(&fams, defs::LAG_BYTES.name, &[("stage", stage)]);
    assert_eq!(bytes("sent"), Some(0.0));
    assert_eq!(bytes("write"), Some(0.0));
    assert_eq!(bytes("flush"), Some(0.0));
    assert_eq!(bytes("replay"), Some(600.0));
}

#[test]
fn lag_is_absent_when_the_sender_position_is_unknown() {
    let fams = families(
        &single(NodeState {
            wal_lsn: None,
            walsenders: vec![Walsender {
                application_name: "s".into(),
                sent_lsn: lsn(1),
                write_lsn: lsn(1),
                ..Walsender::default()
            }],
            ..NodeState::default()
        }),
        &BUILD,
    );
    assert_eq!(series(&fams, defs::LAG_BYTES.name), vec![]);
    assert_eq!(series(&fams, defs::LAG_SECONDS.name), vec![]);
}

#[test]
fn cascading_standby_lag_is_measured_from_its_replay_position() {
    let fams = families(&rich_snapshot(), &BUILD);
    let from_b = |stage| {
        value(
            &fams,
            defs::LAG_BYTES.name,
            &[("node", "node_b"), ("standby", "node_c"), ("stage", stage)],
        )
    };
    assert_eq!(from_b("flush"), Some(0.0));
    assert_eq!(from_b("replay"), Some(2048.0));
}

#[test]
fn standby_label_maps_application_name_to_the_node_name_case_insensitively() {
    let ws = |app: &str| Walsender {
        application_name: app.into(),
        sync_priority: Some(1),
        ..Walsender::default()
    };
    let mut snapshot = single(NodeState {
        walsenders: vec![ws("PATRONI-B"), ws("barman"), ws("node_b")],
        ..NodeState::default()
    });
    let cluster = Arc::make_mut(&mut snapshot.clusters[0]);
    cluster.nodes.push(NodeReport::new("node_b", "patroni-b"));
    // Another cluster's node with that application_name must not be used.
    snapshot.clusters.push(Arc::new(ClusterSnapshot {
        name: "other".into(),
        nodes: vec![NodeReport::new("elsewhere", "barman")],
        view: ClusterView::default(),
        patroni: None,
        endpoints: Vec::new(),
    }));
    let fams = families(&snapshot, &BUILD);
    let labels: Vec<String> = series(&fams, defs::SYNC_PRIORITY.name)
        .into_iter()
        .map(|(l, _)| l["standby"].clone())
        .collect();
    // "node_b" raw and "PATRONI-B" mapped collide: one series, never two with one label set.
    assert_eq!(labels, ["barman", "node_b"]);
}

#[test]
fn enums_are_one_hot_over_every_known_value() {
    let fams = one_walsender(
        Walsender {
            application_name: "s".into(),
            state: Some("catchup".into()),
            sync_state: Some("potential".into()),
            ..Walsender::default()
        },
        0,
    );
    let hot = |name: &str, label: &str| -> Vec<(String, f64)> {
        series(&fams, name)
            .into_iter()
            .map(|(l, v)| (l[label].clone(), v))
            .collect()
    };
    let expect = |pairs: &[(&str, f64)]| -> Vec<(String, f64)> {
        pairs.iter().map(|(s, v)| ((*s).to_owned(), *v)).collect()
    };
    assert_eq!(
        hot(defs::SYNC_STATE.name, "sync_state"),
        expect(&[
            ("async", 0.0),
            ("potential", 1.0),
            ("quorum", 0.0),
            ("sync", 0.0)
        ])
    );
    assert_eq!(
        hot(defs::STANDBY_STATE.name, "state"),
        expect(&[
            ("backup", 0.0),
            ("catchup", 1.0),
            ("startup", 0.0),
            ("stopping", 0.0),
            ("streaming", 0.0)
        ])
    );

    // A standby without a WAL receiver: status "none".
    let standby = |wr: Option<WalReceiver>| {
        families(
            &single(NodeState {
                in_recovery: true,
                wal_receiver: wr,
                ..NodeState::default()
            }),
            &BUILD,
        )
    };
    let fams = standby(None);
    let statuses = series(&fams, defs::WAL_RECEIVER_STATUS.name);
    assert_eq!(statuses.len(), 7);
    assert_eq!(
        statuses
            .iter()
            .filter(|(_, v)| *v == 1.0)
            .map(|(l, _)| l["status"].as_str())
            .collect::<Vec<_>>(),
        ["none"]
    );
    assert_eq!(series(&fams, defs::UPSTREAM_INFO.name), vec![]);

    // A value from a newer PostgreSQL gets its own series instead of all-zero.
    let fams = standby(Some(WalReceiver {
        status: Some("resting".into()),
        ..WalReceiver::default()
    }));
    let statuses = series(&fams, defs::WAL_RECEIVER_STATUS.name);
    assert_eq!(statuses.len(), 8);
    assert_eq!(
        value(
            &fams,
            defs::WAL_RECEIVER_STATUS.name,
            &[("status", "resting")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&fams, defs::WAL_RECEIVER_STATUS.name, &[("status", "none")]),
        Some(0.0)
    );

    // Primaries export no receiver status at all.
    let fams = families(&single(NodeState::default()), &BUILD);
    assert_eq!(series(&fams, defs::WAL_RECEIVER_STATUS.name), vec![]);
}

#[test]
fn missing_privilege_leaves_walsender_and_receiver_details_absent() {
    let fams = families(&rich_snapshot(), &BUILD);
    let node_c = [("node", "node_c")];
    assert_eq!(
        value(&fams, defs::PRIVILEGE_MISSING.name, &node_c),
        Some(1.0)
    );
    assert_eq!(
        value(&fams, defs::PRIVILEGE_MISSING.name, &[("node", "node_a")]),
        Some(0.0)
    );
    for def in [
        &defs::LAG_BYTES,
        &defs::LAG_SECONDS,
        &defs::SYNC_STATE,
        &defs::SYNC_PRIORITY,
        &defs::STANDBY_STATE,
        &defs::STANDBY_REPLY_AGE_SECONDS,
        // The receiver row exists but its status is hidden.
        &defs::WAL_RECEIVER_STATUS,
        &defs::UPSTREAM_INFO,
        &defs::WAL_RECEIVER_LAST_MESSAGE_AGE_SECONDS,
    ] {
        let leaked: Series = series(&fams, def.name)
            .into_iter()
            .filter(|(l, _)| l["node"] == "node_c")
            .collect();
        assert_eq!(leaked, vec![], "{} for a hidden row", def.name);
    }
    // What the role can see is still reported.
    assert!(value(&fams, defs::NODE_WAL_LSN_BYTES.name, &node_c).is_some());

    // On a primary: the healthy sync count is unknown, not 0.
    let mut state = primary_state();
    state.privilege_missing = true;
    for ws in &mut state.walsenders {
        *ws = Walsender {
            application_name: ws.application_name.clone(),
            ..Walsender::default()
        };
    }
    let fams = families(&single(state), &BUILD);
    assert_eq!(series(&fams, defs::SYNC_STANDBYS_HEALTHY.name), vec![]);
    assert_eq!(series(&fams, defs::LAG_BYTES.name), vec![]);
    assert_eq!(
        value(&fams, defs::SYNC_STANDBYS_REQUIRED.name, &[]),
        Some(1.0)
    );
}

#[test]
fn sync_standbys_healthy_counts_streaming_sync_and_quorum_walsenders() {
    let ws = |state: &str, sync: &str| Walsender {
        application_name: format!("{state}-{sync}"),
        state: Some(state.into()),
        sync_state: Some(sync.into()),
        ..Walsender::default()
    };
    let mut state = primary_state();
    state.walsenders = vec![
        ws("streaming", "sync"),
        ws("streaming", "quorum"),
        ws("catchup", "sync"),
        ws("streaming", "potential"),
        ws("streaming", "async"),
    ];
    let fams = families(&single(state.clone()), &BUILD);
    assert_eq!(
        value(&fams, defs::SYNC_STANDBYS_HEALTHY.name, &[]),
        Some(2.0)
    );

    // Unreadable synchronous_standby_names: the requirement is unknown, so absent.
    Arc::make_mut(&mut state.settings).synchronous_standby_names = "ANY 2 (a, b".into();
    let fams = families(&single(state), &BUILD);
    assert_eq!(series(&fams, defs::SYNC_STANDBYS_REQUIRED.name), vec![]);
    assert_eq!(
        value(
            &fams,
            defs::SYNC_CONFIG_INFO.name,
            &[("synchronous_standby_names", "ANY 2 (a, b")]
        ),
        Some(1.0)
    );

    // Standbys export neither.
    let fams = families(&single(cascading_state()), &BUILD);
    assert_eq!(series(&fams, defs::SYNC_STANDBYS_HEALTHY.name), vec![]);
    assert_eq!(series(&fams, defs::SYNC_STANDBYS_REQUIRED.name), vec![]);
}

#[test]
fn standby_only_values_are_not_exported_by_a_promoted_primary() {
    // After promotion PostgreSQL still returns the last receive LSN and replay timestamp.
    let state = NodeState {
        in_recovery: false,
        receive_lsn: lsn(5),
        replay_paused: Some(false),
        last_replay_timestamp: Some(NOW - 60.0),
        ..NodeState::default()
    };
    let fams = families(&single(state), &BUILD);
    assert_eq!(value(&fams, defs::NODE_IS_PRIMARY.name, &[]), Some(1.0));
    for def in [
        &defs::NODE_RECEIVE_LSN_BYTES,
        &defs::NODE_REPLAY_PAUSED,
        &defs::NODE_LAST_REPLAY_TIMESTAMP_SECONDS,
    ] {
        assert_eq!(series(&fams, def.name), vec![], "{}", def.name);
    }
}

#[test]
fn slot_invalidation_is_reported_only_where_the_server_reports_it() {
    let with = |version: u32, reason: Option<&str>| {
        let fams = families(
            &single(NodeState {
                server_version_num: version,
                slots: vec![Slot {
                    slot_name: "s".into(),
                    slot_type: "physical".into(),
                    invalidation_reason: reason.map(str::to_owned),
                    ..Slot::default()
                }],
                ..NodeState::default()
            }),
            &BUILD,
        );
        series(&fams, defs::SLOT_INVALIDATED.name)
            .into_iter()
            .map(|(l, v)| (l["reason"].clone(), v))
            .collect::<Vec<_>>()
    };
    assert_eq!(with(170_000, None), [(String::new(), 0.0)]);
    assert_eq!(
        with(180_001, Some("idle_timeout")),
        [("idle_timeout".into(), 1.0)]
    );
    assert_eq!(with(160_004, None), []);
}

#[test]
fn slot_values_follow_the_node_position_and_keep_negative_safe_wal_size() {
    let fams = families(&rich_snapshot(), &BUILD);
    let slot = |name: &str, slot: &str| value(&fams, name, &[("node", "node_a"), ("slot", slot)]);
    assert_eq!(
        slot(defs::SLOT_SAFE_WAL_SIZE_BYTES.name, "laggard"),
        Some(-16.0 * 1024.0 * 1024.0)
    );
    assert_eq!(
        slot(defs::SLOT_RETAINED_BYTES.name, "cdc"),
        Some(1024.0 * 1024.0)
    );
    assert_eq!(
        slot(defs::SLOT_CONFIRMED_FLUSH_LAG_BYTES.name, "cdc"),
        Some(512.0 * 1024.0)
    );
    // Physical slots have no confirmed_flush lag; a lost slot has no restart_lsn.
    assert_eq!(
        slot(defs::SLOT_CONFIRMED_FLUSH_LAG_BYTES.name, "node_b"),
        None
    );
    assert_eq!(slot(defs::SLOT_RETAINED_BYTES.name, "old_replica"), None);
    assert_eq!(
        value(
            &fams,
            defs::SLOT_ACTIVE.name,
            &[("slot", "cdc"), ("database", "app")]
        ),
        Some(0.0)
    );
    // A standby's slot is measured from the standby's own (replay) position.
    assert_eq!(
        value(&fams, defs::SLOT_RETAINED_BYTES.name, &[("node", "node_b")]),
        Some(2048.0)
    );
}

#[test]
fn ages_are_measured_on_the_server_clock_and_never_negative() {
    let fams = one_walsender(
        Walsender {
            application_name: "s".into(),
            // The standby's clock is ahead of the primary's.
            reply_time: Some(NOW + 3.0),
            ..Walsender::default()
        },
        0,
    );
    assert_eq!(
        value(&fams, defs::STANDBY_REPLY_AGE_SECONDS.name, &[]),
        Some(0.0)
    );
    let fams = families(&rich_snapshot(), &BUILD);
    let age = value(
        &fams,
        defs::STANDBY_REPLY_AGE_SECONDS.name,
        &[("standby", "pg_receivewal")],
    );
    assert_eq!(age, Some(10.0));
}

fn hostile_snapshot() -> Snapshot {
    let evil = "we\"ird\\name\nline2 ünï\u{1F418}";
    let mut state = primary_state();
    state.walsenders.truncate(1);
    state.walsenders[0].application_name = evil.into();
    Arc::make_mut(&mut state.settings).synchronous_standby_names = evil.into();
    state.server_version = evil.into();
    state.slots.truncate(1);
    state.slots[0].slot_name = evil.into();
    let mut snapshot = single(state);
    Arc::make_mut(&mut snapshot.clusters[0]).name = evil.into();
    snapshot
}

#[test]
fn hostile_label_values_are_escaped() {
    let text = render(&hostile_snapshot(), &BUILD);
    let escaped = r#"we\"ird\\name\nline2 ünï🐘"#;
    let line = text
        .lines()
        .find(|l| l.starts_with("pg_replication_sync_priority{"))
        .unwrap();
    assert_eq!(
        line,
        format!(
            r#"pg_replication_sync_priority{{cluster="{escaped}",node="n",standby="{escaped}"}} 1"#
        )
    );
    // No raw newline or unescaped quote inside any sample line: every line is a comment or
    // starts with a metric name.
    for l in text.lines() {
        assert!(
            l.starts_with('#') || l.starts_with("pg_replication_"),
            "{l:?}"
        );
    }
}

#[test]
fn a_departed_walsender_leaves_no_series() {
    let mut snapshot = rich_snapshot();
    let before = families(&snapshot, &BUILD);
    let receivewal = |fams: &[MetricFamily]| {
        fams.iter()
            .flat_map(|f| f.get_metric())
            .filter(|m| m.get_label().iter().any(|l| l.value() == "pg_receivewal"))
            .count()
    };
    assert!(receivewal(&before) > 0);
    let walsenders = &mut Arc::make_mut(&mut snapshot.clusters[0]).nodes[0]
        .state
        .as_mut()
        .unwrap()
        .walsenders;
    walsenders.retain(|ws| ws.application_name != "pg_receivewal");
    let after = families(&snapshot, &BUILD);
    assert_eq!(receivewal(&after), 0);
    // Only its series went: node_b's are unchanged.
    assert_eq!(
        series(&before, defs::LAG_BYTES.name)
            .into_iter()
            .filter(|(l, _)| l["standby"] != "pg_receivewal")
            .collect::<Series>(),
        series(&after, defs::LAG_BYTES.name)
    );
}

/// Right after a reconnect the walsender resends from the start of a segment (sent behind)
/// while the standby reports the positions it already has: the stages stay cumulative.
#[test]
fn lag_stages_stay_cumulative_when_sent_trails_the_standby() {
    let fams = one_walsender(
        Walsender {
            application_name: "s".into(),
            sent_lsn: lsn(600),
            write_lsn: lsn(900),
            flush_lsn: lsn(800),
            replay_lsn: lsn(850),
            ..Walsender::default()
        },
        1000,
    );
    let bytes = |stage| value(&fams, defs::LAG_BYTES.name, &[("stage", stage)]);
    assert_eq!(bytes("sent"), Some(400.0));
    assert_eq!(bytes("write"), Some(400.0));
    assert_eq!(bytes("flush"), Some(400.0));
    assert_eq!(bytes("replay"), Some(400.0));

    // An unknown stage does not constrain the next one.
    let fams = one_walsender(
        Walsender {
            application_name: "s".into(),
            sent_lsn: lsn(1000),
            write_lsn: None,
            flush_lsn: lsn(700),
            replay_lsn: lsn(750),
            ..Walsender::default()
        },
        1000,
    );
    let bytes = |stage| value(&fams, defs::LAG_BYTES.name, &[("stage", stage)]);
    assert_eq!(bytes("write"), None);
    assert_eq!(bytes("flush"), Some(300.0));
    assert_eq!(bytes("replay"), Some(300.0));
}

#[test]
fn recovery_source_is_archive_only_without_a_streaming_receiver_and_absent_when_hidden() {
    let standby = |receiver: Option<&str>, restore: Option<&str>| {
        families(
            &single(NodeState {
                in_recovery: true,
                server_now: NOW,
                wal_receiver: receiver.map(|s| WalReceiver {
                    status: Some(s.into()),
                    ..WalReceiver::default()
                }),
                recovery: Some(Arc::new(RecoverySettings {
                    recovery_min_apply_delay: Some("5000".into()),
                    restore_command: restore.map(str::to_owned),
                    ..RecoverySettings::default()
                })),
                ..NodeState::default()
            }),
            &BUILD,
        )
    };
    let source = |fams: &[MetricFamily]| {
        series(fams, defs::NODE_RECOVERY_SOURCE.name)
            .into_iter()
            .filter(|(_, v)| *v == 1.0)
            .map(|(l, _)| l["source"].clone())
            .collect::<Vec<_>>()
    };
    let cp = Some("cp /a/%f %p");
    assert_eq!(source(&standby(Some("streaming"), cp)), ["stream"]);
    assert_eq!(source(&standby(None, cp)), ["archive"]);
    // A receiver that lost its stream while restore_command is set: fell back to the archive.
    assert_eq!(source(&standby(Some("waiting"), cp)), ["archive"]);
    assert_eq!(source(&standby(None, Some(""))), ["none"]);
    // restore_command hidden (no pg_read_all_settings): unknown, not "none".
    assert!(series(&standby(None, None), defs::NODE_RECOVERY_SOURCE.name).is_empty());
    assert_eq!(
        value(&standby(None, cp), defs::NODE_APPLY_DELAY_SECONDS.name, &[]),
        Some(5.0)
    );
}

#[test]
fn a_probe_page_is_one_clusters_families_as_on_metrics() {
    let mut snapshot = rich_snapshot();
    snapshot.exporter.shard = crate::core::model::ShardView {
        index: 1,
        count: 4,
        skipped: vec!["elsewhere".into(), "other".into()],
    };
    let all = render(&snapshot, &BUILD);
    assert!(
        all.contains("pg_replication_exporter_shard_info{index=\"1\",count=\"4\"} 1\n"),
        "{all}"
    );
    assert!(all.contains("pg_replication_exporter_clusters{state=\"owned\"} 3\n"));
    assert!(all.contains("pg_replication_exporter_clusters{state=\"skipped\"} 2\n"));
    for name in ["main", "app", "dr"] {
        let page = render_cluster(&snapshot, &BUILD, name).unwrap();
        let mut lines = 0;
        for line in page.lines().filter(|l| !l.starts_with('#')) {
            if line.starts_with("pg_replication_exporter_build_info{") {
                continue;
            }
            // `cluster` is every cluster family's first label.
            assert!(
                line.contains(&format!("{{cluster=\"{name}\"")),
                "{name}: {line}"
            );
            // The very series /metrics has for this cluster.
            assert!(all.lines().any(|l| l == line), "{name}: {line}");
            lines += 1;
        }
        let on_metrics = all
            .lines()
            .filter(|l| l.contains(&format!("{{cluster=\"{name}\"")))
            .count();
        assert_eq!(lines, on_metrics, "{name}: every series of the cluster");
        assert!(page.contains("pg_replication_exporter_build_info{"));
        assert!(!page.contains("pg_replication_exporter_shard_info"));
        assert!(!page.contains("pg_replication_exporter_clusters"));
    }
    assert_eq!(render_cluster(&snapshot, &BUILD, "elsewhere"), None);
    assert_eq!(render_cluster(&snapshot, &BUILD, "nonesuch"), None);
}

/// The whole-snapshot encoding `render` used before chunks: every family of every cluster
/// through one `prometheus::TextEncoder` pass.
fn encode_whole(snapshot: &Snapshot) -> String {
    let mut text = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&families(snapshot, &BUILD), &mut text)
        .unwrap();
    text
}

#[test]
fn chunks_assemble_into_the_whole_snapshot_encoding() {
    // Clusters out of name order, one a prefix of another's name, a standby cluster reading its
    // source's position from another cluster, and hostile label values.
    let mut rich = rich_snapshot();
    let mut other = (*rich.clusters[0]).clone();
    other.name = "ma".into();
    rich.clusters.insert(0, Arc::new(other));
    let mut hostile = hostile_snapshot();
    hostile.clusters.extend(rich.clusters.iter().cloned());
    for snapshot in [rich_snapshot(), rich, hostile, Snapshot::default()] {
        let whole = encode_whole(&snapshot);
        assert_eq!(render(&snapshot, &BUILD), whole);
        // In any order of chunks.
        let mut chunks: Vec<Chunk> = snapshot
            .clusters
            .iter()
            .map(|c| cluster_chunk(&snapshot, c))
            .collect();
        chunks.reverse();
        assert_eq!(assemble(&BUILD, &snapshot, chunks.iter()), whole);
    }
}

#[test]
fn a_scratch_renders_each_cluster_as_a_fresh_render_does() {
    // A rich cluster (every family) and then one with only health series, twice over: nothing
    // of the one before stays in the buffers.
    let rich = rich_snapshot();
    let mut snapshot = rich.clone();
    snapshot.clusters.push(Arc::new(ClusterSnapshot {
        name: "zz".into(),
        nodes: vec![down_node()],
        view: Default::default(),
        patroni: None,
        endpoints: vec![],
    }));
    let mut scratch = Scratch::default();
    for _ in 0..2 {
        for cluster in &snapshot.clusters {
            let fresh = cluster_chunk(&snapshot, cluster);
            let reused = scratch.cluster_chunk(&snapshot, cluster);
            assert_eq!(reused.text, fresh.text, "{}", cluster.name);
            assert_eq!(reused.spans, fresh.spans, "{}", cluster.name);
        }
    }
    assert!(
        cluster_chunk(&snapshot, &snapshot.clusters[0]).text.len()
            > 4 * cluster_chunk(&snapshot, snapshot.clusters.last().unwrap())
                .text
                .len()
    );
}

#[test]
fn every_family_fits_the_direct_encoder() {
    for def in defs::ALL {
        assert!(def.labels.len() <= MAX_LABELS, "{}", def.name);
    }
}

#[test]
fn the_direct_encoder_writes_what_the_text_encoder_writes() {
    let values = [
        0.0,
        -0.0,
        1.5,
        -2.25e-9,
        1e21,
        123456789012345680000.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    let labels = ["", "a\\b", "q\"uote", "new\nline", "é ünï", "tail\\"];
    let fill = || {
        let mut out = Families::default();
        for (i, v) in values.iter().enumerate() {
            let node = labels[i % labels.len()];
            out.push(&defs::UP, &["c", &format!("{node}{i:02}")], *v);
        }
        out.push(&defs::CONFIG_LAST_RELOAD_SUCCESSFUL, &[], 1.0);
        out
    };
    let mut expected = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&fill().into_proto(), &mut expected)
        .unwrap();
    let mut out = fill();
    let bodies: String = out.encode_bodies().text;
    let without_headers: String = expected
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(bodies, without_headers);
}
