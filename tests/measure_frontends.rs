//! Measurement, not a test (ignored by default; `cargo test --test measure_frontends --
//! --ignored --nocapture`): what one front-end check costs the nodes per minute at the default
//! 1 s interval, on real pgpool-II and pgbouncer. For each kind, the same cluster and front-end
//! run twice for the same window, once polled by an exporter without the endpoint and once with
//! it; the difference in `pg_stat_database` (sessions opened, transactions committed) summed over
//! every node and database is the check's cost (transactions are approximate: idle sessions
//! flush their statistics late). `pgpool_command_costs` counts the sessions each pgpool SHOW
//! command opens on the backends (SHOW POOL_NODES: about two per backend per call, on 4.3.5).

mod harness;

use std::time::{Duration, Instant};

use harness::*;

const WINDOW: Duration = Duration::from_secs(20);

/// (sessions, transactions) so far, summed over the nodes' databases.
fn counters(c: &Cluster) -> (i64, i64) {
    c.nodes().iter().fold((0, 0), |(s, x), n| {
        let r = n.query_one(
            "SELECT sum(sessions)::bigint, sum(xact_commit + xact_rollback)::bigint FROM pg_stat_database",
            &[],
        );
        (s + r.get::<_, i64>(0), x + r.get::<_, i64>(1))
    })
}

fn per_minute(c: &Cluster, toml: &str) -> (f64, f64) {
    let e = Exporter::start(toml);
    e.wait_polls("primary", 3);
    if toml.contains("[[cluster.endpoint]]") {
        e.wait_metric(
            "pg_replication_endpoint_up",
            &[("endpoint", "e")],
            |v| v == 1.0,
            WAIT,
        );
    }
    let (s0, x0) = counters(c);
    let t0 = Instant::now();
    while t0.elapsed() < WINDOW {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (s1, x1) = counters(c);
    if toml.contains("[[cluster.endpoint]]") {
        let s = e.scrape();
        assert_eq!(
            s.get("pg_replication_endpoint_up", &[("endpoint", "e")]),
            Some(1.0)
        );
    }
    eprintln!(
        "  raw: sessions {} transactions {} in {:.1?}",
        s1 - s0,
        x1 - x0,
        t0.elapsed()
    );
    let k = 60.0 / t0.elapsed().as_secs_f64();
    drop(e);
    // The counter queries themselves: one session and one transaction per node each time.
    let own = c.nodes().len() as f64;
    (((s1 - s0) as f64 - own) * k, ((x1 - x0) as f64 - own) * k)
}

fn report(kind: &str, base: (f64, f64), with: (f64, f64)) {
    eprintln!(
        "{kind:<10} sessions/min on the nodes: {:+.1}  transactions/min on the nodes: {:+.1}",
        with.0 - base.0,
        with.1 - base.1
    );
}

#[test]
#[ignore]
fn front_end_check_costs() {
    let c = Cluster::builder().standbys(2).start();
    let role = c.exporter_role();
    let base_toml = c.exporter_config("pg", role.user(), role.password_file());
    let endpoint = |kind: &str, port: u16, extra: &str| {
        format!(
            "{base_toml}\n[[cluster.endpoint]]\nname = \"e\"\nkind = \"{kind}\"\nhost = \"127.0.0.1\"\nport = {port}\n{extra}\n"
        )
    };
    let base = per_minute(&c, &base_toml);
    report(
        "postgres",
        base,
        per_minute(
            &c,
            &endpoint("postgres", c.primary().port(), "expect = \"primary\""),
        ),
    );
    {
        let pool = Pgpool::start(&c, &["primary", "standby1", "standby2"]);
        pool.wait_healthy(PGPOOL_WAIT);
        let base = per_minute(&c, &base_toml);
        report(
            "pgpool",
            base,
            per_minute(&c, &endpoint("pgpool", pool.port(), "expect = \"primary\"")),
        );
    }
    let bouncer = Pgbouncer::builder()
        .database("app_rw", c.primary())
        .stats_user(role)
        .start();
    let base = per_minute(&c, &base_toml);
    report(
        "pgbouncer",
        base,
        per_minute(
            &c,
            &endpoint(
                "pgbouncer",
                bouncer.port(),
                "expect_databases = { app_rw = \"primary\" }",
            ),
        ),
    );
}

#[test]
#[ignore]
fn pgpool_command_costs() {
    let c = Cluster::builder().standbys(2).start();
    let pool = Pgpool::start(&c, &["primary", "standby1", "standby2"]);
    pool.wait_healthy(PGPOOL_WAIT);
    let role = c.exporter_role();
    let mut s = pool.conn_as(role.user(), role.password()).unwrap();
    for cmd in [
        "SHOW POOL_NODES",
        "SHOW POOL_HEALTH_CHECK_STATS",
        "SHOW POOL_BACKEND_STATS",
    ] {
        let r = Reply::simple_query(&mut s, cmd);
        match &r {
            Ok(r) => eprintln!("{cmd}: {:?}\n{}", r.columns, r.table()),
            Err(e) => eprintln!("{cmd}: {e}"),
        }
        let (s0, _) = counters(&c);
        for _ in 0..10 {
            let _ = Reply::simple_query(&mut s, cmd);
        }
        std::thread::sleep(Duration::from_millis(1500));
        let (s1, _) = counters(&c);
        eprintln!(
            "{cmd}: {} sessions on the nodes for 10 calls (3 of them the counter's)",
            s1 - s0
        );
    }
}
