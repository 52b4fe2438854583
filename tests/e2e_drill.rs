//! `drill` on a real Patroni 4.1.4 cluster (three members, etcd, `synchronous_mode: true`) with
//! a separate write role in `[cluster.drill]`, a keepalived VIP following the primary (the
//! harness's `VipLab` over the members) and a real pgbouncer routing a read database to a
//! standby: `--dry-run` changes nothing (same leader, no probe schema); a refused precondition
//! (a target that is no member, the leader itself) exits 1 with the reason; SIGINT before the
//! switch exits 130 and leaves no probe schema; on a terminal (a pseudo-terminal) "n" and EOF
//! abort touching nothing, without a terminal and `--yes` it exits 2, and "y" runs a switchover
//! written through the VIP: no acknowledged write lost, the VIP's move in the report and in
//! the RTO, an RTO that matches the gap in its own probe log, each read endpoint timed to the
//! new topology, the drill's password never printed; a `POST /failover` drill while another
//! drill tries to start from the new primary (refused, naming the running drill) and a
//! front-end that stays on the old primary (reported). A second cluster with asynchronous
//! replicas checks the lost writes and that a leader killed for good is not waited for; a
//! third, on Debian's Patroni 3.0.2, the switchover there.

mod harness;

use std::io::Write as _;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use harness::{
    PATRONI_WAIT, PatroniBin, PatroniCluster, Pgbouncer, Ran, VIP_WAIT, VipCheck, VipLab,
    poll_until, unix_now,
};
use serde_json::Value;

const DRILL_PASSWORD: &str = "drill-pw-5e1b9c0a7f3d";

/// The exporter config of `c` plus a `[cluster.drill]` role that may create the probe schema.
fn drill_config(c: &PatroniCluster, leader: &str, seed: &str, dir: &Path) -> String {
    let mut db = c.conn(leader).unwrap();
    db.batch_execute(&format!(
        "CREATE ROLE drill LOGIN PASSWORD '{DRILL_PASSWORD}'; GRANT CREATE ON DATABASE postgres TO drill;"
    ))
    .unwrap();
    // The drill logs in on every member: the role must have reached the replicas first.
    c.wait_replayed(leader, PATRONI_WAIT);
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

/// A drill running in the background, its output in files (a chatty child never blocks).
struct Running {
    child: Child,
    dir: tempfile::TempDir,
    /// The master end of its terminal, open until it ends (closing it would hang it up).
    tty: Option<std::fs::File>,
}

impl Running {
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    fn wait(mut self, timeout: Duration) -> Ran {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the drill still ran after {timeout:?}
{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        drop(self.tty.take());
        Ran {
            code: status.code(),
            stdout: std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default(),
            stderr: self.stderr(),
        }
    }
}

fn write_config(dir: &Path, name: &str, config: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, config).unwrap();
    path
}

fn spawn_drill(args: &[&str], config: &Path, stdin: Stdio) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let child = harness::command()
        .arg("drill")
        .args(["--cluster", "ha"])
        .args(args)
        .arg(format!("--config.file={}", config.display()))
        .stdin(stdin)
        .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    Running {
        child,
        dir,
        tty: None,
    }
}

/// A pseudo-terminal (openpty): the master end for the test, the slave end for the drill's
/// standard input, which is then a terminal as an operator's is.
fn openpty() -> (std::fs::File, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the pointers; name, termios and winsize
    // may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nothing else.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

/// The drill with its standard input on a pseudo-terminal: wait for its question, type
/// `answer` (bytes as typed: `n\n`, `y\n`, Ctrl-D) and return the running drill.
fn drill_on_terminal(args: &[&str], config: &Path, answer: &[u8]) -> Running {
    let (mut master, slave) = openpty();
    let mut running = spawn_drill(args, config, Stdio::from(slave));
    let asked = poll_until(Duration::from_secs(60), || {
        running.stderr().contains("[y/N]")
    });
    assert!(asked, "the drill never asked\n{}", running.stderr());
    master.write_all(answer).unwrap();
    running.tty = Some(master);
    running
}

fn events(json: &Value) -> Vec<String> {
    json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
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
    // The front-ends: a keepalived VIP that follows the writable primary (the write endpoint),
    // a pgbouncer whose database app_ro reads from the asynchronous standby, and a plain
    // postgres endpoint straight to the target (a read endpoint, expect any, also timed to the
    // new primary).
    let names: Vec<&str> = c.members().iter().map(|m| m.name()).collect();
    let lab = VipLab::start(&c, &names, VipCheck::Primary);
    lab.wait_holder(&leader, VIP_WAIT);
    let bouncer = Pgbouncer::builder()
        .database_at("app_ro", &other, c.member(&other).pg_port(), "")
        .user("drill", DRILL_PASSWORD)
        .start();
    let fronts = format!(
        "{config}\n[[cluster.endpoint]]\nname = \"vip-rw\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {vip}\nexpect = \"primary\"\n\
         \n[[cluster.endpoint]]\nname = \"bouncer\"\nkind = \"pgbouncer\"\nhost = \"127.0.0.1\"\nport = {pgb}\nuser = \"pgb_admin\"\npassword_file = {pgb_pw}\nexpect_databases = {{ app_ro = \"standby\" }}\n\
         \n[[cluster.endpoint]]\nname = \"direct-{replica}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {target}\n",
        vip = lab.port(),
        pgb = bouncer.port(),
        pgb_pw = harness::toml_str(&bouncer.admin_password_file().display().to_string()),
        target = c.member(&replica).pg_port(),
    );
    let fronts_path = write_config(dir.path(), "fronts.toml", &fronts);

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

    // No terminal to ask on and no --yes: exit 2 before touching anything.
    let t = Instant::now();
    let unasked = drill(&["--mode", "switchover"], &config, dir.path());
    assert_eq!(unasked.code, Some(2), "{}", unasked.describe());
    assert!(
        unasked.stderr.contains(
            "standard input is not a terminal, so the drill cannot ask for confirmation: pass --yes"
        ),
        "{}",
        unasked.describe()
    );
    // On a terminal it asks: "n" and EOF (Ctrl-D) abort with nothing touched.
    let path = write_config(dir.path(), "plain.toml", &config);
    for answer in [&b"n\n"[..], &b"\x04"[..]] {
        let r = drill_on_terminal(&["--mode", "switchover"], &path, answer)
            .wait(Duration::from_secs(60));
        assert_eq!(r.code, Some(1), "{answer:?}\n{}", r.describe());
        assert!(
            r.stderr.contains("not confirmed: nothing was touched"),
            "{}",
            r.describe()
        );
        assert_eq!(c.leader().as_deref(), Some(leader.as_str()));
        assert!(!schema_exists(&c, &leader), "{answer:?} created the schema");
    }
    eprintln!("confirmation refusals: {:?}", t.elapsed());

    // SIGINT before the switch: exit 130, schema dropped, same leader.
    let path = write_config(dir.path(), "exporter.toml", &config);
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

    // The switchover, confirmed with "y" on the terminal, written through the VIP.
    let t = Instant::now();
    let running = drill_on_terminal(
        &[
            "--mode",
            "switchover",
            "--target",
            &replica,
            "--write-endpoint",
            "vip-rw",
            "--output",
            "json",
            "--rpo-max",
            "0",
            "--rto-max",
            "60s",
        ],
        &fronts_path,
        b"y\n",
    );
    // The test's own clock on the VIP: when keepalived put it on the new primary.
    lab.wait_holder(&replica, Duration::from_secs(120));
    let vip_moved = unix_now();
    let r = running.wait(Duration::from_secs(180));
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
    assert!(
        json["write_via"].as_str().unwrap().contains("vip-rw"),
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
    // Through the VIP, writes came back only once keepalived had moved it (the test saw the
    // move within its 50 ms polls): the client-visible RTO includes the VIP's move.
    let first_failed = log.iter().position(|a| a["acked_at"].is_null()).unwrap();
    let back_at = log[first_failed..]
        .iter()
        .find_map(|a| a["acked_at"].as_f64())
        .unwrap();
    assert!(
        back_at >= vip_moved - 0.25,
        "a write through the VIP acknowledged at {back_at:.3}, before the VIP moved ({vip_moved:.3})\n{json:#}"
    );
    let promotion = json["promotion_seconds"].as_f64().unwrap();
    assert!(promotion > 0.0 && promotion < 60.0, "{json:#}");
    let vip = json["endpoints"]["vip-rw"]
        .as_f64()
        .unwrap_or_else(|| panic!("{json:#}"));
    assert!(
        vip >= promotion - 0.05 && vip < promotion + 30.0,
        "{json:#}"
    );
    let direct = format!("direct-{replica}");
    let led = json["endpoints"][&direct]
        .as_f64()
        .unwrap_or_else(|| panic!("{json:#}"));
    assert!(led >= promotion - 0.05 && led < promotion + 5.0, "{json:#}");
    let events = events(&json);
    for want in [
        "switch requested (switchover)".to_owned(),
        "first failed write".to_owned(),
        format!("new primary {replica} out of recovery"),
        format!("endpoint vip-rw leads to {replica}"),
        "read endpoint bouncer/app_ro answers from the new topology".to_owned(),
        format!("read endpoint {direct} answers from the new topology"),
    ] {
        assert!(
            events.iter().any(|e| e.contains(&want)),
            "{want:?} missing: {events:#?}"
        );
    }
    // The read endpoints: readable at the end, each timed to the new topology (never before
    // the promotion: only the new primary's writes prove it), failed reads as in the log.
    for (name, by) in [("bouncer/app_ro", "standby"), (direct.as_str(), "primary")] {
        let e = &json["read_endpoints"][name];
        assert_eq!(e["readable_at_end"], true, "{name}: {json:#}");
        assert_eq!(e["new_topology_answered_by"], by, "{name}: {e:#}");
        let t = e["new_topology_seconds"].as_f64().unwrap();
        assert!(
            t >= promotion - 0.05 && t < promotion + 30.0,
            "{name}: {e:#}"
        );
        let reads: Vec<&Value> = json["read_log"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["endpoint"] == name)
            .collect();
        assert_eq!(e["reads"], reads.len(), "{name}");
        assert_eq!(
            e["failed_reads"],
            reads.iter().filter(|r| r["answered_at"].is_null()).count(),
            "{name}"
        );
        assert!(reads.len() > 20, "{name}: {} reads", reads.len());
        assert!(
            e["latency"]["before"]["count"].as_u64().unwrap() > 5,
            "{e:#}"
        );
    }
    eprintln!(
        "switchover drill through the VIP: {took:?}; rto {rto:.3}s, promotion {promotion:.3}s, \
         VIP {vip:.3}s, reads on app_ro {}s / {direct} {}s to the new topology, old primary \
         streaming {:?}s",
        json["read_endpoints"]["bouncer/app_ro"]["new_topology_seconds"],
        json["read_endpoints"][&direct]["new_topology_seconds"],
        json["old_primary_streaming_seconds"]
    );

    // Back, in text, through the VIP too: the report the README shows.
    c.wait_healthy(2, PATRONI_WAIT);
    wait_sync_standby(&c);
    let text = drill(
        &[
            "--mode",
            "switchover",
            "--yes",
            "--write-endpoint",
            "vip-rw",
        ],
        &fronts,
        dir.path(),
    );
    assert_eq!(text.code, Some(0), "{}", text.describe());
    for want in [
        "client-visible RTO:",
        "endpoint vip-rw ",
        "read endpoint bouncer/app_ro: new topology ",
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

    // POST /failover to the synchronous standby (no --target: the first candidate), with a
    // front-end that stays on the old primary (expected on the primary: reported, and waited
    // for until the settle timeout since it keeps answering). Meanwhile a second drill starts
    // from the new primary: it refuses, naming the running drill, and touches nothing.
    c.wait_healthy(2, PATRONI_WAIT);
    wait_sync_standby(&c);
    let before = c.leader().unwrap();
    let stale = format!(
        "{config}\n[[cluster.endpoint]]\nname = \"stale-rw\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\nexpect = \"primary\"\n",
        c.member(&before).pg_port()
    );
    let stale_path = write_config(dir.path(), "stale.toml", &stale);
    let t = Instant::now();
    let first = spawn_drill(
        &[
            "--mode",
            "failover",
            "--yes",
            "--output",
            "json",
            "--rpo-max",
            "0",
            "--settle-timeout",
            "12s",
        ],
        &stale_path,
        Stdio::null(),
    );
    let first_pid = first.child.id();
    let moved = poll_until(Duration::from_secs(90), || {
        c.leader().is_some_and(|l| l != before)
    });
    assert!(moved, "no failover\n{}\n{}", first.stderr(), c.dump());
    let after = c.leader().unwrap();
    let second = drill(
        &["--mode", "switchover", "--yes", "--force"],
        &config,
        dir.path(),
    );
    assert_eq!(second.code, Some(1), "{}", second.describe());
    for want in [
        "refused: another drill is running on cluster ha: the drill lock is held by".to_owned(),
        format!("\"drill pid {first_pid} failover of ha since "),
        "--force does not override this".to_owned(),
    ] {
        assert!(
            second.stderr.contains(&want),
            "{want:?} missing\n{}",
            second.describe()
        );
    }
    let f = first.wait(Duration::from_secs(180));
    assert_eq!(
        f.code,
        Some(1),
        "the stale front-end fails it\n{}",
        f.describe()
    );
    let json: Value =
        serde_json::from_str(&f.stdout).unwrap_or_else(|e| panic!("{e}\n{}", f.describe()));
    assert_eq!(json["mode"], "failover");
    assert_eq!(json["old_primary"], before.as_str());
    assert_eq!(json["new_primary"], after.as_str());
    assert_eq!(json["acknowledged_writes_lost"], 0, "{json:#}");
    let failures: Vec<&str> = json["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(failures.len(), 1, "{json:#}");
    assert!(
        failures[0].starts_with("endpoint stale-rw did not lead to the new primary (last answer "),
        "{json:#}"
    );
    assert!(json["endpoints"]["stale-rw"].is_null(), "{json:#}");
    assert_eq!(c.leader().as_deref(), Some(after.as_str()));
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
/// on the new primary (kept with `--keep-probe-table`), and `--rpo-max 0` exits 1. The old
/// primary stays down and leaves Patroni's member list: the drill reports once writes are back
/// instead of waiting out `--settle-timeout`, and says why.
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
            "120s",
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
    // Not waited for: the drill ended well before the settle timeout, once the new primary took
    // writes, and the report says why the old primary did not rejoin.
    assert!(
        took < Duration::from_secs(80),
        "the drill took {took:?} (--settle-timeout 120s)\n{json:#}"
    );
    assert!(
        json.get("old_primary_streaming_seconds").is_none(),
        "{json:#}"
    );
    let why = json["old_primary_not_returned"]
        .as_str()
        .unwrap_or_else(|| panic!("{json:#}"));
    assert!(
        why.starts_with(&format!("old primary {leader} did not return within "))
            && why.contains("no answer since ")
            && why.ends_with("Patroni no longer lists it as a member"),
        "{why}"
    );
    let at = |prefix: &str| {
        json["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"].as_str().unwrap().starts_with(prefix))
            .map(|e| humantime::parse_rfc3339(e["at"].as_str().unwrap()).unwrap())
            .unwrap_or_else(|| panic!("no event {prefix:?}\n{json:#}"))
    };
    let gave_up = at(&format!("old primary {leader} did not return"))
        .duration_since(at("first acknowledged write after the outage"))
        .unwrap_or_default();
    assert!(
        gave_up < Duration::from_secs(5),
        "{gave_up:?} after writes came back\n{json:#}"
    );
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
        "command failover drill: {took:?} (--settle-timeout 120s); rto {}s, {} of {} acknowledged writes lost ({} bytes); {why}",
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
