//! End-to-end: what the cheaper poll and the page builder must not change, on real servers.
//!
//! The fast statement of most rounds leaves out the slots and the settings: it reads
//! `pg_conf_load_time()` every round, and the moving slots and the idle slots' fingerprint in
//! one round of every `poll.slow_interval`. An idle slot's retained bytes must still be exact
//! every round, a slot created, advanced or dropped must show within one slow interval, and a
//! setting changed by a reload at once, not at the next periodic full read (5 min). A round
//! slower than the interval must be counted late.

mod harness;

use std::time::{Duration, Instant};

use harness::{Cluster, Exporter, MIB, WAIT};

/// Well under the 5 min between two periodic full reads, with room for a loaded machine.
const AT_ONCE: Duration = Duration::from_secs(10);
/// The slow interval of the slot test (the default is 30 s).
const SLOW: &str = "3s";
const SLOW_INTERVAL: Duration = Duration::from_secs(3);

fn retained(s: &harness::Scrape, slot: &str) -> Option<f64> {
    s.get(
        "pg_replication_slot_retained_bytes",
        &[("node", "primary"), ("slot", slot)],
    )
}

#[test]
fn idle_slots_stay_exact_and_their_changes_show_within_a_slow_interval() {
    let c = Cluster::builder()
        .standbys(1)
        .conf("max_replication_slots = 40")
        .start();
    let primary = c.primary();
    for i in 0..20 {
        primary.batch_execute(&format!(
            "SELECT pg_create_physical_replication_slot('idle{i:02}', true)"
        ));
    }
    let role = c.exporter_role();
    let e = Exporter::start_with(
        &c.exporter_config("pg", role.user(), role.password_file()),
        &[],
        &[("PG_REPLICATION_EXPORTER_POLL__SLOW_INTERVAL", SLOW)],
    );
    e.wait_scrape("the 20 idle slots", WAIT, |s| {
        (0..20).all(|i| retained(s, &format!("idle{i:02}")).is_some())
    });

    // WAL moves on, the idle slots' restart_lsn does not: retained bytes follow exactly, in
    // the rounds between two slow ones too (several scrapes a round apart).
    primary.write_wal(4 * MIB);
    let got = assert_exact(primary, &e, "idle07");
    assert!(got >= 4 * MIB, "{got}");
    for _ in 0..3 {
        primary.write_wal(MIB);
        assert_exact(primary, &e, "idle07");
    }

    // Created, advanced and dropped idle slots show within one slow interval (and a round).
    let t = Instant::now();
    primary.batch_execute("SELECT pg_create_physical_replication_slot('late_comer', true)");
    primary.batch_execute("SELECT pg_drop_replication_slot('idle03')");
    primary.batch_execute("SELECT pg_replication_slot_advance('idle11', pg_current_wal_lsn())");
    let within = SLOW_INTERVAL + Duration::from_secs(3);
    e.wait_scrape("the new, dropped and advanced slots", within, |s| {
        retained(s, "late_comer").is_some()
            && retained(s, "idle03").is_none()
            && retained(s, "idle11").is_some_and(|v| (v as u64) < 4 * MIB)
    });
    assert!(t.elapsed() < within, "{:?}", t.elapsed());
    assert_exact(primary, &e, "idle11");
}

/// A scrape's retained bytes of `slot` lie between the SQL truth before and after it; returns
/// the scraped value.
fn assert_exact(primary: &harness::Node, e: &Exporter, slot: &str) -> u64 {
    let restart = primary.scalar::<i64>(&format!(
        "SELECT (restart_lsn - '0/0'::pg_lsn)::bigint FROM pg_replication_slots \
         WHERE slot_name = '{slot}'"
    )) as u64;
    let before = primary.current_lsn() - restart;
    let scrape = e.fresh_scrape();
    let after = primary.current_lsn() - restart;
    let got = retained(&scrape, slot).expect(slot) as u64;
    assert!(
        before <= got && got <= after,
        "{slot}: retained {got} not in [{before}, {after}]"
    );
    got
}

/// Between two slow rounds a slot a walsender serves follows that walsender (PostgreSQL sets a
/// physical slot's restart_lsn to each reply's flush position): with a slow interval of an
/// hour, a caught-up standby's slot still retains next to nothing after WAL moved on.
#[test]
fn a_served_slot_follows_its_walsender_between_slow_rounds() {
    let c = Cluster::builder().standbys(1).start();
    let primary = c.primary();
    let role = c.exporter_role();
    let e = Exporter::start_with(
        &c.exporter_config("pg", role.user(), role.password_file()),
        &[],
        &[("PG_REPLICATION_EXPORTER_POLL__SLOW_INTERVAL", "1h")],
    );
    e.wait_scrape("the standby's slot", WAIT, |s| {
        retained(s, "standby1").is_some()
    });
    // Past the first rounds (the full read, and the slow round after it: every walsender was
    // new to the session), so that no slow round comes before the hour is over.
    e.wait_polls("primary", 4);
    primary.write_wal(8 * MIB);
    let truth = || {
        primary.current_lsn()
            - primary.scalar::<i64>(
                "SELECT (restart_lsn - '0/0'::pg_lsn)::bigint FROM pg_replication_slots \
                 WHERE slot_name = 'standby1'",
            ) as u64
    };
    // The standby catches up: the slot's restart_lsn (and ours) come within a MiB of the
    // position; read at the slow round before the WAL, ours would stay 8 MiB behind.
    let deadline = Instant::now() + WAIT;
    loop {
        let scrape = e.fresh_scrape();
        let got = retained(&scrape, "standby1").expect("standby1") as u64;
        if got < MIB && truth() < MIB {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retained {got}, the server says {}",
            truth()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_setting_changed_by_a_reload_shows_at_once() {
    let c = Cluster::builder().standbys(1).start();
    let standby = c.node("standby1");
    let e = Exporter::for_cluster(&c);
    let delay = |s: &harness::Scrape| {
        s.get(
            "pg_replication_node_apply_delay_seconds",
            &[("node", "standby1")],
        )
    };
    let sync_names = |s: &harness::Scrape| {
        s.find("pg_replication_sync_config_info", &[("node", "primary")])
            .first()
            .and_then(|x| x.label("synchronous_standby_names"))
            .map(str::to_owned)
    };
    e.wait_scrape("the first reads", WAIT, |s| delay(s) == Some(0.0));
    // A pg_settings row (read by the full read only) and a current_setting() one, both
    // changed by a reload: the first fast read after it sees pg_conf_load_time() move.
    let t = Instant::now();
    standby.batch_execute("ALTER SYSTEM SET recovery_min_apply_delay = '7s'");
    standby.batch_execute("SELECT pg_reload_conf()");
    c.primary()
        .batch_execute("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (standby1)'");
    c.primary().batch_execute("SELECT pg_reload_conf()");
    let s = e.wait_scrape("the reloaded settings", AT_ONCE, |s| {
        delay(s) == Some(7.0) && sync_names(s).as_deref() == Some("ANY 1 (standby1)")
    });
    assert!(t.elapsed() < AT_ONCE, "{:?}", t.elapsed());
    // And they stay, in the rounds that read neither slots nor settings.
    e.wait_polls("standby1", 3);
    let later = e.scrape();
    assert_eq!(delay(&later), Some(7.0));
    assert_eq!(sync_names(&later).as_deref(), Some("ANY 1 (standby1)"));
    // The server's own word.
    assert_eq!(
        standby.scalar::<String>(
            "SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'"
        ),
        "7000"
    );
    assert_eq!(delay(&s), Some(7.0));
}

#[test]
fn a_round_slower_than_the_interval_is_counted_late() {
    let c = Cluster::builder().standbys(1).start();
    let role = c.exporter_role();
    // A timeout as long as the interval: a frozen node makes the round overrun it.
    let toml = c
        .exporter_config("pg", role.user(), role.password_file())
        .replace("timeout = \"800ms\"", "timeout = \"1s\"");
    let e = Exporter::start(&toml);
    let late = |s: &harness::Scrape| {
        s.get(
            "pg_replication_exporter_rounds_late_total",
            &[("cluster", "pg")],
        )
    };
    let up = e.wait_scrape("every node up", WAIT, |s| {
        s.get("pg_replication_up", &[("node", "standby1")]) == Some(1.0)
            && s.get("pg_replication_up", &[("node", "primary")]) == Some(1.0)
    });
    let start = late(&up).expect("the late-round counter is there from the first round");
    c.standby(1).sigstop();
    e.wait_scrape("rounds counted late while standby1 is frozen", WAIT, |s| {
        late(s).is_some_and(|v| v >= start + 2.0)
    });
    c.standby(1).sigcont();
    e.wait_scrape("standby1 back", WAIT, |s| {
        s.get("pg_replication_up", &[("node", "standby1")]) == Some(1.0)
    });
}

#[test]
fn pages_are_counted_with_their_build_time_and_built_by_rounds_not_scrapes() {
    let c = Cluster::builder().standbys(1).start();
    let role = c.exporter_role();
    // Rounds 4 s apart: a burst of scrapes fits between two of them.
    let toml = c
        .exporter_config("pg", role.user(), role.password_file())
        .replace("interval = \"1s\"", "interval = \"4s\"")
        .replace("backoff_max = \"2s\"", "backoff_max = \"8s\"");
    let e = Exporter::start(&toml);
    let pages = |s: &harness::Scrape| s.get("pg_replication_exporter_pages_built_total", &[]);
    let seconds =
        |s: &harness::Scrape| s.get("pg_replication_exporter_page_build_seconds_total", &[]);
    let round = |s: &harness::Scrape| {
        s.get(
            "pg_replication_last_poll_success_timestamp_seconds",
            &[("node", "primary")],
        )
    };
    let first = e.wait_scrape("a page after the first rounds", WAIT, |s| {
        pages(s).is_some_and(|p| p >= 1.0) && round(s).is_some()
    });
    // Rounds build pages: three more rounds, at least three more pages, and time spent.
    e.wait_polls("primary", 3);
    let later = e.scrape();
    assert!(
        pages(&later).unwrap() >= pages(&first).unwrap() + 3.0,
        "{:?} pages after {:?}, three rounds later",
        pages(&later),
        pages(&first)
    );
    assert!(
        seconds(&later).unwrap() > seconds(&first).unwrap(),
        "the pages took no time: {:?} then {:?}",
        seconds(&first),
        seconds(&later)
    );
    // Scrapes do not: a burst of 50 between two rounds leaves the count where it was (a burst
    // a round fell into is taken again).
    let mut tries = 0;
    loop {
        let before = e.scrape();
        let burst: Vec<harness::Scrape> = (0..50).map(|_| e.scrape()).collect();
        let after = burst.last().unwrap();
        if round(&before) == round(after) {
            for s in &burst {
                assert_eq!(pages(s), pages(&before), "a scrape built a page");
                assert_eq!(seconds(s), seconds(&before));
            }
            break;
        }
        tries += 1;
        assert!(tries < 5, "a round fell into every burst of 50 scrapes");
    }
}
