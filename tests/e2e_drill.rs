//! `drill` on a real Patroni 4.1.4 cluster (three members, etcd, `synchronous_mode: true`) with
//! a separate write role in `[cluster.drill]`: `--dry-run` changes nothing (same leader, no
//! probe schema); a refused precondition (a target that is no member, the leader itself) exits
//! 1 with the reason; SIGINT before the switch exits 130 and leaves no probe schema; a
//! switchover loses no acknowledged write, exits 0, prints every SPEC §10 key, reports an RTO
//! that matches the gap in its own probe log, and never prints the drill's password; so does a
//! `POST /failover` drill. A second cluster with asynchronous replicas checks the lost writes;
//! a third, on Debian's Patroni 3.0.2, the switchover there.

mod harness;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::{PATRONI_WAIT, PatroniBin, PatroniCluster, Ran};
use serde_json::Value;

const DRILL_PASSWORD: &str = "drill-pw-5e1b9c0a7f3d";

/// The exporter config of `c` plus a `[cluster.drill]` role that may create the probe schema.
fn drill_config(c: &PatroniCluster, leader: &str, seed: &str, dir: &Path) -> String {
    let mut db = c.conn(leader).unwrap();
    db.batch_execute(&format!(
        "CREATE ROLE drill LOGIN PASSWORD '{DRILL_PASSWORD}'; GRANT CREATE ON DATABASE postgres TO drill;"
    ))
    .unwrap();
    let pw = dir.join("drill.pw");
    std::fs::write(&pw, format!("{DRILL_PASSWORD}\n")).unwrap();
    format!(
        "{}\n[cluster.drill]\nuser = \"drill\"\npassword_file = {:?}\n",
        c.exporter_config("ha", seed),
        pw.display().to_string()
    )
}

fn drill(args: &[&str], config: &str, dir: &Path) -> Ran {
    let path = dir.join("exporter.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = harness::command();
    cmd.arg("drill")
        .args(["--cluster", "ha"])
        .args(args)
        .arg(format!("--config.file={}", path.display()));
    harness::run(&format!("drill {args:?}"), cmd, Duration::from_secs(180))
}

fn schema_exists(c: &PatroniCluster, node: &str) -> bool {
    let mut db = c.conn(node).unwrap();
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'replication_drill'",
            &[],
        )
        .unwrap()
        .get(0);
    n > 0
}

fn wait_sync_standby(c: &PatroniCluster) {
    c.wait_cluster("a sync_standby in /cluster", PATRONI_WAIT, |v| {
        v["members"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["role"] == "sync_standby"))
    });
}

#[test]
fn drill_switchover_on_synchronous_patroni_4_loses_nothing() {
    let c = PatroniCluster::builder(PatroniBin::v4())
        .members(3)
        .dcs("synchronous_mode: true")
        .start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    wait_sync_standby(&c);
    let dir = tempfile::tempdir().unwrap();
    // Under synchronous_mode only the synchronous standby is a candidate.
    let cluster = c.cluster_json().unwrap();
    let replica = cluster["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "sync_standby")
        .and_then(|m| m["name"].as_str())
        .unwrap()
        .to_owned();
    let other = c
        .members()
        .iter()
        .map(|m| m.name().to_owned())
        .find(|n| *n != leader && *n != replica)
        .unwrap();
    let config = drill_config(&c, &leader, &leader, dir.path());
    // A postgres endpoint that leads to the target: the drill times when it leads to the new
    // primary (writable).
    let with_endpoint = format!(
        "{config}\n[[cluster.endpoint]]\nname = \"to-target\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\n",
        c.member(&replica).pg_port()
    );

    // --dry-run: the plan, nothing touched.
    let t = Instant::now();
    let dry = drill(&["--mode", "switchover", "--dry-run"], &config, dir.path());
    assert_eq!(dry.code, Some(0), "{}", dry.describe());
    assert!(
        dry.stdout
            .contains("drill plan for cluster ha: switchover from")
            && dry.stdout.contains("preconditions: passed")
            && dry.stdout.contains("nothing was touched"),
        "{}",
        dry.describe()
    );
    assert_eq!(c.leader().as_deref(), Some(leader.as_str()));
    assert!(!schema_exists(&c, &leader), "dry run created the schema");
    eprintln!("dry run: {:?}", t.elapsed());

    // Refused preconditions: exit 1, the reason, nothing touched.
    for (target, reason) in [
        ("nosuch", "target nosuch is not a Patroni member".to_owned()),
        (
            leader.as_str(),
            format!("target {leader} is the leader already"),
        ),
        (
            other.as_str(),
            format!("target {other} is not a failover candidate: synchronous_mode is on"),
        ),
    ] {
        let r = drill(
            &["--mode", "switchover", "--yes", "--target", target],
            &config,
            dir.path(),
        );
        assert_eq!(r.code, Some(1), "{}", r.describe());
        assert!(
            r.stderr.contains("refused") && r.stderr.contains(&reason),
            "{reason:?} missing\n{}",
            r.describe()
        );
    }
    let bad = drill(&["--mode", "command", "--yes"], &config, dir.path());
    assert_eq!(bad.code, Some(2), "{}", bad.describe());
    assert!(!schema_exists(&c, &leader));

    // SIGINT before the switch: exit 130, schema dropped, same leader.
    let path = dir.path().join("exporter.toml");
    let mut child = harness::command()
        .args(["drill", "--cluster", "ha", "--mode", "switchover", "--yes"])
        .args(["--warmup", "60s"])
        .arg(format!("--config.file={}", path.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !schema_exists(&c, &leader) {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the drill never created its schema: {:?}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted before the switch"), "{stderr}");
    assert!(
        !schema_exists(&c, &leader),
        "schema left after SIGINT: {stderr}"
    );
    assert_eq!(c.leader().as_deref(), Some(leader.as_str()));

    // The switchover.
    let t = Instant::now();
    let r = drill(
        &[
            "--mode",
            "switchover",
            "--yes",
            "--target",
            &replica,
            "--output",
            "json",
            "--rpo-max",
            "0",
            "--rto-max",
            "60s",
        ],
        &with_endpoint,
        dir.path(),
    );
    let took = t.elapsed();
    assert_eq!(r.code, Some(0), "{}", r.describe());
    assert!(!r.output().contains(DRILL_PASSWORD), "{}", r.describe());
    let json: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{}", r.describe()));
    for key in [
        "cluster",
        "mode",
        "old_primary",
        "new_primary",
        "rto_seconds",
        "promotion_seconds",
        "acknowledged_writes",
        "acknowledged_writes_lost",
        "lost_write_numbers",
        "bytes_lost",
        "endpoints",
        "events",
        "passed",
    ] {
        assert!(json.get(key).is_some(), "{key} missing\n{json:#}");
    }
    assert_eq!(json["cluster"], "ha");
    assert_eq!(json["mode"], "switchover");
    assert_eq!(json["old_primary"], leader.as_str());
    assert_eq!(json["new_primary"], replica.as_str());
    assert_eq!(json["passed"], true, "{json:#}");
    assert_eq!(json["acknowledged_writes_lost"], 0, "{json:#}");
    // A clean switchover: the new timeline starts after the old primary's last write.
    assert_eq!(json["bytes_lost"], 0, "{json:#}");
    assert!(
        json["acknowledged_writes"].as_u64().unwrap() > 20,
        "{json:#}"
    );
    assert_eq!(c.leader().as_deref(), Some(replica.as_str()));
    assert!(!schema_exists(&c, &replica), "probe schema left behind");

    // RTO against the probe log: the gap between the acknowledgements around the outage is the
    // RTO plus at most one write interval and one commit.
    let rto = json["rto_seconds"].as_f64().unwrap();
    let log = json["write_log"].as_array().unwrap();
    let acks: Vec<f64> = log.iter().filter_map(|a| a["acked_at"].as_f64()).collect();
    let gap = acks.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(rto > 0.0 && rto < 30.0, "{json:#}");
    assert!(
        gap >= rto - 0.01 && gap <= rto + 0.1 + 0.2,
        "largest gap between acknowledgements {gap:.3}s vs RTO {rto:.3}s\n{json:#}"
    );
    let promotion = json["promotion_seconds"].as_f64().unwrap();
    assert!(promotion > 0.0 && promotion < 60.0, "{json:#}");
    let led = json["endpoints"]["to-target"]
        .as_f64()
        .unwrap_or_else(|| panic!("{json:#}"));
    assert!(led >= promotion - 0.05 && led < promotion + 5.0, "{json:#}");
    let events: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for want in [
        "switch requested (switchover)",
        "first failed write",
        &format!("new primary {replica} out of recovery"),
    ] {
        assert!(
            events.iter().any(|e| e.contains(want)),
            "{want:?} missing: {events:#?}"
        );
    }
    eprintln!(
        "switchover drill: {took:?}; rto {rto:.3}s, promotion {promotion:.3}s, old primary streaming {:?}s",
        json["old_primary_streaming_seconds"]
    );
    // Back, in text: the report the README shows.
    c.wait_healthy(2, PATRONI_WAIT);
    wait_sync_standby(&c);
    let text = drill(&["--mode", "switchover", "--yes"], &config, dir.path());
    assert_eq!(text.code, Some(0), "{}", text.describe());
    for want in [
        "client-visible RTO:",
        "acknowledged writes lost:  0",
        "timeline:",
        "passed",
    ] {
        assert!(
            text.stdout.contains(want),
            "{want:?} missing\n{}",
            text.describe()
        );
    }
    assert!(
        !text.output().contains(DRILL_PASSWORD),
        "{}",
        text.describe()
    );
    eprintln!("{}", text.stdout);

    // POST /failover to the synchronous standby (no --target: the first candidate).
    c.wait_healthy(2, PATRONI_WAIT);
    wait_sync_standby(&c);
    let before = c.leader().unwrap();
    let t = Instant::now();
    let f = drill(
        &[
            "--mode",
            "failover",
            "--yes",
            "--output",
            "json",
            "--rpo-max",
            "0",
        ],
        &config,
        dir.path(),
    );
    assert_eq!(f.code, Some(0), "{}", f.describe());
    let json: Value =
        serde_json::from_str(&f.stdout).unwrap_or_else(|e| panic!("{e}\n{}", f.describe()));
    assert_eq!(json["mode"], "failover");
    assert_eq!(json["old_primary"], before.as_str());
    assert_eq!(json["acknowledged_writes_lost"], 0, "{json:#}");
    assert_eq!(json["passed"], true, "{json:#}");
    let after = c.leader().unwrap();
    assert_ne!(after, before);
    assert_eq!(json["new_primary"], after.as_str());
    assert!(!schema_exists(&c, &after), "probe schema left behind");
    eprintln!(
        "failover drill: {:?}; rto {}s, promotion {}s",
        t.elapsed(),
        json["rto_seconds"],
        json["promotion_seconds"]
    );
}

/// Asynchronous replicas, their WAL held back (the leader's walsenders stopped with SIGSTOP),
/// then `--mode command` kills the leader's Patroni and PostgreSQL with SIGKILL: Patroni fails
/// over once the leader key expires, and the acknowledged writes the replicas never received
/// are lost. The drill reports exactly the numbers the test finds missing from the probe table
/// on the new primary (kept with `--keep-probe-table`), and `--rpo-max 0` exits 1.
#[test]
fn drill_command_failover_with_held_back_replicas_reports_the_lost_writes_exactly() {
    let mut c = PatroniCluster::builder(PatroniBin::v4()).members(3).start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    let dir = tempfile::tempdir().unwrap();
    let seed = c
        .members()
        .iter()
        .map(|m| m.name().to_owned())
        .find(|n| *n != leader)
        .unwrap();
    let config = drill_config(&c, &leader, &seed, dir.path());
    let m = c.member(&leader);
    let patroni = m.patroni_pid().unwrap();
    let postmaster = m.postmaster_pid().unwrap();
    let mut db = c.conn(&leader).unwrap();
    let walsenders: Vec<String> = db
        .query("SELECT pid FROM pg_stat_replication", &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, i32>(0).to_string())
        .collect();
    assert_eq!(walsenders.len(), 2, "{}", c.dump());
    drop(db);
    // Hold the WAL back, let a second of acknowledged writes pile up on the leader alone, then
    // kill the leader outright (PostgreSQL's children too: they would outlive the postmaster; a
    // backend that exits meanwhile makes kill complain, hence no `&&` there).
    let command = format!(
        "kill -STOP {ws} && sleep 1 && kill -KILL {patroni} {postmaster} $(pgrep -P {postmaster}); \
         echo killed {leader}",
        ws = walsenders.join(" "),
    );
    let t = Instant::now();
    let r = drill(
        &[
            "--mode",
            "command",
            "--command",
            &command,
            "--yes",
            "--output",
            "json",
            "--rpo-max",
            "0",
            "--settle-timeout",
            "45s",
            "--keep-probe-table",
        ],
        &config,
        dir.path(),
    );
    let took = t.elapsed();
    c.kill_member(&leader);
    assert_eq!(
        r.code,
        Some(1),
        "--rpo-max 0 with writes lost\n{}",
        r.describe()
    );
    let json: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{}", r.describe()));
    let new_primary = json["new_primary"]
        .as_str()
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_ne!(new_primary, leader);
    assert_eq!(json["command"]["exit_code"], 0, "{json:#}");
    assert!(
        json["command"]["stdout"]
            .as_str()
            .unwrap()
            .contains(&format!("killed {leader}")),
        "{json:#}"
    );
    // The test's own comparison: every acknowledged seq of the drill's log against the table.
    let mut db = c.conn(new_primary).unwrap();
    let found: std::collections::BTreeSet<i64> = db
        .query("SELECT seq FROM replication_drill.probe", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Each row carries its send time, and its acknowledgement time once a later write on the
    // same primary recorded it.
    let with_ack: i64 = db
        .query_one(
            "SELECT count(*) FROM replication_drill.probe WHERE acked_at >= sent_at",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(with_ack > 10, "{with_ack} rows with acked_at");
    db.batch_execute("DROP SCHEMA replication_drill CASCADE")
        .unwrap();
    let acked: Vec<i64> = json["write_log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["acked_at"].is_number())
        .map(|a| a["seq"].as_i64().unwrap())
        .collect();
    let missing: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|s| !found.contains(s))
        .collect();
    let reported: Vec<i64> = json["lost_write_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(
        !missing.is_empty(),
        "nothing lost: the hold-back failed\n{json:#}"
    );
    assert_eq!(reported, missing, "{json:#}");
    assert_eq!(json["acknowledged_writes_lost"], missing.len());
    assert_eq!(json["passed"], false);
    let failures = json["failures"].to_string();
    assert!(failures.contains("above --rpo-max 0"), "{failures}");
    assert!(
        json["bytes_lost"].as_u64().is_some_and(|b| b > 0),
        "{json:#}"
    );
    eprintln!(
        "command failover drill: {took:?}; rto {}s, {} of {} acknowledged writes lost ({} bytes)",
        json["rto_seconds"],
        missing.len(),
        acked.len(),
        json["bytes_lost"]
    );
}

/// Debian's Patroni 3.0.2 (asynchronous replicas): its `POST /switchover` wants `leader`; the
/// drill switches to the target and reports, nothing acknowledged lost in a clean switchover.
#[test]
fn drill_switchover_on_patroni_3() {
    let c = PatroniCluster::builder(PatroniBin::debian())
        .members(3)
        .start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    let dir = tempfile::tempdir().unwrap();
    let config = drill_config(&c, &leader, &leader, dir.path());
    let target = c
        .members()
        .iter()
        .map(|m| m.name().to_owned())
        .find(|n| *n != leader)
        .unwrap();
    let t = Instant::now();
    let r = drill(
        &[
            "--mode",
            "switchover",
            "--yes",
            "--target",
            &target,
            "--output",
            "json",
        ],
        &config,
        dir.path(),
    );
    assert_eq!(r.code, Some(0), "{}", r.describe());
    let json: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{}", r.describe()));
    assert_eq!(json["passed"], true, "{json:#}");
    assert_eq!(json["new_primary"], target.as_str());
    assert_eq!(json["acknowledged_writes_lost"], 0, "{json:#}");
    assert_eq!(c.leader().as_deref(), Some(target.as_str()));
    assert!(!schema_exists(&c, &target), "probe schema left behind");
    eprintln!(
        "Patroni 3.0.2 switchover drill: {:?}; rto {}s",
        t.elapsed(),
        json["rto_seconds"]
    );
}
