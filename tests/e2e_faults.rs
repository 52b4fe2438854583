//! End-to-end fault tests (SPEC section 6) against the real exporter binary and real PostgreSQL
//! servers: a node that hangs (SIGSTOP), each error kind produced by a real cause (wrong
//! password, closed port, unresolvable host, TLS refused, a query the server rejects, a revoked
//! function, a port that accepts but never answers), one log line per state change, a node
//! restarted 50 times (no leaked sessions, bounded memory, threads and descriptors), and a node
//! whose connection slots are all taken.

mod harness;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::{Cluster, Exporter, Scrape, StopMode, WAIT};

/// The harness config's poll settings (see `Cluster::exporter_config`).
const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_millis(800);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Scheduling slack on a shared 2-core machine running several clusters at once.
const SLACK: Duration = Duration::from_millis(1500);

fn up(s: &Scrape, node: &str) -> Option<f64> {
    s.get("pg_replication_up", &[("node", node)])
}

/// A counter that has not been incremented yet is absent; for a difference that is 0.
fn errors(s: &Scrape, node: &str, kind: &str) -> f64 {
    s.get(
        "pg_replication_poll_errors_total",
        &[("node", node), ("kind", kind)],
    )
    .unwrap_or(0.0)
}

/// The exporter's log lines with this message about this node (`node=<name>` field).
fn log_lines(exporter: &Exporter, message: &str, node: &str) -> Vec<String> {
    let field = format!("node={node}");
    exporter
        .log_text()
        .lines()
        .filter(|l| l.contains(message) && l.split_whitespace().any(|w| w == field))
        .map(str::to_string)
        .collect()
}

/// Wait until the exporter has logged at least `n` lines with this message about this node;
/// return them. On timeout panic with the whole log.
fn wait_log_lines(exporter: &Exporter, message: &str, node: &str, n: usize) -> Vec<String> {
    let ok = harness::poll_until(WAIT, || log_lines(exporter, message, node).len() >= n);
    let lines = log_lines(exporter, message, node);
    assert!(
        ok,
        "timed out after {WAIT:?} waiting for {n} {message:?} lines about {node} (have {}):\n{}",
        lines.len(),
        exporter.log_text()
    );
    lines
}

/// One `GET /metrics`, timed end to end (connect, render, read).
fn timed_scrape(e: &Exporter) -> Duration {
    let t = Instant::now();
    let r = e.get("/metrics").expect("GET /metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read fd dir")
        .count()
}

/// Sessions of the exporter on a node, from the server's own bookkeeping.
fn exporter_sessions(node: &harness::Node) -> i64 {
    node.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_replication_exporter'",
    )
}

/// A password file (mode 0600) in `dir`.
fn password_file(dir: &Path, name: &str, password: &str) -> PathBuf {
    let path = dir.join(name);
    harness::write_private(&path, &format!("{password}\n"));
    path
}

const POLL_TOML: &str = "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n\n";

/// SIGSTOP on a standby's postmaster and backends: its poll times out within one interval plus
/// the timeout, the primary keeps being polled every round, /metrics stays fast, and SIGCONT
/// brings the node back within the backoff cap plus a round.
#[test]
fn a_hung_node_times_out_alone_and_recovers() {
    let c = Cluster::builder().standbys(1).start();
    let e = Exporter::for_cluster(&c);
    let before: Vec<Duration> = (0..20).map(|_| timed_scrape(&e)).collect();
    let timeouts_before = errors(&e.scrape(), "standby1", "timeout");

    let s1 = c.standby(1);
    s1.sigstop();
    let frozen_at = Instant::now();
    let s = e.wait_scrape("standby1 to time out", WAIT, |s| {
        up(s, "standby1") == Some(0.0) && errors(s, "standby1", "timeout") > timeouts_before
    });
    let detected = frozen_at.elapsed();
    assert_eq!(
        up(&s, "primary"),
        Some(1.0),
        "the primary went down with it"
    );

    // While standby1 hangs: the primary's last success advances every round and stays fresh,
    // and scrapes stay fast.
    let mut during = Vec::new();
    let mut seen = Vec::new();
    let watch_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < watch_until {
        during.push(timed_scrape(&e));
        let s = e.scrape();
        let now = harness::unix_now();
        assert_eq!(up(&s, "primary"), Some(1.0));
        assert_eq!(up(&s, "standby1"), Some(0.0));
        let last = s
            .get(
                "pg_replication_last_poll_success_timestamp_seconds",
                &[("node", "primary")],
            )
            .expect("primary's last success");
        let age = now - last;
        assert!(
            age < (INTERVAL + TIMEOUT + SLACK).as_secs_f64(),
            "the primary's last success is {age:.2} s old while standby1 hangs"
        );
        if seen.last() != Some(&last) {
            seen.push(last);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let max_gap = seen.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        seen.len() >= 4 && max_gap < (INTERVAL + SLACK).as_secs_f64(),
        "the primary's successes while standby1 hangs: {seen:?}"
    );
    let timeouts_during = errors(&e.scrape(), "standby1", "timeout");

    s1.sigcont();
    let thawed_at = Instant::now();
    e.wait_scrape("standby1 to come back", WAIT, |s| {
        up(s, "standby1") == Some(1.0)
    });
    let recovered = thawed_at.elapsed();

    let (b, d) = (median(before.clone()), median(during.clone()));
    eprintln!(
        "hang: detected after {detected:.2?}, recovered {recovered:.2?} after SIGCONT; \
         {} timeouts counted; /metrics median {b:.2?} (max {:.2?}) before, {d:.2?} (max {:.2?}) \
         during the hang; primary successes {seen:?}",
        timeouts_during - timeouts_before,
        before.iter().max().unwrap(),
        during.iter().max().unwrap()
    );
    assert!(
        detected <= INTERVAL + TIMEOUT + SLACK,
        "the hang took {detected:?} to show"
    );
    assert!(
        recovered <= BACKOFF_MAX + INTERVAL + TIMEOUT + SLACK,
        "standby1 took {recovered:?} to come back after SIGCONT"
    );
    assert!(
        b < Duration::from_millis(100) && d < Duration::from_millis(100),
        "/metrics median latency {b:?} before, {d:?} during the hang"
    );
    let down = log_lines(&e, "node is down", "standby1");
    assert_eq!(down.len(), 1, "one line per state change: {down:#?}");
    assert!(
        down[0].contains("kind=timeout") && down[0].contains("no answer within 800ms"),
        "{}",
        down[0]
    );
    assert_eq!(log_lines(&e, "node is up", "standby1").len(), 2);
    // The timed-out sessions are gone once their backends see the closed sockets.
    c.wait_for("one exporter session on standby1", WAIT, || {
        exporter_sessions(s1) == 1
    });
}

/// Each error kind from a real cause, each logged once per state change with a message that
/// says what happened, while the healthy node keeps being polled.
#[test]
fn every_error_kind_from_a_real_cause_logged_once_per_change() {
    let c = Cluster::builder()
        .standbys(1)
        .conf("max_replication_slots = 1100")
        .start();
    let (primary, s1) = (c.primary(), c.standby(1));
    let role = c.exporter_role();
    let dir = tempfile::tempdir().unwrap();
    let wrong = password_file(dir.path(), "wrong", "not-the-password");
    // Limits a DBA set for the role, on a primary with a thousand slots: the poll's sort of the
    // slots needs a temporary file, which temp_file_limit = 0 forbids (SQLSTATE 53400). (A
    // role default of serializable, which fails every query on a hot standby, is overridden by
    // the exporter's startup options and must not cause an error: see the "serializable" node.)
    primary.batch_execute(&format!(
        "CREATE ROLE exporter_limited LOGIN PASSWORD '{pw}' IN ROLE pg_monitor;
         ALTER ROLE exporter_limited SET work_mem = '64kB';
         ALTER ROLE exporter_limited SET temp_file_limit = 0;
         CREATE ROLE exporter_serial LOGIN PASSWORD '{pw}' IN ROLE pg_monitor;
         ALTER ROLE exporter_serial SET default_transaction_isolation = 'serializable';",
        pw = role.password()
    ));
    primary.batch_execute(
        "SELECT count(pg_create_physical_replication_slot('bulk_' || g)) FROM generate_series(1, 1000) g",
    );
    // A database where a function every poll calls is revoked (pg_conf_load_time(): what tells
    // the poller that the settings may have changed). EXECUTE is checked at every execution of
    // the prepared statement, so a revoke takes effect in a session already open.
    primary.batch_execute("CREATE DATABASE noctl");
    let mut noctl = postgres::Client::connect(
        &primary.connstr().replace("dbname=postgres", "dbname=noctl"),
        postgres::NoTls,
    )
    .unwrap();
    noctl
        .batch_execute("REVOKE EXECUTE ON FUNCTION pg_conf_load_time() FROM PUBLIC")
        .unwrap();
    c.wait_for_catchup(s1);
    let closed_port = harness::free_port();

    let node = |name: &str, extra: &str| {
        format!("\n[[cluster.node]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\n{extra}\n")
    };
    let mut toml = format!(
        "{POLL_TOML}[[cluster]]\nname = \"faults\"\nuser = \"{}\"\npassword_file = \"{}\"\n\
         sslmode = \"disable\"\n",
        role.user(),
        role.password_file().display()
    );
    let p = primary.port();
    toml += &node("primary", &format!("port = {p}"));
    toml += &node(
        "auth",
        &format!("port = {p}\npassword_file = \"{}\"", wrong.display()),
    );
    toml += &node("refused", &format!("port = {closed_port}"));
    toml += &format!(
        "\n[[cluster.node]]\nname = \"nohost\"\nhost = \"no-such-host.invalid\"\nport = {p}\n"
    );
    toml += &node("tls", &format!("port = {p}\nsslmode = \"require\""));
    toml += &node("query", &format!("port = {p}\nuser = \"exporter_limited\""));
    toml += &node(
        "serializable",
        &format!("port = {}\nuser = \"exporter_serial\"", s1.port()),
    );
    toml += &node("privilege", &format!("port = {p}\ndbname = \"noctl\""));
    let e = Exporter::start(&toml);

    // (node, kind, what the message must say)
    let expected = [
        ("auth", "auth", "password authentication failed for user"),
        ("refused", "connect", "connection refused"),
        ("nohost", "connect", "failed to lookup address"),
        ("tls", "tls", "server does not support tls"),
        (
            "query",
            "query",
            "temporary file size exceeds temp_file_limit",
        ),
        (
            "privilege",
            "privilege",
            "permission denied for function pg_conf_load_time",
        ),
    ];
    // Several failing attempts each (backoff 1 s, 2 s, 2 s, ...).
    let s = e.wait_scrape(
        "3 errors of the right kind on every failing node",
        WAIT,
        |s| expected.iter().all(|(n, k, _)| errors(s, n, k) >= 3.0),
    );
    assert_eq!(up(&s, "primary"), Some(1.0));
    assert_eq!(
        up(&s, "serializable"),
        Some(1.0),
        "a serializable default must not break the poll"
    );
    for d in s.all("pg_replication_poll_duration_seconds") {
        eprintln!("{d}");
    }
    let log = e.log_text();
    for (name, kind, says) in expected {
        assert_eq!(up(&s, name), Some(0.0), "{name}");
        let kinds: Vec<&str> = s
            .find("pg_replication_poll_errors_total", &[("node", name)])
            .iter()
            .filter(|x| x.value > 0.0)
            .map(|x| x.label("kind").unwrap())
            .collect();
        assert_eq!(kinds, [kind], "{name}: errors by kind");
        let down = log_lines(&e, "node is down", name);
        assert_eq!(down.len(), 1, "{name}: one line per state change:\n{log}");
        assert!(
            down[0].contains(&format!("kind={kind}")) && down[0].to_lowercase().contains(says),
            "{name}: {}",
            down[0]
        );
        eprintln!("{name}: {}", down[0]);
    }

    // Down(connect) → Down(timeout) → Down(connect) on the same node, without an "up" between:
    // a port that accepts connections but never answers, then closed again.
    let listener = TcpListener::bind(("127.0.0.1", closed_port)).expect("bind the closed port");
    e.wait_metric(
        "pg_replication_poll_errors_total",
        &[("node", "refused"), ("kind", "timeout")],
        |v| v >= 2.0,
        WAIT,
    );
    drop(listener);
    let connect_before = errors(&e.scrape(), "refused", "connect");
    e.wait_metric(
        "pg_replication_poll_errors_total",
        &[("node", "refused"), ("kind", "connect")],
        |v| v >= connect_before + 2.0,
        WAIT,
    );
    let kinds: Vec<String> = log_lines(&e, "node is down", "refused")
        .iter()
        .map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("kind="))
                .unwrap_or("?")
                .trim_matches('"')
                .to_string()
        })
        .collect();
    assert_eq!(kinds, ["connect", "timeout", "connect"]);

    // Down → up → down: granting the function back brings the node up, revoking it again takes
    // it down; each change is one line.
    noctl
        .batch_execute("GRANT EXECUTE ON FUNCTION pg_conf_load_time() TO PUBLIC")
        .unwrap();
    e.wait_metric(
        "pg_replication_up",
        &[("node", "privilege")],
        |v| v == 1.0,
        WAIT,
    );
    noctl
        .batch_execute("REVOKE EXECUTE ON FUNCTION pg_conf_load_time() FROM PUBLIC")
        .unwrap();
    e.wait_metric(
        "pg_replication_up",
        &[("node", "privilege")],
        |v| v == 0.0,
        WAIT,
    );
    wait_log_lines(&e, "node is down", "privilege", 2);
    // Once per change: nothing more is logged over the next three rounds (counted on the
    // primary, which is polled every round). Waiting is the point here.
    e.wait_polls("primary", 3);
    assert_eq!(log_lines(&e, "node is down", "privilege").len(), 2);
    assert_eq!(log_lines(&e, "node is up", "privilege").len(), 1);
    assert_eq!(log_lines(&e, "node is up", "primary").len(), 1);
    assert_eq!(log_lines(&e, "node is down", "primary").len(), 0);
}

/// 50 restarts in a row, alternating fast and immediate stops: the exporter reconnects every
/// time within the backoff cap, and holds one session, a bounded RSS, thread count and number
/// of file descriptors at the end.
#[test]
fn fifty_restarts_leak_nothing() {
    let c = Cluster::builder().standbys(0).start();
    let primary = c.primary();
    let e = Exporter::for_cluster(&c);
    // Warm up (a few rounds and scrapes) before the baseline.
    e.wait_polls("primary", 3);
    let _ = e.scrape();
    let pid = e.pid().unwrap();
    let (rss0, threads0, fds0) = (
        harness::proc_status(pid, "VmRSS"),
        harness::proc_status(pid, "Threads"),
        open_fds(pid),
    );

    let started = Instant::now();
    let mut recoveries = Vec::new();
    for i in 0..50 {
        let mode = if i % 2 == 0 {
            StopMode::Fast
        } else {
            StopMode::Immediate
        };
        primary.stop(mode);
        primary.start();
        // Every fifth restart: how long until the exporter has its session back and says up.
        if i % 5 == 4 {
            let back_at = Instant::now();
            let since = harness::unix_now();
            e.wait_scrape("the primary up again after a restart", WAIT, |s| {
                up(s, "primary") == Some(1.0)
                    && s.get(
                        "pg_replication_last_poll_success_timestamp_seconds",
                        &[("node", "primary")],
                    )
                    .is_some_and(|t| t >= since)
            });
            recoveries.push(back_at.elapsed());
        }
    }
    let restarts_took = started.elapsed();
    c.wait_for("exactly one exporter session", WAIT, || {
        exporter_sessions(primary) == 1
    });
    // Settled: a couple more rounds on the new session, and still only one.
    e.wait_polls("primary", 2);
    assert_eq!(exporter_sessions(primary), 1);
    let s = e.scrape();
    assert_eq!(up(&s, "primary"), Some(1.0));
    let connect_errors = errors(&s, "primary", "connect");
    let (rss1, threads1, fds1) = (
        harness::proc_status(pid, "VmRSS"),
        harness::proc_status(pid, "Threads"),
        open_fds(pid),
    );
    eprintln!(
        "50 restarts in {restarts_took:.1?}; recoveries {recoveries:.2?}; {connect_errors} \
         connect errors counted; RSS {rss0} kB → {rss1} kB, threads {threads0} → {threads1}, \
         fds {fds0} → {fds1}"
    );
    assert!(connect_errors >= 1.0, "no restart was noticed");
    for r in &recoveries {
        assert!(
            *r <= BACKOFF_MAX + INTERVAL + TIMEOUT + SLACK,
            "recovery took {r:?} (backoff cap {BACKOFF_MAX:?}): {recoveries:?}"
        );
    }
    assert!(
        rss1 < 2 * rss0 + 10 * 1024,
        "RSS grew from {rss0} kB to {rss1} kB over 50 restarts"
    );
    assert!(
        threads1 <= threads0 + 4,
        "threads grew from {threads0} to {threads1}"
    );
    assert!(fds1 <= fds0 + 2, "open fds grew from {fds0} to {fds1}");
    assert_eq!(log_lines(&e, "node is down", "primary").len() as f64, {
        // One line per down period; some restarts fall between two polls and go unnoticed.
        log_lines(&e, "node is up", "primary").len() as f64 - 1.0
    });
}

/// Every normal connection slot is taken (by a role without superuser rights): the exporter,
/// started then, reports a `connect` error with PostgreSQL's reason, and recovers as soon as a
/// slot is free.
#[test]
fn no_free_connection_slot_is_a_connect_error_until_one_frees() {
    // 6 slots, 3 reserved for superusers: 3 for everybody else. Walsenders have their own.
    let c = Cluster::builder()
        .standbys(0)
        .conf("max_connections = 6")
        .conf("superuser_reserved_connections = 3")
        .start();
    let primary = c.primary();
    let role = c.exporter_role();
    let toml = c.exporter_config("pg", role.user(), role.password_file());
    let mut first = Exporter::start(&toml);
    first.wait_metric(
        "pg_replication_up",
        &[("node", "primary")],
        |v| v == 1.0,
        WAIT,
    );
    first.stop();
    c.wait_for("the first exporter's session to end", WAIT, || {
        exporter_sessions(primary) == 0
    });

    let nomon = c.nomon_role();
    let mut held: Vec<postgres::Client> = (0..3)
        .map(|i| {
            primary
                .conn_as(nomon.user(), nomon.password())
                .unwrap_or_else(|e| panic!("slot {i}: {}", harness::pg_error(&e)))
        })
        .collect();
    let refused = primary
        .conn_as(nomon.user(), nomon.password())
        .err()
        .expect("a fourth normal connection was accepted");
    assert_eq!(
        refused.code(),
        Some(&postgres::error::SqlState::TOO_MANY_CONNECTIONS)
    );

    let e = Exporter::start(&toml);
    let s = e.wait_scrape("connect errors while the slots are taken", WAIT, |s| {
        errors(s, "primary", "connect") >= 2.0
    });
    assert_eq!(up(&s, "primary"), Some(0.0));
    let down = log_lines(&e, "node is down", "primary");
    assert_eq!(down.len(), 1, "{down:#?}");
    assert!(
        down[0].contains("kind=connect")
            && down[0].contains("remaining connection slots are reserved"),
        "{}",
        down[0]
    );

    let freed_at = Instant::now();
    held.pop();
    e.wait_metric(
        "pg_replication_up",
        &[("node", "primary")],
        |v| v == 1.0,
        WAIT,
    );
    let recovered = freed_at.elapsed();
    eprintln!(
        "slots full: {}; recovered {recovered:.2?} after a slot freed",
        down[0]
    );
    assert!(recovered <= BACKOFF_MAX + INTERVAL + TIMEOUT + SLACK);
    assert_eq!(exporter_sessions(primary), 1);
    assert_eq!(log_lines(&e, "node is up", "primary").len(), 1);
    drop(held);
}

/// Regression: a session the server closed while it sat idle between two polls (a restart
/// between polls, `pg_terminate_backend`, `idle_session_timeout`, a pooler or firewall dropping
/// idle connections) made the next poll fail with a `connect` error and `up` 0 for a round,
/// although the node answered a new connection at once. The node stays up; the session is
/// replaced within the same poll.
#[test]
fn a_session_closed_while_idle_is_replaced_without_a_false_down() {
    let c = Cluster::builder().standbys(0).start();
    let primary = c.primary();
    let e = Exporter::for_cluster(&c);
    let session_pid = |node: &harness::Node| -> Option<i32> {
        node.query_opt(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_replication_exporter'",
            &[],
        )
        .map(|r| r.get(0))
    };
    for round in 0..5 {
        let old = session_pid(primary).expect("the exporter's session");
        let killed: bool = primary.scalar(&format!("SELECT pg_terminate_backend({old})"));
        assert!(killed);
        c.wait_for("a new exporter session", WAIT, || {
            session_pid(primary).is_some_and(|p| p != old)
        });
        // Two more rounds on the new session.
        let since = harness::unix_now();
        e.wait_scrape("two polls after the new session", WAIT, |s| {
            s.get(
                "pg_replication_last_poll_success_timestamp_seconds",
                &[("node", "primary")],
            )
            .is_some_and(|t| t >= since + INTERVAL.as_secs_f64())
        });
        let s = e.scrape();
        assert_eq!(up(&s, "primary"), Some(1.0), "round {round}");
        let errs: Vec<String> = s
            .find("pg_replication_poll_errors_total", &[("node", "primary")])
            .iter()
            .filter(|x| x.value > 0.0)
            .map(|x| x.to_string())
            .collect();
        assert!(
            errs.is_empty(),
            "round {round}: a killed idle session counted as errors {errs:?}\n{}",
            e.log_text()
        );
    }
    assert_eq!(log_lines(&e, "node is down", "primary").len(), 0);
}
