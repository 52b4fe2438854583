//! End-to-end: a `pgbouncer` front-end (SPEC §9) on real pgbouncer (Debian 1.18) over a harness
//! cluster, read through its admin console as a `stats_users` role: `app_rw` on the primary and
//! `app_ro` on a standby judged against `expect_databases`; after a failover `app_rw` still
//! routes to the old primary (`database_expectation_met 0`), re-pointed and RELOADed (1);
//! clients waiting on a frozen node counted as pgbouncer counts them (`SHOW POOLS`, read by the
//! test); pgbouncer itself frozen: the endpoint times out while the nodes keep flowing.

mod harness;

use harness::*;

fn config(c: &Cluster, bouncer: &Pgbouncer) -> String {
    let role = c.exporter_role();
    c.exporter_config("pg", role.user(), role.password_file())
        + &format!(
            "\n[[cluster.endpoint]]\nname = \"bouncer\"\nkind = \"pgbouncer\"\nhost = \"{}\"\nport = {}\n\
             expect_databases = {{ app_rw = \"primary\", app_ro = \"standby\" }}\n",
            bouncer.host(),
            bouncer.port()
        )
}

fn target(s: &Scrape, db: &str) -> Vec<String> {
    s.find(
        "pg_replication_pgbouncer_database_target",
        &[("database", db)],
    )
    .iter()
    .filter(|x| x.value == 1.0)
    .map(|x| x.label("node").unwrap_or_default().to_owned())
    .collect()
}

fn met(s: &Scrape, db: &str) -> Option<f64> {
    s.get(
        "pg_replication_pgbouncer_database_expectation_met",
        &[("database", db)],
    )
}

#[test]
fn pgbouncer_routes_are_judged_and_follow_a_repoint_after_a_failover() {
    let c = Cluster::builder().standbys(2).start();
    let bouncer = Pgbouncer::builder()
        .database("app_rw", c.primary())
        .database("app_ro", c.standby(2))
        .stats_user(c.exporter_role())
        .start();
    let e = Exporter::start(&config(&c, &bouncer));
    let s = e.wait_scrape("both databases judged", WAIT, |s| {
        met(s, "app_rw") == Some(1.0) && met(s, "app_ro") == Some(1.0)
    });
    assert_eq!(target(&s, "app_rw"), ["primary"]);
    assert_eq!(target(&s, "app_ro"), ["standby2"]);
    assert_eq!(
        s.get(
            "pg_replication_endpoint_up",
            &[("endpoint", "bouncer"), ("kind", "pgbouncer")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_pgbouncer_clients_waiting",
            &[("database", "app_rw")]
        ),
        Some(0.0)
    );

    // A failover: the primary stops, standby1 is promoted; app_rw still routes to the old
    // primary, which no longer answers while standby1 is the primary: not met.
    c.primary().stop(StopMode::Fast);
    c.standby(1).promote();
    let s = e.wait_scrape("app_rw judged after the failover", WAIT, |s| {
        met(s, "app_rw") == Some(0.0)
    });
    assert_eq!(target(&s, "app_rw"), ["primary"]);
    assert_eq!(
        s.get("pg_replication_up", &[("node", "primary")]),
        Some(0.0)
    );
    // The old primary comes back as a standby of standby1 (no rewind needed: it stopped
    // cleanly before the promotion): app_rw now leads to a standby, still not met.
    c.demote("primary", "standby1");
    e.wait_scrape("app_rw on a demoted primary", WAIT, |s| {
        met(s, "app_rw") == Some(0.0)
            && s.get("pg_replication_node_is_primary", &[("node", "primary")]) == Some(0.0)
    });
    // Re-pointed and RELOADed: met again, and it says where.
    bouncer.repoint("app_rw", c.standby(1));
    let s = e.wait_scrape("app_rw re-pointed to standby1", WAIT, |s| {
        met(s, "app_rw") == Some(1.0)
    });
    assert_eq!(target(&s, "app_rw"), ["standby1"]);
    let shown = bouncer.admin_reply("SHOW DATABASES");
    assert_eq!(
        shown.cell("name", "app_rw", "port"),
        Some(c.standby(1).port().to_string().as_str())
    );
}

#[test]
fn waiting_clients_are_counted_and_a_frozen_pgbouncer_times_out() {
    let c = Cluster::builder().standbys(1).start();
    let bouncer = Pgbouncer::builder()
        .database("app_rw", c.primary())
        .database_with("app_ro", c.standby(1), "pool_size=1")
        .stats_user(c.exporter_role())
        .start();
    let e = Exporter::start(&config(&c, &bouncer));
    e.wait_scrape("app_ro judged", WAIT, |s| met(s, "app_ro") == Some(1.0));
    // A warm pool of one whose node freezes: the first client holds the server connection,
    // the next three wait.
    drop(bouncer.hold("app_ro"));
    c.standby(1).sigstop();
    let waiting = bouncer.waiting_clients("app_ro", 3);
    let s = e.wait_scrape("three clients waiting on app_ro", WAIT, |s| {
        s.get(
            "pg_replication_pgbouncer_clients_waiting",
            &[("database", "app_ro")],
        ) == Some(3.0)
            && s.get(
                "pg_replication_pgbouncer_max_wait_seconds",
                &[("database", "app_ro")],
            )
            .is_some_and(|w| w >= 1.0)
    });
    // pgbouncer's own word, read after the scrape: the waiters are still there.
    let pools = bouncer.admin_reply("SHOW POOLS");
    assert_eq!(
        bouncer.clients_waiting(&pools, "app_ro"),
        3,
        "{}",
        pools.table()
    );
    assert_eq!(
        s.get(
            "pg_replication_pgbouncer_clients_waiting",
            &[("database", "app_rw")]
        ),
        Some(0.0)
    );
    waiting.release();
    c.standby(1).sigcont();
    e.wait_scrape("no client waiting", WAIT, |s| {
        s.get(
            "pg_replication_pgbouncer_clients_waiting",
            &[("database", "app_ro")],
        ) == Some(0.0)
    });

    // pgbouncer frozen: its console does not answer; down with kind timeout, the nodes flow.
    bouncer.sigstop();
    let s = e.wait_scrape("pgbouncer timed out twice", WAIT, |s| {
        s.get(
            "pg_replication_endpoint_errors_total",
            &[("endpoint", "bouncer"), ("kind", "timeout")],
        )
        .is_some_and(|v| v >= 2.0)
    });
    assert_eq!(
        s.get("pg_replication_endpoint_up", &[("endpoint", "bouncer")]),
        Some(0.0)
    );
    assert!(
        s.find("pg_replication_pgbouncer_database_target", &[])
            .is_empty()
    );
    let last = |s: &Scrape| {
        s.get(
            "pg_replication_last_poll_success_timestamp_seconds",
            &[("node", "standby1")],
        )
        .unwrap()
    };
    let t = last(&s);
    e.wait_scrape("the nodes keep being polled", WAIT, |s| last(s) >= t + 3.0);
    bouncer.sigcont();
    e.wait_metric(
        "pg_replication_endpoint_up",
        &[("endpoint", "bouncer")],
        |v| v == 1.0,
        WAIT,
    );
}
