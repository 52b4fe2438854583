//! Records the real replies of pgpool-II and pgbouncer into tests/fixtures/pgpool/<version>/ and
//! tests/fixtures/pgbouncer/<major.minor>/ for the parser unit tests of the front-end sources.
//! Not part of the normal run (it rewrites the fixtures):
//!
//! ```text
//! cargo test --test record_proxy_fixtures -- --ignored --test-threads=1
//! ```
//!
//! Each file is one JSON object: `program`, `command`, `recorded` (the state the cluster was in),
//! `columns`, and `rows` with every value as the text the simple query protocol returned (null
//! for NULL). Ports, timestamps and counters are whatever the run had.

mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{Cluster, MIB, PGPOOL_WAIT, Pgbouncer, Pgpool, Reply, StopMode};

fn save(dir: &Path, file: &str, program: &str, command: &str, recorded: &str, reply: &Reply) {
    assert!(
        !reply.columns.is_empty(),
        "{file}: {command} returned no columns"
    );
    let path = dir.join(file);
    std::fs::write(&path, reply.fixture_json(program, command, recorded))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    eprintln!("{}:\n{}", path.display(), reply.table());
}

fn fixture_dir(kind: &str, version: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
        .join(version);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "rewrites tests/fixtures/pgpool; run by hand"]
fn record_pgpool() {
    let c = Cluster::builder().standbys(2).start();
    let pg = c.bin().version().to_string();
    let pool = Pgpool::start(&c, &["primary", "standby1", "standby2"]);
    let dir = fixture_dir("pgpool", pool.version());
    let program = pool.program();
    let save = |file: &str, command: &str, recorded: &str, reply: &Reply| {
        save(&dir, file, &program, command, recorded, reply)
    };
    let setup = format!(
        "backends 0 primary, 1 standby1, 2 standby2 (PostgreSQL {pg}, both standbys streaming \
         asynchronously from the primary); streaming_replication mode, sr_check_period 1, \
         health_check_period 1, failover_command empty"
    );

    let healthy = pool.wait_healthy(PGPOOL_WAIT);
    save(
        "show_pool_nodes_healthy.json",
        "SHOW POOL_NODES",
        &format!("{setup}; every backend up, no client queries yet"),
        &healthy,
    );

    // A stopped standby, marked down by the health check.
    c.standby(2).stop(StopMode::Fast);
    pool.wait_for("standby2 down", Duration::from_secs(10), |r| {
        r.get(2, "status") == Some("down")
    });
    std::thread::sleep(Duration::from_secs(2));
    save(
        "show_pool_nodes_standby_down.json",
        "SHOW POOL_NODES",
        &format!(
            "{setup}; standby2 stopped (pg_ctl stop -m fast) about 2 s earlier and marked down"
        ),
        &pool.show_pool_nodes(),
    );
    save(
        "show_pool_health_check_stats.json",
        "SHOW POOL_HEALTH_CHECK_STATS",
        &format!(
            "{setup}; standby2 stopped (pg_ctl stop -m fast) about 2 s earlier and marked down; \
             the other two healthy"
        ),
        &pool.show("SHOW POOL_HEALTH_CHECK_STATS"),
    );
    c.standby(2).start();
    c.wait_for_streaming(c.standby(2));
    pool.pcp_attach_node(2);
    pool.wait_healthy(PGPOOL_WAIT);

    // Replay paused on standby1 while the primary writes: a delay in bytes.
    c.standby(1).pause_replay();
    c.primary().write_wal(2 * MIB);
    let paused = pool.wait_for(
        "a replication delay on standby1",
        Duration::from_secs(10),
        |r| {
            r.get(1, "replication_delay")
                .is_some_and(|d| d.parse::<u64>().unwrap_or(0) >= 2 * MIB)
        },
    );
    save(
        "show_pool_nodes_replay_paused.json",
        "SHOW POOL_NODES",
        &format!(
            "{setup}; replay paused on standby1 (pg_wal_replay_pause) while the primary wrote \
             2 MiB of WAL: replication_delay is in bytes (primary pg_current_wal_lsn - standby \
             pg_last_wal_replay_lsn)"
        ),
        &paused,
    );
    c.standby(1).resume_replay();
    c.wait_for_catchup(c.standby(1));
    pool.wait_for("no delay on standby1", Duration::from_secs(10), |r| {
        r.get(1, "replication_delay") == Some("0")
    });

    // A promotion behind pgpool's back.
    c.standby(1).promote();
    pool.wait_for(
        "pg_role primary on standby1",
        Duration::from_secs(10),
        |r| r.get(1, "pg_role") == Some("primary"),
    );
    std::thread::sleep(Duration::from_secs(3));
    save(
        "show_pool_nodes_after_promote.json",
        "SHOW POOL_NODES",
        &format!(
            "{setup}; standby1 promoted (pg_ctl promote) about 3 s earlier behind pgpool's back: \
             two nodes out of recovery, standby2 still streaming from the old primary"
        ),
        &pool.show_pool_nodes(),
    );
}

#[test]
#[ignore = "rewrites tests/fixtures/pgbouncer; run by hand"]
fn record_pgbouncer() {
    let c = Cluster::builder().standbys(2).start();
    let pg = c.bin().version().to_string();
    let (primary, s1, s2) = (c.primary(), c.standby(1), c.standby(2));
    let bouncer = Pgbouncer::builder()
        .database("app_rw", primary)
        .database("app_ro", s1)
        .database_with("app_wait", s2, "pool_size=1")
        .database_with("app_cold", s1, "pool_size=1")
        .stats_user(c.exporter_role())
        .start();
    let version = bouncer.version().to_string();
    let minor: Vec<&str> = version.split('.').take(2).collect();
    let dir = fixture_dir("pgbouncer", &minor.join("."));
    let program = bouncer.program();
    let save = |file: &str, command: &str, recorded: &str, reply: &Reply| {
        save(&dir, file, &program, command, recorded, reply)
    };
    let setup = format!(
        "PostgreSQL {pg} primary (port {}), standby1 (port {}), standby2 (port {}); databases \
         app_rw -> primary, app_ro -> standby1, app_wait -> standby2 (pool_size=1), app_cold -> \
         standby1 (pool_size=1); pool_mode session, default_pool_size 5",
        primary.port(),
        s1.port(),
        s2.port()
    );

    // One session each through app_rw and app_ro, still open, so that they hold servers.
    let _rw = bouncer.hold("app_rw");
    let _ro = bouncer.hold("app_ro");
    save(
        "show_databases.json",
        "SHOW DATABASES",
        &format!("{setup}; one client session open on app_rw and on app_ro, every node up"),
        &bouncer.admin_reply("SHOW DATABASES"),
    );

    // app_wait warm (its one server connection idle), then its node frozen.
    drop(bouncer.hold("app_wait"));
    s2.sigstop();
    let waiting = bouncer.waiting_clients("app_wait", 3);
    std::thread::sleep(Duration::from_millis(1500));
    save(
        "show_pools.json",
        "SHOW POOLS",
        &format!(
            "{setup}; one client session open on app_rw and on app_ro; standby2 (app_wait's \
             node) SIGSTOPped about 1.5 s earlier: the first new client got app_wait's idle \
             server connection and hangs on it, {} more wait (maxwait counts from their query)",
            waiting.waiting()
        ),
        &bouncer.admin_reply("SHOW POOLS"),
    );
    waiting.release();
    s2.sigcont();

    // app_cold never connected, its node frozen: clients wait at login.
    s1.sigstop();
    let waiting = bouncer.waiting_clients("app_cold", 2);
    std::thread::sleep(Duration::from_millis(1500));
    save(
        "show_pools_login_wait.json",
        "SHOW POOLS",
        &format!(
            "{setup}; one client session open on app_rw and on app_ro; standby1 SIGSTOPped about \
             1.5 s earlier while app_cold had never connected: {} clients wait at login for the \
             server's parameters (counted in cl_waiting, but maxwait stays 0: no query sent), \
             sv_login 1",
            waiting.waiting()
        ),
        &bouncer.admin_reply("SHOW POOLS"),
    );
    waiting.release();
    s1.sigcont();
}
