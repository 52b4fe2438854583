//! Smoke test of the front-end harness: a real pgpool-II over a primary and two standbys (healthy,
//! a standby stopped, a standby frozen, a standby promoted behind pgpool's back) and a real
//! pgbouncer (databases routed to nodes, repointed with RELOAD, clients waiting while the target
//! is frozen or the pool is held). Also pins what the exporter's client library can do with them:
//! `tokio-postgres` (the project's dependency, used directly here on a small runtime) logs in to
//! pgbouncer's admin console and through pgpool and reads `SHOW ...` with `simple_query`, while
//! the extended protocol and an `options` startup parameter fail on pgbouncer's console.
//! Each test prints its timings.

mod harness;

use std::time::{Duration, Instant};

use harness::{Cluster, PGBOUNCER_WAIT, PGPOOL_WAIT, Pgbouncer, Pgpool, Reply, StopMode, pg_error};

fn lap(t0: Instant, timings: &mut Vec<String>, what: &str) {
    timings.push(format!("{what}: {:.1}s", t0.elapsed().as_secs_f64()));
}

/// The rows' values of column `col`, in node_id order.
fn column(r: &Reply, col: &str) -> Vec<String> {
    (0..r.rows.len())
        .map(|i| r.get(i, col).unwrap_or("NULL").to_string())
        .collect()
}

#[test]
fn pgpool_sees_nodes_down_and_keeps_its_view_after_a_promotion_behind_its_back() {
    let t0 = Instant::now();
    let mut timings = Vec::new();
    let c = Cluster::builder().standbys(2).start();
    let pool = Pgpool::start(&c, &["primary", "standby1", "standby2"]);
    assert_eq!(pool.version(), "4.3.5");
    let nodes = pool.wait_healthy(PGPOOL_WAIT);
    lap(t0, &mut timings, "cluster and pgpool healthy");
    assert_eq!(
        nodes.columns,
        [
            "node_id",
            "hostname",
            "port",
            "status",
            "pg_status",
            "lb_weight",
            "role",
            "pg_role",
            "select_cnt",
            "load_balance_node",
            "replication_delay",
            "replication_state",
            "replication_sync_state",
            "last_status_change"
        ]
    );
    assert_eq!(column(&nodes, "role"), ["primary", "standby", "standby"]);
    assert_eq!(column(&nodes, "pg_role"), ["primary", "standby", "standby"]);
    assert_eq!(column(&nodes, "status"), ["up", "up", "up"]);
    for (i, n) in ["primary", "standby1", "standby2"].iter().enumerate() {
        assert_eq!(
            nodes.get(i, "port"),
            Some(c.node(n).port().to_string().as_str())
        );
    }
    // replication_delay: bytes, an integer (pg_current_wal_lsn on pgpool's primary minus the
    // standby's pg_last_wal_replay_lsn, every sr_check_period); "0" for the primary.
    for i in 0..3 {
        let d = nodes.get(i, "replication_delay").unwrap();
        assert!(d.parse::<u64>().is_ok(), "replication_delay {d:?}");
    }
    assert_eq!(
        column(&nodes, "replication_state"),
        ["", "streaming", "streaming"]
    );
    assert_eq!(
        column(&nodes, "replication_sync_state"),
        ["", "async", "async"]
    );

    // The exporter's role logs in through pgpool (scram-sha-256 against pool_passwd's TEXT
    // entry, then scram to the backends) and may run SHOW POOL_NODES; a wrong password fails.
    let role = c.exporter_role();
    let mut session = pool
        .conn_as(role.user(), role.password())
        .unwrap_or_else(|e| {
            panic!(
                "exporter through pgpool: {}\n{}",
                pg_error(&e),
                pool.log_tail(20)
            )
        });
    let shown = Reply::simple_query(&mut session, "SHOW POOL_NODES").unwrap();
    assert_eq!(shown.rows.len(), 3);
    let writable: bool = session
        .query_one("SELECT NOT pg_is_in_recovery()", &[])
        .unwrap()
        .get(0);
    assert!(
        writable,
        "a session through pgpool runs its writes on the primary"
    );
    drop(session);
    let e = pool
        .conn_as(role.user(), "wrong")
        .err()
        .expect("a wrong password fails");
    assert!(
        pg_error(&e).contains("authentication failed"),
        "{}",
        pg_error(&e)
    );

    // A stopped standby is marked down by whichever notices first: a client session through
    // pgpool that fails to connect to it (failover_on_backend_error; here the harness' own
    // SHOW POOL_NODES, within a fraction of a second) or the health check (every 1 s).
    let stopped = Instant::now();
    c.standby(2).stop(StopMode::Fast);
    let r = pool.wait_for("standby2 down", Duration::from_secs(10), |r| {
        r.get(2, "status") == Some("down")
    });
    let down_after = stopped.elapsed();
    assert_eq!(r.get(2, "pg_status"), Some("down"));
    assert_eq!(r.get(2, "pg_role"), Some("unknown"));
    assert_eq!(
        r.get(2, "role"),
        Some("standby"),
        "pgpool keeps the role it knew"
    );
    lap(
        t0,
        &mut timings,
        &format!("stopped standby2 marked down after {down_after:.1?}"),
    );
    // Back up, it stays down for pgpool until attached again (auto_failback off).
    c.standby(2).start();
    c.wait_for_streaming(c.standby(2));
    let r = pool.show_pool_nodes();
    assert_eq!(r.get(2, "status"), Some("down"));
    assert_eq!(r.get(2, "pg_status"), Some("up"), "pg_status is asked live");
    pool.pcp_attach_node(2);
    pool.wait_healthy(PGPOOL_WAIT);
    lap(t0, &mut timings, "standby2 attached again");

    // A frozen standby (SIGSTOP): the health check times out after 2 s; SHOW POOL_NODES itself
    // then takes connect_timeout (2 s) per frozen node, because pg_status pings it live.
    let frozen = Instant::now();
    c.standby(2).sigstop();
    pool.wait_for("frozen standby2 down", Duration::from_secs(15), |r| {
        r.get(2, "status") == Some("down")
    });
    let frozen_down = frozen.elapsed();
    let asked = Instant::now();
    let r = pool.show_pool_nodes();
    let show_took = asked.elapsed();
    assert_eq!(r.get(2, "pg_status"), Some("down"));
    assert!(
        show_took >= Duration::from_millis(1500),
        "SHOW POOL_NODES with a frozen node took {show_took:?}"
    );
    c.standby(2).sigcont();
    lap(
        t0,
        &mut timings,
        &format!(
            "frozen standby2 marked down after {frozen_down:.1?}; SHOW POOL_NODES took {show_took:.1?} meanwhile"
        ),
    );
    c.wait_for_streaming(c.standby(2));
    pool.pcp_attach_node(2);
    pool.wait_healthy(PGPOOL_WAIT);

    // A promotion behind pgpool's back (no failover_command, detach_false_primary off): pgpool
    // still calls standby1 a standby; only pg_role, asked live, says primary. It never lists two
    // primaries in `role`.
    c.standby(1).promote();
    let r = pool.wait_for(
        "pg_role primary for standby1",
        Duration::from_secs(10),
        |r| r.get(1, "pg_role") == Some("primary"),
    );
    // Wait for evidence that sr_check ran since the promotion (the promoted node is no longer
    // in the primary's pg_stat_replication), then look again: pgpool's belief has not moved.
    let r2 = pool.wait_for(
        "sr_check to see standby1 gone from the primary's walsenders",
        Duration::from_secs(10),
        |r| r.get(1, "replication_state") == Some(""),
    );
    for r in [&r, &r2] {
        assert_eq!(
            column(r, "role"),
            ["primary", "standby", "standby"],
            "\n{}",
            r.table()
        );
        assert_eq!(
            column(r, "pg_role"),
            ["primary", "primary", "standby"],
            "\n{}",
            r.table()
        );
        assert_eq!(column(r, "status"), ["up", "up", "up"], "\n{}", r.table());
    }
    // sr_check finds the promoted node no longer in the primary's pg_stat_replication.
    assert_eq!(r2.get(1, "replication_state"), Some(""), "\n{}", r2.table());
    lap(t0, &mut timings, "promotion behind pgpool's back observed");

    // A frozen pgpool (every process SIGSTOPped) does not answer; thawed, it does.
    pool.sigstop();
    let e = pool
        .try_show_within("SHOW POOL_NODES", Duration::from_secs(2))
        .unwrap_err();
    assert!(e.contains("no answer"), "{e}");
    pool.sigcont();
    assert_eq!(pool.show_pool_nodes().rows.len(), 3);
    lap(t0, &mut timings, "frozen pgpool");
    drop(pool);
    lap(t0, &mut timings, "pgpool stopped");
    eprintln!("pgpool harness: {}", timings.join("; "));
}

/// tokio-postgres, as the exporter uses it: its own startup packet (client_encoding=UTF8, user,
/// database, application_name) and simple_query.
#[test]
fn tokio_postgres_reads_pgpool_and_pgbouncer() {
    let t0 = Instant::now();
    let c = Cluster::builder().standbys(1).start();
    let pool = Pgpool::start(&c, &["primary", "standby1"]);
    let bouncer = Pgbouncer::builder()
        .database("app_rw", c.primary())
        .stats_user(c.exporter_role())
        .start();
    pool.wait_healthy(PGPOOL_WAIT);
    let role = c.exporter_role();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = |port: u16, dbname: &str| {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host("127.0.0.1")
            .port(port)
            .user(role.user())
            .password(role.password())
            .dbname(dbname)
            .application_name("pg_replication_exporter")
            .connect_timeout(Duration::from_secs(5));
        cfg
    };
    rt.block_on(async {
        let rows = |msgs: Vec<tokio_postgres::SimpleQueryMessage>| {
            msgs.into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };

        // pgpool: SCRAM as the exporter role, SHOW POOL_NODES by simple and by extended query.
        let (client, conn) = config(pool.port(), "postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres through pgpool");
        let task = tokio::spawn(conn);
        let nodes = rows(client.simple_query("SHOW POOL_NODES").await.unwrap());
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].get("role"), Some("primary"));
        assert_eq!(nodes[1].get("pg_role"), Some("standby"));
        // pgpool intercepts its own SHOW commands in the simple query protocol only: by extended
        // query (`query()`: Parse/Bind/Execute) the statement goes to the backend, which knows
        // no parameter "pool_nodes".
        let e = client.query("SHOW POOL_NODES", &[]).await.unwrap_err();
        let db = e.as_db_error().expect("a backend error");
        assert_eq!(
            db.code(),
            &tokio_postgres::error::SqlState::UNDEFINED_OBJECT
        );
        assert_eq!(
            db.message(),
            "unrecognized configuration parameter \"pool_nodes\""
        );
        drop(client);
        let _ = task.await;

        // pgpool passes an `options` startup parameter to the backends.
        let (client, conn) = config(pool.port(), "postgres")
            .options("-c statement_timeout=4321")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres with options through pgpool");
        let task = tokio::spawn(conn);
        let r = rows(client.simple_query("SHOW statement_timeout").await.unwrap());
        assert_eq!(r[0].get(0), Some("4321ms"));
        drop(client);
        let _ = task.await;

        // pgbouncer's admin console: the exporter role is a stats user (SCRAM against the
        // plain-text auth_file entry); SHOW DATABASES / SHOW POOLS by simple_query work.
        let (client, conn) = config(bouncer.port(), "pgbouncer")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres to pgbouncer's admin console");
        let task = tokio::spawn(conn);
        let dbs = rows(client.simple_query("SHOW DATABASES").await.unwrap());
        let app = dbs
            .iter()
            .find(|r| r.get("name") == Some("app_rw"))
            .expect("app_rw listed");
        assert_eq!(
            app.get("port"),
            Some(c.primary().port().to_string().as_str())
        );
        let pools = rows(client.simple_query("SHOW POOLS").await.unwrap());
        assert!(pools.iter().any(|r| r.get("database") == Some("pgbouncer")));
        // A stats user may not RELOAD.
        let e = client.simple_query("RELOAD").await.unwrap_err();
        assert_eq!(
            e.as_db_error().map(|d| d.message()),
            Some("admin access needed")
        );
        // The console speaks only the simple query protocol: `query()` (Parse/Bind) fails.
        let e = client.query("SHOW DATABASES", &[]).await.unwrap_err();
        assert_eq!(
            e.as_db_error().map(|d| (d.code().code(), d.message())),
            Some((
                "08P01",
                "extended query protocol not supported by admin console"
            ))
        );
        drop(client);
        let _ = task.await;

        // pgbouncer refuses a startup parameter it does not track, unless ignore_startup_parameters
        // names it.
        let e = config(bouncer.port(), "pgbouncer")
            .options("-c statement_timeout=1000")
            .connect(tokio_postgres::NoTls)
            .await
            .err()
            .expect("options refused by pgbouncer");
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or(e.to_string());
        assert!(msg.contains("unsupported startup parameter"), "{msg}");
        eprintln!("pgbouncer with options: {msg}");
    });
    eprintln!("tokio-postgres checks: {:.1}s", t0.elapsed().as_secs_f64());
}

#[test]
fn pgbouncer_routes_repoints_and_counts_waiting_clients() {
    let t0 = Instant::now();
    let mut timings = Vec::new();
    let c = Cluster::builder().standbys(2).start();
    let (primary, s1, s2) = (c.primary(), c.standby(1), c.standby(2));
    let bouncer = Pgbouncer::builder()
        .database("app_rw", primary)
        .database("app_ro", s1)
        .database_with("app_wait", s2, "pool_size=1")
        .database_with("app_cold", s1, "pool_size=1")
        .stats_user(c.exporter_role())
        .start();
    assert_eq!(bouncer.version(), "1.18.0");
    lap(t0, &mut timings, "cluster and pgbouncer up");

    let dbs = bouncer.admin_reply("SHOW DATABASES");
    assert_eq!(
        dbs.columns,
        [
            "name",
            "host",
            "port",
            "database",
            "force_user",
            "pool_size",
            "min_pool_size",
            "reserve_pool",
            "pool_mode",
            "max_connections",
            "current_connections",
            "paused",
            "disabled"
        ]
    );
    for (db, node) in [("app_rw", primary), ("app_ro", s1), ("app_wait", s2)] {
        assert_eq!(dbs.cell("name", db, "host"), Some("127.0.0.1"));
        assert_eq!(
            dbs.cell("name", db, "port"),
            Some(node.port().to_string().as_str())
        );
    }
    assert_eq!(dbs.cell("name", "app_wait", "pool_size"), Some("1"));
    let in_recovery = |db: &str| -> (bool, i32) {
        let mut s = bouncer
            .conn(db)
            .unwrap_or_else(|e| panic!("{db}: {}", pg_error(&e)));
        let r = s
            .query_one("SELECT pg_is_in_recovery(), inet_server_port()", &[])
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(in_recovery("app_rw"), (false, i32::from(primary.port())));
    assert_eq!(in_recovery("app_ro"), (true, i32::from(s1.port())));

    // Repoint app_ro to standby2: the ini rewritten, RELOAD; new sessions land there.
    bouncer.repoint("app_ro", s2);
    let dbs = bouncer.admin_reply("SHOW DATABASES");
    assert_eq!(
        dbs.cell("name", "app_ro", "port"),
        Some(s2.port().to_string().as_str())
    );
    assert_eq!(in_recovery("app_ro"), (true, i32::from(s2.port())));
    lap(t0, &mut timings, "app_ro repointed");

    // A warm pool of one (app_wait) whose node freezes: the first client gets the idle server
    // connection and hangs on it (active), the next three wait; maxwait counts from their query.
    drop(bouncer.hold("app_wait"));
    s2.sigstop();
    let frozen = Instant::now();
    let waiting = bouncer.waiting_clients("app_wait", 3);
    assert_eq!(waiting.waiting(), 3);
    // maxwait counts whole seconds from the waiters' query: it reaches 1 while they still wait.
    let pools = bouncer.wait_admin(
        "maxwait of app_wait at 1 s",
        "SHOW POOLS",
        PGBOUNCER_WAIT,
        |r| {
            r.cell("database", "app_wait", "maxwait")
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|w| w >= 1)
        },
    );
    assert!(frozen.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        bouncer.clients_waiting(&pools, "app_wait"),
        3,
        "\n{}",
        pools.table()
    );
    // The console answers while the node is frozen.
    assert!(
        bouncer
            .admin_reply("SHOW DATABASES")
            .find("name", "app_wait")
            .is_some()
    );
    lap(
        t0,
        &mut timings,
        &format!(
            "3 clients waiting on a frozen node ({} opened)",
            waiting.opened()
        ),
    );
    waiting.release();
    s2.sigcont();
    bouncer.wait_admin(
        "no client waiting on app_wait",
        "SHOW POOLS",
        PGBOUNCER_WAIT,
        |r| bouncer.clients_waiting(r, "app_wait") == 0,
    );

    // A cold pool (app_cold, never connected) whose node freezes: the clients wait at login, for
    // the server's parameters; pgbouncer counts them in cl_waiting but maxwait stays 0 (it counts
    // from a query, and they have sent none).
    s1.sigstop();
    let waiting = bouncer.waiting_clients("app_cold", 2);
    // A negative observation needs time to pass: after 1.2 s of waiting, maxwait still says 0.
    std::thread::sleep(Duration::from_millis(1200));
    let pools = bouncer.admin_reply("SHOW POOLS");
    assert_eq!(
        bouncer.clients_waiting(&pools, "app_cold"),
        2,
        "\n{}",
        pools.table()
    );
    assert_eq!(
        pools.cell("database", "app_cold", "maxwait"),
        Some("0"),
        "\n{}",
        pools.table()
    );
    assert_eq!(
        pools.cell("database", "app_cold", "sv_login"),
        Some("1"),
        "\n{}",
        pools.table()
    );
    waiting.release();
    s1.sigcont();
    lap(
        t0,
        &mut timings,
        "2 clients waiting at login on a cold pool",
    );

    // A pool of one held by a session: others wait though every node is fine.
    let holder = bouncer.hold("app_wait");
    let waiting = bouncer.waiting_clients("app_wait", 2);
    assert_eq!(waiting.opened(), 2);
    drop(holder);
    // The holder gone, pgbouncer hands its server connection to the first waiting client, which
    // keeps it (session pooling): one still waits.
    bouncer.wait_admin("one client served", "SHOW POOLS", PGBOUNCER_WAIT, |r| {
        bouncer.clients_waiting(r, "app_wait") == 1
    });
    drop(waiting);
    lap(t0, &mut timings, "held pool");

    // A frozen pgbouncer: its console does not answer.
    bouncer.sigstop();
    let e = bouncer.try_admin("SHOW VERSION").unwrap_err();
    bouncer.sigcont();
    eprintln!("frozen pgbouncer console: {e}");
    bouncer.admin_reply("SHOW VERSION");
    lap(t0, &mut timings, "frozen pgbouncer");
    eprintln!("pgbouncer harness: {}", timings.join("; "));
}
