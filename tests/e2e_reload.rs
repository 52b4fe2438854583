//! End-to-end tests of configuration reload (SIGHUP and `POST /-/reload`) against real
//! clusters: a cluster added, one removed, a node's port changed and a broken file, each sent to
//! a running exporter; the untouched cluster keeps its sessions and its LSN history, so that its
//! time lag stays honest across the reloads.

mod harness;

use std::collections::BTreeSet;
use std::fs;
use std::time::Instant;

use harness::{Cluster, Exporter, MIB, Role, WAIT, http_request, log_lines, poll_until, toml_str};

const HEADER: &str = "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n";

/// One `[[cluster]]` block for the cluster `c` named `name`, its nodes on `port` overrides.
fn block(c: &Cluster, name: &str, port_of: impl Fn(&str, u16) -> u16) -> String {
    let role = c.exporter_role();
    let mut toml = format!(
        "\n[[cluster]]\nname = {}\nuser = {}\npassword_file = {}\nsslmode = \"disable\"\n",
        toml_str(name),
        toml_str(role.user()),
        toml_str(&role.password_file().to_string_lossy()),
    );
    for n in c.nodes() {
        toml.push_str(&format!(
            "\n[[cluster.node]]\nname = {}\nhost = \"127.0.0.1\"\nport = {}\n",
            toml_str(n.name()),
            port_of(n.name(), n.port())
        ));
    }
    toml
}

fn same(_: &str, port: u16) -> u16 {
    port
}

fn clusters_in(e: &Exporter) -> BTreeSet<String> {
    e.scrape()
        .all("pg_replication_up")
        .iter()
        .filter_map(|s| s.label("cluster").map(str::to_owned))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The backend pids of the exporter's sessions on `node` (its role, its application_name).
fn sessions(c: &Cluster, role: &Role) -> BTreeSet<i32> {
    c.primary()
        .query(
            "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND application_name = 'pg_replication_exporter'",
            &[&role.user()],
        )
        .iter()
        .map(|r| r.get::<_, i32>(0))
        .collect()
}

fn system_identifier(c: &Cluster) -> String {
    c.primary()
        .query_one(
            "SELECT system_identifier::text FROM pg_control_system()",
            &[],
        )
        .get(0)
}

fn sighup(e: &Exporter) {
    let pid = e.pid().expect("the exporter runs") as i32;
    // SAFETY: kill(2) with a pid this test spawned and a valid signal number.
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGHUP) },
        0,
        "SIGHUP to {pid}"
    );
}

/// Waits for the `n`th "configuration reloaded" or "reload refused" line of the log.
fn wait_reloads(e: &Exporter, n: usize) {
    assert!(
        poll_until(WAIT, || log_lines(
            e.log_path(),
            "configuration reloaded|reload refused"
        )
        .len()
            >= n),
        "no reload #{n} in the log:\n{}",
        e.log_text()
    );
}

#[test]
fn sighup_adds_removes_and_changes_clusters_and_keeps_the_untouched_history() {
    let a = Cluster::builder().standbys(1).start();
    let b = Cluster::builder().standbys(0).start();
    let c = Cluster::builder().standbys(0).start();
    let config = |blocks: &[String]| format!("{HEADER}{}", blocks.concat());
    let e = Exporter::start(&config(&[block(&a, "a", same), block(&b, "b", same)]));
    e.wait_metric(
        "pg_replication_up",
        &[("cluster", "a"), ("node", "standby1")],
        |v| v == 1.0,
        WAIT,
    );
    e.wait_metric(
        "pg_replication_up",
        &[("cluster", "b"), ("node", "primary")],
        |v| v == 1.0,
        WAIT,
    );
    let started = e
        .scrape()
        .get(
            "pg_replication_exporter_config_last_reload_success_timestamp_seconds",
            &[],
        )
        .expect("the start counts as the first load");
    assert_eq!(
        e.scrape()
            .get("pg_replication_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // a's standby falls behind: its time lag grows from here, measured from a's LSN history.
    let standby = a.standby(1);
    standby.pause_replay();
    e.fresh_scrape();
    a.primary().write_wal(16 * MIB);
    let behind_since = Instant::now();
    let a_sessions = sessions(&a, a.exporter_role());
    assert!(!a_sessions.is_empty(), "the exporter polls a");
    // Let the lag grow past what a restarted history could show right after a reload.
    e.wait_metric(
        "pg_replication_standby_lag_seconds",
        &[("cluster", "a"), ("node", "standby1")],
        |v| v >= 5.0,
        WAIT,
    );

    // 1. Add c.
    let first_reload = Instant::now();
    fs::write(
        e.config_path(),
        config(&[
            block(&a, "a", same),
            block(&b, "b", same),
            block(&c, "c", same),
        ]),
    )
    .unwrap();
    sighup(&e);
    wait_reloads(&e, 1);
    e.wait_metric(
        "pg_replication_up",
        &[("cluster", "c"), ("node", "primary")],
        |v| v == 1.0,
        WAIT,
    );
    let stamp = e
        .scrape()
        .get(
            "pg_replication_exporter_config_last_reload_success_timestamp_seconds",
            &[],
        )
        .unwrap();
    assert!(
        stamp > started,
        "the reload's timestamp {stamp} follows the start's {started}"
    );
    assert_eq!(clusters_in(&e), set(&["a", "b", "c"]));

    // 2. Remove b: its series leave the page.
    fs::write(
        e.config_path(),
        config(&[block(&a, "a", same), block(&c, "c", same)]),
    )
    .unwrap();
    sighup(&e);
    wait_reloads(&e, 2);
    e.wait_scrape("b's series gone", WAIT, |s| {
        !s.all("pg_replication_up")
            .iter()
            .any(|x| x.label("cluster") == Some("b"))
    });
    assert_eq!(clusters_in(&e), set(&["a", "c"]));

    // 3. Change c's node port to b's server: the node is polled there (b's system identifier).
    // The harness names every cluster's role alike; b, no longer polled, takes c's password so
    // that the move is to a live server.
    let c_role = c.exporter_role();
    b.primary().batch_execute(&format!(
        "ALTER ROLE {} PASSWORD '{}'",
        c_role.user(),
        c_role.password()
    ));
    let b_port = b.primary().port();
    fs::write(
        e.config_path(),
        config(&[block(&a, "a", same), block(&c, "c", |_, _| b_port)]),
    )
    .unwrap();
    sighup(&e);
    wait_reloads(&e, 3);
    let b_id = system_identifier(&b);
    assert_ne!(b_id, system_identifier(&c));
    e.wait_scrape("c's node polled on b's server", WAIT, |s| {
        s.find(
            "pg_replication_node_info",
            &[("cluster", "c"), ("node", "primary")],
        )
        .iter()
        .any(|x| x.label("system_identifier") == Some(b_id.as_str()))
    });

    // (This page follows reload 3, which set the timestamp before c's node was polled on b.)
    let before_refusal = e
        .scrape()
        .get(
            "pg_replication_exporter_config_last_reload_success_timestamp_seconds",
            &[],
        )
        .unwrap();

    // 4. A broken file is refused with its one-line error; the running configuration stays.
    fs::write(
        e.config_path(),
        format!(
            "{}\n[[cluster]]\nname = \"a\"\n",
            config(&[block(&a, "a", same)])
        ),
    )
    .unwrap();
    sighup(&e);
    wait_reloads(&e, 4);
    let refused = log_lines(e.log_path(), "reload refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("invalid configuration") && refused[0].contains("cluster"),
        "the refusal names the problem: {}",
        refused[0]
    );
    let s = e.wait_scrape("the refusal on the page", WAIT, |s| {
        s.get("pg_replication_exporter_config_last_reload_successful", &[]) == Some(0.0)
    });
    assert_eq!(
        s.get(
            "pg_replication_exporter_config_last_reload_success_timestamp_seconds",
            &[]
        ),
        Some(before_refusal),
        "a refused file leaves the last success's timestamp"
    );
    // Both clusters are still polled: a poll that starts after now succeeds on each.
    let s = e.fresh_scrape();
    assert_eq!(clusters_in(&e), set(&["a", "c"]));
    assert_eq!(
        s.get(
            "pg_replication_up",
            &[("cluster", "c"), ("node", "primary")]
        ),
        Some(1.0)
    );

    // The untouched cluster kept its sessions (no poller of a restarted) ...
    assert_eq!(
        sessions(&a, a.exporter_role()),
        a_sessions,
        "a's sessions survived four reloads"
    );
    // ... and its LSN history: the lag is measured from when the primary passed the standby's
    // position, not from the first reload (which a restarted history would show).
    let lag = s
        .get(
            "pg_replication_standby_lag_seconds",
            &[("cluster", "a"), ("node", "standby1")],
        )
        .unwrap();
    let truth = behind_since.elapsed().as_secs_f64();
    let since_reload = first_reload.elapsed().as_secs_f64();
    assert!(
        (lag - truth).abs() <= 2.5 && lag > since_reload + 2.0,
        "lag {lag:.2}s vs {truth:.2}s since the write ({since_reload:.2}s since the first reload)"
    );
    standby.resume_replay();
}

#[test]
fn post_reload_needs_the_lifecycle_flag_and_answers_with_the_outcome() {
    let a = Cluster::builder().standbys(0).start();
    let good = format!("{HEADER}{}", block(&a, "a", same));

    // Without --web.enable-lifecycle: 403, nothing reloaded.
    let plain = Exporter::start(&good);
    let r = http_request(plain.addr(), "POST", "/-/reload", &[], None).unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("--web.enable-lifecycle"), "{}", r.text());
    drop(plain);

    let e = Exporter::start_with(&good, &["--web.enable-lifecycle"], &[]);
    e.wait_metric("pg_replication_up", &[("cluster", "a")], |v| v == 1.0, WAIT);
    // GET is not a reload.
    let r = e.get("/-/reload").unwrap();
    assert_eq!(r.status, 405, "{}", r.text());

    // A refused file: 500 with the configuration error's line, and the gauge says so.
    let secret = "s3cr3t-in-a-dsn";
    fs::write(
        e.config_path(),
        format!(
            "{good}\n[[cluster]]\nname = \"b\"\n\n[[cluster.node]]\nname = \"n\"\n\
             dsn = \"postgres://u:{secret}@127.0.0.1:notaport/db\"\n"
        ),
    )
    .unwrap();
    let r = http_request(e.addr(), "POST", "/-/reload", &[], None).unwrap();
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().starts_with("invalid configuration: "),
        "{}",
        r.text()
    );
    assert_eq!(r.text().trim().lines().count(), 1, "one line: {}", r.text());
    assert!(
        !r.text().contains(secret),
        "the password stays out of the answer: {}",
        r.text()
    );
    assert!(
        !e.log_text().contains(secret),
        "the password stays out of the log"
    );
    // The page is rebuilt after the refusal (pages are built when the state changes).
    e.wait_scrape("the refusal on the page", WAIT, |s| {
        s.get("pg_replication_exporter_config_last_reload_successful", &[]) == Some(0.0)
    });

    // A good one: 200 with what changed.
    fs::write(e.config_path(), format!("{good}{}", block(&a, "a2", same))).unwrap();
    let r = http_request(e.addr(), "POST", "/-/reload", &[], None).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("added: a2"), "{}", r.text());
    assert!(r.text().contains("unchanged: 1"), "{}", r.text());
    e.wait_metric(
        "pg_replication_up",
        &[("cluster", "a2")],
        |v| v == 1.0,
        WAIT,
    );
    assert_eq!(
        e.scrape()
            .get("pg_replication_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
}

#[test]
fn a_poll_change_restarts_every_cluster_and_says_so() {
    let a = Cluster::builder().standbys(0).start();
    let body = block(&a, "a", same);
    let e = Exporter::start_with(&format!("{HEADER}{body}"), &["--web.enable-lifecycle"], &[]);
    e.wait_metric("pg_replication_up", &[("cluster", "a")], |v| v == 1.0, WAIT);
    let before = sessions(&a, a.exporter_role());
    fs::write(
        e.config_path(),
        format!("[poll]\ninterval = \"2s\"\ntimeout = \"1s\"\nbackoff_max = \"4s\"\n{body}"),
    )
    .unwrap();
    let r = http_request(e.addr(), "POST", "/-/reload", &[], None).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("every cluster restarted"), "{}", r.text());
    // A new session replaces the old one.
    assert!(
        poll_until(WAIT, || {
            let now = sessions(&a, a.exporter_role());
            !now.is_empty() && now.is_disjoint(&before)
        }),
        "a new session after the restart (before: {before:?})"
    );
}
