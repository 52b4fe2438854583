//! End-to-end tests of replicas that are behind or not streaming on purpose, logical subscribers
//! and standby clusters (SPEC §12, issue 17), on real servers: a delayed standby, an archive-only
//! standby, a logical subscriber on a second cluster with a primary-key conflict, and a standby
//! cluster replicating from the harness cluster.

mod harness;

use postgres::types::PgLsn;

use harness::{Cluster, Exporter, MIB, Node, Scrape, WAIT};

/// One `[[cluster]]` of the exporter's TOML: name, the role's user and password file, and the
/// nodes with extra lines for each.
struct Spec<'a> {
    name: &'a str,
    user: String,
    password_file: String,
    nodes: Vec<(&'a Node, &'a str)>,
}

impl<'a> Spec<'a> {
    /// A cluster polled with `c`'s pg_monitor role.
    fn of(c: &Cluster, name: &'a str, nodes: Vec<(&'a Node, &'a str)>) -> Self {
        let role = c.exporter_role();
        Spec {
            name,
            user: role.user().to_string(),
            password_file: role.password_file().to_string_lossy().into_owned(),
            nodes,
        }
    }
}

fn config(clusters: &[Spec]) -> String {
    let mut toml =
        "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n".to_string();
    for c in clusters {
        toml.push_str(&format!(
            "\n[[cluster]]\nname = \"{}\"\nuser = \"{}\"\npassword_file = \"{}\"\nsslmode = \"disable\"\n",
            c.name, c.user, c.password_file
        ));
        for (n, extra) in &c.nodes {
            toml.push_str(&format!(
                "\n[[cluster.node]]\nname = \"{}\"\nhost = \"127.0.0.1\"\nport = {}\n{extra}\n",
                n.name(),
                n.port()
            ));
        }
    }
    toml
}

fn lsn_of(n: &Node, sql: &str) -> Option<u64> {
    n.scalar::<Option<PgLsn>>(sql).map(u64::from)
}

#[test]
fn a_delayed_standby_reports_its_delay_and_replays_behind_while_receiving_everything() {
    let c = Cluster::builder()
        .standbys(2)
        .standby_setting("standby2", "recovery_min_apply_delay", "15s")
        .start();
    let e = Exporter::for_cluster(&c);
    let s = e.wait_scrape("apply delays", WAIT, |s| {
        s.get(
            "pg_replication_node_apply_delay_seconds",
            &[("node", "standby2")],
        )
        .is_some()
    });
    assert_eq!(
        s.get(
            "pg_replication_node_apply_delay_seconds",
            &[("node", "standby2")]
        ),
        Some(15.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_node_apply_delay_seconds",
            &[("node", "standby1")]
        ),
        Some(0.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_node_apply_delay_seconds",
            &[("node", "primary")]
        ),
        None,
        "a primary has no apply delay series"
    );

    // A commit, then WAL after it: standby2 receives and flushes it all at once, but holds
    // replay at the commit for 15 s.
    let p = c.primary();
    p.batch_execute("CREATE TABLE delayed_probe (id int); INSERT INTO delayed_probe VALUES (1)");
    p.write_wal(8 * MIB);
    let s = e.wait_scrape(
        "standby2 flushed everything but replays behind",
        WAIT,
        |s| {
            s.get(
                "pg_replication_lag_bytes",
                &[("standby", "standby2"), ("stage", "flush")],
            ) == Some(0.0)
                && s.get("pg_replication_standby_lag_bytes", &[("node", "standby2")])
                    .is_some_and(|b| b >= (8 * MIB) as f64)
        },
    );
    // The delayed standby still streams: receive is not delayed.
    assert_eq!(
        s.get("pg_replication_standby_streaming", &[("node", "standby2")]),
        Some(1.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_node_recovery_source",
            &[("node", "standby2"), ("source", "stream")]
        ),
        Some(1.0)
    );
    // Its replay lag is real (SQL truth, standby2 is held at the commit).
    let truth = p.current_lsn() - c.standby(2).replay_lsn();
    assert!(truth >= 8 * MIB, "truth {truth}");
    // And once the delay has passed it catches up.
    e.wait_metric(
        "pg_replication_standby_lag_bytes",
        &[("node", "standby2")],
        |v| v == 0.0,
        WAIT,
    );
}

#[test]
fn an_archive_only_standby_reads_archive_and_its_lag_is_the_sql_truth() {
    let c = Cluster::builder()
        .standbys(2)
        .archive_only("standby2")
        .start();
    let (p, s2) = (c.primary(), c.standby(2));
    let toml = config(&[Spec::of(
        &c,
        "pg",
        vec![
            (p, ""),
            (c.standby(1), ""),
            (s2, "expect_streaming = false"),
        ],
    )]);
    let e = Exporter::start(&toml);
    p.write_wal(2 * MIB);
    p.batch_execute("SELECT pg_switch_wal()");
    let switched = p.current_lsn();
    c.wait_for("standby2 to restore the switched segment", WAIT, || {
        s2.try_query_one("SELECT pg_last_wal_replay_lsn()")
            .and_then(|r| r.get::<_, Option<PgLsn>>(0))
            .is_some_and(|l| u64::from(l) + 16 * MIB >= switched)
    });
    // The lag equals the ground truth, read in the same moment (the cluster is idle).
    let s = e.wait_scrape("standby2 lag bytes equal to SQL truth", WAIT, |s| {
        let truth = p.current_lsn() - s2.replay_lsn();
        s.get("pg_replication_standby_lag_bytes", &[("node", "standby2")]) == Some(truth as f64)
            && p.current_lsn() - s2.replay_lsn() == truth
    });
    let get = |name: &str, labels: &[(&str, &str)]| s.get(name, labels);
    assert_eq!(
        get(
            "pg_replication_node_recovery_source",
            &[("node", "standby2"), ("source", "archive")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get(
            "pg_replication_node_recovery_source",
            &[("node", "standby1"), ("source", "stream")]
        ),
        Some(1.0)
    );
    // standby_streaming stays about streaming; the declaration says it is by design.
    assert_eq!(
        get("pg_replication_standby_streaming", &[("node", "standby2")]),
        Some(0.0)
    );
    assert_eq!(
        get(
            "pg_replication_node_expect_streaming",
            &[("node", "standby2")]
        ),
        Some(0.0)
    );
    assert_eq!(
        get(
            "pg_replication_node_expect_streaming",
            &[("node", "standby1")]
        ),
        Some(1.0)
    );
    // The primary archives: counters and settings from pg_stat_archiver / pg_settings. Before
    // PostgreSQL 15 the statistics collector reports pg_stat_archiver late (a UDP message and
    // a stats file rewritten every 500 ms), so the counter is awaited until it equals SQL's.
    e.wait_scrape("primary's archived count equal to SQL truth", WAIT, |s| {
        let truth: i64 = p
            .query_one("SELECT archived_count FROM pg_stat_archiver", &[])
            .get(0);
        truth >= 1
            && s.get(
                "pg_replication_archiver_archived_total",
                &[("node", "primary")],
            ) == Some(truth as f64)
    });
    assert_eq!(
        get(
            "pg_replication_archiver_failed_total",
            &[("node", "primary")]
        ),
        Some(0.0)
    );
    assert_eq!(
        get(
            "pg_replication_archiver_mode",
            &[("node", "primary"), ("mode", "on")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get(
            "pg_replication_archiver_timeout_seconds",
            &[("node", "primary")]
        ),
        Some(0.0)
    );
}

#[test]
fn without_pg_monitor_an_archive_only_standby_still_reads_archive() {
    let c = Cluster::builder()
        .standbys(1)
        .archive_only("standby1")
        .start();
    let nomon = c.nomon_role();
    let toml = config(&[Spec {
        name: "pg",
        user: nomon.user().to_string(),
        password_file: nomon.password_file().to_string_lossy().into_owned(),
        nodes: vec![(c.primary(), ""), (c.standby(1), "")],
    }]);
    let e = Exporter::start(&toml);
    let s = e.wait_scrape("standby1 polled", WAIT, |s| {
        s.get("pg_replication_up", &[("node", "standby1")]) == Some(1.0)
            && s.get("pg_replication_node_is_primary", &[("node", "standby1")]) == Some(0.0)
    });
    // pg_settings shows restore_command to every role, and an archive-only standby has no
    // WAL receiver row to hide: the source is known without pg_monitor. (Had the setting been
    // hidden, pg_settings would leave its row out and the source would be absent, never
    // "none": see the renderer's unit tests.)
    assert_eq!(
        s.get(
            "pg_replication_node_recovery_source",
            &[("node", "standby1"), ("source", "archive")]
        ),
        Some(1.0),
        "{}",
        s.text
    );
    assert_eq!(
        s.get("pg_replication_privilege_missing", &[("node", "standby1")]),
        Some(1.0)
    );
    // recovery_min_apply_delay is readable by every role.
    assert_eq!(
        s.get(
            "pg_replication_node_apply_delay_seconds",
            &[("node", "standby1")]
        ),
        Some(0.0)
    );
}

#[test]
fn a_logical_subscriber_reports_its_lag_and_a_conflict_stops_it_on_both_sides() {
    let publisher = Cluster::builder()
        .standbys(0)
        .conf("wal_level = logical")
        .start();
    let subscriber = Cluster::builder().standbys(0).start();
    let (p, sub) = (publisher.primary(), subscriber.primary());
    p.batch_execute(
        "CREATE TABLE items (id int PRIMARY KEY, v text); \
         CREATE PUBLICATION pub_items FOR TABLE items; \
         INSERT INTO items SELECT g, 'x' FROM generate_series(1, 10) g",
    );
    sub.batch_execute("CREATE TABLE items (id int PRIMARY KEY, v text)");
    sub.batch_execute(&format!(
        "CREATE SUBSCRIPTION sub_items CONNECTION 'host=127.0.0.1 port={} user=postgres \
         dbname=postgres' PUBLICATION pub_items",
        p.port()
    ));
    subscriber.wait_for("the initial copy", WAIT, || {
        sub.try_query_one("SELECT count(*) FROM items")
            .is_some_and(|r| r.get::<_, i64>(0) == 10)
    });
    // Both clusters in one exporter: the publisher is matched by the subscription's slot.
    let toml = config(&[
        Spec::of(&publisher, "pub", vec![(p, "")]),
        Spec::of(&subscriber, "sub", vec![(sub, "")]),
    ]);
    let e = Exporter::start(&toml);
    let labels = [("cluster", "sub"), ("subscription", "sub_items")];
    let s = e.wait_scrape("the subscription caught up, lag = SQL truth", WAIT, |s| {
        let truth = lsn_of(p, "SELECT pg_current_wal_lsn()")
            .unwrap()
            .saturating_sub(
                lsn_of(
                    sub,
                    "SELECT latest_end_lsn FROM pg_stat_subscription \
                 WHERE subname = 'sub_items' AND relid IS NULL",
                )
                .unwrap_or(0),
            );
        s.get("pg_replication_subscription_lag_bytes", &labels) == Some(truth as f64)
            && s.get(
                "pg_replication_subscription_tables",
                &[("cluster", "sub"), ("state", "ready")],
            ) == Some(1.0)
    });
    assert_eq!(
        s.get("pg_replication_subscription_enabled", &labels),
        Some(1.0)
    );
    assert_eq!(
        s.get("pg_replication_subscription_worker_running", &labels),
        Some(1.0)
    );
    assert!(
        s.get("pg_replication_subscription_received_lsn_bytes", &labels)
            .is_some()
    );
    assert!(
        s.get(
            "pg_replication_subscription_last_message_age_seconds",
            &labels
        )
        .is_some()
    );
    assert_eq!(
        s.get(
            "pg_replication_subscription_publisher_info",
            &[
                ("publisher_cluster", "pub"),
                ("publisher_node", "primary"),
                ("slot", "sub_items")
            ]
        ),
        Some(1.0)
    );
    // The subscriber's walsender on the publisher is a logical walsender, not a standby.
    assert!(
        s.find("pg_replication_lag_bytes", &[("cluster", "pub")])
            .is_empty(),
        "{}",
        s.text
    );
    assert!(
        s.get(
            "pg_replication_logical_walsender_state",
            &[
                ("cluster", "pub"),
                ("slot", "sub_items"),
                ("state", "streaming")
            ]
        )
        .is_some()
    );
    let errors_before = s.get("pg_replication_subscription_apply_errors_total", &labels);
    if publisher.bin().major() >= 15 {
        assert_eq!(errors_before, Some(0.0));
    } else {
        assert_eq!(
            errors_before, None,
            "no pg_stat_subscription_stats before 15"
        );
    }

    // A primary-key conflict: the row exists on the subscriber, the publisher inserts it too.
    sub.batch_execute("INSERT INTO items VALUES (100, 'local')");
    p.batch_execute("INSERT INTO items VALUES (100, 'remote')");
    p.write_wal(MIB);
    // The publisher's side of the same link: its slot holds back at the conflict, so once a
    // publisher poll after the write is on the page, the slot lags by at least the write.
    let slot = [("cluster", "pub"), ("slot", "sub_items")];
    let s = e.wait_scrape("the apply worker down with errors counted", WAIT, |s| {
        s.get("pg_replication_subscription_worker_running", &labels) == Some(0.0)
            && (publisher.bin().major() < 15
                || s.get("pg_replication_subscription_apply_errors_total", &labels)
                    .is_some_and(|v| v >= 1.0))
            && s.get("pg_replication_slot_confirmed_flush_lag_bytes", &slot)
                .is_some_and(|v| v >= MIB as f64)
    });
    let stuck = s
        .get("pg_replication_slot_confirmed_flush_lag_bytes", &slot)
        .expect("the publisher's slot");
    assert!(stuck >= MIB as f64, "slot lag {stuck}");
    assert!(
        s.get("pg_replication_subscription_lag_bytes", &labels)
            .is_some_and(|v| v >= MIB as f64),
        "{}",
        s.text
    );
}

#[test]
fn a_logical_client_that_just_connected_never_passes_for_a_standby() {
    let publisher = Cluster::builder()
        .standbys(0)
        .conf("wal_level = logical")
        .start();
    let p = publisher.primary();
    let e = Exporter::start(&config(&[Spec::of(&publisher, "pub", vec![(p, "")])]));
    e.wait_scrape("the publisher up", WAIT, |s| {
        s.get("pg_replication_up", &[("cluster", "pub")]) == Some(1.0)
    });
    // The slot is made just before its client connects, between two slow rounds (30 s apart):
    // the round the client's walsender first appears in has not read the slot. Its session is
    // to a database, which says logical before any slot does.
    p.batch_execute("SELECT pg_create_logical_replication_slot('cdc', 'test_decoding')");
    // The npm builds of other majors have no pg_recvlogical: the system's (15) speaks to any.
    let system = harness::PgBin::at(std::path::Path::new("/usr/lib/postgresql/15/bin"));
    let bin = if publisher.bin().dir().join("pg_recvlogical").exists() {
        publisher.bin()
    } else {
        &system
    };
    let client = bin
        .command("pg_recvlogical", std::path::Path::new("/tmp"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &p.port().to_string(),
            "-U",
            "postgres",
        ])
        .args([
            "-d",
            "postgres",
            "--slot",
            "cdc",
            "--start",
            "-f",
            "/dev/null",
        ])
        .spawn()
        .expect("start pg_recvlogical");
    // Stopped however the test ends (it retries for ever once its server is gone).
    let _client = KilledOnDrop(client);
    let streaming = [("cluster", "pub"), ("slot", "cdc"), ("state", "streaming")];
    e.wait_scrape("the client streaming from its slot", WAIT, |s| {
        assert!(
            s.find("pg_replication_lag_bytes", &[("cluster", "pub")])
                .is_empty(),
            "a logical client shown as a standby:\n{}",
            s.text
        );
        s.get("pg_replication_logical_walsender_state", &streaming) == Some(1.0)
    });
}

/// A child process killed and reaped when dropped, a failed assertion's unwinding included.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_standby_cluster_has_one_top_node_no_split_brain_and_its_link_lag() {
    // primary → standby1 → cascade; configured as two clusters: "pg" (the primary) and "dr"
    // (standby1, replicating from outside its cluster, and cascade below it).
    let c = Cluster::builder().standbys(1).cascade(true).start();
    let (p, leader, below) = (c.primary(), c.standby(1), c.node("cascade"));
    let toml = config(&[
        Spec::of(&c, "pg", vec![(p, "")]),
        Spec::of(&c, "dr", vec![(leader, ""), (below, "")]),
    ]);
    let e = Exporter::start(&toml);
    let dr = [("cluster", "dr")];
    let s = e.wait_scrape("dr seen as a standby cluster", WAIT, |s| {
        s.get("pg_replication_cluster_is_standby_cluster", &dr) == Some(1.0)
    });
    assert_eq!(s.get("pg_replication_cluster_primaries", &dr), Some(0.0));
    assert_eq!(
        s.get(
            "pg_replication_cluster_is_standby_cluster",
            &[("cluster", "pg")]
        ),
        Some(0.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_cluster_source_info",
            &[
                ("cluster", "dr"),
                ("source_host", "127.0.0.1"),
                ("source_port", &p.port().to_string())
            ]
        ),
        Some(1.0),
        "{}",
        s.text
    );
    // Both dr nodes stream; cascade is measured against the leader.
    for n in ["standby1", "cascade"] {
        assert_eq!(
            s.get(
                "pg_replication_standby_streaming",
                &[("cluster", "dr"), ("node", n)]
            ),
            Some(1.0)
        );
    }
    // The link's lag against SQL truth: pause the leader's replay and write.
    leader.pause_replay();
    p.write_wal(4 * MIB);
    let s = e.wait_scrape("link lag = SQL truth", WAIT, |s| {
        let truth = p.current_lsn() - leader.replay_lsn();
        truth >= 4 * MIB
            && s.get("pg_replication_cluster_source_lag_bytes", &dr) == Some(truth as f64)
    });
    assert!(s.get("pg_replication_cluster_rpo_bytes", &dr).is_some());
    leader.resume_replay();
    assert_scrape_has_no_split_brain(&e.scrape());
}

fn assert_scrape_has_no_split_brain(s: &Scrape) {
    for c in ["pg", "dr"] {
        assert!(
            s.get("pg_replication_cluster_primaries", &[("cluster", c)])
                .is_some_and(|v| v <= 1.0),
            "{}",
            s.text
        );
    }
}
