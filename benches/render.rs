//! Criterion benches of the pure hot path, on the data sizes `bench/run.sh` measures end to end:
//! - `render`: `metrics::render` (what every `/metrics` request costs before gzip) on a
//!   3-node cluster whose primary has 500 replication slots and 30 walsenders;
//! - `decode`: `sql::decode` of the primary's poll document of that size (the CPU a poll costs
//!   in the exporter once PostgreSQL has answered);
//! - `observe`: `cluster::observe` with a full 1 h LSN history (1 s rounds), with a standby
//!   whose replay position lies at the far end of the window, so the lookup walks it all.
//!
//! Run with `cargo bench --bench render`; `-- --profile-time 10 render/500_slots_30_walsenders`
//! runs one case without analysis, for a profiler.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pg_replication_exporter::core::cluster::{ClusterHistory, observe};
use pg_replication_exporter::core::lsn::Lsn;
use pg_replication_exporter::core::model::{
    ClusterSnapshot, NodeReport, NodeState, Settings, Slot, Snapshot, WalReceiver, Walsender,
};
use pg_replication_exporter::pg::sql;
use pg_replication_exporter::render;
use pg_replication_exporter::store::BuildInfo;

const BUILD: BuildInfo = BuildInfo {
    version: "0.1.0",
    revision: "bench",
};
const NOW: f64 = 1_700_000_000.0;
const SYSID: &str = "7310000000000000001";
/// The primary's position in the snapshot fixture.
const POS: u64 = 0x5_0000_0000;
const SLOTS: usize = 500;
const WALSENDERS: usize = 30;

fn settings() -> Settings {
    Settings {
        synchronous_commit: "on".into(),
        synchronous_standby_names: "ANY 1 (standby1, standby2)".into(),
        wal_level: "replica".into(),
        max_wal_senders: "40".into(),
        max_replication_slots: "600".into(),
        hot_standby: "on".into(),
        hot_standby_feedback: "off".into(),
        wal_keep_size: "0".into(),
        max_slot_wal_keep_size: "-1".into(),
    }
}

/// A PostgreSQL 15 primary like the one `bench/run.sh` builds: two standbys and 28
/// `pg_receivewal` walsenders (30 in all), and 500 physical slots besides theirs.
fn primary_state() -> NodeState {
    let walsenders = (0..WALSENDERS)
        .map(|i| {
            let name = match i {
                0 => "standby1".to_owned(),
                1 => "standby2".to_owned(),
                i => format!("receivewal_{i:02}"),
            };
            let behind = i as u64 * 8192;
            Walsender {
                application_name: name,
                pid: Some(1000 + i as i32),
                backend_start: None,
                name_cached: false,
                state: Some("streaming".into()),
                sent_lsn: Some(Lsn(POS)),
                write_lsn: Some(Lsn(POS - behind)),
                flush_lsn: Some(Lsn(POS - behind)),
                // pg_receivewal never replays.
                replay_lsn: (i < 2).then_some(Lsn(POS - behind)),
                write_lag: Some(0.0004),
                flush_lag: Some(0.0009),
                replay_lag: (i < 2).then_some(0.0012),
                sync_priority: Some(if i < 2 { 1 } else { 0 }),
                sync_state: Some(if i < 2 { "quorum" } else { "async" }.into()),
                reply_time: Some(NOW - 0.2),
                on_database: false,
                slot_type: None,
                slot_name: None,
            }
        })
        .collect();
    let slots = (0..SLOTS)
        .map(|i| Slot {
            slot_name: format!("bench_slot_{i:04}"),
            slot_type: "physical".into(),
            database: None,
            active: false,
            active_pid: None,
            restart_lsn: Some(Lsn(POS - 16 * 1024 * 1024 - i as u64 * 4096)),
            confirmed_flush_lsn: None,
            wal_status: Some("reserved".into()),
            safe_wal_size: None,
            xmin_age: None,
            catalog_xmin_age: None,
            inactive_since: None,
            conflicting: None,
            invalidation_reason: None,
        })
        .collect();
    NodeState {
        server_version_num: 150_014,
        server_version: "15.14 (Debian 15.14-0+deb12u1)".into(),
        system_identifier: Some(SYSID.into()),
        in_recovery: false,
        timeline_id: Some(1),
        wal_lsn: Some(Lsn(POS)),
        server_now: NOW,
        walsenders,
        slots,
        settings: Arc::new(settings()),
        ..NodeState::default()
    }
}

fn standby_state(slot: &str, replay: u64) -> NodeState {
    NodeState {
        server_version_num: 150_014,
        server_version: "15.14 (Debian 15.14-0+deb12u1)".into(),
        system_identifier: Some(SYSID.into()),
        in_recovery: true,
        timeline_id: Some(1),
        wal_lsn: Some(Lsn(replay)),
        receive_lsn: Some(Lsn(replay)),
        replay_lsn: Some(Lsn(replay)),
        replay_paused: Some(false),
        last_replay_timestamp: Some(NOW - 0.5),
        server_now: NOW,
        wal_receiver: Some(WalReceiver {
            status: Some("streaming".into()),
            received_tli: Some(1),
            written_lsn: Some(Lsn(replay)),
            flushed_lsn: Some(Lsn(replay)),
            last_msg_receipt_time: Some(NOW - 0.1),
            latest_end_lsn: Some(Lsn(replay)),
            slot_name: Some(slot.into()),
            sender_host: Some("127.0.0.1".into()),
            sender_port: Some(5432),
        }),
        settings: Arc::new(settings()),
        ..NodeState::default()
    }
}

fn up(name: &str, state: NodeState) -> NodeReport {
    NodeReport {
        up: true,
        poll_duration: Some(0.004),
        last_success: Some(NOW),
        state: Some(state),
        ..NodeReport::new(name, name)
    }
}

fn nodes(primary_lsn: u64, standby_replay: u64) -> Vec<NodeReport> {
    let mut primary = primary_state();
    primary.wal_lsn = Some(Lsn(primary_lsn));
    vec![
        up("primary", primary),
        up("standby1", standby_state("standby1", standby_replay)),
        up("standby2", standby_state("standby2", primary_lsn)),
    ]
}

/// The snapshot the exporter would hold for the fixture cluster after a few rounds.
fn snapshot() -> Snapshot {
    let reports = nodes(POS, POS - 8192);
    let mut history = ClusterHistory::new(Duration::from_secs(3600), Duration::from_secs(1));
    let view = observe(&mut history, NOW, &reports);
    Snapshot::new(vec![ClusterSnapshot {
        name: "bench".into(),
        nodes: reports,
        view,
        patroni: None,
        endpoints: Vec::new(),
    }])
}

/// Clusters of the 1000-node fleet (334 × 3 = 1002 nodes).
const FLEET_CLUSTERS: usize = 334;

/// One fleet cluster: a primary streaming to two standbys over two active slots (the bench's
/// `fleet` case points every cluster at the same three servers).
fn fleet_cluster(i: usize) -> ClusterSnapshot {
    let mut primary = primary_state();
    primary.walsenders.truncate(2);
    primary.slots = ["standby1", "standby2"]
        .iter()
        .map(|name| Slot {
            slot_name: (*name).into(),
            active: true,
            ..primary.slots[0].clone()
        })
        .collect();
    let reports = vec![
        up("primary", primary),
        up("standby1", standby_state("standby1", POS - 8192)),
        up("standby2", standby_state("standby2", POS)),
    ];
    let mut history = ClusterHistory::new(Duration::from_secs(3600), Duration::from_secs(1));
    let view = observe(&mut history, NOW, &reports);
    ClusterSnapshot {
        name: format!("c{i:03}"),
        nodes: reports,
        view,
        patroni: None,
        endpoints: Vec::new(),
    }
}

/// The hot path at 1000 nodes: the cluster view of every cluster (a second of rounds), the full
/// render, the page after one cluster published (its chunk rendered, every chunk assembled),
/// and the page's gzip (level 1, as the page builder does).
fn bench_fleet(c: &mut Criterion) {
    let clusters: Vec<ClusterSnapshot> = (0..FLEET_CLUSTERS).map(fleet_cluster).collect();
    let snapshot = Snapshot::new(clusters);
    let page = render::render(&snapshot, &BUILD);
    let ups = page
        .lines()
        .filter(|l| l.starts_with("pg_replication_up{"))
        .count();
    assert_eq!(ups, FLEET_CLUSTERS * 3, "nodes in the fleet page");
    let mut group = c.benchmark_group("fleet_1002_nodes");
    group.sample_size(20);
    let reports: Vec<Vec<NodeReport>> = snapshot.clusters.iter().map(|c| c.nodes.clone()).collect();
    let mut histories: Vec<ClusterHistory> = (0..FLEET_CLUSTERS)
        .map(|_| ClusterHistory::new(Duration::from_secs(3600), Duration::from_secs(1)))
        .collect();
    let mut now = NOW;
    group.bench_function("observe_every_cluster", |b| {
        b.iter(|| {
            now += 1.0;
            for (h, r) in histories.iter_mut().zip(&reports) {
                black_box(observe(h, now, r));
            }
        })
    });
    group.bench_function("render_full_page", |b| {
        b.iter(|| render::render(black_box(&snapshot), &BUILD))
    });
    let chunks: Vec<render::Chunk> = snapshot
        .clusters
        .iter()
        .map(|c| render::cluster_chunk(&snapshot, c))
        .collect();
    group.bench_function("page_after_one_publish", |b| {
        b.iter(|| {
            let fresh = render::cluster_chunk(&snapshot, &snapshot.clusters[7]);
            let page = render::assemble(
                &BUILD,
                &snapshot,
                chunks
                    .iter()
                    .enumerate()
                    .map(|(i, c)| if i == 7 { &fresh } else { c }),
            );
            black_box(page.len())
        })
    });
    group.bench_function("gzip_page", |b| {
        b.iter(|| {
            use std::io::Write as _;
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(page.len() / 6),
                flate2::Compression::fast(),
            );
            encoder.write_all(page.as_bytes()).unwrap();
            black_box(encoder.finish().unwrap().len())
        })
    });
    group.finish();
}

/// The values of `columns` one after the other, each a run of one value per walsender (the
/// statement's `ws_lsn` and `ws_lag`).
fn runs<T>(ws: &[Walsender], columns: &[fn(&Walsender) -> Option<T>]) -> Vec<Option<T>> {
    columns.iter().flat_map(|f| ws.iter().map(f)).collect()
}

/// The primary's full read as the statement returns it: the node's columns, the document
/// (every slot and the settings, as PostgreSQL's `json_build_object` would spell it) and the
/// walsenders' arrays.
fn primary_row() -> (sql::NodeColumns, String, sql::WalsenderColumns) {
    let s = primary_state();
    let lsn = |l: Option<Lsn>| l.map_or("null".to_owned(), |l| format!("\"{l}\""));
    let node = sql::NodeColumns {
        in_recovery: s.in_recovery,
        timeline_id: s.timeline_id.map(|t| t as i32),
        wal_lsn: s.wal_lsn,
        server_now: s.server_now,
        ..sql::NodeColumns::default()
    };
    let column = |f: &dyn Fn(&Walsender) -> Option<String>| s.walsenders.iter().map(f).collect();
    let walsenders = sql::WalsenderColumns {
        pid: s.walsenders.iter().map(|w| w.pid).collect(),
        name_cached: s.walsenders.iter().map(|w| Some(w.name_cached)).collect(),
        application_name: column(&|w| Some(w.application_name.clone())),
        backend_start: s.walsenders.iter().map(|w| w.backend_start).collect(),
        state: column(&|w| w.state.clone()),
        lsn: runs(
            &s.walsenders,
            &[
                |w| w.sent_lsn,
                |w| w.write_lsn,
                |w| w.flush_lsn,
                |w| w.replay_lsn,
            ],
        ),
        lag: runs(
            &s.walsenders,
            &[|w| w.write_lag, |w| w.flush_lag, |w| w.replay_lag],
        ),
        sync_priority: s.walsenders.iter().map(|w| w.sync_priority).collect(),
        sync_state: column(&|w| w.sync_state.clone()),
        reply_time: s.walsenders.iter().map(|w| w.reply_time).collect(),
        on_database: s.walsenders.iter().map(|w| Some(w.on_database)).collect(),
    };
    let slots: Vec<String> = s
        .slots
        .iter()
        .map(|sl| {
            format!(
                r#"{{"slot_name":"{}","slot_type":"physical","database":null,"active":false,"restart_lsn":{},"confirmed_flush_lsn":null,"wal_status":"reserved","safe_wal_size":null,"xmin_age":null,"catalog_xmin_age":null}}"#,
                sl.slot_name,
                lsn(sl.restart_lsn),
            )
        })
        .collect();
    let document = format!(
        r#"{{"slots":[{sl}],"slots_fingerprint":"0:0","settings":{{"synchronous_commit":"on","synchronous_standby_names":"ANY 1 (standby1, standby2)","wal_level":"replica","max_wal_senders":"40","max_replication_slots":"600","hot_standby":"on","hot_standby_feedback":"off","wal_keep_size":"0","max_slot_wal_keep_size":"-1"}},"archiver":null,"subscriptions":[]}}"#,
        sl = slots.join(","),
    );
    (node, document, walsenders)
}

fn bench_render(c: &mut Criterion) {
    let snapshot = snapshot();
    let text = render::render(&snapshot, &BUILD);
    // A fixture that silently lost its slots would make the figure meaningless.
    let slot_series = text
        .lines()
        .filter(|l| l.starts_with("pg_replication_slot_active{"))
        .count();
    assert_eq!(slot_series, SLOTS, "slot series in the rendered fixture");
    let mut group = c.benchmark_group("render");
    group.bench_function("500_slots_30_walsenders", |b| {
        b.iter(|| render::render(black_box(&snapshot), &BUILD))
    });
    group.bench_function("families_500_slots_30_walsenders", |b| {
        b.iter(|| render::families(black_box(&snapshot), &BUILD))
    });
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let (node, document, walsenders) = primary_row();
    let decode = || {
        sql::decode(
            node.clone(),
            Some(black_box(&document)),
            walsenders
                .clone()
                .into_walsenders()
                .expect("the arrays zip"),
        )
        .expect("the fixture row decodes")
    };
    let mut decoded = decode();
    // The session's constants are not in the row (read once per session).
    let expected = primary_state();
    decoded.server_version_num = expected.server_version_num;
    decoded.server_version.clone_from(&expected.server_version);
    decoded
        .system_identifier
        .clone_from(&expected.system_identifier);
    decoded
        .slots_fingerprint
        .clone_from(&expected.slots_fingerprint);
    assert_eq!(decoded, expected, "the row round-trips");
    c.bench_function("decode/primary_500_slots_30_walsenders", |b| b.iter(decode));
}

fn bench_observe(c: &mut Criterion) {
    let interval = Duration::from_secs(1);
    let mut history = ClusterHistory::new(Duration::from_secs(3600), interval);
    // An hour of rounds with the primary writing 256 KiB and 2 MiB in turns: no straight line
    // stands for two rounds, so every sample is kept (the history's worst case).
    let step = |i: u64| {
        if i.is_multiple_of(2) {
            256 * 1024
        } else {
            2 * 1024 * 1024
        }
    };
    let mut now = NOW;
    let mut pos = POS;
    let mut round = 0;
    for _ in 0..3600 {
        observe(&mut history, now, &nodes(pos, pos));
        now += 1.0;
        pos += step(round);
        round += 1;
    }
    assert!(
        history.len() >= 3600 && history.len() <= history.capacity(),
        "history is full: {} of {}",
        history.len(),
        history.capacity()
    );
    // standby1 replays at the oldest end of the window: its time lag is interpolated from the
    // first samples, so the lookup covers the whole history.
    let far_behind = POS + step(0) + step(1);
    let mut reports = nodes(pos, far_behind);
    c.bench_function("observe/full_1h_history", |b| {
        b.iter(|| {
            // Only the positions move between rounds; updating them in place keeps the fixture's
            // construction out of the figure.
            if let Some(primary) = reports[0].state.as_mut() {
                primary.wal_lsn = Some(Lsn(pos));
            }
            let view = observe(&mut history, now, black_box(&reports));
            now += 1.0;
            pos += step(round);
            round += 1;
            view
        })
    });
    assert!(
        history.len() <= history.capacity(),
        "the history stays bounded"
    );
}

criterion_group!(
    benches,
    bench_render,
    bench_decode,
    bench_observe,
    bench_fleet
);
criterion_main!(benches);
