//! The exporter on real Patroni clusters (etcd 3.4 and three members, Debian's Patroni 3.0.2 and
//! the venv's 4.x), checked against Patroni's own word (its REST API) and PostgreSQL's:
//! discovery from one URL, a planned switchover counted once with its observed RTO, the
//! promotion history, leader agreement and failover readiness.

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use harness::{Exporter, PATRONI_WAIT, PatroniBin, PatroniCluster, Scrape};

fn labels<'a>(pairs: &'a [(&'a str, &'a str)]) -> &'a [(&'a str, &'a str)] {
    pairs
}

fn get(s: &Scrape, name: &str, l: &[(&str, &str)]) -> Option<f64> {
    s.get(name, labels(l))
}

/// Samples every 50 ms whether some member's PostgreSQL accepts writes (not in recovery), and
/// returns the longest stretch without one: the test's own measure of the switchover's RTO.
struct WritableWatch {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<Duration>>,
}

impl WritableWatch {
    fn start(ports: Vec<u16>, password: String) -> WritableWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut last_writable = Instant::now();
            let mut longest = Duration::ZERO;
            while !flag.load(Ordering::Relaxed) {
                let writable = ports.iter().any(|port| {
                    postgres::Config::new()
                        .host("127.0.0.1")
                        .port(*port)
                        .user("replication_exporter")
                        .password(&password)
                        .dbname("postgres")
                        .connect_timeout(Duration::from_millis(200))
                        .connect(postgres::NoTls)
                        .ok()
                        .and_then(|mut c| c.query_one("SELECT pg_is_in_recovery()", &[]).ok())
                        .is_some_and(|r| !r.get::<_, bool>(0))
                });
                let now = Instant::now();
                if writable {
                    last_writable = now;
                } else {
                    longest = longest.max(now - last_writable);
                }
                thread::sleep(Duration::from_millis(50));
            }
            longest
        });
        WritableWatch {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

fn discovery_and_switchover(bin: PatroniBin) {
    let c = PatroniCluster::builder(bin).members(3).start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    let names: Vec<String> = c.members().iter().map(|m| m.name().to_owned()).collect();
    // Seeded with one replica's URL only: the others come from GET /cluster.
    let seed = names.iter().find(|n| **n != leader).unwrap().clone();
    let e = Exporter::start(&c.exporter_config("ha", &seed));

    let s = e.wait_scrape(
        "every member discovered, up, and Patroni agreeing with SQL",
        PATRONI_WAIT,
        |s| {
            names.iter().all(|n| {
                get(s, "pg_replication_up", &[("node", n)]) == Some(1.0)
                    && get(s, "pg_replication_patroni_up", &[("node", n)]) == Some(1.0)
            }) && get(s, "pg_replication_patroni_leader_mismatch", &[]) == Some(0.0)
                && get(s, "pg_replication_patroni_failover_candidates", &[]) == Some(2.0)
        },
    );
    // Patroni's own word: /cluster's leader is the one the exporter names, and the only primary.
    assert_eq!(
        get(
            &s,
            "pg_replication_patroni_role",
            &[("node", &leader), ("role", "leader")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get(&s, "pg_replication_node_is_primary", &[("node", &leader)]),
        Some(1.0)
    );
    assert_eq!(get(&s, "pg_replication_cluster_primaries", &[]), Some(1.0));
    assert_eq!(
        get(&s, "pg_replication_cluster_nodes_configured", &[]),
        Some(3.0)
    );
    for n in &names {
        assert_eq!(
            get(&s, "pg_replication_patroni_member", &[("node", n)]),
            Some(1.0),
            "{n}"
        );
        assert_eq!(
            get(
                &s,
                "pg_replication_patroni_failover_candidate",
                &[("node", n)]
            ),
            Some(if *n == leader { 0.0 } else { 1.0 }),
            "{n}"
        );
        let info = s.find("pg_replication_patroni_info", &[("node", n)]);
        assert_eq!(info.len(), 1, "{n}");
        assert_eq!(info[0].label("version"), Some(c.bin().version.as_str()));
        assert_eq!(info[0].label("scope"), Some(c.scope()));
    }
    let (_, config) = c.get_json(&leader, "/config").unwrap();
    assert_eq!(
        get(&s, "pg_replication_patroni_ttl_seconds", &[]),
        config["ttl"].as_f64()
    );
    assert_eq!(
        get(&s, "pg_replication_patroni_timeline_switches", &[]),
        Some(0.0)
    );
    assert_eq!(
        get(&s, "pg_replication_cluster_failovers_total", &[]),
        Some(0.0)
    );

    // A planned switchover to the seed.
    let ports: Vec<u16> = c.members().iter().map(|m| m.pg_port()).collect();
    let watch = WritableWatch::start(ports, c.exporter_password().to_owned());
    thread::sleep(Duration::from_millis(300)); // a writable baseline for the watcher
    let (status, body) = c.switchover(&leader, Some(&seed)).unwrap();
    assert_eq!(status, 200, "POST /switchover: {body}");
    let s = e.wait_scrape("the exporter to report the new leader", PATRONI_WAIT, |s| {
        get(
            s,
            "pg_replication_patroni_role",
            &[("node", &seed), ("role", "leader")],
        ) == Some(1.0)
            && get(s, "pg_replication_patroni_leader_mismatch", &[]) == Some(0.0)
            && get(s, "pg_replication_cluster_failovers_total", &[]) == Some(1.0)
            && get(s, "pg_replication_patroni_timeline_switches", &[]) == Some(1.0)
    });
    let gap = watch.finish();
    c.wait_healthy(2, PATRONI_WAIT);
    // Counted once: nothing more after the cluster settled.
    let settled = e.wait_scrape("the old leader streaming again", PATRONI_WAIT, |s| {
        get(s, "pg_replication_standby_streaming", &[("node", &leader)]) == Some(1.0)
    });
    assert_eq!(
        get(&settled, "pg_replication_cluster_failovers_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        get(&settled, "pg_replication_cluster_primaries", &[]),
        Some(1.0)
    );
    // The promotion as /history has it.
    let (_, history) = c.get_json(&seed, "/history").unwrap();
    let last = history.as_array().unwrap().last().unwrap().clone();
    let new_timeline = (last[0].as_u64().unwrap() + 1).to_string();
    let promoted = s.find("pg_replication_patroni_last_promotion_info", &[]);
    assert_eq!(promoted.len(), 1);
    assert_eq!(promoted[0].label("node"), Some(seed.as_str()));
    assert_eq!(promoted[0].label("timeline"), Some(new_timeline.as_str()));
    assert!(
        get(
            &s,
            "pg_replication_patroni_last_promotion_timestamp_seconds",
            &[]
        )
        .is_some()
    );
    // A clean switchover loses nothing.
    assert_eq!(
        get(
            &settled,
            "pg_replication_cluster_last_failover_lost_bytes",
            &[]
        ),
        Some(0.0)
    );
    // Observed RTO: the time with no writable primary, within a poll interval (1 s) of the
    // test's own 50 ms sampling (plus the sampler's connect time).
    let rto = get(
        &s,
        "pg_replication_cluster_last_failover_duration_seconds",
        &[],
    )
    .unwrap();
    assert!(
        (rto - gap.as_secs_f64()).abs() <= 1.5,
        "observed RTO {rto:.2}s vs the test's {:.2}s",
        gap.as_secs_f64()
    );
    eprintln!(
        "patroni {}: switchover RTO exporter {rto:.2}s, test {:.2}s",
        c.bin().version,
        gap.as_secs_f64()
    );
}

#[test]
fn discovery_and_switchover_on_patroni_3() {
    discovery_and_switchover(PatroniBin::debian());
}

#[test]
fn discovery_and_switchover_on_patroni_4() {
    discovery_and_switchover(PatroniBin::v4());
}
