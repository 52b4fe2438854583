//! End-to-end tests of the cluster view (SPEC §4.5) on real clusters: honest time lag, vanished
//! standbys, split brain, failover with an observed RTO, RPO, and the sync quorum picture.

mod harness;

use std::time::{Duration, Instant};

use harness::{Cluster, Exporter, MIB, Scrape, StopMode, WAIT};

#[test]
fn standby_time_lag_grows_with_the_clock_and_returns_to_zero() {
    let c = Cluster::builder().standbys(2).start();
    let (primary, s1) = (c.primary(), c.standby(1));
    let e = Exporter::for_cluster(&c);
    // Idle and caught up: 0, where now() - pg_last_xact_replay_timestamp() would keep growing.
    e.wait_metric(
        "pg_replication_standby_lag_seconds",
        &[("node", "standby1")],
        |v| v == 0.0,
        WAIT,
    );

    s1.pause_replay();
    // The exporter has recorded the primary's position before the write: a poll of every node
    // that started after the pause.
    e.fresh_scrape();
    primary.write_wal(64 * MIB);
    let behind_since = Instant::now();

    // standby_lag_bytes equals SQL truth (primary only moves forward; standby1 is frozen).
    let truth = || primary.current_lsn() - s1.replay_lsn();
    let before = truth();
    let s = e.fresh_scrape();
    let after = truth();
    let bytes = s
        .get("pg_replication_standby_lag_bytes", &[("node", "standby1")])
        .unwrap() as u64;
    assert!(
        before <= bytes && bytes <= after,
        "standby_lag_bytes {bytes} not within [{before}, {after}]"
    );

    // The time lag grows in step with the wall clock, within one poll interval.
    let first = s
        .get(
            "pg_replication_standby_lag_seconds",
            &[("node", "standby1")],
        )
        .expect("known");
    let t_first = Instant::now();
    // Wall-clock time passing is what this measures: 4 s, then the lag must have grown by as
    // much.
    std::thread::sleep(Duration::from_secs(4));
    let second = e
        .scrape()
        .get(
            "pg_replication_standby_lag_seconds",
            &[("node", "standby1")],
        )
        .unwrap();
    let elapsed = t_first.elapsed().as_secs_f64();
    assert!(
        ((second - first) - elapsed).abs() <= 1.25,
        "lag went {first} -> {second} over {elapsed:.2}s of wall clock"
    );
    // And it measures from when the primary passed the standby's position (~when we wrote).
    let expected = behind_since.elapsed().as_secs_f64();
    assert!(
        (second - expected).abs() <= 2.5,
        "lag {second} vs ~{expected:.1}s since the write"
    );

    // The other standby keeps up: 0.
    assert_eq!(
        e.scrape().get(
            "pg_replication_standby_lag_seconds",
            &[("node", "standby2")]
        ),
        Some(0.0)
    );

    s1.resume_replay();
    let resumed = Instant::now();
    c.wait_for_catchup(s1);
    e.wait_metric(
        "pg_replication_standby_lag_seconds",
        &[("node", "standby1")],
        |v| v == 0.0,
        WAIT,
    );
    assert!(
        resumed.elapsed() < Duration::from_secs(10),
        "lag_seconds took {:?} to return to 0",
        resumed.elapsed()
    );
}

#[test]
fn split_brain_then_failover_with_observed_rto_and_rpo() {
    let c = Cluster::builder().standbys(2).start();
    let (primary, s1, s2) = (c.primary(), c.standby(1), c.standby(2));
    let e = Exporter::for_cluster(&c);

    // RPO: the primary's position minus the best standby flush position.
    s2.pause_replay(); // replay only: flush keeps up, so the RPO stays near 0
    primary.write_wal(8 * MIB);
    c.wait_for_catchup(s1);
    let s = e.wait_scrape("rpo after catch-up", WAIT, |s| {
        s.get("pg_replication_cluster_rpo_bytes", &[])
            .is_some_and(|v| v < MIB as f64)
    });
    let current = primary.current_lsn();
    let best_flush: f64 =
        primary.scalar("SELECT (max(flush_lsn) - '0/0'::pg_lsn)::float8 FROM pg_stat_replication");
    let rpo = s.get("pg_replication_cluster_rpo_bytes", &[]).unwrap();
    assert!(
        (rpo - (current as f64 - best_flush)).abs() < MIB as f64,
        "rpo {rpo} vs SQL {}",
        current as f64 - best_flush
    );
    s2.resume_replay();
    assert_eq!(
        s.get("pg_replication_cluster_failovers_total", &[]),
        Some(0.0)
    );

    // Promote standby2 while the old primary runs: two primaries.
    s2.promote();
    let s = e.wait_scrape("two primaries", WAIT, |s| {
        s.get("pg_replication_cluster_primaries", &[]) == Some(2.0)
    });
    assert_eq!(s.get("pg_replication_cluster_timelines", &[]), Some(2.0));
    assert!(
        s.get("pg_replication_cluster_rpo_bytes", &[]).is_none(),
        "no RPO without a single primary"
    );

    // Stop both primaries, wait, and promote standby1: the cluster had no writable primary for
    // the gap, which is the observed RTO.
    primary.stop(StopMode::Fast);
    s2.stop(StopMode::Fast);
    let gap_start = Instant::now();
    e.wait_metric("pg_replication_cluster_primaries", &[], |v| v == 0.0, WAIT);
    // The outage itself: 5 s without a primary is the RTO the exporter must observe.
    std::thread::sleep(Duration::from_secs(5));
    s1.promote();
    let gap = gap_start.elapsed().as_secs_f64();
    let s = e.wait_scrape("the failover counted", WAIT, |s| {
        s.get("pg_replication_cluster_failovers_total", &[])
            .is_some_and(|v| v >= 1.0)
            && s.get("pg_replication_cluster_primaries", &[]) == Some(1.0)
    });
    assert_eq!(
        s.get("pg_replication_cluster_failovers_total", &[]),
        Some(1.0)
    );
    let duration = s
        .get("pg_replication_cluster_last_failover_duration_seconds", &[])
        .unwrap();
    assert!(
        (duration - gap).abs() <= 2.5,
        "observed RTO {duration:.2}s vs the {gap:.2}s gap the test made"
    );
    let at = s
        .get(
            "pg_replication_cluster_last_failover_timestamp_seconds",
            &[],
        )
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        now - at < 10.0,
        "last failover {at} is not recent (now {now})"
    );
    assert_eq!(
        s.get("pg_replication_node_is_primary", &[("node", "standby1")]),
        Some(1.0)
    );
    // The down nodes stay visible as not streaming.
    assert_eq!(
        s.get("pg_replication_standby_streaming", &[("node", "primary")]),
        Some(0.0)
    );
    assert_eq!(
        s.get("pg_replication_standby_streaming", &[("node", "standby2")]),
        Some(0.0)
    );
    // No stale time lag survives the promotion: the new primary has no lag of its own.
    assert!(
        s.get(
            "pg_replication_standby_lag_seconds",
            &[("node", "standby1")]
        )
        .is_none()
    );
}

#[test]
fn quorum_health_falls_below_required_as_standbys_go_down() {
    let c = Cluster::builder()
        .standbys(3)
        .synchronous_standby_names("ANY 2 (standby1, standby2, standby3)")
        .start();
    let e = Exporter::for_cluster(&c);
    let health = |s: &Scrape| {
        (
            s.get(
                "pg_replication_sync_standbys_required",
                &[("node", "primary")],
            ),
            s.get(
                "pg_replication_sync_standbys_healthy",
                &[("node", "primary")],
            ),
        )
    };
    e.wait_scrape("3 healthy of 2 required", WAIT, |s| {
        health(s) == (Some(2.0), Some(3.0))
    });
    // What the exporter counted is what the primary says.
    let quorum: i64 = c.primary().scalar(
        "SELECT count(*) FROM pg_stat_replication \
         WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum')",
    );
    assert_eq!(quorum, 3, "pg_stat_replication");
    c.standby(3).stop(StopMode::Immediate);
    e.wait_scrape("2 healthy", WAIT, |s| health(s) == (Some(2.0), Some(2.0)));
    c.standby(2).stop(StopMode::Immediate);
    // Now commits would block: healthy < required, which the alert catches before a commit hangs.
    let s = e.wait_scrape("1 healthy of 2 required", WAIT, |s| {
        health(s) == (Some(2.0), Some(1.0))
    });
    assert_eq!(
        s.get("pg_replication_standby_streaming", &[("node", "standby2")]),
        Some(0.0)
    );
    assert_eq!(
        s.get("pg_replication_standby_streaming", &[("node", "standby3")]),
        Some(0.0)
    );

    // FIRST 1: one sync standby suffices.
    c.primary().batch_execute(
        "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (standby1, standby2)'",
    );
    c.primary().batch_execute("SELECT pg_reload_conf()");
    e.wait_scrape("FIRST 1 healthy", WAIT, |s| {
        health(s) == (Some(1.0), Some(1.0))
    });
}
