//! The process-wide login budget (issue 15: with 1000 nodes, SCRAM logins and poll timeouts fed
//! each other). Two clusters of 120 nodes each (more than a second of the rate), every node its
//! own session on one real PostgreSQL server: without a budget, each cluster's first round would
//! open 120 sessions in the same instant. The server's own log (`log_connections`, millisecond timestamps) is the judge:
//! never more than 16 logins between "connection received" and "connection authorized" at once,
//! never more than 150 starting in any second, and every node comes up. Nodes still waiting for
//! their turn are not up and count no poll error; the landing page says why they wait.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{Cluster, Exporter, toml_str};

const NODES_PER_CLUSTER: usize = 120;
const CLUSTERS: usize = 2;
/// `pg::logins::MAX_IN_FLIGHT` and `PER_SECOND`.
const MAX_IN_FLIGHT: usize = 16;
const PER_SECOND: usize = 150;

/// One login as the server logged it: when it was received and authorized (ms since midnight).
#[derive(Debug)]
struct Login {
    received: u64,
    authorized: Option<u64>,
    user: Option<String>,
}

/// `HH:MM:SS.mmm` of a `%m [%p] ` log line prefix, in ms, and the pid.
fn stamp_and_pid(line: &str) -> Option<(u64, u32)> {
    let mut words = line.split_whitespace();
    let _date = words.next()?;
    let time = words.next()?;
    let _zone = words.next()?;
    let pid = words
        .next()?
        .strip_prefix('[')?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    let (hms, ms) = time.split_once('.')?;
    let mut parts = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some((
        ((h * 60 + m) * 60 + s) * 1000 + ms.parse::<u64>().ok()?,
        pid,
    ))
}

/// Every login of the log, by pid (a pid is reused only after its backend exited; a new
/// "connection received" starts a new login).
fn logins(log: &str) -> Vec<Login> {
    let mut open: BTreeMap<u32, usize> = BTreeMap::new();
    let mut out: Vec<Login> = Vec::new();
    for line in log.lines() {
        let Some((at, pid)) = stamp_and_pid(line) else {
            continue;
        };
        if line.contains("connection received:") {
            open.insert(pid, out.len());
            out.push(Login {
                received: at,
                authorized: None,
                user: None,
            });
        } else if let Some(rest) = line.split("connection authorized: ").nth(1)
            && let Some(&i) = open.get(&pid)
        {
            out[i].authorized = Some(at);
            out[i].user = rest
                .split_whitespace()
                .find_map(|w| w.strip_prefix("user="))
                .map(str::to_owned);
        }
    }
    out
}

/// The most logins in flight at once: intervals [received, authorized] overlapping.
fn most_in_flight(logins: &[&Login]) -> usize {
    let mut events: Vec<(u64, i32)> = Vec::new();
    for l in logins {
        events.push((l.received, 1));
        // A login ending in the same millisecond another starts counts as overlapping.
        events.push((l.authorized.expect("authorized") + 1, -1));
    }
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        most = most.max(now);
    }
    most as usize
}

/// The most logins received within any window of `window_ms`.
fn most_started_within(logins: &[&Login], window_ms: u64) -> usize {
    let mut starts: Vec<u64> = logins.iter().map(|l| l.received).collect();
    starts.sort();
    let mut most = 0;
    let mut first = 0;
    for last in 0..starts.len() {
        while starts[last] - starts[first] >= window_ms {
            first += 1;
        }
        most = most.max(last - first + 1);
    }
    most
}

#[test]
fn logins_are_bounded_process_wide_and_every_node_comes_up() {
    let c = Cluster::builder()
        .standbys(0)
        .conf("max_connections = 300")
        .conf("log_connections = on")
        .start();
    let role = c.exporter_role();
    let port = c.primary().port();
    let mut toml = String::from("[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\n");
    for k in 0..CLUSTERS {
        toml.push_str(&format!(
            "\n[[cluster]]\nname = \"crowd{k}\"\nuser = {}\npassword_file = {}\nsslmode = \"disable\"\n",
            toml_str(role.user()),
            toml_str(&role.password_file().to_string_lossy()),
        ));
        for n in 0..NODES_PER_CLUSTER {
            toml.push_str(&format!(
                "\n[[cluster.node]]\nname = \"n{n:02}\"\nhost = \"127.0.0.1\"\nport = {port}\n"
            ));
        }
    }
    let total = CLUSTERS * NODES_PER_CLUSTER;
    let e = Exporter::start(&toml);

    // Right after /ready (every cluster finished a round) most nodes are still waiting: not
    // up, no error counted, and the landing page says why.
    let first = e.scrape();
    let waiting = first
        .all("pg_replication_up")
        .into_iter()
        .filter(|s| s.value == 0.0)
        .filter(|s| {
            first
                .find(
                    "pg_replication_poll_errors_total",
                    &[
                        ("cluster", s.label("cluster").unwrap()),
                        ("node", s.label("node").unwrap()),
                    ],
                )
                .iter()
                .all(|err| err.value == 0.0)
        })
        .count();
    assert!(
        waiting > 0,
        "at /ready some of {total} nodes still wait for a login turn, without an error\n{}",
        first.text
    );
    let landing = e.get("/").expect("GET /").text();
    assert!(
        landing.contains("waiting for a login turn"),
        "the landing page says why a node is not up yet:\n{landing}"
    );

    e.wait_scrape(
        &format!("all {total} nodes up"),
        Duration::from_secs(90),
        |s| {
            let up = s.all("pg_replication_up");
            up.len() == total && up.iter().all(|u| u.value == 1.0)
        },
    );

    let log = std::fs::read_to_string(c.primary().log_file()).expect("the server log");
    let all = logins(&log);
    let ours: Vec<&Login> = all
        .iter()
        .filter(|l| l.user.as_deref() == Some(role.user()))
        .collect();
    assert!(
        ours.len() >= total,
        "the server logged {} logins of {} for {total} nodes:\n{:?}",
        ours.len(),
        role.user(),
        all.iter().take(20).collect::<Vec<_>>()
    );
    let in_flight = most_in_flight(&ours);
    let per_second = most_started_within(&ours, 1000);
    eprintln!(
        "{} logins; at most {in_flight} in flight; at most {per_second} started within a second",
        ours.len()
    );
    assert!(
        in_flight <= MAX_IN_FLIGHT,
        "{in_flight} logins in flight at once (bound {MAX_IN_FLIGHT})"
    );
    // The server stamps a login a little after the exporter started it: one extra start of
    // slack in a window.
    assert!(
        per_second <= PER_SECOND + 1,
        "{per_second} logins started within one second (bound {PER_SECOND}/s)"
    );
}

#[test]
fn the_log_parser_reads_postgresql_connection_lines() {
    let log = "\
2026-12-01 18:40:01.120 UTC [4242] LOG:  connection received: host=127.0.0.1 port=50000
2026-12-01 18:40:01.127 UTC [4242] LOG:  connection authorized: user=exporter database=postgres application_name=pg_replication_exporter
2026-12-01 18:40:01.125 UTC [4243] LOG:  connection received: host=127.0.0.1 port=50001
2026-12-01 18:40:01.129 UTC [4243] LOG:  connection authorized: user=postgres database=postgres
2026-12-01 18:40:02.125 UTC [4244] LOG:  connection received: host=127.0.0.1 port=50002
";
    let all = logins(log);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].received, ((18 * 60 + 40) * 60 + 1) * 1000 + 120);
    assert_eq!(all[0].authorized, Some(all[0].received + 7));
    assert_eq!(all[0].user.as_deref(), Some("exporter"));
    assert_eq!(all[1].user.as_deref(), Some("postgres"));
    assert_eq!(all[2].authorized, None);
    let two: Vec<&Login> = all[..2].iter().collect();
    assert_eq!(most_in_flight(&two), 2);
    assert_eq!(most_started_within(&two, 1000), 2);
    assert_eq!(
        most_started_within(&all.iter().collect::<Vec<_>>(), 1000),
        2
    );
}
