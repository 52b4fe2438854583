//! End-to-end: a `pgpool` front-end (SPEC §9) on real pgpool-II (Debian 4.3.5) in streaming
//! replication mode over a harness cluster, compared with pgpool's own word (`SHOW POOL_NODES`
//! read by the test) and with the nodes' real roles: healthy, a standby promoted behind pgpool's
//! back (no failover_command: pgpool keeps calling it a standby), a standby stopped (pgpool's
//! status and ours agree once pgpool notices) and brought back (healthy and streaming, still down
//! for pgpool until `pcp_attach_node`), and pgpool frozen with SIGSTOP (endpoint down, kind
//! timeout, the nodes' metrics flowing).

mod harness;

use harness::*;

const NODES: [&str; 3] = ["primary", "standby1", "standby2"];

fn config(c: &Cluster, pool: &Pgpool) -> String {
    let role = c.exporter_role();
    c.exporter_config("pg", role.user(), role.password_file())
        + &format!(
            "\n[[cluster.endpoint]]\nname = \"pgpool\"\nkind = \"pgpool\"\nhost = \"{}\"\nport = {}\nexpect = \"primary\"\n",
            pool.host(),
            pool.port()
        )
}

/// `pg_replication_pgpool_backend_<what>` of a node, for the one label value that is 1.
fn one_hot(s: &Scrape, what: &str, node: &str, label: &str) -> Option<String> {
    s.find(
        &format!("pg_replication_pgpool_backend_{what}"),
        &[("node", node)],
    )
    .into_iter()
    .find(|x| x.value == 1.0)
    .and_then(|x| x.label(label).map(str::to_owned))
}

fn role_correct(s: &Scrape, node: &str) -> Option<f64> {
    s.get(
        "pg_replication_pgpool_backend_role_correct",
        &[("node", node)],
    )
}

#[test]
fn pgpool_s_view_is_reported_and_judged_against_the_nodes_real_roles() {
    let c = Cluster::builder().standbys(2).start();
    let pool = Pgpool::start(&c, &NODES);
    pool.wait_healthy(PGPOOL_WAIT);
    let e = Exporter::start(&config(&c, &pool));

    // Healthy: every role correct, and status and role are pgpool's own.
    let s = e.wait_scrape("pgpool checked, every role correct", WAIT, |s| {
        NODES.iter().all(|n| role_correct(s, n) == Some(1.0))
    });
    let truth = pool.show_pool_nodes();
    for n in NODES {
        assert_eq!(
            one_hot(&s, "status", n, "status").as_deref(),
            pool.node_value(&truth, n, "status"),
            "{n}\n{}",
            truth.table()
        );
        assert_eq!(
            one_hot(&s, "role", n, "role").as_deref(),
            pool.node_value(&truth, n, "role"),
            "{n}"
        );
        assert_eq!(
            s.get("pg_replication_pgpool_backend_listed", &[("node", n)]),
            Some(1.0)
        );
        assert!(
            s.get(
                "pg_replication_pgpool_backend_selects_total",
                &[("node", n)]
            )
            .is_some(),
            "{n}"
        );
        assert!(
            s.get(
                "pg_replication_pgpool_backend_replication_delay_bytes",
                &[("node", n)]
            )
            .is_some(),
            "{n}: 4.3 reports the delay in bytes"
        );
        assert!(
            s.get(
                "pg_replication_pgpool_backend_health_check_failures_total",
                &[("node", n)]
            )
            .is_some(),
            "{n}: SHOW POOL_HEALTH_CHECK_STATS"
        );
    }
    let get = |s: &Scrape, name: &str| s.get(name, &[("endpoint", "pgpool")]);
    assert_eq!(
        s.get(
            "pg_replication_endpoint_up",
            &[("endpoint", "pgpool"), ("kind", "pgpool")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_endpoint_target",
            &[("endpoint", "pgpool"), ("node", "primary")]
        ),
        Some(1.0)
    );
    assert_eq!(get(&s, "pg_replication_endpoint_is_primary"), Some(1.0));
    assert_eq!(
        get(&s, "pg_replication_endpoint_expectation_met"),
        Some(1.0)
    );

    // A standby stopped: pgpool marks it down, and the exporter says so once pgpool does.
    c.standby(2).stop(StopMode::Fast);
    pool.wait_for("standby2 down for pgpool", PGPOOL_WAIT, |r| {
        pool.node_value(r, "standby2", "status") == Some("down")
    });
    e.wait_scrape("standby2 down for pgpool in /metrics", WAIT, |s| {
        one_hot(s, "status", "standby2", "status").as_deref() == Some("down")
            && s.get("pg_replication_up", &[("node", "standby2")]) == Some(0.0)
    });
    // Back up and streaming, yet still down for pgpool (until pcp_attach_node): a healthy node
    // pgpool will not use, which the PgReplicationPgpoolHealthyNodeDown alert joins on.
    c.standby(2).start();
    c.wait_for_streaming(c.standby(2));
    let s = e.wait_scrape("standby2 healthy again by its poll", WAIT, |s| {
        s.get("pg_replication_up", &[("node", "standby2")]) == Some(1.0)
            && s.get("pg_replication_standby_streaming", &[("node", "standby2")]) == Some(1.0)
    });
    assert_eq!(
        pool.node_value(&pool.show_pool_nodes(), "standby2", "status"),
        Some("down")
    );
    assert_eq!(
        one_hot(&s, "status", "standby2", "status").as_deref(),
        Some("down")
    );
    pool.pcp_attach_node(pool.backend_id("standby2"));
    // Attached again: "waiting" until a client session connects to it, then "up".
    e.wait_scrape("standby2 attached again", WAIT, |s| {
        matches!(
            one_hot(s, "status", "standby2", "status").as_deref(),
            Some("up" | "waiting")
        )
    });

    // A promotion behind pgpool's back: pgpool still calls standby1 a standby.
    c.standby(1).promote();
    let s = e.wait_scrape("pgpool's role for standby1 judged wrong", WAIT, |s| {
        role_correct(s, "standby1") == Some(0.0)
    });
    let truth = pool.show_pool_nodes();
    assert_eq!(pool.node_value(&truth, "standby1", "role"), Some("standby"));
    assert!(!c.standby(1).is_in_recovery());
    assert_eq!(
        one_hot(&s, "role", "standby1", "role").as_deref(),
        Some("standby")
    );
    // The old primary still is one (two primaries now): pgpool is right about it, and writes
    // through pgpool go to it; during a split brain no endpoint meets "primary".
    assert_eq!(role_correct(&s, "primary"), Some(1.0));
    assert_eq!(role_correct(&s, "standby2"), Some(1.0));
    assert_eq!(
        s.get("pg_replication_cluster_primaries", &[]),
        Some(2.0),
        "{}",
        s.text
    );
    assert_eq!(
        get(&s, "pg_replication_endpoint_expectation_met"),
        Some(0.0)
    );
}

#[test]
fn a_frozen_pgpool_times_out_while_the_nodes_keep_flowing() {
    let c = Cluster::builder().standbys(1).start();
    let pool = Pgpool::start(&c, &["primary", "standby1"]);
    pool.wait_healthy(PGPOOL_WAIT);
    let e = Exporter::start(&config(&c, &pool));
    e.wait_metric(
        "pg_replication_endpoint_up",
        &[("endpoint", "pgpool")],
        |v| v == 1.0,
        WAIT,
    );
    pool.sigstop();
    let s = e.wait_scrape("pgpool timed out twice", WAIT, |s| {
        s.get(
            "pg_replication_endpoint_errors_total",
            &[("endpoint", "pgpool"), ("kind", "timeout")],
        )
        .is_some_and(|v| v >= 2.0)
    });
    assert_eq!(
        s.get("pg_replication_endpoint_up", &[("endpoint", "pgpool")]),
        Some(0.0)
    );
    // Its backends' series go with the answer: unknown, not stale.
    assert!(
        s.find("pg_replication_pgpool_backend_status", &[])
            .is_empty(),
        "{}",
        s.text
    );
    let last = |s: &Scrape| {
        s.get(
            "pg_replication_last_poll_success_timestamp_seconds",
            &[("node", "primary")],
        )
        .unwrap()
    };
    let t = last(&s);
    e.wait_scrape("the nodes keep being polled", WAIT, |s| last(s) >= t + 3.0);
    pool.sigcont();
    e.wait_metric(
        "pg_replication_endpoint_up",
        &[("endpoint", "pgpool")],
        |v| v == 1.0,
        WAIT,
    );
}
