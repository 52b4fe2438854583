//! `pg_replication_exporter demo --patroni`: etcd and three Patroni members on loopback, the
//! exporter discovering them from their REST APIs; SIGINT stops everything and removes the
//! directory, leaving no process behind.

mod harness;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::{PATRONI_WAIT, Scrape};

#[test]
fn demo_patroni_discovers_three_members_and_cleans_up_on_sigint() {
    let port = harness::free_port();
    let mut child = harness::command()
        .args([
            "demo",
            "--patroni",
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    // The first line names the directory, the rest the URL and the config to copy.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let dir = first
        .rsplit_once(" in ")
        .and_then(|(_, d)| d.strip_suffix(" …"))
        .unwrap_or_else(|| panic!("no directory in {first:?}"))
        .to_string();
    let printed: Vec<String> = lines
        .by_ref()
        .take_while(|l| !l.as_ref().unwrap().starts_with("Press Ctrl-C"))
        .map(Result::unwrap)
        .collect();
    let printed = printed.join("\n");
    assert!(
        printed.contains(&format!("http://127.0.0.1:{port}/metrics")),
        "{printed}"
    );
    assert!(
        printed.contains("[cluster.patroni]") && !printed.contains("[[cluster.node]]"),
        "{printed}"
    );

    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + PATRONI_WAIT;
    let members = ["m1", "m2", "m3"];
    let scrape = loop {
        let page = harness::http_get(addr, "/metrics", &[])
            .ok()
            .map(|r| r.text())
            .unwrap_or_default();
        if let Ok(s) = Scrape::parse(&page) {
            let all = members.iter().all(|n| {
                s.get("pg_replication_up", &[("cluster", "demo"), ("node", n)]) == Some(1.0)
                    && !s
                        .find("pg_replication_patroni_role", &[("node", n)])
                        .is_empty()
            });
            if all && s.get("pg_replication_patroni_failover_candidates", &[]) == Some(2.0) {
                break s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the demo's members never all showed up:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let leaders: Vec<_> = scrape
        .find("pg_replication_patroni_role", &[("role", "leader")])
        .into_iter()
        .filter(|s| s.value == 1.0)
        .collect();
    assert_eq!(leaders.len(), 1, "{}", scrape.text);
    assert_eq!(
        scrape.get("pg_replication_cluster_primaries", &[("cluster", "demo")]),
        Some(1.0)
    );
    assert!(std::path::Path::new(&dir).is_dir());

    // Ctrl-C: Patroni, PostgreSQL and etcd stop, and the directory goes away.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not stop within 90 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "demo exit status {status}");
    assert!(
        !std::path::Path::new(&dir).exists(),
        "{dir} was not removed"
    );
    let leftover = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&dir))
        .collect::<Vec<_>>();
    assert!(leftover.is_empty(), "processes left behind: {leftover:?}");
}
