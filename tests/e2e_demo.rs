//! The README's first command: `pg_replication_exporter demo` starts a primary and two
//! standbys, exports them, and removes everything on SIGINT / SIGTERM.

mod harness;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::{Scrape, WAIT};

#[test]
fn demo_runs_a_streaming_cluster_and_cleans_up_on_sigint() {
    let port = harness::free_port();
    let mut child = harness::command()
        .args(["demo", &format!("--web.listen-address=127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    // The first line names the data directory, the rest the URL and the config to copy.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let dir = first
        .split(" in ")
        .nth(1)
        .and_then(|d| d.strip_suffix(" …"))
        .unwrap_or_else(|| panic!("no data directory in {first:?}"))
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
        printed.contains("[[cluster.node]]") && printed.contains("name = \"standby2\""),
        "{printed}"
    );

    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + WAIT;
    let scrape = loop {
        let page = harness::http_get(addr, "/metrics", &[])
            .ok()
            .map(|r| r.text())
            .unwrap_or_default();
        if let Ok(s) = Scrape::parse(&page) {
            let streaming = ["standby1", "standby2"]
                .iter()
                .all(|n| s.get("pg_replication_standby_streaming", &[("node", n)]) == Some(1.0));
            if streaming
                && s.get(
                    "pg_replication_sync_standbys_healthy",
                    &[("node", "primary")],
                ) == Some(2.0)
            {
                break s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the demo cluster never streamed:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    for node in ["primary", "standby1", "standby2"] {
        assert_eq!(
            scrape.get("pg_replication_up", &[("cluster", "demo"), ("node", node)]),
            Some(1.0)
        );
    }
    assert_eq!(
        scrape.get(
            "pg_replication_sync_standbys_required",
            &[("node", "primary")]
        ),
        Some(1.0)
    );
    let logical = [
        ("node", "primary"),
        ("slot", "demo_logical"),
        ("slot_type", "logical"),
        ("database", "postgres"),
    ];
    assert_eq!(
        scrape.get("pg_replication_slot_active", &logical),
        Some(0.0)
    );
    assert!(std::path::Path::new(&dir).is_dir());

    // Ctrl-C: everything stops and the directory goes away.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not stop within 60 s of SIGINT");
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
    assert!(leftover.is_empty(), "processes left running: {leftover:?}");
}
