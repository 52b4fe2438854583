//! `pg_replication_exporter demo --patroni`: etcd and three Patroni members on loopback, the
//! exporter discovering them from their REST APIs; SIGINT stops everything and removes the
//! directory, leaving no process behind.

mod harness;

use std::time::Duration;

use harness::{Demo, PATRONI_WAIT};

#[test]
fn demo_patroni_discovers_three_members_and_cleans_up_on_sigint() {
    let demo = Demo::start(&["--patroni"]);
    let printed = &demo.printed;
    assert!(
        printed.contains(&format!("http://{}/metrics", demo.addr)),
        "{printed}"
    );
    assert!(
        printed.contains("[cluster.patroni]") && !printed.contains("[[cluster.node]]"),
        "{printed}"
    );
    let members = ["m1", "m2", "m3"];
    let scrape = demo.wait_scrape("the demo's three members, discovered", PATRONI_WAIT, |s| {
        members.iter().all(|n| {
            s.get("pg_replication_up", &[("cluster", "demo"), ("node", n)]) == Some(1.0)
                && !s
                    .find("pg_replication_patroni_role", &[("node", n)])
                    .is_empty()
        }) && s.get("pg_replication_patroni_failover_candidates", &[]) == Some(2.0)
    });
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
    // Ctrl-C: Patroni, PostgreSQL and etcd stop, and the directory goes away.
    demo.interrupt_and_check_cleanup(Duration::from_secs(90));
}
