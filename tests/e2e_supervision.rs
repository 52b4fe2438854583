//! A panic inside a poll is contained (issue: a panicking poll task froze a cluster's data while
//! `/metrics` kept serving the last round as if it were current). A debug-build failpoint makes
//! every poll of one standby panic after its query; the test proves that node reports down with
//! an error of kind `query` that keeps counting, while the other nodes of the same cluster keep
//! being polled (their positions advance with the WAL the test writes) and the process serves.

mod harness;

use harness::{Cluster, Exporter, WAIT};

#[test]
fn a_panicking_poll_is_one_nodes_query_error_and_the_cluster_keeps_polling() {
    let c = Cluster::builder().standbys(2).start();
    let panicking = c.standby(2).name().to_owned();
    let healthy = c.standby(1).name().to_owned();
    let role = c.exporter_role();
    let e = Exporter::start_with(
        &c.exporter_config("pg", role.user(), role.password_file()),
        &[],
        &[("PG_REPLICATION_FAILPOINT_POLL_PANIC", panicking.as_str())],
    );
    let node = |n: &str| [("node", n.to_owned())];
    let labels = |n: &str, kind: &str| [("node", n.to_owned()), ("kind", kind.to_owned())];
    let get = |s: &harness::Scrape, name: &str, l: &[(&str, String)]| {
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        s.get(name, &l)
    };

    // The panicking node: down, its query errors counting up round after round.
    let first = e.wait_scrape("the panicking node to count query errors", WAIT, |s| {
        get(s, "pg_replication_up", &node(&panicking)) == Some(0.0)
            && get(
                s,
                "pg_replication_poll_errors_total",
                &labels(&panicking, "query"),
            )
            .is_some_and(|v| v >= 1.0)
    });
    let errors_then = get(
        &first,
        "pg_replication_poll_errors_total",
        &labels(&panicking, "query"),
    )
    .unwrap();

    // The rest of the cluster is not frozen: WAL written now shows in the healthy standby's
    // replay position, polled by the same cluster task.
    c.primary().write_wal(harness::MIB);
    let target = c.primary().current_lsn();
    let after = e.wait_scrape(
        "the healthy standby's position to pass the WAL written after the panics",
        WAIT,
        |s| {
            get(s, "pg_replication_up", &node(&healthy)) == Some(1.0)
                && get(s, "pg_replication_node_wal_lsn_bytes", &node(&healthy))
                    .is_some_and(|v| v >= target as f64)
                && get(
                    s,
                    "pg_replication_poll_errors_total",
                    &labels(&panicking, "query"),
                )
                .is_some_and(|v| v > errors_then)
        },
    );
    assert_eq!(
        get(&after, "pg_replication_up", &node(c.primary().name())),
        Some(1.0)
    );
    // Every poll of that node panicked, and none of it was mistaken for another kind.
    for kind in ["connect", "timeout", "auth", "tls"] {
        assert_eq!(
            get(
                &after,
                "pg_replication_poll_errors_total",
                &labels(&panicking, kind)
            ),
            Some(0.0),
            "kind {kind}"
        );
    }
    let log = e.log_text();
    assert!(
        log.contains("internal error") && log.contains(&panicking),
        "the node's down line names the internal error:\n{log}"
    );
}
