//! End-to-end tests of the operator commands `check` and `status` on real clusters.

mod harness;

use std::path::Path;

use harness::{Cluster, EXIT_WITHIN, Exporter, MIB, Ran, Scrape, WAIT};

fn run(args: &[&str], config: &str, dir: &Path) -> Ran {
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = harness::command();
    cmd.args(args)
        .arg(format!("--config.file={}", path.display()));
    harness::run(&format!("{args:?}"), cmd, EXIT_WITHIN)
}

fn text(o: &Ran) -> String {
    o.describe()
}

#[test]
fn check_passes_on_a_healthy_cluster_and_names_the_fix_for_each_problem() {
    let c = Cluster::builder()
        .standbys(2)
        .synchronous_standby_names("ANY 1 (standby1, standby2)")
        .start();
    let dir = tempfile::tempdir().unwrap();
    let role = c.exporter_role();
    let ok = run(
        &["check"],
        &c.exporter_config("pg", role.user(), role.password_file()),
        dir.path(),
    );
    let out = text(&ok);
    assert_eq!(ok.code, Some(0), "{out}");
    assert!(out.contains("all checks passed"), "{out}");
    assert!(
        out.contains("1 of [standby1, standby2] must confirm"),
        "the quorum is explained:\n{out}"
    );
    assert!(
        out.contains("streams through replication slot standby1"),
        "{out}"
    );

    // Without pg_monitor: exit 1 and the exact GRANT.
    let nomon = c.nomon_role();
    let bad = run(
        &["check"],
        &c.exporter_config("pg", nomon.user(), nomon.password_file()),
        dir.path(),
    );
    let out = text(&bad);
    assert_eq!(bad.code, Some(1), "{out}");
    assert!(
        out.contains(&format!("fix: GRANT pg_monitor TO {};", nomon.user())),
        "{out}"
    );
}

#[test]
fn check_flags_a_standby_without_a_slot_and_wal_level_minimal() {
    let c = Cluster::builder().standbys(1).slots(false).start();
    let dir = tempfile::tempdir().unwrap();
    let role = c.exporter_role();
    let o = run(
        &["check"],
        &c.exporter_config("pg", role.user(), role.password_file()),
        dir.path(),
    );
    let out = text(&o);
    assert_eq!(o.code, Some(1), "{out}");
    assert!(
        out.contains("standby1") && out.contains("streams without a replication slot"),
        "{out}"
    );
    assert!(
        out.contains("fix: SELECT pg_create_physical_replication_slot('standby1');"),
        "{out}"
    );

    // wal_level = minimal on a lone server (it cannot have standbys).
    let lone = Cluster::builder()
        .standbys(0)
        .conf("wal_level = minimal")
        .conf("max_wal_senders = 0")
        .start();
    let role = lone.exporter_role();
    let o = run(
        &["check"],
        &lone.exporter_config("lone", role.user(), role.password_file()),
        dir.path(),
    );
    let out = text(&o);
    assert_eq!(o.code, Some(1), "{out}");
    assert!(out.contains("wal_level = minimal"), "{out}");
    assert!(
        out.contains("fix: ALTER SYSTEM SET wal_level = 'replica';"),
        "{out}"
    );
}

#[test]
fn status_lists_every_node_and_shows_lag_while_replay_is_paused() {
    let c = Cluster::builder().standbys(2).start();
    let dir = tempfile::tempdir().unwrap();
    let role = c.exporter_role();
    let config = c.exporter_config("pg", role.user(), role.password_file());
    c.standby(1).pause_replay();
    c.primary().write_wal(40 * MIB);
    c.wait_for_catchup(c.standby(2));

    let o = run(&["status", "--output", "json"], &config, dir.path());
    assert_eq!(o.code, Some(0), "{}", text(&o));
    let json: serde_json::Value =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let nodes = json[0]["nodes"].as_array().unwrap();
    let role_of = |name: &str| {
        nodes
            .iter()
            .find(|n| n["node"] == name)
            .map(|n| n["role"].clone())
    };
    assert_eq!(role_of("primary"), Some("primary".into()));
    assert_eq!(role_of("standby1"), Some("standby".into()));
    assert_eq!(role_of("standby2"), Some("standby".into()));
    let s1 = nodes.iter().find(|n| n["node"] == "standby1").unwrap();
    assert_eq!(s1["replay_paused"], true);
    let replay = s1["lag_replay_bytes"].as_u64().unwrap();
    let truth = c.primary().current_lsn() - c.standby(1).replay_lsn();
    assert!(
        replay >= 40 * MIB && replay <= truth,
        "replay lag {replay}, SQL {truth}"
    );
    assert!(
        json[0]["slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["slot"] == "standby1")
    );

    // The table form shows the same at a glance.
    let o = run(&["status"], &config, dir.path());
    let out = &o.stdout;
    assert!(out.contains("cluster pg: 1 primary, 3/3 nodes up"), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("standby1"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("MiB") && line.contains("yes"),
        "standby1 row shows the lag and the pause: {line}"
    );
    c.standby(1).resume_replay();
}

/// `status --output json` and /metrics tell the same per-stage lag in bytes for every standby
/// (cascade included, as its upstream standby sees it), on a quiet cluster where standby2's
/// replay is paused 8 MiB behind. Nothing is written while comparing; a round counts only when
/// the status before and after the scrape are the same and equal to the scrape (stable).
#[test]
fn status_json_and_metrics_agree_on_stage_lag_bytes_of_a_quiet_cluster() {
    const STAGES: [&str; 4] = ["sent", "write", "flush", "replay"];
    type Lags = std::collections::BTreeMap<(String, &'static str), Option<u64>>;

    let c = Cluster::builder().standbys(2).cascade(true).start();
    let s2 = c.standby(2);
    s2.pause_replay();
    c.primary().write_wal(8 * MIB);
    c.wait_for_catchup_mode(s2, harness::Catchup::Flush);
    c.wait_for_catchup(c.standby(1));
    c.wait_for_catchup_mode(c.cascade().unwrap(), harness::Catchup::Replay);
    let standbys: Vec<String> = c.standbys().map(|n| n.name().to_string()).collect();

    let dir = tempfile::tempdir().unwrap();
    let role = c.exporter_role();
    let config = c.exporter_config("pg", role.user(), role.password_file());
    let e = Exporter::for_cluster(&c);

    let from_status = || -> Lags {
        let o = run(&["status", "--output", "json"], &config, dir.path());
        assert_eq!(o.code, Some(0), "{}", text(&o));
        let json: serde_json::Value =
            serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
        let nodes = json[0]["nodes"].as_array().unwrap().clone();
        let mut lags = Lags::new();
        for name in &standbys {
            let row = nodes
                .iter()
                .find(|n| n["node"] == name.as_str())
                .unwrap_or_else(|| panic!("no status row for {name}: {}", o.stdout));
            for stage in STAGES {
                lags.insert(
                    (name.clone(), stage),
                    row[format!("lag_{stage}_bytes")].as_u64(),
                );
            }
        }
        lags
    };
    let from_metrics = |s: &Scrape| -> Lags {
        let mut lags = Lags::new();
        for name in &standbys {
            for stage in STAGES {
                let v = s.get(
                    "pg_replication_lag_bytes",
                    &[("standby", name.as_str()), ("stage", stage)],
                );
                lags.insert((name.clone(), stage), v.map(|v| v as u64));
            }
        }
        lags
    };

    let mut last = None;
    let agreed = harness::poll_until(WAIT, || {
        let before = from_status();
        let page = from_metrics(&e.scrape());
        let after = from_status();
        let ok = before == page && page == after && page.values().all(Option::is_some);
        last = Some((before, page, after));
        ok
    });
    let (before, page, after) = last.unwrap();
    assert!(
        agreed,
        "status and /metrics never agreed on a stable reading within {WAIT:?}\n\
         status before: {before:?}\n/metrics:      {page:?}\nstatus after:  {after:?}\n{}\n\
         --- exporter log ---\n{}",
        c.dump(),
        e.log_text()
    );
    // What they agree on is the real state: standby2 is 8 MiB behind in replay only.
    let lag = |name: &str, stage| page[&(name.to_string(), stage)].unwrap();
    assert!(lag("standby2", "replay") >= 8 * MIB, "{page:?}");
    assert_eq!(lag("standby2", "flush"), 0, "{page:?}");
    for name in ["standby1", "cascade"] {
        for stage in STAGES {
            assert_eq!(lag(name, stage), 0, "{name} {stage}: {page:?}");
        }
    }
    s2.resume_replay();
}
