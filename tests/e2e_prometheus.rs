//! End-to-end proof of the bundled alert rules (alerts/pg_replication.rules.yml) and Grafana
//! dashboards (dashboards/*.json): a real PostgreSQL cluster (primary + 2 standbys), the exporter
//! binary polling it, a real Prometheus scraping the exporter every second and evaluating the
//! rules every second, and a real Alertmanager delivering to a webhook served by this test.
//!
//! The two tests run one after the other (a lock), as each runs three PostgreSQL servers plus
//! Prometheus on a small machine. Timings of each phase are printed (`--nocapture`).

mod harness;
mod prom;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use harness::{Cluster, Exporter, GIB, MIB, StopMode, WAIT, poll_until};
use prom::{Alertmanager, Prometheus, Webhook};
use serde_json::Value;

/// The scrape job: the rules' exporter alerts match `job=~".*pg_replication.*"`.
const JOB: &str = "pg_replication_exporter";
const CLUSTER: &str = "pg";
/// The cluster's one front-end: kind postgres on the primary's own address, expect primary, so
/// the front-end alerts and the dashboard's Front-ends queries see a real, healthy one.
const ENDPOINT: &str = "vip-rw";
/// Deadline of one alert reaching the webhook after its condition holds: one scrape, one
/// recording-rule and one alert evaluation, `for: 1s`, Alertmanager's group_wait and delivery.
const ALERT_WAIT: Duration = Duration::from_secs(60);

static SERIAL: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Everything one test runs. Fields drop in order: Prometheus stops first, the cluster last.
struct Stack {
    prom: Prometheus,
    am: Option<Alertmanager>,
    webhook: Option<Webhook>,
    exporter: Exporter,
    cluster: Cluster,
    t0: Instant,
}

impl Stack {
    /// Exporter on `cluster`, optionally webhook + Alertmanager, and Prometheus scraping the
    /// exporter; returns once Prometheus holds an `up` of every node.
    fn start(cluster: Cluster, alerting: bool, t0: Instant) -> Stack {
        let exporter = exporter_with_endpoint(&cluster);
        let webhook = alerting.then(Webhook::start);
        let am = webhook.as_ref().map(|w| Alertmanager::start(w.addr()));
        let prom = Prometheus::start(JOB, exporter.addr(), am.as_ref().map(Alertmanager::addr));
        let stack = Stack {
            prom,
            am,
            webhook,
            exporter,
            cluster,
            t0,
        };
        let nodes = stack.cluster.nodes().len();
        stack.wait(
            "Prometheus to scrape pg_replication_up == 1 of every node",
            WAIT,
            || {
                stack
                    .prom
                    .vector(&format!(
                        r#"pg_replication_up{{job="{JOB}",cluster="{CLUSTER}"}} == 1"#
                    ))
                    .len()
                    == nodes
            },
        );
        stack.wait(
            "Prometheus to scrape the front-end leading to the primary",
            WAIT,
            || {
                !stack
                    .prom
                    .vector(&format!(
                        r#"pg_replication_endpoint_expectation_met{{endpoint="{ENDPOINT}"}} == 1
                             and on (cluster, endpoint)
                           pg_replication_endpoint_target{{node="primary"}} == 1"#
                    ))
                    .is_empty()
            },
        );
        stack
    }

    fn lap(&self, what: &str) {
        eprintln!("[{:>6.1?}] {what}", self.t0.elapsed());
    }

    fn webhook(&self) -> &Webhook {
        self.webhook.as_ref().expect("a stack with alerting")
    }

    /// What a failed wait prints: Prometheus' alerts, the webhook payloads, the logs of the
    /// exporter, Prometheus and Alertmanager, and the cluster's replication state.
    fn dump(&self) -> String {
        let mut out = String::new();
        out.push_str("\n===== Prometheus /api/v1/alerts =====\n");
        match self.prom.alerts() {
            Ok(alerts) => {
                for a in alerts {
                    out.push_str(&format!("{a}\n"));
                }
            }
            Err(e) => out.push_str(&format!("(cannot read: {e})\n")),
        }
        if let Some(w) = &self.webhook {
            out.push_str("\n===== webhook payloads, in arrival order =====\n");
            for p in w.payloads() {
                out.push_str(&format!("{p}\n"));
            }
            for e in w.errors() {
                out.push_str(&format!("bad request: {e}\n"));
            }
        }
        let log = self.exporter.log_text();
        let lines: Vec<&str> = log.lines().collect();
        out.push_str(&format!(
            "\n===== exporter log (last 60 lines) =====\n{}\n",
            lines[lines.len().saturating_sub(60)..].join("\n")
        ));
        out.push_str(&format!(
            "\n===== prometheus log (last 30 lines) =====\n{}\n",
            self.prom.log_tail(30)
        ));
        if let Some(am) = &self.am {
            out.push_str(&format!(
                "\n===== alertmanager log (last 30 lines) =====\n{}\n",
                am.log_tail(30)
            ));
        }
        out.push_str(&self.cluster.dump());
        out
    }

    /// Poll `f` every 100 ms; on timeout panic with `what` and [`Stack::dump`].
    fn wait(&self, what: &str, timeout: Duration, f: impl FnMut() -> bool) {
        if !poll_until(timeout, f) {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.dump()
            );
        }
    }

    /// Wait until the webhook got an alert with this status and labels; return its index in
    /// arrival order and the alert.
    fn wait_webhook(&self, status: &str, labels: &[(&str, &str)]) -> (usize, Value) {
        let what = format!("Alertmanager to deliver a {status} alert {labels:?} to the webhook");
        self.wait(&what, ALERT_WAIT, || {
            self.webhook().find(status, labels).is_some()
        });
        self.webhook().find(status, labels).unwrap()
    }
}

/// The exporter on every node of `c` as cluster [`CLUSTER`], plus the front-end [`ENDPOINT`]
/// (kind postgres at the primary's own host and port, expect primary), once every node is up.
fn exporter_with_endpoint(c: &Cluster) -> Exporter {
    let role = c.exporter_role();
    let mut toml = c.exporter_config(CLUSTER, role.user(), role.password_file());
    toml.push_str(&format!(
        "\n[[cluster.endpoint]]\nname = \"{ENDPOINT}\"\nkind = \"postgres\"\n\
         host = \"127.0.0.1\"\nport = {}\nexpect = \"primary\"\n",
        c.primary().port()
    ));
    let e = Exporter::start(&toml);
    for n in c.nodes() {
        e.wait_metric(
            "pg_replication_up",
            &[("node", n.name())],
            |v| v == 1.0,
            WAIT,
        );
    }
    e.wait_metric(
        "pg_replication_endpoint_up",
        &[("endpoint", ENDPOINT)],
        |v| v == 1.0,
        WAIT,
    );
    e
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    // A panic in the other test must not fail this one too.
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bundled rule file with only its `for:` durations shortened to 1 s (so a condition fires
/// within seconds, and still goes through pending first), checked by promtool.
fn rules_with_short_for(dir: &Path) -> (PathBuf, usize) {
    let src_path = root().join("alerts/pg_replication.rules.yml");
    let src = std::fs::read_to_string(&src_path).expect("read the bundled rules");
    let (rules, rewritten) = prom::shorten_for(&src, "1s");
    let for_lines = src
        .lines()
        .filter(|l| l.trim_start().starts_with("for:"))
        .count();
    assert!(
        rewritten > 0 && rewritten == for_lines,
        "rewrote {rewritten} of {for_lines} for: lines"
    );
    // Nothing but `for:` lines changed.
    assert_eq!(src.lines().count(), rules.lines().count());
    for (a, b) in src.lines().zip(rules.lines()) {
        assert!(
            a == b || (a.trim_start().starts_with("for:") && b.trim() == "for: 1s"),
            "{a:?} -> {b:?}"
        );
    }
    let path = dir.join("rules.yml");
    std::fs::write(&path, &rules).expect("write the rewritten rules");
    if let Err(out) = prom::promtool_check_rules(&path) {
        panic!("the rewritten rule file fails `promtool check rules`:\n{out}");
    }
    let groups = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("- name:"))
        .count();
    (path, groups)
}

fn check_alert(a: &Value, alertname: &str, severity: &str, standby: &str) {
    let labels = &a["labels"];
    assert_eq!(labels["alertname"], alertname, "{a}");
    assert_eq!(labels["severity"], severity, "{a}");
    assert_eq!(labels["cluster"], CLUSTER, "{a}");
    assert_eq!(labels["standby"], standby, "{a}");
    let anchor = alertname.to_lowercase();
    let runbook = a["annotations"]["runbook_url"].as_str().unwrap_or_default();
    assert!(
        runbook.ends_with(&format!("docs/runbooks.md#{anchor}")),
        "runbook_url of {alertname}: {a}"
    );
    let summary = a["annotations"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(&format!("Standby {standby} of cluster {CLUSTER}")),
        "summary of {alertname}: {a}"
    );
}

#[test]
fn replay_lag_alerts_reach_alertmanager_and_resolve() {
    let _serial = serial();
    let t0 = Instant::now();
    let c = Cluster::builder().standbys(2).start();
    let s = Stack::start(c, true, t0);
    s.lap("cluster, exporter, Alertmanager and Prometheus up");
    let (primary, s1) = (s.cluster.primary(), s.cluster.standby(1));

    let (rules, groups) = rules_with_short_for(s.prom.dir());
    s.prom.load_rules(&rules, groups);
    // The exporter alerts assume this job name; prove their selector matches the live target.
    let up = s.prom.vector(r#"up{job=~".*pg_replication.*"}"#);
    assert!(
        up.len() == 1 && up[0].1 == 1.0,
        "up of the exporter job: {up:?}"
    );

    // Healthy baseline: the recording rule merges both views into one series per standby, and
    // no alert is pending or firing (a rule that fires on a healthy cluster would show here).
    s.wait(
        "the recording rule to have one series per standby",
        WAIT,
        || {
            let v = s.prom.vector("pg_replication:standby_replay_lag_bytes:max");
            let mut standbys: Vec<_> = v.iter().map(|(l, _)| l["standby"].clone()).collect();
            standbys.sort_by_key(|v| v.to_string());
            standbys == ["standby1", "standby2"]
        },
    );
    // Every rule evaluated on the healthy data: a group evaluation that started a second after
    // now (a rule true on a healthy cluster is pending from its first evaluation on).
    let since = harness::unix_now() + 1.0;
    s.wait("every rule group to evaluate again", WAIT, || {
        s.prom
            .rule_evaluations()
            .is_ok_and(|t| !t.is_empty() && t.iter().all(|&t| t > since))
    });
    let baseline = s.prom.alerts().expect("alerts");
    assert!(
        baseline.is_empty(),
        "alerts on a healthy cluster: {baseline:?}\n{}",
        s.dump()
    );
    // The `and on (...)` joins of the rules match live series: each alert expression with its
    // threshold comparison dropped returns the nodes it is about (a join on a label the
    // exporter does not emit would return nothing and the alert could never fire).
    let joins = [
        (
            "PgReplicationSyncQuorumLost",
            r#"pg_replication_sync_standbys_healthy
                 and on (cluster, node)
               (pg_replication_sync_config_info{synchronous_commit!~"off|local"} == 1)
                 and on (cluster, node)
               (pg_replication_node_is_primary == 1)"#,
            vec!["primary"],
        ),
        (
            "PgReplicationWalReceiverNotStreaming",
            r#"pg_replication_wal_receiver_status == 1
                 and on (cluster, node)
               pg_replication_node_is_primary == 0"#,
            vec!["standby1", "standby2"],
        ),
        // The front-end alerts bring the node a front-end leads to in with group_left (node)
        // and judge it by that node's role: on live series the healthy front-end leads to the
        // primary (so PgReplicationEndpointMisrouted's `unless` removes it, and
        // PgReplicationReadEndpointOnPrimary's `and` would keep it were its expectation not met).
        (
            "PgReplicationReadEndpointOnPrimary",
            r#"(
                 pg_replication_endpoint_expectation_met
                   * on (cluster, endpoint) group_left (node)
                 (pg_replication_endpoint_target == 1)
               )
                 and on (cluster, node)
               pg_replication_node_is_primary == 1"#,
            vec!["primary"],
        ),
    ];
    for (alert, expr, nodes) in joins {
        let mut got: Vec<String> = s
            .prom
            .vector(expr)
            .iter()
            .map(|(l, _)| l["node"].as_str().unwrap_or_default().to_string())
            .collect();
        got.sort();
        assert_eq!(got, nodes, "the join of {alert} on live data");
    }
    s.lap("rules loaded, healthy baseline has no alerts, joins match");

    // > 512 MiB behind: the warning fires, carrying its labels and runbook.
    s1.pause_replay();
    primary.write_wal(600 * MIB);
    s.lap("600 MiB written with replay paused on standby1");
    let warning = [
        ("alertname", "PgReplicationLagBytesWarning"),
        ("standby", "standby1"),
    ];
    let (warn_at, alert) = s.wait_webhook("firing", &warning);
    check_alert(
        &alert,
        "PgReplicationLagBytesWarning",
        "warning",
        "standby1",
    );
    s.lap("warning firing at the webhook");

    // The value Prometheus alerts on is the lag PostgreSQL itself reports (replay is paused and
    // the primary idle, so it holds still apart from a few bytes of background WAL).
    let truth = primary.current_lsn() - s1.replay_lsn();
    assert!(
        truth > 512 * MIB && truth <= GIB,
        "lag of standby1 after 600 MiB: {truth}"
    );
    s.wait(
        "the recording rule to equal the SQL lag of standby1",
        WAIT,
        || {
            let truth = (primary.current_lsn() - s1.replay_lsn()) as f64;
            s.prom
                .vector(r#"pg_replication:standby_replay_lag_bytes:max{standby="standby1"}"#)
                .first()
                .is_some_and(|(_, v)| (v - truth).abs() < MIB as f64)
        },
    );
    let (_, paused) = s.wait_webhook(
        "firing",
        &[
            ("alertname", "PgReplicationReplayPaused"),
            ("node", "standby1"),
        ],
    );
    assert_eq!(paused["labels"]["severity"], "warning", "{paused}");

    // > 1 GiB: the critical fires and the warning resolves (it covers (512 MiB, 1 GiB] only).
    primary.write_wal(GIB + 64 * MIB - truth);
    s.lap("written past 1 GiB of lag");
    let critical = [
        ("alertname", "PgReplicationLagBytesCritical"),
        ("standby", "standby1"),
    ];
    let (crit_at, alert) = s.wait_webhook("firing", &critical);
    check_alert(
        &alert,
        "PgReplicationLagBytesCritical",
        "critical",
        "standby1",
    );
    assert!(crit_at > warn_at, "critical delivered before the warning");
    let (_, resolved) = s.wait_webhook("resolved", &warning);
    check_alert(
        &resolved,
        "PgReplicationLagBytesWarning",
        "warning",
        "standby1",
    );
    // Both are never firing at once in Prometheus.
    let firing: Vec<Value> = s
        .prom
        .alerts()
        .expect("alerts")
        .into_iter()
        .filter(|a| a["state"] == "firing" && a["labels"]["standby"] == "standby1")
        .collect();
    assert!(
        firing.len() == 1 && firing[0]["labels"]["alertname"] == "PgReplicationLagBytesCritical",
        "standby1's firing lag alerts over 1 GiB: {firing:?}"
    );
    s.lap("critical firing, warning resolved at the webhook");

    // Replay resumes: everything resolves.
    s1.resume_replay();
    s.cluster.wait_for_catchup(s1);
    s.lap("standby1 caught up");
    let (_, resolved) = s.wait_webhook("resolved", &critical);
    check_alert(
        &resolved,
        "PgReplicationLagBytesCritical",
        "critical",
        "standby1",
    );
    s.wait_webhook(
        "resolved",
        &[
            ("alertname", "PgReplicationReplayPaused"),
            ("node", "standby1"),
        ],
    );
    s.wait("Prometheus to have no firing alert", WAIT, || {
        s.prom
            .alerts()
            .is_ok_and(|a| a.iter().all(|a| a["state"] != "firing"))
    });
    let errors = s.webhook().errors();
    assert!(errors.is_empty(), "bad webhook requests: {errors:?}");
    let mut seen: Vec<String> = s
        .webhook()
        .alerts()
        .iter()
        .map(|a| {
            format!(
                "{} {}{}",
                a["status"].as_str().unwrap_or("?"),
                a["labels"]["alertname"].as_str().unwrap_or("?"),
                a["labels"]["standby"]
                    .as_str()
                    .or(a["labels"]["node"].as_str())
                    .map(|n| format!("({n})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    seen.dedup();
    s.lap(&format!("all resolved; webhook saw: {}", seen.join(", ")));
}

/// Panel queries that may return nothing, each with why. Matched by a metric name that occurs
/// in exactly one query (as a whole name: `pg_replication_patroni_failover_candidate` does not
/// match `pg_replication_patroni_failover_candidates`); `below_major` limits the allowance to
/// older PostgreSQL versions.
struct MayBeEmpty {
    metric: &'static str,
    below_major: Option<u32>,
    why: &'static str,
}

const MAY_BE_EMPTY: &[MayBeEmpty] = &[
    MayBeEmpty {
        metric: "pg_replication_slot_inactive_since_timestamp_seconds",
        below_major: Some(17),
        why: "pg_replication_slots.inactive_since exists from PostgreSQL 17 on",
    },
    MayBeEmpty {
        metric: "pg_replication_slot_invalidated",
        below_major: None,
        why: "`== 1` keeps only invalidated slots (PostgreSQL 17+): none on a healthy cluster",
    },
    MayBeEmpty {
        metric: "pg_replication_slot_conflicting",
        below_major: None,
        why: "`== 1` keeps only logical slots on a standby that conflict with recovery \
              (PostgreSQL 16+): none on a healthy cluster",
    },
    // This cluster has no subscriber and no archive; tests/e2e_replicas.rs reads these series
    // from real subscribers and an archiving primary.
    MayBeEmpty {
        metric: "pg_replication_subscription_lag_bytes",
        below_major: None,
        why: "no logical subscription in this cluster",
    },
    MayBeEmpty {
        metric: "pg_replication_subscription_worker_running",
        below_major: None,
        why: "no logical subscription in this cluster",
    },
    MayBeEmpty {
        metric: "pg_replication_subscription_apply_errors_total",
        below_major: None,
        why: "no logical subscription in this cluster",
    },
    MayBeEmpty {
        metric: "pg_replication_subscription_sync_errors_total",
        below_major: None,
        why: "no logical subscription in this cluster",
    },
    MayBeEmpty {
        metric: "pg_replication_archiver_last_archived_age_seconds",
        below_major: None,
        why: "archive_mode is off: nothing was ever archived, so last_archived_time is NULL",
    },
    // The Patroni row of the overview: this cluster has no Patroni.
    MayBeEmpty {
        metric: "pg_replication_patroni_failover_candidates",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_cluster_last_failover_lost_bytes",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_last_promotion_timestamp_seconds",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_last_promotion_info",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_paused",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_cluster_unlocked",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_leader_mismatch",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_failover_candidate",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_dcs_last_seen_age_seconds",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_ttl_seconds",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_role",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_state",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_timeline_switches",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_info",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_up",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_member",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_pending_restart",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    MayBeEmpty {
        metric: "pg_replication_patroni_failsafe_active",
        below_major: None,
        why: NEEDS_PATRONI,
    },
    // The Front-ends row of the overview: this test's only front-end is a postgres one.
    MayBeEmpty {
        metric: "pg_replication_pgpool_backend_status",
        below_major: None,
        why: NEEDS_PGPOOL,
    },
    MayBeEmpty {
        metric: "pg_replication_pgpool_backend_role",
        below_major: None,
        why: NEEDS_PGPOOL,
    },
    MayBeEmpty {
        metric: "pg_replication_pgpool_backend_role_correct",
        below_major: None,
        why: NEEDS_PGPOOL,
    },
    MayBeEmpty {
        metric: "pg_replication_pgpool_backend_listed",
        below_major: None,
        why: NEEDS_PGPOOL,
    },
    MayBeEmpty {
        metric: "pg_replication_pgpool_backend_replication_delay_bytes",
        below_major: None,
        why: NEEDS_PGPOOL,
    },
    MayBeEmpty {
        metric: "pg_replication_pgpool_backend_replication_delay_seconds",
        below_major: None,
        why: NEEDS_PGPOOL,
    },
    MayBeEmpty {
        metric: "pg_replication_pgpool_backend_selects_total",
        below_major: None,
        why: NEEDS_PGPOOL,
    },
    MayBeEmpty {
        metric: "pg_replication_pgpool_backend_health_check_failures_total",
        below_major: None,
        why: NEEDS_PGPOOL,
    },
    MayBeEmpty {
        metric: "pg_replication_pgbouncer_database_target",
        below_major: None,
        why: NEEDS_PGBOUNCER,
    },
    MayBeEmpty {
        metric: "pg_replication_pgbouncer_database_expectation_met",
        below_major: None,
        why: NEEDS_PGBOUNCER,
    },
    MayBeEmpty {
        metric: "pg_replication_pgbouncer_clients_waiting",
        below_major: None,
        why: NEEDS_PGBOUNCER,
    },
    MayBeEmpty {
        metric: "pg_replication_pgbouncer_max_wait_seconds",
        below_major: None,
        why: NEEDS_PGBOUNCER,
    },
];

const NEEDS_PATRONI: &str = "needs Patroni: run live in e2e_patroni";
const NEEDS_PGPOOL: &str = "no pgpool-II in this test (its one front-end is kind postgres)";
const NEEDS_PGBOUNCER: &str = "no pgbouncer in this test (its one front-end is kind postgres)";

/// Whether `query` uses `metric` as a whole name (not as the prefix of a longer one).
fn uses_metric(query: &str, metric: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    query
        .match_indices(metric)
        .any(|(i, _)| !query[..i].ends_with(word) && !query[i + metric.len()..].starts_with(word))
}

/// Every dashboard query and variable selector, variables substituted, from
/// scripts/check-dashboards.sh.
fn dashboard_queries() -> Vec<String> {
    let out = Command::new("bash")
        .arg(root().join("scripts/check-dashboards.sh"))
        .args(["--list-queries", "--var", &format!("cluster={CLUSTER}")])
        .output()
        .expect("run bash scripts/check-dashboards.sh --list-queries");
    assert!(
        out.status.success(),
        "check-dashboards.sh --list-queries failed (it needs node): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut queries: Vec<String> = String::from_utf8(out.stdout)
        .expect("UTF-8 queries")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    // Variable selectors repeat across the dashboards.
    queries.sort();
    queries.dedup();
    queries
}

/// Ok(true) if `expr` returns data now, Ok(false) if an empty vector or matrix, Err if the
/// query fails.
fn has_data(p: &Prometheus, expr: &str) -> Result<bool, String> {
    let data = p.query(expr)?;
    match data["resultType"].as_str() {
        Some("vector" | "matrix") => Ok(data["result"].as_array().is_some_and(|r| !r.is_empty())),
        Some("scalar" | "string") => Ok(true),
        _ => Err(format!("unexpected result {data}")),
    }
}

#[test]
fn every_dashboard_query_returns_data_from_a_live_cluster() {
    let _serial = serial();
    let t0 = Instant::now();
    let queries = dashboard_queries();
    assert!(
        queries.len() > 20,
        "only {} dashboard queries: {queries:?}",
        queries.len()
    );
    for m in MAY_BE_EMPTY {
        let n = queries.iter().filter(|q| uses_metric(q, m.metric)).count();
        assert_eq!(
            n, 1,
            "allowlisted {} must be in exactly one query",
            m.metric
        );
    }

    let c = Cluster::builder()
        .standbys(2)
        .logical_slot("l1")
        // safe_wal_size is NULL (its series absent) unless max_slot_wal_keep_size is set.
        .conf("max_slot_wal_keep_size = 4GB")
        .start();
    let primary = c.primary();
    // A physical slot no standby uses (the inactive-slot panels), committed transactions (the
    // standbys' last replay timestamp) and WAL behind every slot.
    primary.execute(
        "SELECT pg_create_physical_replication_slot('unused', true)",
        &[],
    );
    primary.batch_execute("CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 1000)");
    primary.write_wal(16 * MIB);
    for standby in c.standbys() {
        c.wait_for_catchup(standby);
    }
    let major = c.bin().major();
    let s = Stack::start(c, false, t0);
    // rate() and increase() need two samples in their window; take a few.
    s.wait("three scrapes of every node in Prometheus", WAIT, || {
        let v = s.prom.vector(&format!(
            "count_over_time(pg_replication_up{{cluster=\"{CLUSTER}\"}}[1m]) >= 3"
        ));
        v.len() == s.cluster.nodes().len()
    });
    s.lap(&format!(
        "cluster (PostgreSQL {major}), exporter and Prometheus up, 3 scrapes"
    ));

    let run = |qs: &[String]| -> Vec<String> {
        let mut empty = Vec::new();
        let mut failed = Vec::new();
        for q in qs {
            match has_data(&s.prom, q) {
                Ok(true) => {}
                Ok(false) => empty.push(q.clone()),
                Err(e) => failed.push(format!("{q}: {e}")),
            }
        }
        assert!(
            failed.is_empty(),
            "dashboard queries that Prometheus rejects:\n{}",
            failed.join("\n")
        );
        empty
    };
    let allowed = |q: &str| {
        MAY_BE_EMPTY
            .iter()
            .find(|m| uses_metric(q, m.metric) && m.below_major.is_none_or(|b| major < b))
    };
    let empty = run(&queries);
    s.lap(&format!(
        "{} queries run, {} empty",
        queries.len(),
        empty.len()
    ));

    // What a healthy cluster cannot show: the failover panels. Make one: stop the primary and
    // promote standby2, then ask again.
    let mut still_empty = empty.clone();
    if empty.iter().any(|q| allowed(q).is_none()) {
        let c = &s.cluster;
        c.primary().stop(StopMode::Fast);
        c.standby(2).promote();
        s.wait("Prometheus to see the failover", WAIT, || {
            !s.prom
                .vector(&format!(
                    "pg_replication_cluster_failovers_total{{cluster=\"{CLUSTER}\"}} >= 1"
                ))
                .is_empty()
        });
        // One more round of the exporter and a Prometheus scrape after it, for the series the
        // failover round created.
        s.exporter.fresh_scrape();
        let polled = harness::unix_now();
        s.wait("Prometheus to scrape after the next round", WAIT, || {
            s.prom
                .last_scrapes()
                .is_ok_and(|t| !t.is_empty() && t.iter().all(|&t| t > polled))
        });
        still_empty = run(&empty);
        let filled: Vec<&String> = empty.iter().filter(|q| !still_empty.contains(q)).collect();
        s.lap(&format!(
            "after a failover, {} of them have data: {filled:?}",
            filled.len()
        ));
    }
    let unexplained: Vec<&String> = still_empty
        .iter()
        .filter(|q| allowed(q).is_none())
        .collect();
    assert!(
        unexplained.is_empty(),
        "dashboard queries with no data from a live cluster, not in MAY_BE_EMPTY:\n{}\n{}",
        unexplained
            .iter()
            .map(|q| format!("  {q}"))
            .collect::<Vec<_>>()
            .join("\n"),
        s.dump()
    );
    for q in &still_empty {
        s.lap(&format!("allowed empty: {q} ({})", allowed(q).unwrap().why));
    }
}

#[test]
fn allowlist_matches_whole_metric_names() {
    let q = "pg_replication_patroni_failover_candidates{cluster=~\"pg\"}";
    assert!(uses_metric(q, "pg_replication_patroni_failover_candidates"));
    assert!(!uses_metric(q, "pg_replication_patroni_failover_candidate"));
    assert!(uses_metric(
        "pg_replication_patroni_role{cluster=~\"pg\"} == 1",
        "pg_replication_patroni_role"
    ));
    assert!(!uses_metric(
        "pg_replication_patroni_last_promotion_info{cluster=~\"pg\"}",
        "pg_replication_patroni_info"
    ));
    assert!(!uses_metric(
        "xpg_replication_patroni_up",
        "pg_replication_patroni_up"
    ));
}
