//! Records real Patroni REST replies into tests/fixtures/patroni/<version>/ for the parser unit
//! tests of src/sources/patroni/api.rs. Not part of the normal run (it rewrites the fixtures):
//!
//! ```text
//! cargo test --test record_patroni_fixtures -- --ignored --test-threads=1
//! ```
//!
//! Each file is the body exactly as Patroni sent it; the recorder then pretty-prints it with
//! `python3 -m json.tool`, which keeps the key order.

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::{PATRONI_WAIT, PatroniBin, PatroniCluster};
use serde_json::Value;

fn save(dir: &Path, file: &str, reply: Result<(u16, String), String>) {
    let (status, body) = reply.unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(
        status == 200 || file.contains("503"),
        "{file}: HTTP {status}: {body}"
    );
    let path = dir.join(file);
    std::fs::write(&path, &body).unwrap();
    let out = Command::new("python3")
        .args(["-m", "json.tool", "--no-ensure-ascii"])
        .arg(&path)
        .output()
        .expect("python3 -m json.tool");
    assert!(out.status.success(), "{file} is not JSON: {body}");
    std::fs::write(&path, out.stdout).unwrap();
}

fn members_with(c: &Value, f: impl Fn(&Value) -> bool) -> Vec<String> {
    c["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| f(m))
        .map(|m| m["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn is_leader(m: &Value) -> bool {
    matches!(m["role"].as_str(), Some("leader" | "master"))
}

fn record(bin: PatroniBin) {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/patroni")
        .join(&bin.version);
    std::fs::create_dir_all(&dir).unwrap();
    let v4 = bin.major() >= 4;
    let mut c = PatroniCluster::builder(bin).members(3).start();
    let leader = c.wait_healthy(2, PATRONI_WAIT);
    let cluster = c.cluster_json().unwrap();
    let replica = members_with(&cluster, |m| !is_leader(m))[0].clone();

    save(&dir, "patroni-leader.json", c.get(&leader, "/patroni"));
    save(&dir, "patroni-replica.json", c.get(&replica, "/patroni"));
    save(&dir, "cluster-healthy.json", c.get(&leader, "/cluster"));
    save(&dir, "config.json", c.get(&leader, "/config"));
    save(&dir, "history-initial.json", c.get(&leader, "/history"));

    // A fourth member tagged nofailover, added mid-run.
    let m4 = c.add_member(&["nofailover: true"]);
    c.wait_healthy(3, PATRONI_WAIT);
    save(&dir, "cluster-nofailover.json", c.get(&leader, "/cluster"));
    save(
        &dir,
        "patroni-replica-nofailover.json",
        c.get(&m4, "/patroni"),
    );

    // Maintenance mode.
    c.pause(true).unwrap();
    save(&dir, "cluster-paused.json", c.get(&leader, "/cluster"));
    save(
        &dir,
        "patroni-leader-paused.json",
        c.get(&leader, "/patroni"),
    );
    save(&dir, "config-paused.json", c.get(&leader, "/config"));
    c.pause(false).unwrap();

    // Planned switchover to a replica that may fail over.
    let target = members_with(&c.cluster_json().unwrap(), |m| {
        !is_leader(m) && m["name"] != m4.as_str()
    })[0]
        .clone();
    let (status, body) = c.switchover(&leader, Some(&target)).unwrap();
    assert_eq!(status, 200, "switchover: {body}");
    c.wait_cluster("the switchover's new leader", PATRONI_WAIT, |v| {
        members_with(v, is_leader) == [target.clone()]
    });
    c.wait_healthy(3, PATRONI_WAIT);
    save(
        &dir,
        "cluster-after-switchover.json",
        c.get(&target, "/cluster"),
    );
    save(
        &dir,
        "history-after-switchover.json",
        c.get(&target, "/history"),
    );
    save(
        &dir,
        "patroni-leader-after-switchover.json",
        c.get(&target, "/patroni"),
    );

    // Synchronous mode: one sync standby.
    let (status, body) = c
        .patch(
            &target,
            "/config",
            &serde_json::json!({"synchronous_mode": true}),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    c.wait_cluster("a sync standby", PATRONI_WAIT, |v| {
        !members_with(v, |m| m["role"] == "sync_standby").is_empty()
    });
    save(&dir, "cluster-sync.json", c.get(&target, "/cluster"));
    save(&dir, "config-sync.json", c.get(&target, "/config"));
    let sync = members_with(&c.cluster_json().unwrap(), |m| m["role"] == "sync_standby")[0].clone();
    save(&dir, "patroni-sync-standby.json", c.get(&sync, "/patroni"));

    if v4 {
        // Quorum commit (4.x only).
        let (status, body) = c
            .patch(
                &target,
                "/config",
                &serde_json::json!({"synchronous_mode": "quorum"}),
            )
            .unwrap();
        assert_eq!(status, 200, "{body}");
        c.wait_cluster("quorum standbys", PATRONI_WAIT, |v| {
            !members_with(v, |m| m["role"] == "quorum_standby").is_empty()
        });
        save(&dir, "cluster-quorum.json", c.get(&target, "/cluster"));
        save(&dir, "config-quorum.json", c.get(&target, "/config"));
    }
    let (status, body) = c
        .patch(
            &target,
            "/config",
            &serde_json::json!({"synchronous_mode": false}),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");

    // A crashed replica: its key stays until ttl, its position goes unknown.
    c.kill_member(&m4);
    std::thread::sleep(Duration::from_secs(1));
    save(
        &dir,
        "cluster-member-killed.json",
        c.get(&target, "/cluster"),
    );
    eprintln!("recorded into {}", dir.display());
}

#[test]
#[ignore = "rewrites tests/fixtures/patroni; run by hand"]
fn record_patroni_3() {
    record(PatroniBin::debian());
}

#[test]
#[ignore = "rewrites tests/fixtures/patroni; run by hand"]
fn record_patroni_4() {
    record(PatroniBin::v4());
}
