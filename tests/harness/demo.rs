//! `pg_replication_exporter demo` under test: start it with its arguments, read the directory
//! and the configuration it prints, scrape it, and stop it with SIGINT, checking that nothing is
//! left behind (no process whose command line names its directory, no directory).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::scrape::Scrape;

pub struct Demo {
    child: Child,
    /// Its stdout, kept open: a demo printing into a closed pipe would die of it.
    _stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
    /// The demo's directory, from its first line.
    pub dir: String,
    /// Everything it printed up to "Press Ctrl-C" (URL, configuration, hints).
    pub printed: String,
    pub addr: SocketAddr,
}

impl Demo {
    /// `demo ARGS --web.listen-address=127.0.0.1:<free port>`, once it has printed its config.
    pub fn start(args: &[&str]) -> Demo {
        let port = super::os::free_port();
        let mut child = super::exporter::command()
            .arg("demo")
            .args(args)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let dir = first
            .rsplit_once(" in ")
            .and_then(|(_, d)| d.strip_suffix(" …"))
            .unwrap_or_else(|| panic!("no directory in {first:?}"))
            .to_string();
        let printed: Vec<String> = lines
            .by_ref()
            .take_while(|l| !l.as_ref().unwrap().starts_with("Press Ctrl-C"))
            .map(Result::unwrap)
            .collect();
        Demo {
            child,
            _stdout: lines,
            dir,
            printed: printed.join("\n"),
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
        }
    }

    /// Scrape every 300 ms until `pred` holds; panic with the last page at the deadline.
    pub fn wait_scrape(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Scrape) -> bool,
    ) -> Scrape {
        let deadline = Instant::now() + timeout;
        loop {
            let page = super::http::get(self.addr, "/metrics", &[])
                .ok()
                .map(|r| r.text())
                .unwrap_or_default();
            if let Ok(s) = Scrape::parse(&page)
                && pred(&s)
            {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{page}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// SIGINT, then: the demo exits 0 within `within`, its directory is gone and no process
    /// names it.
    pub fn interrupt_and_check_cleanup(mut self, within: Duration) {
        assert!(std::path::Path::new(&self.dir).is_dir());
        super::os::signal(self.child.id() as i32, libc::SIGINT);
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the demo did not stop within {within:?} of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "demo exit status {status}");
        assert!(
            !std::path::Path::new(&self.dir).exists(),
            "{} was not removed",
            self.dir
        );
        let leftover = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&self.dir))
            .collect::<Vec<_>>();
        assert!(leftover.is_empty(), "processes left behind: {leftover:?}");
    }
}
