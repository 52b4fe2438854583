//! The exporter binary under test, the one way the tests run it: [`command`] (the binary with
//! no inherited `PG_REPLICATION_EXPORTER_*` environment), [`run`] for a command that must exit
//! (check, status, a refused configuration), and [`Exporter`] for a server: config written to a
//! temp file, a reserved port, output to a log file, ready when `GET /ready` answers 200 (or,
//! behind TLS, when the port accepts), killed on Drop; and scraping its `/metrics` into a
//! parsed [`Scrape`].

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::cluster::{Cluster, WAIT};
use super::http::{self, Response};
use super::os;
use super::scrape::Scrape;

/// How long the exporter may take to answer /ready with 200.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a command that must exit (a refused configuration, `check`, `status`) may run.
pub const EXIT_WITHIN: Duration = Duration::from_secs(60);

/// The exporter binary, stdin from /dev/null, without the `PG_REPLICATION_EXPORTER_*`
/// variables of the test's own environment (they would change its configuration).
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pg_replication_exporter"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("PG_REPLICATION_EXPORTER_")
        {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// What a finished run of the binary left.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// stdout then stderr, as one text.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The exit status and both streams, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `cmd` (from [`command`]) to completion, capturing stdout and stderr; panic naming `what`
/// if it is still running after `timeout` (it started serving instead of exiting).
pub fn run(what: &str, mut cmd: Command, timeout: Duration) -> Ran {
    let dir = tempfile::Builder::new()
        .prefix("exporter-run.")
        .tempdir()
        .expect("temp dir for the output");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    // Files, not pipes: a chatty child never blocks on a full pipe while we poll for its exit.
    let mut child = cmd
        .stdout(fs::File::create(&out_path).expect("create stdout file"))
        .stderr(fs::File::create(&err_path).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the exporter") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: still running after {timeout:?} instead of exiting\n--- stderr ---\n{}",
                os::tail(&err_path, 50)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    Ran {
        code: status.code(),
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// How [`Exporter::start_opts`] knows the exporter is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// `GET /ready` answers 200 over plain HTTP.
    Http,
    /// The port accepts TCP connections (the listener is TLS or behind auth).
    Listening,
}

pub struct Exporter {
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
    config: PathBuf,
    metrics_path: String,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// The exporter on every node of `c` as cluster "pg" with the pg_monitor role, once every
    /// node is up.
    pub fn for_cluster(c: &Cluster) -> Exporter {
        Self::for_cluster_as(c, "pg")
    }

    /// The exporter on every node of `c` as cluster `name` with the pg_monitor role, once every
    /// node is up.
    pub fn for_cluster_as(c: &Cluster, name: &str) -> Exporter {
        let role = c.exporter_role();
        let e = Exporter::start(&c.exporter_config(name, role.user(), role.password_file()));
        for n in c.nodes() {
            e.wait_metric(
                "pg_replication_up",
                &[("node", n.name())],
                |v| v == 1.0,
                WAIT,
            );
        }
        e
    }

    /// Start the exporter with this TOML config and wait until it is ready.
    pub fn start(toml: &str) -> Exporter {
        Self::start_with(toml, &[], &[])
    }

    /// Like [`Exporter::start`], with extra command-line flags and environment variables. A
    /// `--web.telemetry-path=...` flag is honoured by [`Exporter::scrape`].
    pub fn start_with(toml: &str, args: &[&str], env: &[(&str, &str)]) -> Exporter {
        Self::start_opts(toml, args, env, Ready::Http)
    }

    /// Like [`Exporter::start_with`], ready as `ready` says.
    pub fn start_opts(toml: &str, args: &[&str], env: &[(&str, &str)], ready: Ready) -> Exporter {
        let dir = tempfile::Builder::new()
            .prefix("exporter.")
            .tempdir()
            .expect("exporter temp dir");
        let config = dir.path().join("config.toml");
        fs::write(&config, toml).expect("write exporter config");
        let log = dir.path().join("exporter.log");
        let out = fs::File::create(&log).expect("create exporter log");
        let port = os::free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let metrics_path = args
            .iter()
            .find_map(|a| a.strip_prefix("--web.telemetry-path="))
            .unwrap_or("/metrics")
            .to_string();
        let child = command()
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(out.try_clone().expect("dup log fd"))
            .stderr(out)
            .spawn()
            .expect("spawn the pg_replication_exporter binary");
        let mut exporter = Exporter {
            child: Some(child),
            addr,
            log,
            config,
            metrics_path,
            _dir: dir,
        };
        exporter.wait_ready(ready);
        exporter
    }

    fn wait_ready(&mut self, ready: Ready) {
        let child = self.child.as_mut().expect("the exporter runs");
        let (addr, log) = (self.addr, self.log.clone());
        os::wait_ready(
            "the exporter",
            child,
            READY_TIMEOUT,
            || match ready {
                Ready::Http => match http::get(addr, "/ready", &[]) {
                    Ok(r) if r.status == 200 => Ok(()),
                    Ok(r) => Err(format!("/ready {} {}", r.status, r.text().trim())),
                    Err(e) => Err(e),
                },
                Ready::Listening => std::net::TcpStream::connect(addr)
                    .map(drop)
                    .map_err(|e| format!("connect to {addr}: {e}")),
            },
            || os::tail(&log, 200),
        );
    }

    /// Wait until a line of the exporter's log matches `re`, and return it; on timeout panic
    /// with the pattern and the log's tail.
    pub fn wait_for_log(&self, re: &str, timeout: Duration) -> String {
        os::wait_for_log("the exporter", &self.log, re, 0, timeout)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the exporter printed so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    pub fn get(&self, path: &str) -> Result<Response, String> {
        http::get(self.addr, path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
        http::get(self.addr, path, headers)
    }

    /// GET the telemetry path and parse it; panics (with the exporter log) on a non-200 answer
    /// or an invalid page.
    pub fn scrape(&self) -> Scrape {
        let r = self.get(&self.metrics_path).unwrap_or_else(|e| {
            panic!(
                "scrape failed: {e}\n--- exporter log ---\n{}",
                self.log_text()
            )
        });
        if r.status != 200 {
            panic!(
                "scrape answered {}: {}\n--- exporter log ---\n{}",
                r.status,
                r.text(),
                self.log_text()
            );
        }
        Scrape::parse(&r.text()).unwrap_or_else(|e| {
            panic!("invalid exposition format: {e}\n--- page ---\n{}", r.text())
        })
    }

    /// Re-scrape every 200 ms until `pred` holds for a scrape, and return that scrape; on
    /// timeout panic with `what`, the last page and the exporter log.
    pub fn wait_scrape(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Scrape) -> bool,
    ) -> Scrape {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.scrape();
            if pred(&s) {
                return s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n--- last scrape ---\n{}\n\
                     --- exporter log (last 50 lines) ---\n{}",
                    s.text,
                    os::tail(&self.log, 50)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Re-scrape until the single sample `name{labels}` exists and `pred(value)` holds; return
    /// that value.
    pub fn wait_metric(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        pred: impl Fn(f64) -> bool,
        timeout: Duration,
    ) -> f64 {
        let what = format!("{name}{labels:?} to satisfy the predicate");
        let s = self.wait_scrape(&what, timeout, |s| s.get(name, labels).is_some_and(&pred));
        s.get(name, labels).unwrap()
    }

    /// A scrape in which every node that is up was read by a poll that started after this call
    /// (by its last success minus its poll duration): SQL read before the call and after the
    /// return brackets every value of the page.
    pub fn fresh_scrape(&self) -> Scrape {
        let since = os::unix_now();
        self.wait_scrape(
            "a poll of every up node that started after the SQL reading",
            WAIT,
            |s| {
                let up: Vec<_> = s
                    .all("pg_replication_up")
                    .into_iter()
                    .filter(|u| u.value == 1.0)
                    .collect();
                !up.is_empty()
                    && up.iter().all(|u| {
                        let at = [
                            ("cluster", u.label("cluster").unwrap_or_default()),
                            ("node", u.label("node").unwrap_or_default()),
                        ];
                        let done = s.get("pg_replication_last_poll_success_timestamp_seconds", &at);
                        let took = s.get("pg_replication_poll_duration_seconds", &at);
                        matches!((done, took), (Some(d), Some(t)) if d - t > since)
                    })
            },
        )
    }

    /// Read `truth` (SQL), take a [`Exporter::fresh_scrape`], read `truth` again, until both
    /// readings agree, and return that reading with the scrape. Positions only move forward, so
    /// equal readings at both ends mean nothing moved in between: the page must show exactly
    /// the reading, also for values that can move both ways (lag). On timeout panic with the
    /// last two readings.
    pub fn quiet_scrape<T: PartialEq + std::fmt::Debug>(
        &self,
        what: &str,
        mut truth: impl FnMut() -> T,
    ) -> (T, Scrape) {
        let mut last = None;
        let mut found = None;
        let quiet = os::poll_until(WAIT, || {
            let before = truth();
            let s = self.fresh_scrape();
            let after = truth();
            if before == after {
                found = Some((after, s));
                return true;
            }
            last = Some((before, after));
            false
        });
        match found {
            Some(f) if quiet => f,
            _ => panic!(
                "{what}: the SQL reading never held still across a scrape within {WAIT:?}; \
                 last (before, after): {last:?}\n--- exporter log (last 50 lines) ---\n{}",
                os::tail(&self.log, 50)
            ),
        }
    }

    /// Wait until `node` has been polled successfully `n` more times: its last-success
    /// timestamp changes once per successful poll, and the page is read every 200 ms, faster
    /// than the polls. For "nothing more is logged over n polls".
    pub fn wait_polls(&self, node: &str, n: usize) {
        let metric = "pg_replication_last_poll_success_timestamp_seconds";
        let mut last = None;
        let mut seen = 0;
        self.wait_scrape(&format!("{n} more successful polls of {node}"), WAIT, |s| {
            let t = s.get(metric, &[("node", node)]);
            if last.is_some() && t.is_some() && t != last {
                seen += 1;
            }
            if t.is_some() {
                last = t;
            }
            seen >= n
        });
    }

    /// SIGTERM, then wait up to 10 s for the exit (SIGKILL after that). For shutdown tests.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("exporter already stopped");
        os::signal(child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("wait for the exporter") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let status = child.wait().expect("wait for the exporter");
                panic!(
                    "the exporter ignored SIGTERM for 10 s (killed: {status})\n--- log ---\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
