//! The README's first command: `pg_replication_exporter demo` starts a primary and two
//! standbys with two front-ends, exports them, and removes everything on SIGINT / SIGTERM.

mod harness;

use std::time::Duration;

use harness::{Demo, WAIT, http_get};

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
            && ["app-rw", "app-ro"].iter().all(|e| {
                s.get(
                    "pg_replication_endpoint_expectation_met",
                    &[("endpoint", e)],
                ) == Some(1.0)
            })
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
    // Its two front-ends lead where they should, and the landing page draws them so.
    for (endpoint, node) in [("app-rw", "primary"), ("app-ro", "standby1")] {
        assert_eq!(
            scrape.get(
                "pg_replication_endpoint_target",
                &[("endpoint", endpoint), ("node", node)]
            ),
            Some(1.0)
        );
    }
    let landing = http_get(demo.addr, "/", &[]).unwrap().text();
    assert!(
        landing.contains(
            r#"<g class="endpoint" data-endpoint="app-ro" data-kind="postgres" data-target="standby1" data-state="ok">"#
        ),
        "{landing}"
    );
    // Ctrl-C: everything stops and the directory goes away.
    demo.interrupt_and_check_cleanup(Duration::from_secs(60));
}
