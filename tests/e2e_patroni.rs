//! The exporter on real Patroni clusters (etcd 3.4 and three members, Debian's Patroni 3.0.2 and
//! the venv's 4.x), checked against Patroni's own word (its REST API) and PostgreSQL's:
//! discovery from one URL, a planned switchover counted once with its observed RTO, the
//! promotion history, leader agreement and failover readiness; a member added and one killed
//! (visible until `forget_after`), the `nofailover` tag, maintenance mode, an unplanned failover
//! with the data it lost against the switch LSN of `/history`, and every replica past
//! `maximum_lag_on_failover` (with the no-candidate alert firing in a real Prometheus).
//!
//! WAL is held back from the replicas by SIGSTOPping their WAL receivers (the pid from
//! `pg_stat_wal_receiver`): Patroni resumes a paused replay by itself, but it cannot see a
//! stopped receiver.

mod harness;
mod prom;

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
    // The landing page: Patroni's role and state of each node, discovered.
    let page = e.get("/").unwrap().text();
    assert!(
        page.contains(&format!(
            "<td>{leader}</td><td class=\"up\">up</td><td>primary</td><td>leader / running</td><td>discovered</td>"
        )),
        "{page}"
    );
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
    let asked = Instant::now();
    let (status, body) = c.switchover(&leader, Some(&seed)).unwrap();
    assert_eq!(status, 200, "POST /switchover: {body}");
    let mut reported = None;
    let s = e.wait_scrape("the exporter to report the new leader", PATRONI_WAIT, |s| {
        let new_leader = get(
            s,
            "pg_replication_patroni_role",
            &[("node", &seed), ("role", "leader")],
        ) == Some(1.0);
        if new_leader && reported.is_none() {
            reported = Some(asked.elapsed());
        }
        new_leader
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
        "patroni {}: switchover RTO exporter {rto:.2}s, test {:.2}s; new leader reported {:.2}s after POST /switchover",
        c.bin().version,
        gap.as_secs_f64(),
        reported.unwrap().as_secs_f64()
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

/// The `pid` of each member's WAL receiver (`pg_stat_wal_receiver`).
fn walreceivers(c: &PatroniCluster, members: &[&str]) -> Vec<i32> {
    members
        .iter()
        .map(|m| {
            let mut db = c.conn(m).unwrap();
            let pid: Option<i32> = db
                .query_one("SELECT pid FROM pg_stat_wal_receiver", &[])
                .map(|r| r.get(0))
                .unwrap_or(None);
            pid.unwrap_or_else(|| panic!("{m} has no WAL receiver\n{}", c.dump()))
        })
        .collect()
}

/// SIGSTOPs the WAL receivers of `members`; the replicas receive nothing until [`Held::release`].
struct Held(Vec<i32>);

impl Held {
    fn stop(c: &PatroniCluster, members: &[&str]) -> Held {
        let pids = walreceivers(c, members);
        for &p in &pids {
            // SAFETY: kill has no memory-safety preconditions.
            assert_eq!(unsafe { libc::kill(p, libc::SIGSTOP) }, 0, "SIGSTOP {p}");
        }
        Held(pids)
    }
    fn release(&mut self) {
        for p in self.0.drain(..) {
            // SAFETY: as above; the process may be gone.
            unsafe { libc::kill(p, libc::SIGCONT) };
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release();
    }
}

/// Writes about `mib` MiB of WAL on `member` (a table of 1 KiB rows).
fn write_wal(c: &PatroniCluster, member: &str, mib: u64) {
    let mut db = c.conn(member).unwrap();
    db.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS filler (id int, pad text);\
         INSERT INTO filler SELECT g, repeat('x', 1000) FROM generate_series(1, {}) g",
        mib * 900
    ))
    .unwrap_or_else(|e| panic!("write WAL on {member}: {e}"));
}

/// `pg_current_wal_lsn()` of `member` in bytes.
fn current_lsn(c: &PatroniCluster, member: &str) -> u64 {
    let mut db = c.conn(member).unwrap();
    let t: String = db
        .query_one("SELECT (pg_current_wal_lsn() - '0/0')::text", &[])
        .unwrap()
        .get(0);
    t.parse().unwrap()
}

/// "0/4000000" → bytes.
fn parse_lsn(text: &str) -> u64 {
    let (hi, lo) = text.split_once('/').unwrap();
    (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
}

/// A switch LSN of `/history`: a number in both versions' replies (a string in some).
fn history_lsn(v: &serde_json::Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().map(parse_lsn))
        .unwrap_or_else(|| panic!("switch LSN {v}"))
}

fn listed(cluster: &serde_json::Value, name: &str) -> bool {
    cluster["members"]
        .as_array()
        .is_some_and(|ms| ms.iter().any(|m| m["name"] == name))
}

/// One cluster for the checks that do not disturb each other: the `nofailover` tag (m3),
/// maintenance mode, a fourth member added, and that member killed (visible until
/// `forget_after`, reported down).
fn membership_nofailover_pause(bin: PatroniBin) {
    let mut c = PatroniCluster::builder(bin)
        .members(3)
        .tags(3, "nofailover: true")
        .start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    // A member tagged nofailover never takes the leader lock at bootstrap.
    assert_ne!(leader, "m3", "{}", c.dump());
    let other = ["m1", "m2"].into_iter().find(|n| *n != leader).unwrap();
    let e = Exporter::start(&c.exporter_config("ha", other));
    let candidate = |s: &Scrape, n: &str| {
        get(
            s,
            "pg_replication_patroni_failover_candidate",
            &[("node", n)],
        )
    };

    // nofailover: m3 is no candidate, the other replica is.
    let s = e.wait_scrape("three members up, one candidate", PATRONI_WAIT, |s| {
        ["m1", "m2", "m3"]
            .iter()
            .all(|n| get(s, "pg_replication_up", &[("node", n)]) == Some(1.0))
            && get(s, "pg_replication_patroni_failover_candidates", &[]) == Some(1.0)
    });
    let (_, m3) = c.get_json("m3", "/patroni").unwrap();
    assert_eq!(m3["tags"]["nofailover"], true, "Patroni's word: {m3}");
    assert_eq!(candidate(&s, "m3"), Some(0.0));
    assert_eq!(candidate(&s, other), Some(1.0));
    assert_eq!(candidate(&s, &leader), Some(0.0));

    // Maintenance mode: paused, and nobody counted as able to fail over automatically.
    c.pause(true).unwrap();
    let s = e.wait_scrape("paused 1 and no candidate", PATRONI_WAIT, |s| {
        get(s, "pg_replication_patroni_paused", &[]) == Some(1.0)
            && get(s, "pg_replication_patroni_failover_candidates", &[]) == Some(0.0)
    });
    assert_eq!(candidate(&s, other), Some(0.0));
    c.pause(false).unwrap();
    e.wait_scrape("paused 0 and the candidate back", PATRONI_WAIT, |s| {
        get(s, "pg_replication_patroni_paused", &[]) == Some(0.0)
            && get(s, "pg_replication_patroni_failover_candidates", &[]) == Some(1.0)
    });

    // A fourth member: polled within one REST interval (1 s) plus one round (1 s) of /cluster
    // listing it.
    let m4 = c.add_member(&[]);
    c.wait_cluster("/cluster to list the new member", PATRONI_WAIT, |v| {
        listed(v, &m4)
    });
    let listed_at = Instant::now();
    e.wait_scrape("the exporter to know the new member", PATRONI_WAIT, |s| {
        get(s, "pg_replication_patroni_member", &[("node", &m4)]) == Some(1.0)
    });
    let known_after = listed_at.elapsed();
    assert!(
        known_after <= Duration::from_millis(3500),
        "the new member appeared {known_after:?} after /cluster listed it"
    );
    c.wait_healthy(3, PATRONI_WAIT);
    let s = e.wait_scrape("the new member up and a candidate", PATRONI_WAIT, |s| {
        get(s, "pg_replication_up", &[("node", &m4)]) == Some(1.0)
            && get(s, "pg_replication_standby_streaming", &[("node", &m4)]) == Some(1.0)
            && get(s, "pg_replication_patroni_failover_candidates", &[]) == Some(2.0)
    });
    assert_eq!(
        get(&s, "pg_replication_cluster_nodes_configured", &[]),
        Some(4.0)
    );

    // Killed: its key expires after ttl; it stays a node, down, until forget_after (1 h).
    c.kill_member(&m4);
    let killed = Instant::now();
    c.wait_cluster("the killed member's key to expire", PATRONI_WAIT, |v| {
        !listed(v, &m4)
    });
    let expired = killed.elapsed();
    let s = e.wait_scrape("the killed member gone from the DCS", PATRONI_WAIT, |s| {
        get(s, "pg_replication_patroni_member", &[("node", &m4)]) == Some(0.0)
    });
    assert_eq!(get(&s, "pg_replication_up", &[("node", &m4)]), Some(0.0));
    assert_eq!(
        get(&s, "pg_replication_standby_streaming", &[("node", &m4)]),
        Some(0.0)
    );
    assert_eq!(
        get(&s, "pg_replication_patroni_up", &[("node", &m4)]),
        Some(0.0)
    );
    assert_eq!(
        get(&s, "pg_replication_cluster_nodes_configured", &[]),
        Some(4.0)
    );
    assert_eq!(
        get(&s, "pg_replication_patroni_failover_candidates", &[]),
        Some(1.0)
    );
    eprintln!(
        "patroni {}: new member known {known_after:?} after /cluster listed it; killed member's key expired after {expired:?}",
        c.bin().version
    );
}

#[test]
fn membership_nofailover_pause_on_patroni_3() {
    membership_nofailover_pause(PatroniBin::debian());
}

#[test]
fn membership_nofailover_pause_on_patroni_4() {
    membership_nofailover_pause(PatroniBin::v4());
}

/// An unplanned failover that loses data: the replicas' WAL receivers stopped, WAL written on
/// the leader until the exporter saw its last position, the leader killed.
fn failover_lost_bytes(bin: PatroniBin) {
    let mut c = PatroniCluster::builder(bin)
        .members(3)
        // Lagging replicas may still be promoted.
        .maximum_lag_on_failover(1 << 30)
        .start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    let replicas: Vec<String> = c
        .members()
        .iter()
        .map(|m| m.name().to_owned())
        .filter(|n| *n != leader)
        .collect();
    let e = Exporter::start(&c.exporter_config("ha", &replicas[0]));
    e.wait_scrape("every member up, two candidates", PATRONI_WAIT, |s| {
        get(s, "pg_replication_patroni_failover_candidates", &[]) == Some(2.0)
            && replicas
                .iter()
                .all(|n| get(s, "pg_replication_standby_streaming", &[("node", n)]) == Some(1.0))
    });

    let rs: Vec<&str> = replicas.iter().map(String::as_str).collect();
    let mut held = Held::stop(&c, &rs);
    // More than the loopback socket buffers hold, so some of it stays on the leader.
    write_wal(&c, &leader, 24);
    // The exporter has seen the leader's last position (re-read: the server may log a
    // record of its own, e.g. a standby snapshot).
    let mut last = 0;
    e.wait_scrape(
        "the exporter to see the leader's last WAL position",
        PATRONI_WAIT,
        |s| {
            last = current_lsn(&c, &leader);
            get(s, "pg_replication_node_wal_lsn_bytes", &[("node", &leader)]) == Some(last as f64)
        },
    );
    c.kill_member(&leader);
    let killed = Instant::now();
    held.release();

    let s = e.wait_scrape("a replica promoted by Patroni", PATRONI_WAIT, |s| {
        replicas.iter().any(|n| {
            get(
                s,
                "pg_replication_patroni_role",
                &[("node", n), ("role", "leader")],
            ) == Some(1.0)
                && get(s, "pg_replication_node_is_primary", &[("node", n)]) == Some(1.0)
        }) && get(s, "pg_replication_patroni_timeline_switches", &[]) == Some(1.0)
            && get(s, "pg_replication_cluster_failovers_total", &[]) == Some(1.0)
    });
    let promoted_after = killed.elapsed();
    let new_leader = replicas
        .iter()
        .find(|n| {
            get(
                &s,
                "pg_replication_patroni_role",
                &[("node", n), ("role", "leader")],
            ) == Some(1.0)
        })
        .unwrap()
        .clone();
    // The killed member stays visible, down.
    assert_eq!(
        get(&s, "pg_replication_up", &[("node", &leader)]),
        Some(0.0)
    );
    assert_eq!(
        get(&s, "pg_replication_patroni_up", &[("node", &leader)]),
        Some(0.0)
    );
    // Ground truth: the leader's last position − the switch LSN of the new timeline.
    let (_, history) = c.get_json(&new_leader, "/history").unwrap();
    let entry = history.as_array().unwrap().last().unwrap().clone();
    let switch = history_lsn(&entry[1]);
    let truth = last.saturating_sub(switch);
    let s = e.wait_scrape("the lost bytes", PATRONI_WAIT, |s| {
        get(s, "pg_replication_cluster_last_failover_lost_bytes", &[]).is_some()
    });
    assert_eq!(
        get(&s, "pg_replication_cluster_last_failover_lost_bytes", &[]),
        Some(truth as f64),
        "leader's last LSN {last}, switch LSN {switch}: {history}"
    );
    assert!(truth > 0, "nothing lost: the replicas received all of it");
    let promoted = s.find("pg_replication_patroni_last_promotion_info", &[]);
    assert_eq!(promoted.len(), 1);
    assert_eq!(promoted[0].label("node"), Some(new_leader.as_str()));
    // Counted once, after the cluster settled on the new leader.
    c.wait_healthy(1, PATRONI_WAIT);
    let s = e.wait_scrape("the other replica streaming again", PATRONI_WAIT, |s| {
        replicas.iter().all(|n| {
            *n == new_leader
                || get(s, "pg_replication_standby_streaming", &[("node", n)]) == Some(1.0)
        })
    });
    assert_eq!(
        get(&s, "pg_replication_cluster_failovers_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        get(&s, "pg_replication_up", &[("node", &leader)]),
        Some(0.0)
    );
    eprintln!(
        "patroni {}: failover: promoted {promoted_after:?} after the kill; lost {truth} bytes (leader at {last}, switch at {switch})",
        c.bin().version
    );
}

#[test]
fn failover_lost_bytes_on_patroni_3() {
    failover_lost_bytes(PatroniBin::debian());
}

#[test]
fn failover_lost_bytes_on_patroni_4() {
    failover_lost_bytes(PatroniBin::v4());
}

/// PgReplicationPatroniNoFailoverCandidate as written on branch wip/patroni-alerts (copied
/// verbatim until it is merged into alerts/pg_replication.rules.yml; the test then loads the
/// bundled file instead).
const NO_CANDIDATE_RULE: &str = r#"groups:
  - name: pg_replication.patroni
    rules:
      - alert: PgReplicationPatroniNoFailoverCandidate
        expr: |
          pg_replication_patroni_failover_candidates == 0
            and on (cluster)
          pg_replication_patroni_paused == 0
        for: 3m
        labels:
          severity: critical
        annotations:
          summary: "Patroni would promote no member of cluster {{ $labels.cluster }}: the cluster cannot fail over automatically; bring a replica within maximum_lag_on_failover, or remove a nofailover tag."
"#;

/// The rules Prometheus loads: the bundled file once it has the alert, else the copy above;
/// every `for:` shortened to 1 s (a test copy: the shipped rule waits 3 m). Returns the path
/// and the number of groups.
fn no_candidate_rules(dir: &std::path::Path) -> (std::path::PathBuf, usize) {
    let bundled = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/pg_replication.rules.yml"),
    )
    .unwrap_or_default();
    let src = if bundled.contains("PgReplicationPatroniNoFailoverCandidate") {
        bundled
    } else {
        NO_CANDIDATE_RULE.to_owned()
    };
    let (rules, _) = prom::shorten_for(&src, "1s");
    let groups = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("- name:"))
        .count();
    let path = dir.join("rules.yml");
    std::fs::write(&path, rules).unwrap();
    (path, groups)
}

fn firing(p: &prom::Prometheus, alert: &str) -> bool {
    p.alerts().unwrap_or_default().iter().any(|a| {
        a["labels"]["alertname"] == alert
            && a["labels"]["cluster"] == "ha"
            && a["state"] == "firing"
    })
}

/// Every replica past maximum_lag_on_failover (1 MiB) by Patroni's own measure: no candidate,
/// and the alert fires in a real Prometheus; back to two when the replicas catch up.
#[test]
fn no_candidate_past_maximum_lag_on_patroni_4() {
    let c = PatroniCluster::builder(PatroniBin::v4()).members(3).start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    let replicas: Vec<String> = c
        .members()
        .iter()
        .map(|m| m.name().to_owned())
        .filter(|n| *n != leader)
        .collect();
    let e = Exporter::start(&c.exporter_config("ha", &leader));
    let p = prom::Prometheus::start("pg_replication_exporter", e.addr(), None);
    let (rules, groups) = no_candidate_rules(p.dir());
    p.load_rules(&rules, groups);
    e.wait_scrape("two candidates", PATRONI_WAIT, |s| {
        get(s, "pg_replication_patroni_failover_candidates", &[]) == Some(2.0)
    });

    let rs: Vec<&str> = replicas.iter().map(String::as_str).collect();
    let mut held = Held::stop(&c, &rs);
    write_wal(&c, &leader, 8);
    let held_at = Instant::now();
    // Patroni's own measure: /cluster's lag of each replica past maximum_lag_on_failover.
    c.wait_cluster(
        "every replica's lag past 1 MiB in /cluster",
        PATRONI_WAIT,
        |v| {
            v["members"].as_array().is_some_and(|ms| {
                ms.iter()
                    .filter(|m| m["role"] != "leader")
                    .all(|m| m["lag"].as_u64().is_some_and(|l| l > 1 << 20))
            })
        },
    );
    let s = e.wait_scrape("no failover candidate", PATRONI_WAIT, |s| {
        get(s, "pg_replication_patroni_failover_candidates", &[]) == Some(0.0)
    });
    for n in &replicas {
        assert_eq!(
            get(
                &s,
                "pg_replication_patroni_failover_candidate",
                &[("node", n)]
            ),
            Some(0.0),
            "{n}"
        );
    }
    assert_eq!(get(&s, "pg_replication_patroni_paused", &[]), Some(0.0));
    let ok = harness::poll_until(Duration::from_secs(30), || {
        firing(&p, "PgReplicationPatroniNoFailoverCandidate")
    });
    assert!(
        ok,
        "PgReplicationPatroniNoFailoverCandidate did not fire: {:?}\n{}",
        p.alerts(),
        p.log_tail(20)
    );
    let fired_after = held_at.elapsed();

    held.release();
    e.wait_scrape("two candidates again", PATRONI_WAIT, |s| {
        get(s, "pg_replication_patroni_failover_candidates", &[]) == Some(2.0)
    });
    let ok = harness::poll_until(Duration::from_secs(30), || {
        !firing(&p, "PgReplicationPatroniNoFailoverCandidate")
    });
    assert!(ok, "the alert still fires: {:?}", p.alerts());
    eprintln!("patroni 4: no-candidate alert firing {fired_after:?} after the receivers stopped");
}
