//! End-to-end, per PostgreSQL major: the exporter's poll against whatever server `PG_BINDIR`
//! points to (default: the distribution's 15; `scripts/test.sh` runs this file against 13–18
//! via `scripts/fetch-pg.sh`), with the version-specific behaviour asserted by the server's
//! major: how replay pause is read (13: `pg_is_wal_replay_paused`, 14+:
//! `pg_get_wal_replay_pause_state`), slot `conflicting` (16+), `inactive_since` and
//! `invalidation_reason` (17+), `idle_replication_slot_timeout` (18+), and a slot invalidated for
//! real by `max_slot_wal_keep_size` on every major.

mod harness;

use harness::{Cluster, Exporter, MIB, Node, PgBin, Scrape, WAIT};
use postgres::types::PgLsn;

fn major() -> u32 {
    PgBin::from_env().major()
}

/// An LSN expression as bytes (float8 is exact below 2^53 bytes).
fn lsn(node: &Node, sql: &str) -> u64 {
    let row = node.query_one(&format!("SELECT (({sql}) - '0/0'::pg_lsn)::float8"), &[]);
    let v: Option<f64> = row.get(0);
    v.unwrap_or_else(|| panic!("{sql} is NULL on {}", node.name())) as u64
}

/// The labels of one slot of the primary.
fn slot(name: &str) -> [(&'static str, &str); 2] {
    [("node", "primary"), ("slot", name)]
}

/// `pg_replication_slot_wal_status` as the one value set to 1, checking the one-hot shape.
fn wal_status(s: &Scrape, slot_name: &str) -> Option<String> {
    let series = s.find("pg_replication_slot_wal_status", &slot(slot_name));
    if series.is_empty() {
        return None;
    }
    assert_eq!(series.len(), 4, "one series per wal_status: {series:?}");
    let on: Vec<_> = series.iter().filter(|x| x.value == 1.0).collect();
    assert_eq!(on.len(), 1, "exactly one wal_status at 1: {series:?}");
    on[0].label("wal_status").map(str::to_string)
}

/// A slot's row of pg_replication_slots on `node` as text columns (NULL → None).
fn slot_row(node: &Node, slot_name: &str, columns: &str) -> Vec<Option<String>> {
    let row = node.query_one(
        &format!("SELECT {columns} FROM pg_replication_slots WHERE slot_name = $1"),
        &[&slot_name],
    );
    (0..row.len()).map(|i| row.get(i)).collect()
}

/// A slot's name, retained bytes, wal_status and confirmed-flush lag, from SQL.
type SlotTruth = (String, Option<i64>, Option<String>, Option<i64>);

#[test]
fn poll_and_version_specific_columns_match_the_server() {
    let major = major();
    let c = Cluster::builder()
        .standbys(2)
        .logical_slot("logical1")
        .start();
    let (primary, s1, s2) = (c.primary(), c.standby(1), c.standby(2));
    let e = Exporter::for_cluster(&c);
    for s in c.standbys() {
        c.wait_for_catchup(s);
    }
    // The ground truth of the quiet cluster, read before and after a scrape that is newer than
    // the first reading, until nothing moved in between: lag per stage of both walsenders,
    // each slot's retained bytes and wal_status, the logical slot's confirmed-flush lag.
    let (truth, scrape) = e.quiet_scrape("the quiet cluster", || {
        let stages: Vec<(String, Vec<u64>)> = primary
            .query(
                "SELECT application_name, \
                   (pg_current_wal_lsn() - sent_lsn)::float8, \
                   (pg_current_wal_lsn() - write_lsn)::float8, \
                   (pg_current_wal_lsn() - flush_lsn)::float8, \
                   (pg_current_wal_lsn() - replay_lsn)::float8 \
                 FROM pg_stat_replication ORDER BY 1",
                &[],
            )
            .iter()
            .map(|r| {
                let v = (1..5).map(|i| r.get::<_, f64>(i) as u64).collect();
                (r.get(0), v)
            })
            .collect();
        let slots: Vec<SlotTruth> = primary
            .query(
                "SELECT slot_name::text, (pg_current_wal_lsn() - restart_lsn)::bigint, \
                   wal_status, (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint \
                 FROM pg_replication_slots ORDER BY 1",
                &[],
            )
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        (stages, slots)
    });
    let (stages, slots) = truth;

    // Every node: up, and node_info names the version the server reports.
    for n in c.nodes() {
        let version: String = n.scalar("SHOW server_version");
        let num: String = n.scalar("SHOW server_version_num");
        assert_eq!(num.parse::<u32>().unwrap() / 10000, major, "{}", n.name());
        let info = scrape.find("pg_replication_node_info", &[("node", n.name())]);
        assert_eq!(info.len(), 1, "node_info of {}: {info:?}", n.name());
        assert_eq!(info[0].label("server_version"), Some(version.as_str()));
        assert_eq!(info[0].value, 1.0);
        let is_primary = n.name() == "primary";
        assert_eq!(
            scrape.get("pg_replication_node_is_primary", &[("node", n.name())]),
            Some(if is_primary { 1.0 } else { 0.0 }),
            "{}",
            n.name()
        );
    }

    // The walsenders of both standbys, every stage, exactly as pg_stat_replication has them.
    let names: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["standby1", "standby2"], "pg_stat_replication");
    for (standby, sql) in &stages {
        for (i, stage) in ["sent", "write", "flush", "replay"].iter().enumerate() {
            let v = scrape.get(
                "pg_replication_lag_bytes",
                &[("node", "primary"), ("standby", standby), ("stage", stage)],
            );
            assert_eq!(
                v,
                Some(sql[i] as f64),
                "lag_bytes {standby}/{stage} vs SQL\n{}",
                scrape.text
            );
        }
    }

    // Slots as pg_replication_slots has them: the standbys' physical ones active and reserved,
    // the logical one not in use; retained bytes and the confirmed-flush lag to the byte.
    let slot_names: Vec<&str> = slots.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(slot_names, ["logical1", "standby1", "standby2"]);
    for (name, retained, status, _) in &slots {
        assert_eq!(
            scrape.get("pg_replication_slot_retained_bytes", &slot(name)),
            retained.map(|b| b as f64),
            "retained_bytes of {name}"
        );
        assert_eq!(wal_status(&scrape, name), *status, "wal_status of {name}");
        assert_eq!(
            status.as_deref(),
            Some("reserved"),
            "SQL wal_status of {name}"
        );
    }
    for name in ["standby1", "standby2"] {
        assert_eq!(
            scrape.get("pg_replication_slot_active", &slot(name)),
            Some(1.0)
        );
    }
    let logical = [
        ("node", "primary"),
        ("slot", "logical1"),
        ("slot_type", "logical"),
        ("database", "postgres"),
    ];
    assert_eq!(
        scrape.get("pg_replication_slot_active", &logical),
        Some(0.0)
    );
    let confirmed = slots[0].3.expect("a logical slot has confirmed_flush_lsn");
    assert_eq!(
        scrape.get("pg_replication_slot_confirmed_flush_lag_bytes", &logical),
        Some(confirmed as f64)
    );
    // max_slot_wal_keep_size is -1 (the default): safe_wal_size is NULL, so absent, not 0.
    assert!(
        scrape
            .all("pg_replication_slot_safe_wal_size_bytes")
            .is_empty(),
        "{}",
        scrape.text
    );

    // 16+: `conflicting` exists for logical slots (NULL, so absent, for physical ones).
    let conflicting = scrape.all("pg_replication_slot_conflicting");
    if major >= 16 {
        assert_eq!(
            scrape.get("pg_replication_slot_conflicting", &logical),
            Some(0.0)
        );
        assert_eq!(
            conflicting.len(),
            1,
            "only the logical slot: {conflicting:?}"
        );
    } else {
        assert!(
            conflicting.is_empty(),
            "PostgreSQL {major} has no conflicting column: {conflicting:?}"
        );
    }

    // 17+: inactive_since for the unused logical slot (the standbys' slots are in use: NULL);
    // invalidation_reason NULL → invalidated 0 with an empty reason. Before 17 neither exists,
    // and "not invalidated" cannot be told, so both families are absent.
    let inactive = scrape.all("pg_replication_slot_inactive_since_timestamp_seconds");
    let invalidated = scrape.all("pg_replication_slot_invalidated");
    if major >= 17 {
        let row = primary.query_one(
            "SELECT extract(epoch FROM inactive_since)::float8 FROM pg_replication_slots \
             WHERE slot_name = 'logical1'",
            &[],
        );
        let truth: f64 = row.get(0);
        let got = scrape
            .get(
                "pg_replication_slot_inactive_since_timestamp_seconds",
                &logical,
            )
            .expect("inactive_since of logical1");
        assert!(
            (got - truth).abs() < 1e-3,
            "inactive_since {got} vs SQL {truth}"
        );
        assert_eq!(inactive.len(), 1, "only the unused slot: {inactive:?}");
        for name in ["standby1", "standby2", "logical1"] {
            assert_eq!(
                scrape.get(
                    "pg_replication_slot_invalidated",
                    &[("node", "primary"), ("slot", name), ("reason", "")]
                ),
                Some(0.0),
                "{name}"
            );
        }
    } else {
        assert!(inactive.is_empty(), "{inactive:?}");
        assert!(invalidated.is_empty(), "{invalidated:?}");
    }

    // Timelines as the servers have them: the primary's from its control file, a standby's is
    // its WAL receiver's (a fresh cluster: 1 everywhere, but read, not assumed).
    for n in c.nodes() {
        let tl: i32 = if n.name() == "primary" {
            n.scalar("SELECT timeline_id FROM pg_control_checkpoint()")
        } else {
            n.scalar("SELECT received_tli FROM pg_stat_wal_receiver")
        };
        assert_eq!(
            scrape.get("pg_replication_node_timeline_id", &[("node", n.name())]),
            Some(f64::from(tl)),
            "timeline of {}",
            n.name()
        );
    }

    // Replay pause: 14+ reads pg_get_wal_replay_pause_state(), 13 pg_is_wal_replay_paused().
    // Paused on standby1 with WAL arriving: its replay lag grows, it still receives.
    for s in [s1, s2] {
        assert_eq!(
            scrape.get("pg_replication_node_replay_paused", &[("node", s.name())]),
            Some(0.0),
            "{}",
            s.name()
        );
    }
    assert_eq!(
        scrape.get("pg_replication_node_replay_paused", &[("node", "primary")]),
        None,
        "not a standby: no replay_paused series"
    );
    s1.pause_replay();
    primary.write_wal(32 * MIB);
    c.wait_for_catchup(s2);
    c.wait_for("standby1 to receive everything", WAIT, || {
        s1.receive_lsn().unwrap_or(0) >= primary.current_lsn()
    });
    let paused = e.wait_scrape("standby1 replay paused", WAIT, |s| {
        s.get("pg_replication_node_replay_paused", &[("node", "standby1")]) == Some(1.0)
    });
    // Both standbys against the server's own answer, read the way this major reads it.
    let paused_sql = if major >= 14 {
        "SELECT pg_get_wal_replay_pause_state() = 'paused'"
    } else {
        "SELECT pg_is_wal_replay_paused()"
    };
    for s in [s1, s2] {
        let truth: bool = s.scalar(paused_sql);
        assert_eq!(
            paused.get("pg_replication_node_replay_paused", &[("node", s.name())]),
            Some(if truth { 1.0 } else { 0.0 }),
            "replay_paused of {} vs SQL {truth}",
            s.name()
        );
    }
    // The paused standby's replay lag, bracketed by SQL readings (the primary is quiet now and
    // standby1's replay position is frozen, so before == after unless something wrote).
    let truth = || lsn(primary, "pg_current_wal_lsn()") - lsn(s1, "pg_last_wal_replay_lsn()");
    let before = truth();
    let s = e.fresh_scrape();
    let after = truth();
    let replay = s
        .get(
            "pg_replication_lag_bytes",
            &[
                ("node", "primary"),
                ("standby", "standby1"),
                ("stage", "replay"),
            ],
        )
        .expect("replay lag of standby1") as u64;
    assert!(
        before <= replay && replay <= after && replay >= 32 * MIB,
        "replay lag {replay} not within SQL [{before}, {after}]"
    );
    s1.resume_replay();
    c.wait_for_catchup(s1);
    e.wait_metric(
        "pg_replication_node_replay_paused",
        &[("node", "standby1")],
        |v| v == 0.0,
        WAIT,
    );
}

/// Write WAL in 16 MiB steps, each followed by the standbys catching up (so that their slots
/// stay within the limit) and a CHECKPOINT (which is when PostgreSQL invalidates slots), until
/// `done` holds.
fn write_and_checkpoint_until(c: &Cluster, what: &str, mut done: impl FnMut() -> bool) {
    let primary = c.primary();
    for _ in 0..32 {
        if done() {
            return;
        }
        primary.write_wal(16 * MIB);
        let target = PgLsn::from(primary.current_lsn());
        for s in c.standbys() {
            c.wait_for(
                &format!("slot {} to confirm {target}", s.name()),
                WAIT,
                || {
                    primary
                        .try_query_one_params(
                            "SELECT restart_lsn >= $1 FROM pg_replication_slots \
                             WHERE slot_name = $2",
                            &[&target, &s.name()],
                        )
                        .is_some_and(|r| r.get::<_, Option<bool>>(0) == Some(true))
                },
            );
        }
        primary.batch_execute("CHECKPOINT");
    }
    if !done() {
        panic!(
            "{what}: not after 512 MiB of WAL and 32 checkpoints\n{}",
            c.dump()
        );
    }
}

#[test]
fn a_slot_past_max_slot_wal_keep_size_is_invalidated_for_real() {
    let major = major();
    // 2 WAL segments of 16 MiB: a slot nobody consumes is lost after a few checkpoints.
    let c = Cluster::builder()
        .standbys(1)
        .conf("max_slot_wal_keep_size = 32MB")
        .start();
    let primary = c.primary();
    primary.execute(
        "SELECT pg_create_physical_replication_slot('stale', true)",
        &[],
    );
    let e = Exporter::for_cluster(&c);
    let s = e.wait_scrape("the stale slot", WAIT, |s| {
        wal_status(s, "stale").as_deref() == Some("reserved")
    });
    assert_eq!(
        s.get("pg_replication_slot_active", &slot("stale")),
        Some(0.0)
    );
    // With max_slot_wal_keep_size set, safe_wal_size is known: exactly the server's, and at most
    // the limit.
    let (truth, s) = e.quiet_scrape("safe_wal_size of the stale slot", || {
        slot_row(primary, "stale", "safe_wal_size::text")[0]
            .as_deref()
            .map(|v| v.parse::<i64>().unwrap())
    });
    let truth = truth.expect("safe_wal_size with max_slot_wal_keep_size set");
    assert_eq!(
        s.get("pg_replication_slot_safe_wal_size_bytes", &slot("stale")),
        Some(truth as f64)
    );
    assert!(truth <= (32 * MIB) as i64, "safe_wal_size {truth}");

    write_and_checkpoint_until(&c, "the stale slot to be lost", || {
        slot_row(primary, "stale", "wal_status")[0].as_deref() == Some("lost")
    });
    if major >= 17 {
        assert_eq!(
            slot_row(primary, "stale", "invalidation_reason")[0].as_deref(),
            Some("wal_removed")
        );
    }
    let s = e.wait_scrape("the stale slot lost in /metrics", WAIT, |s| {
        wal_status(s, "stale").as_deref() == Some("lost")
    });
    // The standby's slot kept up and survived, as the server says.
    assert_eq!(
        wal_status(&s, "standby1"),
        slot_row(primary, "standby1", "wal_status")[0],
        "wal_status of standby1 vs SQL"
    );
    assert_eq!(wal_status(&s, "standby1").as_deref(), Some("reserved"));
    // The lost slot holds no WAL the server can name: restart_lsn is NULL, so no retained
    // bytes (unknown is not zero); otherwise exactly the server's figure.
    let stale_retained = slot_row(
        primary,
        "stale",
        "(pg_current_wal_lsn() - restart_lsn)::bigint::text",
    )[0]
    .as_deref()
    .map(|v| v.parse::<f64>().unwrap());
    if stale_retained.is_none() {
        assert_eq!(
            s.get("pg_replication_slot_retained_bytes", &slot("stale")),
            None,
            "retained bytes of a slot whose restart_lsn is NULL"
        );
    } else {
        assert!(
            s.get("pg_replication_slot_retained_bytes", &slot("stale"))
                .is_some(),
            "the server names {stale_retained:?} retained bytes for the stale slot"
        );
    }
    assert_eq!(
        s.get("pg_replication_slot_active", &slot("standby1")),
        Some(1.0)
    );
    let invalidated = s.all("pg_replication_slot_invalidated");
    if major >= 17 {
        let reason = slot_row(primary, "stale", "invalidation_reason")[0]
            .clone()
            .expect("the lost slot has an invalidation_reason");
        assert_eq!(
            s.get(
                "pg_replication_slot_invalidated",
                &[("slot", "stale"), ("reason", &reason)]
            ),
            Some(1.0),
            "reason {reason:?} from SQL: {invalidated:?}"
        );
        assert_eq!(
            s.get(
                "pg_replication_slot_invalidated",
                &[("slot", "standby1"), ("reason", "")]
            ),
            Some(0.0)
        );
        assert_eq!(invalidated.len(), 2, "one series per slot: {invalidated:?}");
    } else {
        assert!(
            invalidated.is_empty(),
            "PostgreSQL {major} has no invalidation_reason: {invalidated:?}"
        );
    }

    // 18+: idle_replication_slot_timeout invalidates a slot that reserves WAL and sits unused;
    // PostgreSQL then reports it lost with reason idle_timeout although its WAL still exists.
    if major >= 18 {
        primary.execute(
            "SELECT pg_create_physical_replication_slot('idle', true)",
            &[],
        );
        // Two statements: ALTER SYSTEM refuses the implicit transaction of a multi-statement query.
        primary.batch_execute("ALTER SYSTEM SET idle_replication_slot_timeout = '1s'");
        primary.batch_execute("SELECT pg_reload_conf()");
        c.wait_for("the idle slot to time out", WAIT, || {
            primary.batch_execute("CHECKPOINT");
            slot_row(primary, "idle", "invalidation_reason")[0].as_deref() == Some("idle_timeout")
        });
        let s = e.wait_scrape("the idle slot invalidated in /metrics", WAIT, |s| {
            s.get(
                "pg_replication_slot_invalidated",
                &[("slot", "idle"), ("reason", "idle_timeout")],
            ) == Some(1.0)
        });
        assert_eq!(wal_status(&s, "idle").as_deref(), Some("lost"));
        // The active standby slot is never idle.
        assert_eq!(
            s.get(
                "pg_replication_slot_invalidated",
                &[("slot", "standby1"), ("reason", "")]
            ),
            Some(0.0)
        );
    }
}
