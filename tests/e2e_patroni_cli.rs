//! `check` and `status` on a real Patroni cluster (Debian's 3.0.2 and the venv's 4.x, etcd 3.4), with
//! only `[cluster.patroni]` in the configuration: both discover the members through one REST
//! pass and poll them over SQL. `check` exits 0 on a healthy cluster and 1 in maintenance mode
//! (no failover candidate, with each member's reason); `status --output json` shows Patroni's
//! role and state of each node and that it was discovered.

mod harness;

use std::path::Path;

use harness::{EXIT_WITHIN, PATRONI_WAIT, PatroniBin, PatroniCluster, Ran};

fn run(args: &[&str], config: &str, dir: &Path) -> Ran {
    let path = dir.join("exporter.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = harness::command();
    cmd.args(args)
        .arg(format!("--config.file={}", path.display()));
    harness::run(&format!("{args:?}"), cmd, EXIT_WITHIN)
}

#[test]
fn check_and_status_discover_and_judge_patroni_3() {
    check_and_status(PatroniBin::debian());
}

#[test]
fn check_and_status_discover_and_judge_patroni_4() {
    check_and_status(PatroniBin::v4());
}

fn check_and_status(bin: PatroniBin) {
    let c = PatroniCluster::builder(bin).members(3).start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    let seed = c
        .members()
        .iter()
        .map(|m| m.name().to_owned())
        .find(|n| *n != leader)
        .unwrap();
    let config = c.exporter_config("ha", &seed);
    let dir = tempfile::tempdir().unwrap();

    let ok = run(&["check"], &config, dir.path());
    assert_eq!(ok.code, Some(0), "{}", ok.describe());
    for want in [
        "Patroni REST API answers: 3 members in the DCS",
        "every DCS member reachable over SQL (3)",
        "2 failover candidate(s)",
        "maximum_lag_on_failover 1.0 MiB (1048576 bytes)",
        "synchronous_mode off, synchronous_standby_names empty",
        "Patroni leader, running (discovered)",
    ] {
        assert!(
            ok.stdout.contains(want),
            "{want:?} missing\n{}",
            ok.describe()
        );
    }
    assert!(
        !ok.output().contains(c.exporter_password()),
        "{}",
        ok.describe()
    );

    let st = run(&["status", "--output", "json"], &config, dir.path());
    assert_eq!(st.code, Some(0), "{}", st.describe());
    let json: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    let nodes = json[0]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{json:#}");
    let (_, cluster) = c.get_json(&leader, "/cluster").unwrap();
    for m in cluster["members"].as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        let row = nodes.iter().find(|n| n["node"] == name).unwrap();
        // Patroni's own word, as `patronictl list` shows it (3.x's `master` is `leader`).
        let role = match m["role"].as_str() {
            Some("master") => "leader",
            r => r.unwrap(),
        };
        assert_eq!(row["patroni_role"], role, "{name}: {row}");
        assert_eq!(row["patroni_state"], m["state"], "{name}: {row}");
        assert_eq!(row["origin"], "discovered", "{name}: {row}");
        assert_eq!(row["up"], true, "{name}: {row}");
        let primary = if name == leader { "primary" } else { "standby" };
        assert_eq!(row["role"], primary, "{name}: {row}");
    }
    assert_eq!(json[0]["patroni"]["failover_candidates"], 2, "{json:#}");
    let table = run(&["status"], &config, dir.path());
    assert_eq!(table.code, Some(0), "{}", table.describe());
    assert!(
        table.stdout.contains("patroni role") && table.stdout.contains("discovered"),
        "{}",
        table.describe()
    );

    // Maintenance mode: no candidate, a problem with each member's reason.
    c.pause(true).unwrap();
    let paused = run(&["check"], &config, dir.path());
    assert_eq!(paused.code, Some(1), "{}", paused.describe());
    assert!(
        paused.stdout.contains("no failover candidate")
            && paused.stdout.contains("maintenance mode (paused)")
            && paused
                .stdout
                .contains(&format!("{seed}: maintenance mode (paused)")),
        "{}",
        paused.describe()
    );
    c.pause(false).unwrap();
    let back = run(&["check"], &config, dir.path());
    assert_eq!(back.code, Some(0), "{}", back.describe());
}
