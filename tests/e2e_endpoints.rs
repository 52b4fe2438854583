//! End-to-end: `postgres` front-ends (SPEC §9) against real servers. An endpoint is any address
//! that leads to a node; here the nodes' own ports, a server of another cluster, a port where
//! nothing listens and a listener that accepts and never answers (a hung proxy). The exporter
//! must name the node that answered (by system identifier and `pg_postmaster_start_time()`,
//! compared with the ground truth read from that node), judge `expect`, and keep every node's
//! metrics flowing while a front-end hangs. The VIP moved by keepalived is in e2e_vip.rs,
//! pgpool-II and pgbouncer in e2e_pgpool.rs and e2e_pgbouncer.rs.

mod harness;

use std::net::TcpListener;

use harness::*;

fn endpoint(name: &str, port: u16, expect: &str) -> String {
    format!(
        "\n[[cluster.endpoint]]\nname = \"{name}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {port}\nexpect = \"{expect}\"\n"
    )
}

/// `pg_postmaster_start_time()` of a node in microseconds, read directly: the ground truth.
fn start_us(n: &Node) -> i64 {
    n.scalar("SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint")
}

#[test]
fn postgres_endpoints_name_the_node_that_answered_and_judge_expect() {
    let c = Cluster::builder().standbys(2).start();
    let other = Cluster::builder().standbys(0).start();
    let (p, s1, s2) = (c.primary(), c.standby(1), c.standby(2));
    // Three different servers: identification by start time has something to tell apart.
    let starts = [start_us(p), start_us(s1), start_us(s2)];
    assert!(starts[0] != starts[1] && starts[1] != starts[2] && starts[0] != starts[2]);
    let role = c.exporter_role();
    // The other cluster's role "exporter" has its own password: give it this one, so that
    // the check through that endpoint logs in.
    other.primary().batch_execute(&format!(
        "ALTER ROLE {} PASSWORD '{}'",
        role.user(),
        role.password()
    ));
    let nothing = free_port();
    let mut toml = c.exporter_config("pg", role.user(), role.password_file());
    toml.push_str(&endpoint("rw", p.port(), "primary"));
    toml.push_str(&endpoint("ro", s1.port(), "standby"));
    toml.push_str(&endpoint("rw-on-standby", s2.port(), "primary"));
    toml.push_str(&endpoint("other-cluster", other.primary().port(), "any"));
    toml.push_str(&endpoint("nothing", nothing, "primary"));
    let e = Exporter::start(&toml);
    let s = e.wait_scrape("every endpoint checked", WAIT, |s| {
        ["rw", "ro", "rw-on-standby", "other-cluster"]
            .iter()
            .all(|n| s.get("pg_replication_endpoint_up", &[("endpoint", n)]) == Some(1.0))
            && s.get(
                "pg_replication_endpoint_target",
                &[("endpoint", "rw-on-standby"), ("node", "standby2")],
            ) == Some(1.0)
            && s.get(
                "pg_replication_endpoint_errors_total",
                &[("endpoint", "nothing"), ("kind", "connect")],
            )
            .is_some_and(|v| v >= 1.0)
    });
    let get = |endpoint: &str, name: &str| s.get(name, &[("endpoint", endpoint)]);
    let target = |endpoint: &str| -> Vec<String> {
        s.find("pg_replication_endpoint_target", &[("endpoint", endpoint)])
            .iter()
            .filter(|x| x.value == 1.0)
            .map(|x| x.label("node").unwrap_or_default().to_owned())
            .collect()
    };
    // One series per polled node plus "unknown", exactly one of them 1.
    assert_eq!(
        s.find("pg_replication_endpoint_target", &[("endpoint", "rw")])
            .len(),
        4,
        "{}",
        s.text
    );
    assert_eq!(target("rw"), ["primary"]);
    assert_eq!(target("ro"), ["standby1"]);
    assert_eq!(target("rw-on-standby"), ["standby2"]);
    assert_eq!(target("other-cluster"), ["unknown"]);
    assert_eq!(get("rw", "pg_replication_endpoint_is_primary"), Some(1.0));
    assert_eq!(get("ro", "pg_replication_endpoint_is_primary"), Some(0.0));
    assert_eq!(
        get("rw", "pg_replication_endpoint_expectation_met"),
        Some(1.0)
    );
    assert_eq!(
        get("ro", "pg_replication_endpoint_expectation_met"),
        Some(1.0)
    );
    assert_eq!(
        get("rw-on-standby", "pg_replication_endpoint_expectation_met"),
        Some(0.0)
    );
    // Another cluster's server (another system identifier) is never where `any` should lead.
    assert_eq!(
        get("other-cluster", "pg_replication_endpoint_expectation_met"),
        Some(0.0)
    );
    // Nothing listens: down, no target, no judgment.
    assert_eq!(
        s.get(
            "pg_replication_endpoint_up",
            &[("endpoint", "nothing"), ("kind", "postgres")]
        ),
        Some(0.0)
    );
    assert!(target("nothing").is_empty());
    assert_eq!(
        get("nothing", "pg_replication_endpoint_expectation_met"),
        None
    );
    assert!(
        get("rw", "pg_replication_endpoint_check_duration_seconds")
            .is_some_and(|d| d > 0.0 && d < 1.0)
    );
}

#[test]
fn a_hung_front_end_times_out_while_the_nodes_keep_flowing() {
    let c = Cluster::builder().standbys(1).start();
    // Accepts TCP connections (the kernel completes the handshake) and never says a word: a
    // frozen proxy.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let role = c.exporter_role();
    let mut toml = c.exporter_config("pg", role.user(), role.password_file());
    toml.push_str(&endpoint("hung", port, "primary"));
    toml.push_str(&endpoint("rw", c.primary().port(), "primary"));
    let e = Exporter::start(&toml);
    let first = e.wait_scrape("the hung endpoint timed out twice", WAIT, |s| {
        s.get(
            "pg_replication_endpoint_errors_total",
            &[("endpoint", "hung"), ("kind", "timeout")],
        )
        .is_some_and(|v| v >= 2.0)
    });
    assert_eq!(
        first.get(
            "pg_replication_endpoint_up",
            &[("endpoint", "hung"), ("kind", "postgres")]
        ),
        Some(0.0)
    );
    assert_eq!(
        first.get("pg_replication_endpoint_up", &[("endpoint", "rw")]),
        Some(1.0)
    );
    // Every node's polls go on: the last successful poll keeps advancing.
    let last = |s: &Scrape, node: &str| {
        s.get(
            "pg_replication_last_poll_success_timestamp_seconds",
            &[("node", node)],
        )
        .unwrap()
    };
    let (p0, s0) = (last(&first, "primary"), last(&first, "standby1"));
    let later = e.wait_scrape("three more rounds", WAIT, |s| {
        last(s, "primary") >= p0 + 3.0 && last(s, "standby1") >= s0 + 3.0
    });
    assert_eq!(
        later.get("pg_replication_up", &[("node", "primary")]),
        Some(1.0)
    );
    drop(hung);
}

fn run_cmd(args: &[&str], config: &str, dir: &std::path::Path) -> Ran {
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = harness::command();
    cmd.args(args)
        .arg(format!("--config.file={}", path.display()));
    harness::run(&format!("{args:?}"), cmd, EXIT_WITHIN)
}

#[test]
fn check_and_status_report_each_endpoint_s_target_and_expectation() {
    let c = Cluster::builder().standbys(1).start();
    let dir = tempfile::tempdir().unwrap();
    let role = c.exporter_role();
    let base = c.exporter_config("pg", role.user(), role.password_file());
    let good = base.clone() + &endpoint("vip-rw", c.primary().port(), "primary");
    let o = run_cmd(&["check"], &good, dir.path());
    let out = o.describe();
    assert_eq!(o.code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "postgres endpoint at 127.0.0.1:{} leads to primary (a primary), as expected (primary)",
            c.primary().port()
        )),
        "{out}"
    );
    // A write endpoint that leads to the standby: a problem with its fix, exit 1.
    let bad = base + &endpoint("vip-rw", c.standby(1).port(), "primary");
    let o = run_cmd(&["check"], &bad, dir.path());
    let out = o.describe();
    assert_eq!(o.code, Some(1), "{out}");
    assert!(
        out.contains("leads to standby1 (a standby), expected primary"),
        "{out}"
    );
    assert!(
        out.contains("vrrp_script must check pg_is_in_recovery()"),
        "{out}"
    );
    // status lists the endpoint under the nodes, as a table and as JSON.
    let o = run_cmd(&["status"], &bad, dir.path());
    let out = o.describe();
    assert!(out.contains("endpoints"), "{out}");
    let line = o
        .stdout
        .lines()
        .find(|l| l.starts_with("vip-rw"))
        .unwrap_or_else(|| panic!("no endpoint row: {out}"));
    for cell in ["postgres", "standby1", "primary", "NO"] {
        assert!(line.contains(cell), "{cell:?} in {line:?}");
    }
    let o = run_cmd(&["status", "--output", "json"], &bad, dir.path());
    let json: serde_json::Value =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.describe()));
    let e = &json[0]["endpoints"][0];
    assert_eq!(e["endpoint"], "vip-rw");
    assert_eq!(e["leads_to"], "standby1");
    assert_eq!(e["writable"], false);
    assert_eq!(e["expectation_met"], false);
}
