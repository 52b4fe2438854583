//! End-to-end, per PostgreSQL major: the exporter's poll against whatever server `PG_BINDIR`
//! points to (default: the distribution's 15; `scripts/test.sh` runs this file against 13–18
//! via `scripts/fetch-pg.sh`), with the version-specific behaviour asserted by the server's
//! major: how replay pause is read (13: `pg_is_wal_replay_paused`, 14+:
//! `pg_get_wal_replay_pause_state`), slot `conflicting` (16+), `inactive_since` and
//! `invalidation_reason` (17+), `idle_replication_slot_timeout` (18+), and a slot invalidated for
//! real by `max_slot_wal_keep_size` on every major.

mod harness;

use std::time::Duration;

use harness::{Cluster, Exporter, MIB, Node, PgBin, Scrape, WAIT};
use postgres::types::PgLsn;

/// A poll round (1 s) plus slack: a scrape taken this long after a SQL reading reflects it.
const ROUND: Duration = Duration::from_millis(1500);

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
    let scrape = e.scrape();

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

    // The walsenders of both standbys, every stage.
    for standby in ["standby1", "standby2"] {
        for stage in ["sent", "write", "flush", "replay"] {
            let v = scrape.get(
                "pg_replication_lag_bytes",
                &[("node", "primary"), ("standby", standby), ("stage", stage)],
            );
            assert!(
                v.is_some_and(|v| v >= 0.0),
                "lag_bytes {standby}/{stage}: {v:?}\n{}",
                scrape.text
            );
        }
    }

    // Slots: the standbys' physical ones are active and reserved, the logical one is not in use.
    for name in ["standby1", "standby2"] {
        assert_eq!(
            scrape.get("pg_replication_slot_active", &slot(name)),
            Some(1.0)
        );
        assert_eq!(wal_status(&scrape, name).as_deref(), Some("reserved"));
        assert!(
            scrape
                .get("pg_replication_slot_retained_bytes", &slot(name))
                .is_some(),
            "retained_bytes of {name}"
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
    assert_eq!(wal_status(&scrape, "logical1").as_deref(), Some("reserved"));
    assert!(
        scrape
            .get("pg_replication_slot_confirmed_flush_lag_bytes", &logical)
            .is_some()
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
    assert_eq!(
        paused.get("pg_replication_node_replay_paused", &[("node", "standby2")]),
        Some(0.0)
    );
    // The paused standby's replay lag, bracketed by SQL readings (the primary is quiet now and
    // standby1's replay position is frozen, so before == after unless something wrote).
    let truth = || lsn(primary, "pg_current_wal_lsn()") - lsn(s1, "pg_last_wal_replay_lsn()");
    let before = truth();
    std::thread::sleep(ROUND);
    let s = e.scrape();
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
    // With max_slot_wal_keep_size set, safe_wal_size is known: present and at most the limit.
    let safe = s
        .get("pg_replication_slot_safe_wal_size_bytes", &slot("stale"))
        .expect("safe_wal_size with max_slot_wal_keep_size set");
    assert!(safe <= (32 * MIB) as f64, "safe_wal_size {safe}");

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
    // The standby's slot kept up and survived.
    assert_eq!(wal_status(&s, "standby1").as_deref(), Some("reserved"));
    assert_eq!(
        s.get("pg_replication_slot_active", &slot("standby1")),
        Some(1.0)
    );
    let invalidated = s.all("pg_replication_slot_invalidated");
    if major >= 17 {
        assert_eq!(
            s.get(
                "pg_replication_slot_invalidated",
                &[("slot", "stale"), ("reason", "wal_removed")]
            ),
            Some(1.0),
            "{invalidated:?}"
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
