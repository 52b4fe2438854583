//! The README's first command: `pg_replication_exporter demo` starts a primary and two
//! standbys, exports them, and removes everything on SIGINT / SIGTERM.

mod harness;

use std::time::Duration;

use harness::{Demo, WAIT};

#[test]
fn demo_runs_a_streaming_cluster_and_cleans_up_on_sigint() {
    let demo = Demo::start(&[]);
    let printed = &demo.printed;
    assert!(
        printed.contains(&format!("http://{}/metrics", demo.addr)),
        "{printed}"
    );
    assert!(
        printed.contains("[[cluster.node]]") && printed.contains("name = \"standby2\""),
        "{printed}"
    );
    let scrape = demo.wait_scrape("the demo cluster to stream", WAIT, |s| {
        ["standby1", "standby2"]
            .iter()
            .all(|n| s.get("pg_replication_standby_streaming", &[("node", n)]) == Some(1.0))
            && s.get(
                "pg_replication_sync_standbys_healthy",
                &[("node", "primary")],
            ) == Some(2.0)
    });
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
    // Ctrl-C: everything stops and the directory goes away.
    demo.interrupt_and_check_cleanup(Duration::from_secs(60));
}
