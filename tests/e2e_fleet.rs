//! Many clusters, many exporters (SPEC §11), against the real programs:
//!
//! - `hashmod_is_prometheus_hashmod`: a real Prometheus 2.42 relabels ~60 targets labelled
//!   `cluster=<name>` with `action: hashmod` into target labels; the exporter's
//!   [`hashmod`] must give the same values (and the recorded fixture
//!   tests/fixtures/hashmod/prometheus-2.42.json, read by the unit test, must be what this
//!   Prometheus computes; `UPDATE_FIXTURES=1` rewrites it).
//! - `a_sharded_fleet_seen_once_in_victoriametrics_and_through_http_sd`: six small PostgreSQL
//!   clusters, two exporter shards loading ONE file (the index from
//!   `PG_REPLICATION_EXPORTER_SHARD__INDEX`), two Prometheus agents each scraping one shard and
//!   remote-writing to one VictoriaMetrics: every cluster is there exactly once, from the shard
//!   hashmod assigns it to. Then a server-mode Prometheus discovers the clusters through both
//!   shards' `/sd` and scrapes each through `/probe`.
//! - `an_ha_pair_deduplicated_in_victoriametrics_has_no_gap`: two replicas of one exporter
//!   (same file), each scraped by its own agent with `instance` relabelled to one shared value,
//!   into a VictoriaMetrics with `-dedup.minScrapeInterval`; one replica is killed and the
//!   deduplicated `pg_replication_up` has no gap longer than two scrape intervals.

mod harness;
mod prom;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::{Cluster, Exporter, WAIT, free_port, poll_until};
use pg_replication_exporter::fleet::shard::hashmod;
use prom::{Prometheus, VictoriaMetrics};
use serde_json::Value;

/// Every Prometheus here scrapes (and the agents remote-write) at this interval.
const SCRAPE: Duration = Duration::from_secs(1);
const INDEX_ENV: &str = "PG_REPLICATION_EXPORTER_SHARD__INDEX";

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hashmod/prometheus-2.42.json")
}

/// Cluster names for the hashmod comparison: plain, numbered, and the awkward ones (UTF-8,
/// spaces, separators, quotes, a long one).
fn hashmod_names() -> Vec<String> {
    let mut names: Vec<String> = (0..48).map(|i| format!("pg-{i:02}")).collect();
    for n in [
        "orders",
        "billing",
        "prod/eu-west-1/main",
        "ünïcödé-🐘",
        "with space",
        "a;b",
        "quote\"d",
        "x",
        "0",
        "cluster.with.dots",
        "UPPER_lower",
        &"long-".repeat(40),
    ] {
        names.push(n.to_owned());
    }
    names
}

/// Modulus → target label; the last ones exceed 32 bits, so that the whole u64 matters.
const MODULI: [u64; 6] = [2, 3, 6, 7, 1000, 4_294_967_311];

#[test]
fn hashmod_is_prometheus_hashmod() {
    let names = hashmod_names();
    // Nothing listens there; the targets are only relabelled (a scrape would fail harmlessly).
    let nowhere = format!("127.0.0.1:{}", free_port());
    let mut yaml = String::from(
        "global:\n  scrape_interval: 1h\n  scrape_timeout: 10s\nscrape_configs:\n  - job_name: hashmod\n    static_configs:\n",
    );
    for n in &names {
        // JSON strings are YAML strings.
        yaml.push_str(&format!(
            "      - targets: ['{nowhere}']\n        labels: {{cluster: {}}}\n",
            serde_json::to_string(n).unwrap()
        ));
    }
    yaml.push_str("    relabel_configs:\n");
    for m in MODULI {
        yaml.push_str(&format!(
            "      - source_labels: [cluster]\n        modulus: {m}\n        target_label: h_{m}\n        action: hashmod\n"
        ));
    }
    let prom = Prometheus::start_config(&yaml, false);
    let mut targets = Vec::new();
    let listed = poll_until(WAIT, || {
        targets = prom.active_targets().unwrap_or_default();
        targets.len() == names.len()
    });
    assert!(
        listed,
        "Prometheus lists {} of {} targets\n{}",
        targets.len(),
        names.len(),
        prom.log_tail(30)
    );
    // What Prometheus computed, by cluster name then modulus.
    let mut computed: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for t in &targets {
        let labels = &t["labels"];
        let name = labels["cluster"].as_str().expect("a cluster label");
        let per: BTreeMap<String, String> = MODULI
            .iter()
            .map(|m| {
                let v = labels[format!("h_{m}")].as_str().expect("a hashmod label");
                (m.to_string(), v.to_owned())
            })
            .collect();
        computed.insert(name.to_owned(), per);
    }
    assert_eq!(computed.len(), names.len(), "one target per name");
    let mut compared = 0;
    for (name, per) in &computed {
        for (m, v) in per {
            let ours = hashmod(name, m.parse().unwrap());
            assert_eq!(
                ours.to_string(),
                *v,
                "hashmod({name:?}, {m}): Prometheus says {v}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, names.len() * MODULI.len());
    // The fixture of the unit test is this Prometheus's output.
    let pairs: Vec<Value> = names
        .iter()
        .map(|n| serde_json::json!({"cluster": n, "hashmod": computed[n]}))
        .collect();
    let fixture = serde_json::json!({
        "recorded_with": "prometheus 2.42.0 relabel_configs action: hashmod, source_labels: [cluster] (tests/e2e_fleet.rs)",
        "pairs": pairs,
    });
    let text = format!("{}\n", serde_json::to_string_pretty(&fixture).unwrap());
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(fixture_path(), &text).unwrap();
    }
    let recorded = std::fs::read_to_string(fixture_path()).unwrap();
    let recorded: Value = serde_json::from_str(&recorded).unwrap();
    assert_eq!(
        recorded, fixture,
        "tests/fixtures/hashmod/prometheus-2.42.json is not what Prometheus computes now (UPDATE_FIXTURES=1 rewrites it)"
    );
}

/// One file for the whole fleet: `[shard] count` (the index comes from each process's
/// environment) and each cluster's `[[cluster]]` as the harness writes it.
fn fleet_config(shard_count: Option<u64>, clusters: &[(&str, &Cluster)]) -> String {
    let mut toml =
        String::from("[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n");
    if let Some(count) = shard_count {
        toml.push_str(&format!("\n[shard]\ncount = {count}\n"));
    }
    for (name, c) in clusters {
        let role = c.exporter_role();
        let one = c.exporter_config(name, role.user(), role.password_file());
        let at = one.find("[[cluster]]").expect("a [[cluster]] table");
        toml.push('\n');
        toml.push_str(&one[at..]);
    }
    toml
}

/// Start `specs` (name, standbys) in parallel: each initdb and base backup waits on disk more
/// than on CPU.
fn start_clusters(specs: &[(&'static str, usize)]) -> Vec<(&'static str, Cluster)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .iter()
            .map(|&(name, standbys)| {
                s.spawn(move || (name, Cluster::builder().standbys(standbys).start()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// A Prometheus agent scraping `target`'s `path` every [`SCRAPE`] and remote-writing to `vm`;
/// `relabel` is appended to the scrape job as its `relabel_configs`.
fn agent(job: &str, target: &str, vm: &VictoriaMetrics, relabel: &str) -> Prometheus {
    let yaml = format!(
        "global:\n  scrape_interval: {s}s\n  scrape_timeout: {s}s\n\
         scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n{relabel}\
         remote_write:\n  - url: {url}\n    queue_config:\n      batch_send_deadline: 500ms\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        s = SCRAPE.as_secs(),
        url = vm.write_url(),
    );
    Prometheus::start_config(&yaml, true)
}

/// What a failed wait on VictoriaMetrics prints: its log and the agents'.
fn dump_remote_write(vm: &VictoriaMetrics, agents: &[Prometheus]) -> String {
    let mut out = format!("===== victoria-metrics log =====\n{}\n", vm.log_tail(20));
    for (i, a) in agents.iter().enumerate() {
        out.push_str(&format!("===== agent {i} log =====\n{}\n", a.log_tail(20)));
    }
    out
}

/// (value of `label`, all labels) of each series of an instant query.
fn by_label(result: &[(Value, f64)], label: &str) -> Vec<(String, Value)> {
    result
        .iter()
        .map(|(m, _)| (m[label].as_str().unwrap_or("").to_owned(), m.clone()))
        .collect()
}

fn wait_or_dump(what: &str, timeout: Duration, f: impl FnMut() -> bool, dump: impl Fn() -> String) {
    if !poll_until(timeout, f) {
        panic!("timed out after {timeout:?} waiting for {what}\n{}", dump());
    }
}

#[test]
fn a_sharded_fleet_seen_once_in_victoriametrics_and_through_http_sd() {
    let t0 = Instant::now();
    let lap = |what: &str| eprintln!("[{:>6.1?}] {what}", t0.elapsed());
    // Two of the six have a standby; a name's shard is hashmod(name, 2).
    let clusters = start_clusters(&[
        ("orders", 1),
        ("billing", 1),
        ("users", 0),
        ("search", 0),
        ("ledger", 0),
        ("audit", 0),
    ]);
    lap("six clusters up");
    let refs: Vec<(&str, &Cluster)> = clusters.iter().map(|(n, c)| (*n, c)).collect();
    let toml = fleet_config(Some(2), &refs);
    let owned_by = |index: u64| -> BTreeSet<String> {
        clusters
            .iter()
            .filter(|(n, _)| hashmod(n, 2) == index)
            .map(|(n, _)| n.to_string())
            .collect()
    };
    let want = [owned_by(0), owned_by(1)];
    assert!(
        want.iter().all(|w| !w.is_empty()),
        "the names must split between the shards: {want:?}"
    );
    let shards: Vec<Exporter> = (0..2)
        .map(|i| Exporter::start_with(&toml, &[], &[(INDEX_ENV, &i.to_string())]))
        .collect();
    lap("two shards ready");

    // Each shard's own account of the split: the log at start, its families, /probe and /sd.
    for (i, shard) in shards.iter().enumerate() {
        let line = shard.wait_for_log("polling the clusters this shard owns", WAIT);
        let owned: Vec<&str> = want[i].iter().map(String::as_str).collect();
        let skipped: Vec<&str> = want[1 - i].iter().map(String::as_str).collect();
        for name in &owned {
            assert!(line.contains(name), "shard {i} log: {line}");
        }
        let scrape = shard.scrape();
        assert_eq!(
            scrape.get(
                "pg_replication_exporter_shard_info",
                &[("index", &i.to_string()), ("count", "2")]
            ),
            Some(1.0)
        );
        assert_eq!(
            scrape.get("pg_replication_exporter_clusters", &[("state", "owned")]),
            Some(owned.len() as f64)
        );
        assert_eq!(
            scrape.get("pg_replication_exporter_clusters", &[("state", "skipped")]),
            Some(skipped.len() as f64)
        );
        let polled: BTreeSet<String> = scrape
            .all("pg_replication_cluster_nodes_configured")
            .iter()
            .map(|s| s.label("cluster").unwrap().to_owned())
            .collect();
        assert_eq!(polled, want[i], "shard {i} polls only what it owns");

        let probe = shard.get(&format!("/probe?cluster={}", owned[0])).unwrap();
        assert_eq!(probe.status, 200, "{probe:?}");
        let zipped = shard
            .get_with(
                &format!("/probe?cluster={}", owned[0]),
                &[("accept-encoding", "gzip")],
            )
            .unwrap();
        assert_eq!(
            zipped.header("content-encoding"),
            Some("gzip"),
            "{zipped:?}"
        );
        let other = shard
            .get(&format!("/probe?cluster={}", skipped[0]))
            .unwrap();
        assert_eq!(other.status, 404);
        assert!(
            other.text().contains(&format!(
                "cluster \"{}\" belongs to another shard: this exporter is shard {i} of 2",
                skipped[0]
            )),
            "{}",
            other.text()
        );
        let unknown = shard.get("/probe?cluster=nonesuch").unwrap();
        assert_eq!(unknown.status, 404);
        assert!(
            unknown.text().contains("no cluster \"nonesuch\""),
            "{}",
            unknown.text()
        );
        let bare = shard.get("/probe").unwrap();
        assert_eq!(bare.status, 400, "{}", bare.text());

        let landing = shard.get("/").unwrap().text();
        // The example is the shard's first cluster in configuration order.
        let first = clusters
            .iter()
            .map(|(n, _)| *n)
            .find(|n| want[i].contains(*n));
        assert!(
            landing.contains("<a href=\"/sd\">/sd</a>")
                && landing.contains(&format!("<a href=\"/probe?cluster={}\">", first.unwrap())),
            "the landing page links /sd and /probe: {landing}"
        );
        let sd = shard.get("/sd").unwrap();
        assert_eq!(sd.header("content-type"), Some("application/json"));
        let groups: Value = serde_json::from_str(&sd.text()).unwrap();
        let listed: BTreeSet<String> = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                assert_eq!(g["targets"], serde_json::json!([shard.addr().to_string()]));
                assert_eq!(g["labels"]["__metrics_path__"], "/probe");
                assert_eq!(g["labels"]["cluster"], g["labels"]["__param_cluster"]);
                g["labels"]["cluster"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(listed, want[i], "shard {i} /sd");
    }

    // `check` and `status` honour the shard too: the same file and index, the same clusters.
    for (i, owned) in want.iter().enumerate() {
        for sub in ["check", "status"] {
            let mut cmd = harness::command();
            cmd.arg(sub)
                .arg(format!(
                    "--config.file={}",
                    shards[i].config_path().display()
                ))
                .env(INDEX_ENV, i.to_string());
            let ran = harness::run(sub, cmd, harness::EXIT_WITHIN);
            let out = ran.output();
            for (name, _) in &clusters {
                assert_eq!(
                    out.contains(&format!("cluster {name}")),
                    owned.contains(*name),
                    "{sub} of shard {i} and cluster {name}:\n{}",
                    ran.describe()
                );
            }
        }
    }

    // Two agents, one per shard, into one VictoriaMetrics.
    let vm = VictoriaMetrics::start(None);
    let agents: Vec<Prometheus> = shards
        .iter()
        .map(|s| agent("pg_replication_exporter", &s.addr().to_string(), &vm, ""))
        .collect();
    lap("VictoriaMetrics and two agents ready");
    let dump = || dump_remote_write(&vm, &agents);
    let instance_of = |i: usize| shards[i].addr().to_string();
    let mut seen = Vec::new();
    wait_or_dump(
        "VictoriaMetrics to hold every cluster's nodes_configured",
        WAIT,
        || {
            seen = by_label(
                &vm.vector("pg_replication_cluster_nodes_configured"),
                "cluster",
            );
            seen.len() == clusters.len()
        },
        dump,
    );
    let mut per_instance: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut names = Vec::new();
    for (cluster, labels) in &seen {
        names.push(cluster.clone());
        per_instance
            .entry(labels["instance"].as_str().unwrap().to_owned())
            .or_default()
            .insert(cluster.clone());
    }
    names.sort();
    let mut all: Vec<String> = clusters.iter().map(|(n, _)| n.to_string()).collect();
    all.sort();
    assert_eq!(names, all, "every cluster exactly once: {seen:?}");
    assert_eq!(
        per_instance,
        BTreeMap::from([
            (instance_of(0), want[0].clone()),
            (instance_of(1), want[1].clone())
        ]),
        "each cluster comes from the shard hashmod assigns it to"
    );
    // Every node is up, once: 8 nodes in all (six primaries, two standbys).
    let mut up = Vec::new();
    wait_or_dump(
        "every node's pg_replication_up == 1 in VictoriaMetrics",
        WAIT,
        || {
            up = vm.vector("pg_replication_up == 1");
            up.len() == 8
        },
        dump,
    );
    let counts = vm.vector("count by (cluster, node) (pg_replication_up)");
    assert_eq!(counts.len(), 8, "{counts:?}");
    assert!(counts.iter().all(|(_, v)| *v == 1.0), "{counts:?}");
    lap("VictoriaMetrics sees every cluster once");
    drop(agents);

    // HTTP SD: a server-mode Prometheus discovers the owned clusters of both shards.
    let sd_yaml = format!(
        "global:\n  scrape_interval: {s}s\n  scrape_timeout: {s}s\n\
         scrape_configs:\n  - job_name: pg_replication_probe\n    honor_labels: true\n    http_sd_configs:\n      - url: http://{a}/sd\n        refresh_interval: 5s\n      - url: http://{b}/sd\n        refresh_interval: 5s\n",
        s = SCRAPE.as_secs(),
        a = shards[0].addr(),
        b = shards[1].addr(),
    );
    let prom = Prometheus::start_config(&sd_yaml, false);
    let mut targets = Vec::new();
    let healthy = poll_until(WAIT, || {
        targets = prom.active_targets().unwrap_or_default();
        targets.len() == clusters.len() && targets.iter().all(|t| t["health"] == "up")
    });
    assert!(
        healthy,
        "timed out waiting for one healthy /probe target per cluster: {targets:#?}\n{}",
        prom.log_tail(30)
    );
    for t in &targets {
        let cluster = t["labels"]["cluster"].as_str().unwrap();
        let owner = if want[0].contains(cluster) { 0 } else { 1 };
        assert_eq!(
            t["scrapeUrl"].as_str().unwrap(),
            format!("http://{}/probe?cluster={cluster}", instance_of(owner)),
            "{t}"
        );
    }
    let mut up = Vec::new();
    let scraped = poll_until(WAIT, || {
        up = prom.vector(r#"pg_replication_up{job="pg_replication_probe"} == 1"#);
        up.len() == 8
    });
    assert!(
        scraped,
        "timed out waiting for every node's pg_replication_up through /probe: {up:?}\n{}",
        prom.log_tail(30)
    );
    // Each probe carries its own cluster only: no series of another cluster under its target.
    let mismatched =
        prom.vector(r#"count by (cluster) ({job="pg_replication_probe", exported_cluster!=""})"#);
    assert!(mismatched.is_empty(), "{mismatched:?}");
    let per_target = prom.vector(r#"count by (instance, cluster) (pg_replication_cluster_nodes_configured{job="pg_replication_probe"})"#);
    assert_eq!(per_target.len(), clusters.len(), "{per_target:?}");
    lap("HTTP SD scrapes every cluster through /probe");

    // A reload runs the ownership rule again. Shard 0's file without [shard] is refused (its
    // environment still names an index) and the running split stays; with `count = 1` it is
    // applied and the shard polls all six.
    let pid = shards[0].pid().expect("shard 0 runs") as i32;
    std::fs::write(shards[0].config_path(), fleet_config(None, &refs)).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    shards[0].wait_scrape("the reload without [shard] refused", WAIT, |s| {
        s.get("pg_replication_exporter_config_last_reload_successful", &[]) == Some(0.0)
    });
    let scrape = shards[0].scrape();
    assert_eq!(
        scrape.get("pg_replication_exporter_clusters", &[("state", "owned")]),
        Some(want[0].len() as f64)
    );
    assert!(
        shards[0]
            .log_text()
            .contains("shard.count: is required in [shard]"),
        "{}",
        shards[0].log_text()
    );
    std::fs::write(shards[0].config_path(), fleet_config(Some(1), &refs)).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    shards[0].wait_scrape(
        "shard 0 to own all six clusters after the reload",
        WAIT,
        |s| {
            s.get("pg_replication_exporter_clusters", &[("state", "owned")]) == Some(6.0)
                && s.get("pg_replication_exporter_clusters", &[("state", "skipped")]) == Some(0.0)
                && s.get(
                    "pg_replication_exporter_shard_info",
                    &[("index", "0"), ("count", "1")],
                ) == Some(1.0)
                && s.all("pg_replication_up")
                    .iter()
                    .filter(|x| x.value == 1.0)
                    .count()
                    == 8
        },
    );
    lap("a reload re-applies the ownership");
}

/// The largest step between consecutive sample times, in seconds.
fn largest_gap(samples: &[(f64, f64)]) -> f64 {
    samples
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .fold(0.0, f64::max)
}

#[test]
fn an_ha_pair_deduplicated_in_victoriametrics_has_no_gap() {
    let t0 = Instant::now();
    let lap = |what: &str| eprintln!("[{:>6.1?}] {what}", t0.elapsed());
    let clusters = start_clusters(&[("pg-ha", 0)]);
    let refs: Vec<(&str, &Cluster)> = clusters.iter().map(|(n, c)| (*n, c)).collect();
    let toml = fleet_config(None, &refs);
    let replicas = [Exporter::start(&toml), Exporter::start(&toml)];
    lap("cluster and two replicas ready");
    // The replicas' series must be identical to be deduplicated: `instance` (the only label
    // that tells them apart) is set to one value for the pair.
    let vm = VictoriaMetrics::start(Some(SCRAPE));
    let relabel =
        "    relabel_configs:\n      - target_label: instance\n        replacement: pg-ha-pair\n";
    let agents: Vec<Prometheus> = replicas
        .iter()
        .map(|r| {
            agent(
                "pg_replication_exporter",
                &r.addr().to_string(),
                &vm,
                relabel,
            )
        })
        .collect();
    let selector = r#"pg_replication_up{cluster="pg-ha",node="primary"}"#;
    let dump = || dump_remote_write(&vm, &agents);
    // Both agents deliver before the kill: ten seconds of samples from the pair.
    wait_or_dump(
        "both agents' targets up and 10 s of deduplicated samples",
        WAIT,
        || {
            let healthy = agents.iter().all(|a| {
                a.active_targets()
                    .is_ok_and(|t| t.len() == 1 && t[0]["health"] == "up")
            });
            let n = vm
                .samples(selector, Duration::from_secs(60))
                .map(|s| s.first().map_or(0, |(_, v)| v.len()))
                .unwrap_or(0);
            healthy && n >= 10
        },
        dump,
    );
    let series = vm.samples(selector, Duration::from_secs(60)).unwrap();
    assert_eq!(series.len(), 1, "one series for the pair: {series:?}");
    assert_eq!(series[0].0["instance"], "pg-ha-pair");
    let before = largest_gap(&series[0].1);
    // Deduplicated: about one sample per scrape interval, not one from each replica.
    let (t_first, t_last) = (series[0].1[0].0, series[0].1.last().unwrap().0);
    let most = ((t_last - t_first) / SCRAPE.as_secs_f64()).ceil() as usize + 2;
    assert!(
        series[0].1.len() <= most,
        "{} samples over {:.1}s: the pair is not deduplicated",
        series[0].1.len(),
        t_last - t_first
    );
    let killed_at = harness::unix_now();
    let pid = replicas[0].pid().expect("replica 0 runs") as i32;
    // SIGKILL, as a crash or a lost host would: no graceful shutdown.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    lap("replica 0 killed");
    wait_or_dump(
        "agent 0 to see its replica down",
        WAIT,
        || {
            agents[0]
                .active_targets()
                .is_ok_and(|t| t.len() == 1 && t[0]["health"] == "down")
        },
        dump,
    );
    // Ten more seconds of samples after the kill, then measure the whole window.
    wait_or_dump(
        "10 s of samples after the kill",
        WAIT,
        || {
            vm.samples(selector, Duration::from_secs(120))
                .ok()
                .and_then(|s| {
                    s.first()
                        .map(|(_, v)| v.iter().filter(|(t, _)| *t > killed_at + 10.0).count())
                })
                .is_some_and(|n| n >= 5)
        },
        dump,
    );
    let series = vm.samples(selector, Duration::from_secs(120)).unwrap();
    assert_eq!(series.len(), 1, "still one series: {series:?}");
    // When the killed replica's scrape fails, its agent writes Prometheus's staleness marker (a
    // NaN) for each of its series; deduplication may keep that one for its interval. It is no
    // value (PromQL treats it as absence), so the gap is measured between real samples.
    let (stale, samples): (Vec<_>, Vec<_>) = series[0].1.iter().partition(|(_, v)| v.is_nan());
    assert!(stale.len() <= 1, "one staleness marker at most: {stale:?}");
    let samples: Vec<(f64, f64)> = samples.into_iter().copied().collect();
    let first = samples.first().unwrap().0;
    let last = samples.last().unwrap().0;
    assert!(
        first < killed_at - 5.0 && last > killed_at + 10.0,
        "{samples:?}"
    );
    let gap = largest_gap(&samples);
    eprintln!(
        "HA pair: {} samples over {:.1}s ({} staleness marker), largest gap {gap:.3}s (before the kill {before:.3}s)",
        samples.len(),
        last - first,
        stale.len()
    );
    // The worst case by construction is exactly two intervals: deduplication keeps the last
    // sample of each interval, so a staleness marker that is the last of its interval hides the
    // surviving replica's sample there. Prometheus aligns a scrape's timestamp to its schedule
    // only when it ran within a couple of milliseconds of it (later on a loaded machine), hence
    // the slack; one missed scrape more would be a whole interval over.
    const STAMP_SLACK: f64 = 0.1;
    assert!(
        gap <= 2.0 * SCRAPE.as_secs_f64() + STAMP_SLACK,
        "a gap of {gap:.3}s in the deduplicated pg_replication_up (limit two scrape intervals): {samples:?}"
    );
    assert!(samples.iter().all(|(_, v)| *v == 1.0), "{samples:?}");
}
