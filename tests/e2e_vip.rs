//! End-to-end: a `postgres` endpoint (SPEC §9) behind a real keepalived VIP (the harness's
//! `VipLab`: keepalived 2.2.7 in network namespaces of the test's own, the VIP reached from a
//! loopback port). The exporter polls the nodes directly and checks the VIP each round; it must
//! name the node the VIP leads to, follow the VIP when keepalived moves it, and say when the VIP
//! leads to a demoted primary (a liveness check keeps it there). Each test prints how long the
//! exporter took to report the new target after the VIP moved (the holder change), and its own
//! duration.

mod harness;
mod prom;

use std::time::Instant;

use harness::*;

const ENDPOINT: &str = "vip-rw";

/// The cluster's nodes, polled directly, and the VIP as the endpoint `vip-rw` that should lead
/// to the primary.
fn config(c: &Cluster, lab: &VipLab) -> String {
    let role = c.exporter_role();
    let mut toml = c.exporter_config("pg", role.user(), role.password_file());
    toml.push_str(&format!(
        "\n[[cluster.endpoint]]\nname = \"{ENDPOINT}\"\nkind = \"postgres\"\n\
         host = \"127.0.0.1\"\nport = {}\nexpect = \"primary\"\n",
        lab.port()
    ));
    toml
}

fn get(s: &Scrape, name: &str) -> Option<f64> {
    s.get(name, &[("endpoint", ENDPOINT)])
}

fn up(s: &Scrape) -> Option<f64> {
    s.get(
        "pg_replication_endpoint_up",
        &[("endpoint", ENDPOINT), ("kind", "postgres")],
    )
}

/// The nodes whose `pg_replication_endpoint_target` series is 1.
fn targets(s: &Scrape) -> Vec<String> {
    s.find("pg_replication_endpoint_target", &[("endpoint", ENDPOINT)])
        .iter()
        .filter(|x| x.value == 1.0)
        .map(|x| x.label("node").unwrap_or_default().to_owned())
        .collect()
}

/// Wait until the exporter says the VIP leads to `node` (after a successful check).
fn wait_target(e: &Exporter, node: &str) -> Scrape {
    e.wait_scrape(&format!("{ENDPOINT} to lead to {node}"), WAIT, |s| {
        up(s) == Some(1.0) && targets(s) == [node]
    })
}

/// The enum runs over the configured nodes plus "unknown", exactly one of them 1.
fn assert_target_enum(s: &Scrape, c: &Cluster, node: &str) {
    let mut labels: Vec<String> = s
        .find("pg_replication_endpoint_target", &[("endpoint", ENDPOINT)])
        .iter()
        .map(|x| x.label("node").unwrap_or_default().to_owned())
        .collect();
    labels.sort();
    let mut want: Vec<String> = c.nodes().iter().map(|n| n.name().to_owned()).collect();
    want.push("unknown".into());
    want.sort();
    assert_eq!(labels, want, "{}", s.text);
    assert_eq!(targets(s), [node], "{}", s.text);
}

// Needs the front-ends of SPEC §9 in the exporter (pg_replication_endpoint_*).
#[test]
fn the_vip_endpoint_leads_to_the_primary_and_follows_the_vip_to_the_promoted_standby() {
    let t0 = Instant::now();
    let c = Cluster::builder().standbys(1).start();
    let lab = VipLab::start(&c, &["primary", "standby1"], VipCheck::Primary);
    lab.wait_holder("primary", VIP_WAIT);
    let e = Exporter::start(&config(&c, &lab));

    let s = wait_target(&e, "primary");
    assert_target_enum(&s, &c, "primary");
    assert_eq!(up(&s), Some(1.0));
    assert_eq!(get(&s, "pg_replication_endpoint_is_primary"), Some(1.0));
    assert_eq!(
        get(&s, "pg_replication_endpoint_expectation_met"),
        Some(1.0)
    );

    // A switchover: the old primary stops; while no node passes the check the VIP is nowhere,
    // the endpoint is down, and where it leads is unknown (absent), not "nowhere".
    c.primary().stop(StopMode::Fast);
    let released = poll_until(VIP_WAIT, || lab.holders().is_empty());
    assert!(
        released,
        "the VIP stayed on the stopped primary{}",
        lab.dump()
    );
    let s = e.wait_scrape(&format!("{ENDPOINT} down"), WAIT, |s| up(s) == Some(0.0));
    assert!(targets(&s).is_empty(), "{}", s.text);
    assert_eq!(get(&s, "pg_replication_endpoint_expectation_met"), None);

    c.standby(1).promote();
    let moved = lab.wait_holder("standby1", VIP_WAIT);
    let s = wait_target(&e, "standby1");
    let seen = moved.elapsed();
    assert_target_enum(&s, &c, "standby1");
    assert_eq!(get(&s, "pg_replication_endpoint_is_primary"), Some(1.0));
    assert_eq!(
        get(&s, "pg_replication_endpoint_expectation_met"),
        Some(1.0)
    );
    eprintln!(
        "the_vip_endpoint_leads_to_the_primary_and_follows_the_vip_to_the_promoted_standby: \
         the exporter reported the VIP on standby1 {:.2}s after it moved there; {:.1}s in all",
        seen.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

/// The VIP moves while the server it led to stays up: the exporter's long-lived session through
/// the VIP breaks at its next check (the new holder resets it), and the next check names the
/// new node. A session that survived would keep naming the old one. The move happens during a
/// split brain (standby1 promoted while the old primary runs), which the judgment shows.
// Needs the front-ends of SPEC §9 in the exporter (pg_replication_endpoint_*).
#[test]
fn a_vip_move_under_a_running_server_is_seen_at_the_next_check() {
    let t0 = Instant::now();
    let c = Cluster::builder().standbys(1).start();
    let mut lab = VipLab::start(&c, &["primary", "standby1"], VipCheck::Primary);
    lab.wait_holder("primary", VIP_WAIT);
    let e = Exporter::start(&config(&c, &lab));
    wait_target(&e, "primary");

    // standby1 becomes a second writable primary and waits as keepalived BACKUP.
    let mark = lab.log_position("standby1");
    c.standby(1).promote();
    lab.wait_for_log("standby1", "Entering BACKUP STATE", mark, VIP_WAIT);
    assert_eq!(lab.holders(), ["primary"]);
    wait_target(&e, "primary");

    lab.stop_keepalived("primary");
    let moved = lab.wait_holder("standby1", VIP_WAIT);
    let s = wait_target(&e, "standby1");
    let seen = moved.elapsed();
    assert_target_enum(&s, &c, "standby1");
    assert_eq!(get(&s, "pg_replication_endpoint_is_primary"), Some(1.0));
    // Two writable nodes: during a split brain no front-end leads to *the* primary.
    assert_eq!(
        get(&s, "pg_replication_endpoint_expectation_met"),
        Some(0.0),
        "{}",
        s.text
    );
    // Once the old primary is gone, standby1 is the one primary, and the VIP leads to it.
    c.primary().stop(StopMode::Fast);
    e.wait_scrape(&format!("{ENDPOINT} to meet its expectation"), WAIT, |s| {
        targets(s) == ["standby1"] && get(s, "pg_replication_endpoint_expectation_met") == Some(1.0)
    });
    eprintln!(
        "a_vip_move_under_a_running_server_is_seen_at_the_next_check: the exporter reported \
         the VIP on standby1 {:.2}s after it moved there; {:.1}s in all",
        seen.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

/// The classic failure: keepalived checks liveness only. After a switchover the VIP ends on the
/// demoted primary (back by preemption once it answers again as a standby): the endpoint still
/// leads to the node "primary", which is no longer writable, and `expect = "primary"` is not met.
// Needs the front-ends of SPEC §9 in the exporter (pg_replication_endpoint_*).
/// The bundled rules with every `for:` shortened to 1s, loaded into a real Prometheus.
fn prometheus_with_rules(e: &Exporter) -> prom::Prometheus {
    let p = prom::Prometheus::start("pg_replication_exporter", e.addr(), None);
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/pg_replication.rules.yml"),
    )
    .unwrap();
    let (rules, _) = prom::shorten_for(&src, "1s");
    let groups = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("- name:"))
        .count();
    let path = p.dir().join("rules.yml");
    std::fs::write(&path, rules).unwrap();
    p.load_rules(&path, groups);
    p
}

/// The state of `alert` for the VIP endpoint in Prometheus ("firing", "pending" or none).
fn alert_state(p: &prom::Prometheus, alert: &str) -> Option<String> {
    p.alerts().unwrap_or_default().iter().find_map(|a| {
        (a["labels"]["alertname"] == alert && a["labels"]["endpoint"] == ENDPOINT)
            .then(|| a["state"].as_str().unwrap_or_default().to_owned())
    })
}

#[test]
fn a_vip_left_on_the_demoted_primary_misses_its_expectation() {
    let t0 = Instant::now();
    let c = Cluster::builder().standbys(1).start();
    let lab = VipLab::start(&c, &["primary", "standby1"], VipCheck::Alive);
    lab.wait_holder("primary", VIP_WAIT);
    let e = Exporter::start(&config(&c, &lab));
    let p = prometheus_with_rules(&e);
    let s = wait_target(&e, "primary");
    assert_eq!(
        get(&s, "pg_replication_endpoint_expectation_met"),
        Some(1.0)
    );

    // While the old primary is down the VIP sits on standby1, still a standby.
    c.primary().stop(StopMode::Fast);
    lab.wait_holder("standby1", VIP_WAIT);
    let s = e.wait_scrape(
        &format!("{ENDPOINT} on standby1, not yet promoted"),
        WAIT,
        |s| up(s) == Some(1.0) && targets(s) == ["standby1"],
    );
    assert_eq!(get(&s, "pg_replication_endpoint_is_primary"), Some(0.0));
    assert_eq!(
        get(&s, "pg_replication_endpoint_expectation_met"),
        Some(0.0)
    );

    c.standby(1).promote();
    c.demote("primary", "standby1");
    let moved = lab.wait_holder("primary", VIP_WAIT);
    let s = e.wait_scrape(&format!("{ENDPOINT} on the demoted primary"), WAIT, |s| {
        up(s) == Some(1.0)
            && targets(s) == ["primary"]
            && get(s, "pg_replication_endpoint_is_primary") == Some(0.0)
    });
    let seen = moved.elapsed();
    assert_target_enum(&s, &c, "primary");
    assert_eq!(
        get(&s, "pg_replication_endpoint_expectation_met"),
        Some(0.0),
        "{}",
        s.text
    );
    // The direct polls agree: standby1 is the primary now.
    assert_eq!(
        s.get("pg_replication_node_is_primary", &[("node", "standby1")]),
        Some(1.0),
        "{}",
        s.text
    );
    // The page goes out: PgReplicationEndpointMisrouted fires in a real Prometheus, naming
    // the node the VIP leads to.
    let fired = Instant::now();
    assert!(
        poll_until(WAIT, || alert_state(&p, "PgReplicationEndpointMisrouted")
            .as_deref()
            == Some("firing")),
        "PgReplicationEndpointMisrouted never fired: {:?}\n{}",
        p.alerts(),
        p.log_tail(20)
    );
    let alert = p
        .alerts()
        .unwrap()
        .into_iter()
        .find(|a| a["labels"]["alertname"] == "PgReplicationEndpointMisrouted")
        .unwrap();
    assert_eq!(alert["labels"]["node"], "primary", "{alert}");
    assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    eprintln!(
        "PgReplicationEndpointMisrouted firing {:.1}s after the exporter saw the VIP there",
        fired.elapsed().as_secs_f64()
    );
    eprintln!(
        "a_vip_left_on_the_demoted_primary_misses_its_expectation: the exporter reported the \
         VIP on the demoted primary {:.2}s after it moved back there; {:.1}s in all",
        seen.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}
