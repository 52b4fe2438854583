//! End-to-end: a real primary with standbys (and a cascading standby), the exporter binary
//! polling every node, and `/metrics` compared with SQL ground truth read from the servers.
//!
//! Moving values are checked with brackets: a SQL reading before and after a scrape whose
//! snapshot was taken between them, so `before <= metric <= after` holds exactly.

mod harness;

use harness::{Cluster, Exporter, MIB, Scrape, StopMode, WAIT};

/// `(sql before, scrape, sql after)` where every value of the scrape was read by a poll that
/// started after `before` was read (see [`Exporter::fresh_scrape`]).
fn bracket<T>(truth: impl Fn() -> T, exporter: &Exporter) -> (T, Scrape, T) {
    let before = truth();
    let scrape = exporter.fresh_scrape();
    let after = truth();
    (before, scrape, after)
}

#[test]
fn lag_stages_slots_and_standby_side_match_sql_while_replay_is_paused() {
    let c = Cluster::builder()
        .standbys(2)
        .cascade(true)
        .synchronous_standby_names("ANY 1 (standby1, standby2)")
        .logical_slot("logical1")
        .conf("max_slot_wal_keep_size = 4GB")
        .start();
    let (primary, s1, s2) = (c.primary(), c.standby(1), c.standby(2));
    let e = Exporter::for_cluster(&c);

    // Caught up and idle: every lag stage is 0 bytes, and lag_seconds is 0, not absent, once
    // PostgreSQL has cleared the lag intervals of the idle walsenders.
    for s in c.standbys() {
        c.wait_for_catchup(s);
    }
    let idle = e.wait_scrape("idle standby2 with lag_seconds 0", WAIT, |s| {
        ["write", "flush", "replay"].iter().all(|st| {
            s.get(
                "pg_replication_lag_seconds",
                &[("standby", "standby2"), ("stage", st)],
            ) == Some(0.0)
        })
    });
    assert_eq!(
        idle.get(
            "pg_replication_lag_bytes",
            &[
                ("node", "primary"),
                ("standby", "standby2"),
                ("stage", "replay")
            ]
        ),
        Some(0.0)
    );

    // Replay paused on standby1, 600 MiB of WAL: standby1 receives it but does not replay it.
    s1.pause_replay();
    primary.write_wal(600 * MIB);
    c.wait_for_catchup(s2);
    c.wait_for("standby1 to receive everything", WAIT, || {
        s1.receive_lsn().unwrap_or(0) >= primary.current_lsn() - MIB
    });
    e.wait_metric(
        "pg_replication_lag_bytes",
        &[
            ("node", "primary"),
            ("standby", "standby1"),
            ("stage", "replay"),
        ],
        |v| v > 512.0 * MIB as f64,
        WAIT,
    );

    // Replay lag of the paused standby, exactly: the primary only moves forward, standby1's
    // replay position is frozen.
    let truth = || primary.current_lsn() - s1.replay_lsn();
    let (before, scrape, after) = bracket(truth, &e);
    let replay = scrape
        .get(
            "pg_replication_lag_bytes",
            &[
                ("node", "primary"),
                ("standby", "standby1"),
                ("stage", "replay"),
            ],
        )
        .unwrap() as u64;
    assert!(
        before <= replay && replay <= after,
        "replay lag {replay} not within SQL [{before}, {after}]"
    );
    // 600 MiB were written after replay paused: the lag is at least that (the wait above only
    // asked for more than 512 MiB).
    assert!(replay >= 600 * MIB, "replay lag {replay} < 600 MiB");
    // The standby-side view agrees (standby_lag_bytes reads the standby's own replay LSN).
    let standby_side = scrape
        .get("pg_replication_standby_lag_bytes", &[("node", "standby1")])
        .unwrap() as u64;
    assert!(
        before <= standby_side && standby_side <= after,
        "{standby_side} not within [{before}, {after}]"
    );

    // Every stage against pg_stat_replication, on a quiet primary: sent/write/flush ~ 0 (the WAL
    // was received), replay > 512 MiB; the order sent <= write <= flush <= replay holds.
    let stages: Vec<u64> = ["sent", "write", "flush", "replay"]
        .iter()
        .map(|st| {
            scrape
                .get(
                    "pg_replication_lag_bytes",
                    &[("node", "primary"), ("standby", "standby1"), ("stage", st)],
                )
                .unwrap_or_else(|| panic!("lag_bytes stage {st} missing")) as u64
        })
        .collect();
    assert!(
        stages.windows(2).all(|w| w[0] <= w[1]),
        "stages not cumulative: {stages:?}"
    );
    let row = primary.query_one(
        "SELECT (pg_current_wal_lsn() - sent_lsn)::float8, (pg_current_wal_lsn() - write_lsn)::float8,
                (pg_current_wal_lsn() - flush_lsn)::float8
         FROM pg_stat_replication WHERE application_name = 'standby1'",
        &[],
    );
    for (i, st) in ["sent", "write", "flush"].iter().enumerate() {
        let sql = row.get::<_, f64>(i) as u64;
        assert!(
            stages[i].abs_diff(sql) < MIB,
            "stage {st}: metric {} vs SQL {sql} (primary is quiet, they must agree within 1 MiB)",
            stages[i]
        );
    }
    let replay_seconds = scrape
        .get(
            "pg_replication_lag_seconds",
            &[
                ("node", "primary"),
                ("standby", "standby1"),
                ("stage", "replay"),
            ],
        )
        .expect("replay lag seconds of a paused standby is known");
    assert!(replay_seconds > 0.0);

    // Standby side of standby1: receive/replay LSN, pause, WAL receiver, upstream.
    let recv = s1.receive_lsn().unwrap();
    let rep = s1.replay_lsn();
    let m_recv = scrape
        .get(
            "pg_replication_node_receive_lsn_bytes",
            &[("node", "standby1")],
        )
        .unwrap() as u64;
    assert!(
        m_recv <= recv && recv - m_recv < MIB,
        "receive lsn {m_recv} vs {recv}"
    );
    assert_eq!(
        scrape.get("pg_replication_node_wal_lsn_bytes", &[("node", "standby1")]),
        Some(rep as f64)
    );
    assert_eq!(
        scrape.get("pg_replication_node_replay_paused", &[("node", "standby1")]),
        Some(1.0)
    );
    assert_eq!(
        scrape.get("pg_replication_node_replay_paused", &[("node", "standby2")]),
        Some(0.0)
    );
    assert_eq!(
        scrape.get("pg_replication_node_is_primary", &[("node", "standby1")]),
        Some(0.0)
    );
    assert_eq!(
        scrape.get("pg_replication_node_is_primary", &[("node", "primary")]),
        Some(1.0)
    );
    assert_eq!(
        scrape.get(
            "pg_replication_wal_receiver_status",
            &[("node", "standby1"), ("status", "streaming")]
        ),
        Some(1.0)
    );
    assert_eq!(
        scrape.get(
            "pg_replication_wal_receiver_status",
            &[("node", "standby1"), ("status", "stopped")]
        ),
        Some(0.0)
    );
    assert!(
        scrape
            .get(
                "pg_replication_wal_receiver_status",
                &[("node", "primary"), ("status", "none")]
            )
            .is_none()
    );
    let port = primary.port().to_string();
    assert_eq!(
        scrape.get(
            "pg_replication_upstream_info",
            &[
                ("node", "standby1"),
                ("upstream_host", "127.0.0.1"),
                ("upstream_port", &port),
                ("slot", "standby1")
            ]
        ),
        Some(1.0)
    );
    let age = scrape
        .get(
            "pg_replication_wal_receiver_last_message_age_seconds",
            &[("node", "standby1")],
        )
        .unwrap();
    assert!((0.0..30.0).contains(&age), "last message age {age}");
    let tl: i32 = primary.scalar("SELECT timeline_id FROM pg_control_checkpoint()");
    assert_eq!(
        scrape.get("pg_replication_node_timeline_id", &[("node", "primary")]),
        Some(tl as f64)
    );

    // The cascading standby's walsender lives on standby1 and is measured against standby1's
    // own (frozen) replay position: the cascade has everything standby1 replayed.
    let cascade_lag = scrape
        .get(
            "pg_replication_lag_bytes",
            &[
                ("node", "standby1"),
                ("standby", "cascade"),
                ("stage", "replay"),
            ],
        )
        .expect("standby1 lists the cascade");
    assert_eq!(
        cascade_lag, 0.0,
        "the cascade is not behind its upstream's replay position"
    );
    assert_eq!(
        scrape.get(
            "pg_replication_standby_state",
            &[
                ("node", "standby1"),
                ("standby", "cascade"),
                ("state", "streaming")
            ]
        ),
        Some(1.0)
    );

    // Slots: retained bytes (bracketed: the primary moves, restart_lsn of the paused-replay
    // slot does not move back), active, wal_status, safe_wal_size, logical confirmed-flush lag.
    let truth = || {
        let r = primary.query_one(
            "SELECT (pg_current_wal_lsn() - restart_lsn)::bigint, active, wal_status, safe_wal_size,
                    (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint
             FROM pg_replication_slots WHERE slot_name = 'logical1'",
            &[],
        );
        (
            r.get::<_, i64>(0),
            r.get::<_, bool>(1),
            r.get::<_, String>(2),
            r.get::<_, Option<i64>>(3),
            r.get::<_, i64>(4),
        )
    };
    let (b, scrape, a) = bracket(truth, &e);
    let l = [
        ("node", "primary"),
        ("slot", "logical1"),
        ("slot_type", "logical"),
        ("database", "postgres"),
    ];
    let retained = scrape
        .get("pg_replication_slot_retained_bytes", &l)
        .unwrap() as i64;
    assert!(
        b.0 <= retained && retained <= a.0,
        "retained {retained} not within [{}, {}]",
        b.0,
        a.0
    );
    let flush_lag = scrape
        .get("pg_replication_slot_confirmed_flush_lag_bytes", &l)
        .unwrap() as i64;
    assert!(
        b.4 <= flush_lag && flush_lag <= a.4,
        "confirmed flush lag {flush_lag} not within [{}, {}]",
        b.4,
        a.4
    );
    assert_eq!(scrape.get("pg_replication_slot_active", &l), Some(0.0));
    let mut wl = l.to_vec();
    wl.push(("wal_status", &a.2));
    assert_eq!(
        scrape.get("pg_replication_slot_wal_status", &wl),
        Some(1.0),
        "wal_status {}",
        a.2
    );
    let safe = scrape
        .get("pg_replication_slot_safe_wal_size_bytes", &l)
        .expect("safe_wal_size with max_slot_wal_keep_size set") as i64;
    let (sb, sa) = (b.3.unwrap(), a.3.unwrap());
    assert!(
        sa.min(sb) <= safe && safe <= sa.max(sb),
        "safe_wal_size {safe} not within [{sb}, {sa}]"
    );
    let phys = [
        ("node", "primary"),
        ("slot", "standby1"),
        ("slot_type", "physical"),
        ("database", ""),
    ];
    assert_eq!(scrape.get("pg_replication_slot_active", &phys), Some(1.0));

    // Resume: the lag drains.
    s1.resume_replay();
    c.wait_for_catchup(s1);
    e.wait_metric(
        "pg_replication_lag_bytes",
        &[
            ("node", "primary"),
            ("standby", "standby1"),
            ("stage", "replay"),
        ],
        |v| v < MIB as f64,
        WAIT,
    );
}

#[test]
fn sync_state_and_priority_follow_synchronous_standby_names() {
    let c = Cluster::builder()
        .standbys(2)
        .synchronous_standby_names("ANY 1 (standby1, standby2)")
        .start();
    let e = Exporter::for_cluster(&c);
    let state = |s: &Scrape, standby: &str, value: &str| {
        s.get(
            "pg_replication_sync_state",
            &[("standby", standby), ("sync_state", value)],
        )
    };
    let s = e.wait_scrape("both standbys in the quorum", WAIT, |s| {
        state(s, "standby1", "quorum") == Some(1.0) && state(s, "standby2", "quorum") == Some(1.0)
    });
    assert_eq!(state(&s, "standby1", "sync"), Some(0.0));
    assert_eq!(
        s.get("pg_replication_sync_priority", &[("standby", "standby1")]),
        Some(1.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_sync_standbys_required",
            &[("node", "primary")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_sync_standbys_healthy",
            &[("node", "primary")]
        ),
        Some(2.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_sync_config_info",
            &[
                ("node", "primary"),
                ("synchronous_commit", "on"),
                ("synchronous_standby_names", "ANY 1 (standby1, standby2)")
            ]
        ),
        Some(1.0)
    );

    c.primary().batch_execute(
        "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (standby2, standby1)'",
    );
    c.primary().batch_execute("SELECT pg_reload_conf()");
    let s = e.wait_scrape("FIRST 1: standby2 sync, standby1 potential", WAIT, |s| {
        state(s, "standby2", "sync") == Some(1.0) && state(s, "standby1", "potential") == Some(1.0)
    });
    let truth: Vec<(String, i32, String)> = c
        .primary()
        .query("SELECT application_name, sync_priority, sync_state FROM pg_stat_replication ORDER BY 1", &[])
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    for (name, priority, sync_state) in truth {
        assert_eq!(
            s.get("pg_replication_sync_priority", &[("standby", &name)]),
            Some(priority as f64),
            "{name}"
        );
        assert_eq!(
            state(&s, &name, &sync_state),
            Some(1.0),
            "{name} {sync_state}"
        );
    }
    assert_eq!(
        s.get(
            "pg_replication_sync_standbys_required",
            &[("node", "primary")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_sync_standbys_healthy",
            &[("node", "primary")]
        ),
        Some(1.0)
    );
}

#[test]
fn a_role_without_pg_monitor_is_reported_and_never_reads_as_zero_lag() {
    let c = Cluster::builder().standbys(1).start();
    let role = c.nomon_role();
    let e = Exporter::start(&c.exporter_config("pg", role.user(), role.password_file()));
    let s = e.wait_scrape("privilege_missing on every node", WAIT, |s| {
        c.nodes()
            .iter()
            .all(|n| s.get("pg_replication_privilege_missing", &[("node", n.name())]) == Some(1.0))
    });
    assert_eq!(
        s.get("pg_replication_up", &[("node", "primary")]),
        Some(1.0)
    );
    // Hidden columns: the series are absent, never 0.
    for name in [
        "pg_replication_lag_bytes",
        "pg_replication_lag_seconds",
        "pg_replication_sync_standbys_healthy",
    ] {
        assert!(
            s.all(name).is_empty(),
            "{name} must be absent without pg_monitor:\n{:?}",
            s.all(name)
        );
    }
    assert!(
        s.get(
            "pg_replication_poll_errors_total",
            &[("node", "primary"), ("kind", "privilege")]
        )
        .unwrap()
            >= 1.0
    );
    // Positions the role may read are still there.
    assert!(
        s.get("pg_replication_node_wal_lsn_bytes", &[("node", "primary")])
            .is_some()
    );
    e.wait_for_log(&format!("GRANT pg_monitor TO {}", role.user()), WAIT);
    // One hint per node, not per poll: none more over three more rounds (waiting is the point).
    e.wait_polls("primary", 3);
    let log = e.log_text();
    assert_eq!(
        log.matches("GRANT pg_monitor").count(),
        2,
        "one hint per node, not per poll:\n{log}"
    );
}

#[test]
fn a_stopped_node_is_down_while_the_others_are_served() {
    let c = Cluster::builder().standbys(2).start();
    let e = Exporter::for_cluster(&c);
    c.standby(2).stop(StopMode::Fast);
    let s = e.wait_scrape("standby2 down", WAIT, |s| {
        s.get("pg_replication_up", &[("node", "standby2")]) == Some(0.0)
    });
    assert!(
        s.get(
            "pg_replication_poll_errors_total",
            &[("node", "standby2"), ("kind", "connect")]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        s.get("pg_replication_up", &[("node", "primary")]),
        Some(1.0)
    );
    assert_eq!(
        s.get("pg_replication_up", &[("node", "standby1")]),
        Some(1.0)
    );
    // The others keep flowing: their last success keeps advancing.
    let t1 = s
        .get(
            "pg_replication_last_poll_success_timestamp_seconds",
            &[("node", "standby1")],
        )
        .unwrap();
    let t2 = e.wait_metric(
        "pg_replication_last_poll_success_timestamp_seconds",
        &[("node", "standby1")],
        |v| v > t1,
        WAIT,
    );
    // Round after round: the next success comes within an interval (1 s), a timeout (800 ms)
    // and slack, not just eventually.
    assert!(
        t2 - t1 < 3.3,
        "standby1's polls {t1} → {t2}: more than a round apart"
    );
    // The vanished standby stays visible.
    let s = e.wait_scrape("standby2 not streaming", WAIT, |s| {
        s.get("pg_replication_standby_streaming", &[("node", "standby2")]) == Some(0.0)
    });
    assert_eq!(
        s.get("pg_replication_standby_streaming", &[("node", "standby1")]),
        Some(1.0)
    );
    assert_eq!(s.get("pg_replication_cluster_nodes_up", &[]), Some(2.0));
    // One log line for the state change, not one per poll: the line is there, and no more
    // come over three more rounds (waiting is the point here).
    e.wait_for_log(r"node is down.*standby2|standby2.*node is down", WAIT);
    e.wait_polls("standby1", 3);
    let log = e.log_text();
    let down = log
        .lines()
        .filter(|l| l.contains("node is down") && l.contains("standby2"))
        .count();
    assert_eq!(
        down, 1,
        "expected one 'node is down' line for standby2:\n{log}"
    );
    // It comes back.
    c.standby(2).start();
    e.wait_metric(
        "pg_replication_up",
        &[("node", "standby2")],
        |v| v == 1.0,
        WAIT,
    );
}
