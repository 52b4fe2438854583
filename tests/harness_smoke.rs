//! Proves the test harness on a real cluster: primary + 2 standbys + a cascade with quorum
//! sync names, all streaming and caught up; a >512 MiB replay lag made by pausing replay while
//! another standby keeps up; freezing, crashing and promoting nodes; the exporter roles' auth.
//! Also the harness's Cluster.pm-like tools: reserved ports, a standby added mid-test,
//! `append_conf` + reload, `wait_for_log` from a log position, and catch-up waits by mode.
//! (The text-format parser and HTTP client unit tests live in the harness module and run here.)

mod harness;

use std::time::{Duration, Instant};

use harness::{Catchup, Cluster, MIB, StopMode, WAIT, fmt_lsn, pg_error};

#[test]
fn cluster_lags_freezes_crashes_and_promotes() {
    let t0 = Instant::now();
    let mut timings = Vec::new();
    let mut lap = |what: &str| timings.push(format!("{what}: {:.1?}", t0.elapsed()));

    let c = Cluster::builder()
        .standbys(2)
        .cascade(true)
        .synchronous_standby_names("ANY 1 (standby1, standby2)")
        .start();
    let (primary, s1, s2) = (c.primary(), c.standby(1), c.standby(2));
    let cascade = c.cascade().expect("cascade");
    for s in c.standbys() {
        c.wait_for_catchup(s);
        assert!(s.is_in_recovery(), "{} should be a standby", s.name());
    }
    lap("started and caught up");

    // The primary lists its two standbys as quorum members; standby1 feeds the cascade.
    let rows = primary.query(
        "SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1",
        &[],
    );
    let listed: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        listed,
        [
            ("standby1".to_string(), "quorum".to_string()),
            ("standby2".to_string(), "quorum".to_string())
        ]
    );
    let fed: String =
        s1.scalar("SELECT string_agg(application_name, ',') FROM pg_stat_replication");
    assert_eq!(fed, "cascade");
    let slots: String = primary.scalar(
        "SELECT string_agg(slot_name || ':' || active, ',' ORDER BY slot_name) \
         FROM pg_replication_slots",
    );
    assert_eq!(slots, "standby1:true,standby2:true");

    // Both exporter roles log in with scram over TCP, only one is in pg_monitor, and a wrong
    // password is refused.
    for (role, monitor) in [(c.exporter_role(), true), (c.nomon_role(), false)] {
        let file = std::fs::read_to_string(role.password_file()).unwrap();
        assert_eq!(file.trim_end(), role.password());
        let mut conn = cascade
            .conn_as(role.user(), role.password())
            .unwrap_or_else(|e| panic!("login as {}: {}", role.user(), pg_error(&e)));
        let is_monitor: bool = conn
            .query_one(
                "SELECT pg_has_role(current_user, 'pg_monitor', 'MEMBER')",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(is_monitor, monitor, "{}", role.user());
        assert!(!format!("{role:?}").contains(role.password()));
    }
    let refused = primary
        .conn_as("exporter", "wrong")
        .err()
        .expect("wrong password accepted");
    let refused = pg_error(&refused);
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );

    // Pause replay on standby1, write 600 MiB: standby1 falls > 512 MiB behind in replay while
    // standby2 (and the quorum commit) keep up.
    s1.pause_replay();
    let before = primary.current_lsn();
    primary.write_wal(600 * MIB);
    let written = primary.current_lsn() - before;
    assert!(written >= 600 * MIB, "wrote only {written} bytes of WAL");
    c.wait_for_catchup(s2);
    let lag = primary.current_lsn() - s1.replay_lsn();
    assert!(
        lag > 512 * MIB,
        "standby1 replay lag {lag} bytes (primary {}, standby1 {})",
        fmt_lsn(primary.current_lsn()),
        fmt_lsn(s1.replay_lsn())
    );
    // standby1 still receives: only replay is held back.
    c.wait_for("standby1 to receive everything", WAIT, || {
        s1.receive_lsn().is_some_and(|l| l >= before + written)
    });
    lap("600 MiB written, standby1 paused, standby2 caught up");
    s1.resume_replay();
    c.wait_for_catchup(s1);
    c.wait_for_catchup(cascade);
    lap("standby1 and cascade caught up");

    // A frozen standby2 stops confirming; the quorum (standby1) still lets commits through.
    s2.sigstop();
    primary.batch_execute("CREATE TABLE t AS SELECT 1 AS x");
    let target = primary.current_lsn();
    std::thread::sleep(Duration::from_millis(1500));
    let s2_replay: Option<postgres::types::PgLsn> = primary
        .scalar("SELECT replay_lsn FROM pg_stat_replication WHERE application_name = 'standby2'");
    assert!(
        s2_replay.is_some_and(|l| u64::from(l) < target),
        "a frozen standby2 confirmed replay up to {s2_replay:?}"
    );
    s2.sigcont();
    c.wait_for_catchup(s2);
    assert_eq!(s2.scalar::<i32>("SELECT x FROM t"), 1);
    lap("standby2 frozen and thawed");

    // Crash standby2 and start it again: crash recovery, then streaming again.
    let pid = s2.postmaster_pid().expect("standby2 running");
    s2.kill9();
    assert!(
        s2.postmaster_pid().is_none(),
        "postmaster {pid} survived SIGKILL"
    );
    assert!(s2.try_conn().is_err());
    s2.start();
    c.wait_for_streaming(s2);
    c.wait_for_catchup(s2);
    lap("standby2 crashed and restarted");

    // Fail over: stop the primary, promote standby2 onto a new timeline; it takes writes.
    primary.stop(StopMode::Fast);
    s2.promote();
    assert!(!s2.is_in_recovery());
    let timeline: i32 = s2.scalar("SELECT timeline_id FROM pg_control_checkpoint()");
    s2.batch_execute("CHECKPOINT");
    let timeline_after: i32 = s2.scalar("SELECT timeline_id FROM pg_control_checkpoint()");
    assert!(
        timeline_after >= 2,
        "timeline {timeline} -> {timeline_after} after promotion"
    );
    s2.batch_execute("INSERT INTO t VALUES (2)");
    assert_eq!(s2.scalar::<i64>("SELECT count(*) FROM t"), 2);
    lap("primary stopped, standby2 promoted");

    let version = format!("{} ({})", c.bin().version(), c.bin().dir().display());
    drop(c);
    lap("torn down");
    eprintln!("PostgreSQL {version}: {}", timings.join("; "));
    assert!(
        t0.elapsed() < Duration::from_secs(120),
        "smoke test took {:?}",
        t0.elapsed()
    );
}

/// A failed wait must name what it waited for and dump the replication views and logs, and the
/// cluster must still be torn down (servers gone, directory removed) by the unwinding panic,
/// even with a SIGSTOPped node. Also covers the builder's logical-slot, no-slot and conf options.
#[test]
fn failed_wait_dumps_state_and_teardown_survives_the_panic() {
    let mut seen = None;
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let c = Cluster::builder()
            .standbys(1)
            .slots(false)
            .logical_slot("harness_slot")
            .conf("wal_sender_timeout = 5s")
            .start();
        let (primary, s1) = (c.primary(), c.standby(1));
        assert_eq!(primary.scalar::<String>("SHOW wal_level"), "logical");
        assert_eq!(primary.scalar::<String>("SHOW wal_sender_timeout"), "5s");
        let slots: String = primary.scalar(
            "SELECT string_agg(slot_name || ':' || slot_type || ':' || coalesce(plugin, ''), ',') \
             FROM pg_replication_slots",
        );
        assert_eq!(slots, "harness_slot:logical:test_decoding");
        assert_eq!(s1.scalar::<String>("SHOW primary_slot_name"), "");
        c.wait_for_catchup(s1);
        let pids: Vec<i32> = c
            .nodes()
            .iter()
            .filter_map(|n| n.postmaster_pid())
            .collect();
        seen = Some((pids, c.dir().to_path_buf()));
        s1.sigstop();
        c.wait_for(
            "something that never happens",
            Duration::from_millis(300),
            || false,
        );
    }))
    .expect_err("the wait should have failed");
    eprintln!("(the panic printed above is the one this test expects)");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    for part in [
        "timed out after 300ms waiting for something that never happens",
        "===== primary (port",
        "pg_stat_replication:",
        "\"application_name\":\"standby1\"",
        "pg_replication_slots:",
        "===== standby1 (port",
        "SIGSTOPped: not queried",
        "--- last 30 lines of",
        "database system is ready to accept",
    ] {
        assert!(message.contains(part), "dump lacks {part:?}:\n{message}");
    }
    let (pids, dir) = seen.expect("cluster started");
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
                || std::fs::read(format!("/proc/{pid}/cmdline"))
                    .unwrap_or_default()
                    .is_empty(),
            "postmaster {pid} still running after the panic"
        );
    }
    assert!(!dir.exists(), "{} not removed", dir.display());
}

/// A port handed out once is never handed out again in this process, even after its first
/// taker closed it and the OS would happily give it back.
#[test]
fn reserved_ports_are_never_handed_out_twice() {
    let first = harness::free_ports(64);
    let mut seen: std::collections::HashSet<u16> = first.iter().copied().collect();
    assert_eq!(seen.len(), 64, "one call returned a port twice: {first:?}");
    assert!(first.iter().all(|&p| harness::is_reserved(p)));
    for _ in 0..64 {
        let p = harness::free_port();
        assert!(seen.insert(p), "port {p} was handed out a second time");
        // Bind and close it, as a test would: the OS may now offer it again, the harness not.
        drop(std::net::TcpListener::bind(("127.0.0.1", p)).expect("a handed-out port is free"));
    }
}

/// A standby added to a running cluster (of the primary, and a cascade of a standby) streams;
/// catch-up by mode tells flushed from replayed while replay is paused; `append_conf` + reload
/// takes effect; `wait_for_log` sees only what was logged past the position it is given and
/// names the pattern when nothing matches.
#[test]
fn added_standbys_catch_up_by_mode_and_reloads_show_in_the_log() {
    let mut c = Cluster::builder().standbys(1).start();
    c.primary().write_wal(4 * MIB);
    let added = c
        .add_standby("standby2", "primary", true)
        .name()
        .to_string();
    c.add_standby("late_cascade", "standby1", false);
    assert_eq!(c.nodes().len(), 4);
    let (primary, s2) = (c.primary(), c.node(&added));
    assert_eq!(s2.upstream(), Some("primary"));
    assert_eq!(s2.slot_name(), Some("standby2"));
    let slot_active: bool =
        primary.scalar("SELECT active FROM pg_replication_slots WHERE slot_name = 'standby2'");
    assert!(slot_active, "the added standby streams through its slot");
    let cascade = c.node("late_cascade");
    assert_eq!(cascade.upstream(), Some("standby1"));
    assert!(cascade.is_in_recovery());

    // Replay paused: the standby still writes and flushes everything, and replays nothing more.
    s2.pause_replay();
    let replayed_before = s2.replay_lsn();
    primary.write_wal(8 * MIB);
    let target = primary.current_lsn();
    c.wait_for_catchup_mode(s2, Catchup::Write);
    c.wait_for_catchup_mode(s2, Catchup::Flush);
    let flushed: String = primary.scalar(
        "SELECT flush_lsn::text FROM pg_stat_replication WHERE application_name = 'standby2'",
    );
    assert!(
        s2.replay_lsn() < target && s2.replay_lsn() == replayed_before,
        "replay moved while paused: before {}, now {}, target {}, flushed {flushed}",
        fmt_lsn(replayed_before),
        fmt_lsn(s2.replay_lsn()),
        fmt_lsn(target)
    );
    s2.resume_replay();
    c.wait_for_catchup_mode(s2, Catchup::Replay);
    assert!(s2.replay_lsn() >= target);
    // The cascade catches up with what standby1 replayed.
    c.wait_for_catchup(c.standby(1));
    c.wait_for_catchup_mode(cascade, Catchup::Replay);
    assert!(cascade.replay_lsn() >= target);

    // append_conf + reload, seen in the settings and in the log past the position taken before.
    let before = primary.log_position();
    assert_ne!(primary.scalar::<String>("SHOW work_mem"), "7MB");
    primary.set_conf("work_mem = '7MB'", "work_mem", "7MB");
    let line = primary.wait_for_log(
        r"received SIGHUP, reloading configuration files",
        before,
        WAIT,
    );
    assert!(line.contains("LOG:"), "{line}");
    // Past the current position nothing has been reloaded since: the wait fails, naming why.
    let after = primary.log_position();
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        primary.wait_for_log(r"received SIGHUP", after, Duration::from_millis(500))
    }))
    .expect_err("no reload happened after the position");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("waiting for a line matching \"received SIGHUP\" in the log of primary"),
        "{message}"
    );
}
