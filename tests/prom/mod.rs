//! Real Prometheus and Alertmanager for the end-to-end tests of the bundled alert rules and
//! dashboards: each runs as a child process on a free 127.0.0.1 port with its storage in a temp
//! dir (never a system service or a default port) and is killed on Drop, also when the test
//! panics. Also here: the webhook receiver that records what Alertmanager sends, and the `for:`
//! rewrite of the rule file. Ports, the HTTP client and the waits come from the harness.
//!
//! Binaries: `$PROMETHEUS`, `$PROMTOOL`, `$ALERTMANAGER`, else the Debian packages' paths
//! (/usr/bin/prometheus, /usr/bin/promtool, /usr/bin/prometheus-alertmanager).

// Each test file that includes this module uses only part of it.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long Prometheus or Alertmanager may take to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

fn binary(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.is_file(),
        "{} not found: install it (apt-get install prometheus prometheus-alertmanager) or set ${env}",
        path.display()
    );
    path
}

pub fn prometheus_bin() -> PathBuf {
    binary("PROMETHEUS", "/usr/bin/prometheus")
}

pub fn promtool_bin() -> PathBuf {
    binary("PROMTOOL", "/usr/bin/promtool")
}

pub fn alertmanager_bin() -> PathBuf {
    binary("ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
}

/// An RFC 3339 time as Go prints it ("2026-12-01T10:30:00.123456789Z", or "+01:00" for the
/// zone) in Unix seconds.
pub fn rfc3339(t: &str) -> Result<f64, String> {
    let bad = || format!("not an RFC 3339 time: {t:?}");
    let num = |a: usize, b: usize| -> Result<i64, String> {
        t.get(a..b).and_then(|s| s.parse().ok()).ok_or_else(bad)
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let rest = t.get(19..).ok_or_else(bad)?;
    let zone_at = rest.find(['Z', '+', '-']).ok_or_else(bad)?;
    let frac: f64 = match &rest[..zone_at] {
        "" => 0.0,
        f => format!("0{f}").parse().map_err(|_| bad())?,
    };
    let offset = match &rest[zone_at..] {
        "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let hh: i64 = z.get(1..3).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let mm: i64 = z.get(4..6).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            sign * (hh * 3600 + mm * 60)
        }
    };
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok((days * 86_400 + h * 3600 + mi * 60 + sec - offset) as f64 + frac)
}

/// Percent-encode a query-string value (everything but RFC 3986 unreserved characters).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One exchange with the harness's HTTP client: the status and the body as text.
fn http(addr: SocketAddr, method: &str, path: &str) -> Result<(u16, String), String> {
    crate::harness::http_request(addr, method, path, &[], None).map(|r| (r.status, r.text()))
}

/// A child process with its own temp dir and log file, killed on Drop.
struct Daemon {
    name: &'static str,
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Daemon {
    fn spawn(
        name: &'static str,
        cmd: &mut Command,
        addr: SocketAddr,
        dir: tempfile::TempDir,
    ) -> Daemon {
        let log = dir.path().join(format!("{name}.log"));
        let out = fs::File::create(&log).expect("create daemon log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log fd"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let mut d = Daemon {
            name,
            child: Some(child),
            addr,
            log,
            dir,
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&mut self) {
        let child = self.child.as_mut().expect("the server runs");
        let (name, addr, log) = (self.name, self.addr, self.log.clone());
        crate::harness::wait_ready(
            name,
            child,
            READY_TIMEOUT,
            || match http(addr, "GET", "/-/ready") {
                Ok((200, _)) => Ok(()),
                Ok((s, body)) => Err(format!("/-/ready {s} {}", body.trim())),
                Err(e) => Err(e),
            },
            || crate::harness::tail(&log, 40),
        );
    }

    fn log_tail(&self, n: usize) -> String {
        crate::harness::tail(&self.log, n)
    }
}

impl Daemon {
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One series of a range query: its labels and its (unix seconds, value) samples.
pub type Series = (Value, Vec<(f64, f64)>);

/// A single-node VictoriaMetrics (Debian's `victoria-metrics`): Prometheus remote write at
/// `/api/v1/write`, PromQL at `/api/v1/query`, optionally deduplicating samples closer than
/// `dedup` (`-dedup.minScrapeInterval`, for an HA pair). Queries see samples as soon as they are
/// ingested (`-search.latencyOffset=0s`) and are not cached.
pub struct VictoriaMetrics {
    d: Daemon,
}

pub fn victoria_metrics_bin() -> PathBuf {
    binary("VICTORIA_METRICS", "/usr/bin/victoria-metrics")
}

impl VictoriaMetrics {
    pub fn start(dedup: Option<Duration>) -> VictoriaMetrics {
        let dir = tempfile::Builder::new()
            .prefix("victoria-metrics.")
            .tempdir()
            .expect("victoria-metrics temp dir");
        let addr: SocketAddr = ([127, 0, 0, 1], crate::harness::free_port()).into();
        let mut cmd = Command::new(victoria_metrics_bin());
        cmd.arg(format!("-httpListenAddr={addr}"))
            .arg(format!(
                "-storageDataPath={}",
                dir.path().join("data").display()
            ))
            .arg("-retentionPeriod=1d")
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .arg("-loggerLevel=WARN");
        if let Some(d) = dedup {
            cmd.arg(format!("-dedup.minScrapeInterval={}ms", d.as_millis()));
        }
        VictoriaMetrics {
            d: Daemon::spawn("victoria-metrics", &mut cmd, addr, dir),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.d.addr
    }

    /// The URL Prometheus remote-writes to.
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr())
    }

    pub fn log_tail(&self, n: usize) -> String {
        self.d.log_tail(n)
    }

    pub fn query(&self, expr: &str) -> Result<Value, String> {
        query(self.addr(), expr)
    }

    pub fn vector(&self, expr: &str) -> Vec<(Value, f64)> {
        vector(self.addr(), expr)
    }

    /// The raw (deduplicated) samples of every series `selector` matches over the last `range`,
    /// as (labels, [(unix seconds, value)]) from a range-vector query.
    pub fn samples(&self, selector: &str, range: Duration) -> Result<Vec<Series>, String> {
        let expr = format!("{selector}[{}s]", range.as_secs());
        let data = self.query(&expr)?;
        if data["resultType"] != "matrix" {
            return Err(format!("query {expr}: not a matrix: {data}"));
        }
        Ok(data["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|s| {
                let values = s["values"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|p| {
                        let t = p[0].as_f64().unwrap_or(f64::NAN);
                        let v = p[1]
                            .as_str()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(f64::NAN);
                        (t, v)
                    })
                    .collect();
                (s["metric"].clone(), values)
            })
            .collect())
    }
}

/// GET a Prometheus/Alertmanager JSON API path and return the parsed body; Err names the problem.
fn get_json(addr: SocketAddr, path: &str) -> Result<Value, String> {
    let (status, body) = http(addr, "GET", path)?;
    let v: Value = serde_json::from_str(&body)
        .map_err(|e| format!("GET {path}: {status}, not JSON ({e}): {body}"))?;
    if status != 200 || v["status"] != "success" {
        return Err(format!("GET {path}: {status} {body}"));
    }
    Ok(v)
}

/// `/api/v1/query?query=expr` on a Prometheus-compatible server: the `data` object, or Err with
/// the answer.
fn query(addr: SocketAddr, expr: &str) -> Result<Value, String> {
    get_json(addr, &format!("/api/v1/query?query={}", urlencode(expr))).map(|v| v["data"].clone())
}

/// The instant vector of `expr` as (labels, value) pairs; panics if the query fails or the
/// result is not a vector.
fn vector(addr: SocketAddr, expr: &str) -> Vec<(Value, f64)> {
    let data = query(addr, expr).unwrap_or_else(|e| panic!("query {expr}: {e}"));
    assert_eq!(data["resultType"], "vector", "query {expr}: {data}");
    data["result"]
        .as_array()
        .expect("result array")
        .iter()
        .map(|s| {
            let v = s["value"][1].as_str().and_then(|t| t.parse().ok());
            (s["metric"].clone(), v.unwrap_or(f64::NAN))
        })
        .collect()
}

/// A Prometheus server: scrape interval and rule evaluation interval 1 s, one scrape job, an
/// optional Alertmanager, and a rules file that [`Prometheus::load_rules`] installs later.
pub struct Prometheus {
    d: Daemon,
    config: PathBuf,
    base_config: String,
}

impl Prometheus {
    /// Start Prometheus scraping `target` under job `job`, sending alerts to `alertmanager`.
    pub fn start(job: &str, target: SocketAddr, alertmanager: Option<SocketAddr>) -> Prometheus {
        let mut base_config = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n",
        );
        if let Some(am) = alertmanager {
            base_config.push_str(&format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
            ));
        }
        base_config.push_str(&format!(
            "scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
        ));
        Self::start_config(&base_config, false)
    }

    /// Start Prometheus with the test's own whole configuration `yaml`; with `agent` in agent
    /// mode (`--enable-feature=agent`: scrape and remote-write only, no queries, no rules).
    pub fn start_config(yaml: &str, agent: bool) -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("prometheus.")
            .tempdir()
            .expect("prometheus temp dir");
        let config = dir.path().join("prometheus.yml");
        fs::write(&config, yaml).expect("write prometheus.yml");
        let addr: SocketAddr = ([127, 0, 0, 1], crate::harness::free_port()).into();
        let data = dir.path().join("data");
        let mut cmd = Command::new(prometheus_bin());
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=info");
        if agent {
            cmd.arg("--enable-feature=agent")
                .arg(format!("--storage.agent.path={}", data.display()));
        } else {
            cmd.arg(format!("--storage.tsdb.path={}", data.display()))
                .arg("--storage.tsdb.retention.time=1h");
        }
        let d = Daemon::spawn("prometheus", &mut cmd, addr, dir);
        Prometheus {
            d,
            config,
            base_config: yaml.to_owned(),
        }
    }

    /// Stop the server now (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.d.kill();
    }

    pub fn addr(&self) -> SocketAddr {
        self.d.addr
    }

    pub fn dir(&self) -> &Path {
        self.d.dir.path()
    }

    pub fn log_tail(&self, n: usize) -> String {
        self.d.log_tail(n)
    }

    /// Add the rule file `path` to the config and reload (SIGHUP); returns once the rule API
    /// lists `expected_groups` groups. Loading rules only after the first scrapes keeps the
    /// exporter-absent alert from seeing Prometheus' own startup.
    pub fn load_rules(&self, path: &Path, expected_groups: usize) {
        let config = format!(
            "{}rule_files:\n  - '{}'\n",
            self.base_config,
            path.display()
        );
        fs::write(&self.config, config).expect("rewrite prometheus.yml");
        let pid = self.d.child.as_ref().expect("prometheus runs").id();
        // SAFETY: kill has no memory-safety preconditions.
        assert_eq!(
            unsafe { libc::kill(pid as i32, libc::SIGHUP) },
            0,
            "SIGHUP prometheus"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let groups = get_json(self.addr(), "/api/v1/rules")
                .map(|v| v["data"]["groups"].as_array().map_or(0, Vec::len));
            if groups == Ok(expected_groups) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "prometheus did not load {expected_groups} rule groups from {} (rules API: \
                     {groups:?})\n--- log ---\n{}",
                    path.display(),
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `lastEvaluation` of every loaded rule group, in Unix seconds (empty before any).
    pub fn rule_evaluations(&self) -> Result<Vec<f64>, String> {
        let v = get_json(self.addr(), "/api/v1/rules")?;
        let groups = v["data"]["groups"].as_array().cloned().unwrap_or_default();
        groups
            .iter()
            .map(|g| rfc3339(g["lastEvaluation"].as_str().unwrap_or_default()))
            .collect()
    }

    /// The `lastScrape` of every active target, in Unix seconds.
    pub fn last_scrapes(&self) -> Result<Vec<f64>, String> {
        let v = get_json(self.addr(), "/api/v1/targets")?;
        let targets = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        targets
            .iter()
            .map(|t| rfc3339(t["lastScrape"].as_str().unwrap_or_default()))
            .collect()
    }

    /// `/api/v1/query?query=expr`: the `data` object, or Err with the answer.
    pub fn query(&self, expr: &str) -> Result<Value, String> {
        query(self.addr(), expr)
    }

    /// The instant vector of `expr` as (labels, value) pairs; panics if the query fails or the
    /// result is not a vector.
    pub fn vector(&self, expr: &str) -> Vec<(Value, f64)> {
        vector(self.addr(), expr)
    }

    /// `/api/v1/targets`: the `activeTargets` (each with `labels`, `health`, `scrapeUrl`,
    /// `lastError`).
    pub fn active_targets(&self) -> Result<Vec<Value>, String> {
        get_json(self.addr(), "/api/v1/targets").map(|v| {
            v["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
    }

    /// `/api/v1/alerts`: the pending and firing alerts.
    pub fn alerts(&self) -> Result<Vec<Value>, String> {
        get_json(self.addr(), "/api/v1/alerts")
            .map(|v| v["data"]["alerts"].as_array().cloned().unwrap_or_default())
    }
}

/// An Alertmanager whose only route sends every alert, grouped by all its labels (one
/// notification per alert), to `webhook` with resolve notifications on.
pub struct Alertmanager {
    d: Daemon,
}

impl Alertmanager {
    pub fn start(webhook: SocketAddr) -> Alertmanager {
        let dir = tempfile::Builder::new()
            .prefix("alertmanager.")
            .tempdir()
            .expect("alertmanager temp dir");
        let config = dir.path().join("alertmanager.yml");
        fs::write(
            &config,
            format!(
                "route:\n  receiver: test\n  group_by: ['...']\n  group_wait: 1s\n  \
                 group_interval: 1s\n  repeat_interval: 1m\n\
                 receivers:\n  - name: test\n    webhook_configs:\n      \
                 - url: 'http://{webhook}/alerts'\n        send_resolved: true\n"
            ),
        )
        .expect("write alertmanager.yml");
        let addr: SocketAddr = ([127, 0, 0, 1], crate::harness::free_port()).into();
        let mut cmd = Command::new(alertmanager_bin());
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            // No HA gossip: it would listen on 0.0.0.0:9094 by default.
            .arg("--cluster.listen-address=")
            .arg("--log.level=info");
        Alertmanager {
            d: Daemon::spawn("alertmanager", &mut cmd, addr, dir),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.d.addr
    }

    pub fn log_tail(&self, n: usize) -> String {
        self.d.log_tail(n)
    }
}

/// A webhook receiver on a std TcpListener in a thread: it answers every POST with 200 and
/// records the JSON bodies (Alertmanager's webhook payloads) in arrival order.
pub struct Webhook {
    addr: SocketAddr,
    payloads: Arc<Mutex<Vec<Value>>>,
    errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let port = crate::harness::free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the webhook listener");
        let addr = listener.local_addr().unwrap();
        let payloads = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (payloads, errors, stop) = (payloads.clone(), errors.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut conn) = conn else { continue };
                    match read_post(&mut conn) {
                        Ok(body) => match serde_json::from_slice::<Value>(&body) {
                            Ok(v) => payloads.lock().unwrap().push(v),
                            Err(e) => errors.lock().unwrap().push(format!(
                                "not JSON ({e}): {}",
                                String::from_utf8_lossy(&body)
                            )),
                        },
                        Err(e) => errors.lock().unwrap().push(e),
                    }
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    let _ = conn.shutdown(Shutdown::Both);
                }
            })
        };
        Webhook {
            addr,
            payloads,
            errors,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every payload received so far, in arrival order.
    pub fn payloads(&self) -> Vec<Value> {
        self.payloads.lock().unwrap().clone()
    }

    /// Requests that could not be read as a JSON POST.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Every alert of every payload, in arrival order (each alert carries its own `status`).
    pub fn alerts(&self) -> Vec<Value> {
        self.payloads()
            .iter()
            .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Index in [`Webhook::alerts`] of the first alert with this status whose labels include
    /// every pair of `labels`.
    pub fn find(&self, status: &str, labels: &[(&str, &str)]) -> Option<(usize, Value)> {
        self.alerts().into_iter().enumerate().find(|(_, a)| {
            a["status"] == status && labels.iter().all(|(k, v)| a["labels"][*k] == *v)
        })
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read one HTTP request with a Content-Length body and return the body.
fn read_post(conn: &mut TcpStream) -> Result<Vec<u8>, String> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = conn
            .read(&mut buf)
            .map_err(|e| format!("read request: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection closed inside the headers: {:?}",
                String::from_utf8_lossy(&raw)
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    if !head.starts_with("POST ") {
        return Err(format!("expected a POST: {head:?}"));
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| format!("no Content-Length: {head:?}"))?;
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut buf).map_err(|e| format!("read body: {e}"))?;
        if n == 0 {
            return Err(format!("body shorter than Content-Length {len}"));
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(len);
    Ok(body)
}

/// The rule file with every `for: <duration>` line set to `for: <to>` and nothing else changed;
/// also returns how many lines were rewritten.
pub fn shorten_for(rules: &str, to: &str) -> (String, usize) {
    let mut n = 0;
    let mut out = String::with_capacity(rules.len());
    for line in rules.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = &body[..body.len() - body.trim_start().len()];
        match body.trim_start().strip_prefix("for:") {
            Some(rest) if !rest.trim().is_empty() && !rest.trim().contains(char::is_whitespace) => {
                out.push_str(&format!("{indent}for: {to}{}", &line[body.len()..]));
                n += 1;
            }
            _ => out.push_str(line),
        }
    }
    (out, n)
}

/// `promtool check rules FILE`; Err carries promtool's output.
pub fn promtool_check_rules(file: &Path) -> Result<String, String> {
    let out = Command::new(promtool_bin())
        .arg("check")
        .arg("rules")
        .arg(file)
        .output()
        .map_err(|e| format!("run promtool: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_for_rewrites_only_for_lines() {
        let src = "  - alert: A\n    expr: up == 0\n    for: 5m\n    labels:\n      for: x y\n\
                   \x20   annotations:\n      summary: \"for: 5m\"\n  - alert: B\n    for: 1h30m\r\n";
        let (out, n) = shorten_for(src, "1s");
        assert_eq!(n, 2);
        assert_eq!(
            out,
            "  - alert: A\n    expr: up == 0\n    for: 1s\n    labels:\n      for: x y\n\
             \x20   annotations:\n      summary: \"for: 5m\"\n  - alert: B\n    for: 1s\r\n"
        );
    }

    #[test]
    fn rfc3339_reads_go_times() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Ok(0.0));
        assert_eq!(rfc3339("2000-03-01T00:00:00Z"), Ok(951_868_800.0));
        assert_eq!(rfc3339("2000-03-01T01:00:00+01:00"), Ok(951_868_800.0));
        let t = rfc3339("2026-12-01T10:30:00.25Z").unwrap();
        assert_eq!(t, 1_796_121_000.25);
        assert!(rfc3339("0001-01-01T00:00:00Z").unwrap() < 0.0);
        assert!(rfc3339("soon").is_err());
    }

    #[test]
    fn urlencode_escapes_promql() {
        assert_eq!(
            urlencode(r#"rate(x{a=~"b.+"}[1m]) * 2"#),
            "rate%28x%7Ba%3D~%22b.%2B%22%7D%5B1m%5D%29%20%2A%202"
        );
    }
}
