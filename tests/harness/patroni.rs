//! Real Patroni clusters on loopback: one etcd 3.4 (the v3 API; Patroni's `etcd3:` section) and
//! N Patroni members, each bootstrapping or cloning its own PostgreSQL, all on free ports taken
//! from the OS, in one temp dir, run as the `postgres` user when the tests run as root.
//!
//! ```ignore
//! let bin = PatroniBin::debian();              // /usr/bin/patroni (3.0.2); PatroniBin::v4() for the venv
//! let c = PatroniCluster::builder(bin).members(3).tags(2, "nofailover: true").start();
//! c.wait_healthy(2, WAIT);                     // a leader and two streaming replicas
//! let leader = c.leader().unwrap();
//! c.switchover(&leader, Some("m2")).unwrap();
//! c.pause(true).unwrap();
//! ```
//!
//! Dropping the cluster SIGKILLs every Patroni and its postmaster, then etcd, and removes the
//! directory (kept with PG_HARNESS_KEEP=1 when the test panicked). A wait that fails panics with
//! the last `/cluster` answer and the tail of every member's log.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::base_dir;
use super::os;
use super::pgbin::PgBin;

/// The Patroni 4.x the venv holds (scripts/patroni-venv.sh pins it).
pub const PATRONI4_VERSION: &str = "4.1.4";

/// A Patroni executable and its version ("3.0.2").
#[derive(Clone, Debug)]
pub struct PatroniBin {
    pub path: PathBuf,
    pub version: String,
}

impl PatroniBin {
    /// Debian's /usr/bin/patroni.
    pub fn debian() -> PatroniBin {
        PatroniBin::at(Path::new("/usr/bin/patroni")).unwrap_or_else(|e| {
            panic!("{e}; install Debian's Patroni: apt-get install patroni (scripts/deps.sh)")
        })
    }

    /// Patroni 4.x: `$PATRONI_BIN` if set, else the cached venv of scripts/patroni-venv.sh
    /// (built on first use).
    pub fn v4() -> PatroniBin {
        let path = match std::env::var_os("PATRONI_BIN").filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => {
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/patroni-venv.sh");
                let out = Command::new("bash")
                    .arg(&script)
                    .stderr(Stdio::inherit())
                    .output()
                    .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
                assert!(
                    out.status.success(),
                    "{} failed ({}): install python3-venv (scripts/deps.sh) and allow pip to \
                     reach PyPI, or set PATRONI_BIN to a Patroni 4.x binary",
                    script.display(),
                    out.status
                );
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
        };
        let bin = PatroniBin::at(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            bin.version.starts_with("4."),
            "{} is Patroni {}, not 4.x",
            path.display(),
            bin.version
        );
        bin
    }

    pub fn at(path: &Path) -> Result<PatroniBin, String> {
        let out = Command::new(path)
            .arg("--version")
            .output()
            .map_err(|e| format!("cannot run {} --version: {e}", path.display()))?;
        // "patroni 3.0.2"
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let version = text
            .strip_prefix("patroni ")
            .ok_or_else(|| format!("{} --version said {text:?}", path.display()))?;
        Ok(PatroniBin {
            path: path.to_path_buf(),
            version: version.to_string(),
        })
    }

    pub fn major(&self) -> u32 {
        self.version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
}

/// One etcd 3.4 on free loopback client and peer ports, its data in `dir`; SIGKILLed on drop.
pub struct Etcd {
    child: Child,
    client_port: u16,
    log_file: PathBuf,
}

impl Etcd {
    pub fn start(dir: &Path) -> Etcd {
        let etcd = which("etcd").unwrap_or_else(|| {
            panic!("no `etcd` on PATH: apt-get install etcd-server etcd-client (scripts/deps.sh)")
        });
        let ports = os::free_ports(2);
        let (client_port, peer_port) = (ports[0], ports[1]);
        let data = dir.join("etcd");
        fs::create_dir_all(&data).unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).unwrap();
        let log_file = dir.join("etcd.log");
        let log = fs::File::create(&log_file).unwrap();
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let mut child = Command::new(etcd)
            .arg("--name=e1")
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=e1={peer}"))
            .arg("--initial-cluster-state=new")
            .arg("--initial-cluster-token=pg-harness")
            .arg("--enable-v2=false")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start etcd: {e}"));
        let addr: SocketAddr = ([127, 0, 0, 1], client_port).into();
        let log_path = log_file.clone();
        os::wait_ready(
            "etcd",
            &mut child,
            Duration::from_secs(30),
            || match request(addr, "GET", "/health", None) {
                Ok((200, body)) if body.contains("true") => Ok(()),
                Ok((status, body)) => Err(format!("{status} {body}")),
                Err(e) => Err(e),
            },
            || os::tail(&log_path, 30),
        );
        Etcd {
            child,
            client_port,
            log_file,
        }
    }

    pub fn client_port(&self) -> u16 {
        self.client_port
    }

    pub fn log_tail(&self, n: usize) -> String {
        os::tail(&self.log_file, n)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// How to build a Patroni cluster.
pub struct Builder {
    bin: PatroniBin,
    members: usize,
    tags: Vec<(usize, String)>,
    ttl: u32,
    loop_wait: u32,
    retry_timeout: u32,
    maximum_lag_on_failover: u64,
    dcs_extra: Vec<String>,
    tls: Option<RestTls>,
}

/// PEM files for HTTPS on the REST API: the server's certificate (for 127.0.0.1) and key, the CA
/// that signed it and the client certificates, and a client certificate Patroni itself (and the
/// harness, through curl) presents to members when `verify_client: required`.
#[derive(Clone, Debug)]
pub struct RestTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Builder {
    /// Serve the REST API over HTTPS with `verify_client: required`; Patroni's own calls to
    /// other members (`ctl:`) and the harness's use the client certificate.
    pub fn rest_tls(mut self, tls: RestTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Number of members started at once (default 3).
    pub fn members(mut self, n: usize) -> Self {
        self.members = n;
        self
    }

    /// YAML lines (e.g. `nofailover: true`) for the `tags:` section of member `i` (1-based).
    pub fn tags(mut self, member: usize, yaml: &str) -> Self {
        self.tags.push((member, yaml.to_string()));
        self
    }

    pub fn maximum_lag_on_failover(mut self, bytes: u64) -> Self {
        self.maximum_lag_on_failover = bytes;
        self
    }

    /// An extra `bootstrap.dcs` line, e.g. `synchronous_mode: true`.
    pub fn dcs(mut self, yaml_line: &str) -> Self {
        self.dcs_extra.push(yaml_line.to_string());
        self
    }

    pub fn start(self) -> PatroniCluster {
        assert!(
            self.ttl >= self.loop_wait + 2 * self.retry_timeout,
            "Patroni refuses ttl < loop_wait + 2 * retry_timeout"
        );
        let pg = PgBin::from_env();
        let base = base_dir();
        let dir = tempfile::Builder::new()
            .prefix("patroni-harness.")
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("create a temp dir in {}: {e}", base.display()));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o711)).unwrap();
        let etcd = Etcd::start(dir.path());
        let exporter_password = os::random_hex(16);
        let exporter_password_file = dir.path().join("replication_exporter.password");
        write_private(&exporter_password_file, &format!("{exporter_password}\n"));
        let mut cluster = PatroniCluster {
            members: Vec::new(),
            scope: format!("pgre-{}", os::random_hex(4)),
            superuser_password: os::random_hex(16),
            replication_password: os::random_hex(16),
            exporter_password,
            exporter_password_file,
            bin: self.bin.clone(),
            pg,
            builder_dcs: self.dcs_yaml(),
            tls: None,
            etcd: Some(etcd),
            dir: Some(dir),
            started: Instant::now(),
        };
        cluster.write_post_bootstrap();
        if let Some(t) = &self.tls {
            // Copies the server account can read, keys private to it.
            let copy = |from: &Path, name: &str, mode: u32| {
                let to = cluster.dir().join(name);
                fs::copy(from, &to)
                    .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
                fs::set_permissions(&to, fs::Permissions::from_mode(mode)).unwrap();
                os::give_to_server(&to);
                to
            };
            cluster.tls = Some(RestTls {
                ca: copy(&t.ca, "rest-ca.crt", 0o644),
                cert: copy(&t.cert, "rest.crt", 0o644),
                key: copy(&t.key, "rest.key", 0o600),
                client_cert: copy(&t.client_cert, "rest-client.crt", 0o644),
                client_key: copy(&t.client_key, "rest-client.key", 0o600),
            });
        }
        for i in 1..=self.members {
            let tags: Vec<String> = self
                .tags
                .iter()
                .filter(|(m, _)| *m == i)
                .map(|(_, t)| t.clone())
                .collect();
            cluster.spawn_member(&tags);
        }
        cluster
    }

    fn dcs_yaml(&self) -> String {
        let mut s = String::new();
        writeln!(s, "    ttl: {}", self.ttl).unwrap();
        writeln!(s, "    loop_wait: {}", self.loop_wait).unwrap();
        writeln!(s, "    retry_timeout: {}", self.retry_timeout).unwrap();
        writeln!(
            s,
            "    maximum_lag_on_failover: {}",
            self.maximum_lag_on_failover
        )
        .unwrap();
        for line in &self.dcs_extra {
            writeln!(s, "    {line}").unwrap();
        }
        s
    }
}

fn write_private(path: &Path, text: &str) {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(text.as_bytes()).unwrap();
    drop(f);
    os::give_to_server(path);
}

/// One Patroni member: its name (`m1`, `m2`, ...), ports and process.
pub struct Member {
    name: String,
    pg_port: u16,
    api_port: u16,
    dir: PathBuf,
    log_file: PathBuf,
    child: Option<Child>,
}

impl Member {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn pg_port(&self) -> u16 {
        self.pg_port
    }
    pub fn api_port(&self) -> u16 {
        self.api_port
    }
    pub fn api_addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.api_port).into()
    }
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    /// The directory of the member's Unix socket (`unix_socket_directories`; pg_hba trusts
    /// `local`): the socket is `<dir>/.s.PGSQL.<pg_port>`.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }
    pub fn log_tail(&self, n: usize) -> String {
        os::tail(&self.log_file, n)
    }
    pub fn patroni_pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }
    /// The postmaster's pid from postmaster.pid, when it is alive. Patroni starts it through a
    /// helper process that exits, so it is not a descendant of Patroni.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        let pid: i32 = text.lines().next()?.trim().parse().ok()?;
        os::alive(pid).then_some(pid)
    }

    /// SIGKILL Patroni and its postmaster (a crash of the whole node); true if anything ran.
    fn kill(&mut self) -> bool {
        let mut pids = Vec::new();
        if let Some(pid) = self.postmaster_pid() {
            pids.extend(os::descendants(pid));
            pids.push(pid);
        }
        if let Some(child) = &self.child {
            let pid = child.id() as i32;
            pids.extend(os::descendants(pid));
            pids.push(pid);
        }
        for &p in &pids {
            os::signal(p, libc::SIGCONT);
            os::signal(p, libc::SIGKILL);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        os::wait_gone(&pids, Duration::from_secs(10));
        !pids.is_empty()
    }

    /// SIGTERM Patroni, which stops PostgreSQL (fast) and leaves the cluster; waits for it.
    fn stop(&mut self, timeout: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        os::signal(child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.wait();
    }
}

/// A running etcd and its Patroni members.
pub struct PatroniCluster {
    members: Vec<Member>,
    scope: String,
    superuser_password: String,
    replication_password: String,
    exporter_password: String,
    exporter_password_file: PathBuf,
    bin: PatroniBin,
    pg: &'static PgBin,
    builder_dcs: String,
    tls: Option<RestTls>,
    etcd: Option<Etcd>,
    dir: Option<tempfile::TempDir>,
    started: Instant,
}

/// Deadline of the waits for a Patroni cluster to settle.
pub const PATRONI_WAIT: Duration = Duration::from_secs(120);

impl PatroniCluster {
    /// ttl 20, loop_wait 2, retry_timeout 5 (Patroni wants ttl ≥ loop_wait + 2·retry_timeout),
    /// maximum_lag_on_failover 1 MiB (Patroni's default), three members.
    pub fn builder(bin: PatroniBin) -> Builder {
        Builder {
            bin,
            members: 3,
            tags: Vec::new(),
            ttl: 20,
            loop_wait: 2,
            retry_timeout: 5,
            maximum_lag_on_failover: 1 << 20,
            dcs_extra: Vec::new(),
            tls: None,
        }
    }

    pub fn bin(&self) -> &PatroniBin {
        &self.bin
    }
    /// The PostgreSQL server binaries the members run.
    pub fn pg(&self) -> &'static PgBin {
        self.pg
    }
    pub fn scope(&self) -> &str {
        &self.scope
    }
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }
    pub fn etcd(&self) -> &Etcd {
        self.etcd.as_ref().unwrap()
    }
    pub fn members(&self) -> &[Member] {
        &self.members
    }
    pub fn member(&self, name: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no member {name}"))
    }
    /// Time since `start()` was called.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }
    /// The `replication_exporter` role (pg_monitor) created at bootstrap.
    pub fn exporter_user(&self) -> &str {
        "replication_exporter"
    }
    pub fn exporter_password(&self) -> &str {
        &self.exporter_password
    }
    pub fn exporter_password_file(&self) -> &Path {
        &self.exporter_password_file
    }

    /// An exporter configuration for this cluster as `cluster_name`, discovering the members
    /// from the REST API of `seed` only (no static node), REST and SQL polled every second.
    pub fn exporter_config(&self, cluster_name: &str, seed: &str) -> String {
        format!(
            "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n\n\
             [[cluster]]\nname = {name}\nuser = {user}\npassword_file = {pw}\nsslmode = \"disable\"\n\n\
             [cluster.patroni]\nurls = [{url}]\ninterval = \"1s\"\ntimeout = \"800ms\"\nforget_after = \"1h\"\n",
            name = super::toml_str(cluster_name),
            user = super::toml_str(self.exporter_user()),
            pw = super::toml_str(&self.exporter_password_file().display().to_string()),
            url = super::toml_str(&self.api_url(seed)),
        )
    }

    /// A superuser connection to a member's PostgreSQL over TCP.
    pub fn conn(&self, name: &str) -> Result<postgres::Client, String> {
        let m = self.member(name);
        postgres::Config::new()
            .host("127.0.0.1")
            .port(m.pg_port)
            .user("postgres")
            .password(&self.superuser_password)
            .dbname("postgres")
            .application_name("harness")
            .connect_timeout(Duration::from_secs(5))
            .connect(postgres::NoTls)
            .map_err(|e| format!("connect to {name} (port {}): {e}", m.pg_port))
    }

    /// Wait until every other member has replayed the leader's WAL up to now (a role created
    /// on the leader can then log in on the replicas, which replicate asynchronously).
    pub fn wait_replayed(&self, leader: &str, timeout: Duration) {
        let lsn: String = self
            .conn(leader)
            .and_then(|mut c| {
                c.query_one("SELECT pg_current_wal_lsn()::text", &[])
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|e| panic!("the leader's WAL position: {e}"))
            .get(0);
        for m in self.members.iter().filter(|m| m.name != leader) {
            let mut last = String::new();
            let ok = os::poll_until(timeout, || {
                let replayed = self.conn(&m.name).and_then(|mut c| {
                    c.query_one(
                        "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
                        &[&lsn],
                    )
                    .map_err(|e| e.to_string())
                });
                match replayed {
                    Ok(row) => row.get(0),
                    Err(e) => {
                        last = e;
                        false
                    }
                }
            });
            assert!(
                ok,
                "{} did not replay the leader's WAL to {lsn} within {timeout:?} {last}",
                m.name
            );
        }
    }

    fn write_post_bootstrap(&self) {
        // Patroni runs this once, on the member that bootstraps, with a libpq URL as $1.
        let script = self.dir().join("post_bootstrap.sh");
        let psql = self.pg.dir().join("psql");
        let text = format!(
            "#!/bin/sh\nset -e\nexec {psql} \"$1\" -X -q -v ON_ERROR_STOP=1 -c \
             \"CREATE ROLE replication_exporter LOGIN PASSWORD '{pw}'; \
             GRANT pg_monitor TO replication_exporter;\"\n",
            psql = psql.display(),
            pw = self.exporter_password,
        );
        fs::write(&script, text).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Start a new member (`m<N+1>`) with extra `tags:` lines; it clones from the leader.
    /// Returns its name.
    pub fn add_member(&mut self, tags: &[&str]) -> String {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        self.spawn_member(&tags)
    }

    fn spawn_member(&mut self, tags: &[String]) -> String {
        let name = format!("m{}", self.members.len() + 1);
        let ports = os::free_ports(2);
        let dir = self.dir().join(&name);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        os::give_to_server(&dir);
        let member = Member {
            name: name.clone(),
            pg_port: ports[0],
            api_port: ports[1],
            log_file: dir.join("patroni.log"),
            dir,
            child: None,
        };
        let config = member.dir.join("patroni.yml");
        write_private(&config, &self.config_yaml(&member, tags));
        let log = fs::File::create(&member.log_file).unwrap();
        let mut cmd = Command::new(&self.bin.path);
        cmd.arg(&config)
            .current_dir(&member.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .env("LC_ALL", "C.UTF-8")
            .env("PYTHONUNBUFFERED", "1");
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGPASSWORD",
            "PGSERVICE",
        ] {
            cmd.env_remove(var);
        }
        if let Some(a) = os::server_account() {
            cmd.uid(a.uid).gid(a.gid).env("HOME", &member.dir);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {} for {name}: {e}", self.bin.path.display()));
        self.members.push(Member {
            child: Some(child),
            ..member
        });
        name
    }

    fn config_yaml(&self, m: &Member, tags: &[String]) -> String {
        let mut tag_lines = String::new();
        for t in tags {
            writeln!(tag_lines, "  {t}").unwrap();
        }
        if tag_lines.is_empty() {
            tag_lines.push_str("  {}\n");
        }
        format!(
            r#"scope: {scope}
name: {name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:{api}
  connect_address: 127.0.0.1:{api}
{rest_tls}etcd3:
  hosts: 127.0.0.1:{etcd}
watchdog:
  mode: "off"
bootstrap:
  dcs:
{dcs}    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        wal_log_hints: "on"
  initdb:
    - encoding: UTF8
    - locale: C
  post_bootstrap: {post_bootstrap}
postgresql:
  listen: 127.0.0.1:{pg}
  connect_address: 127.0.0.1:{pg}
  data_dir: {data}
  bin_dir: {bin_dir}
  pgpass: {dir}/pgpass
  authentication:
    superuser:
      username: postgres
      password: "{su}"
    replication:
      username: replicator
      password: "{repl}"
  parameters:
    unix_socket_directories: {dir}
    shared_buffers: 16MB
    max_connections: 30
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
tags:
{tag_lines}"#,
            scope = self.scope,
            rest_tls = self.rest_tls_yaml(),
            name = m.name,
            api = m.api_port,
            etcd = self.etcd().client_port,
            dcs = self.builder_dcs,
            post_bootstrap = self.dir().join("post_bootstrap.sh").display(),
            pg = m.pg_port,
            data = m.data_dir().display(),
            bin_dir = self.pg.dir().display(),
            dir = m.dir.display(),
            su = self.superuser_password,
            repl = self.replication_password,
        )
    }

    fn rest_tls_yaml(&self) -> String {
        let Some(t) = &self.tls else {
            return String::new();
        };
        format!(
            "  certfile: {}\n  keyfile: {}\n  cafile: {}\n  verify_client: required\n\
             ctl:\n  certfile: {}\n  keyfile: {}\n  cacert: {}\n",
            t.cert.display(),
            t.key.display(),
            t.ca.display(),
            t.client_cert.display(),
            t.client_key.display(),
            t.ca.display()
        )
    }

    /// The copies of the REST TLS files the members use (None over plain HTTP).
    pub fn rest_tls(&self) -> Option<&RestTls> {
        self.tls.as_ref()
    }

    /// A member's REST API root: http:// or https://127.0.0.1:<port>.
    pub fn api_url(&self, name: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.member(name).api_port)
    }

    fn send(
        &self,
        name: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        match &self.tls {
            None => request(self.member(name).api_addr(), method, path, body),
            Some(t) => curl(t, &format!("{}{path}", self.api_url(name)), method, body),
        }
    }

    /// SIGKILL a member's Patroni and postmaster (its DCS key expires after ttl).
    pub fn kill_member(&mut self, name: &str) {
        let i = self.index(name);
        self.members[i].kill();
    }

    /// Stop a member cleanly (SIGTERM to Patroni: it stops PostgreSQL and removes its key).
    pub fn stop_member(&mut self, name: &str) {
        let i = self.index(name);
        self.members[i].stop(Duration::from_secs(60));
    }

    fn index(&self, name: &str) -> usize {
        self.members
            .iter()
            .position(|m| m.name == name)
            .unwrap_or_else(|| panic!("no member {name}"))
    }

    /// GET a REST path of a member: (status, body).
    pub fn get(&self, name: &str, path: &str) -> Result<(u16, String), String> {
        self.send(name, "GET", path, None)
    }

    /// GET a path and parse the JSON body (any status).
    pub fn get_json(&self, name: &str, path: &str) -> Result<(u16, Value), String> {
        let (status, body) = self.get(name, path)?;
        let v = serde_json::from_str(&body)
            .map_err(|e| format!("GET {path} of {name}: not JSON ({e}): {body}"))?;
        Ok((status, v))
    }

    pub fn post(&self, name: &str, path: &str, body: &Value) -> Result<(u16, String), String> {
        self.send(name, "POST", path, Some(&body.to_string()))
    }

    pub fn patch(&self, name: &str, path: &str, body: &Value) -> Result<(u16, String), String> {
        self.send(name, "PATCH", path, Some(&body.to_string()))
    }

    /// The first member whose REST API answers: GET /cluster.
    pub fn cluster_json(&self) -> Result<Value, String> {
        let mut last = String::from("no members");
        for m in &self.members {
            if m.child.is_none() {
                continue;
            }
            match self.get_json(&m.name, "/cluster") {
                Ok((200, v)) => return Ok(v),
                Ok((status, v)) => last = format!("{}: {status} {v}", m.name),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The current leader's name by `/cluster`.
    pub fn leader(&self) -> Option<String> {
        let c = self.cluster_json().ok()?;
        c["members"].as_array()?.iter().find_map(|m| {
            matches!(
                m["role"].as_str(),
                Some("leader" | "master" | "standby_leader")
            )
            .then(|| m["name"].as_str().unwrap_or_default().to_string())
        })
    }

    /// Wait until `/cluster` lists a running leader and `replicas` replicas whose state is
    /// running/streaming, and the leader's pg_stat_replication shows that many streaming.
    /// Returns the leader. Panics with the cluster state and logs on timeout.
    pub fn wait_healthy(&self, replicas: usize, timeout: Duration) -> String {
        let mut last = String::new();
        let mut leader = None;
        let ok = os::poll_until(timeout, || match self.healthy(replicas) {
            Ok(l) => {
                leader = Some(l);
                true
            }
            Err(e) => {
                last = e;
                false
            }
        });
        if !ok {
            panic!(
                "the Patroni cluster had no leader and {replicas} streaming replicas within \
                 {timeout:?}: {last}\n{}",
                self.dump()
            );
        }
        leader.unwrap()
    }

    fn healthy(&self, replicas: usize) -> Result<String, String> {
        let c = self.cluster_json()?;
        let members = c["members"].as_array().ok_or("no members in /cluster")?;
        let leaders: Vec<&Value> = members
            .iter()
            .filter(|m| matches!(m["role"].as_str(), Some("leader" | "master")))
            .collect();
        let [leader] = leaders[..] else {
            return Err(format!("{} leaders in {c}", leaders.len()));
        };
        if leader["state"] != "running" {
            return Err(format!("leader not running: {c}"));
        }
        let running = members
            .iter()
            .filter(|m| !matches!(m["role"].as_str(), Some("leader" | "master")))
            .filter(|m| matches!(m["state"].as_str(), Some("running" | "streaming")))
            .count();
        if running != replicas {
            return Err(format!("{running} replicas running, want {replicas}: {c}"));
        }
        let name = leader["name"].as_str().unwrap_or_default().to_string();
        let mut client = self.conn(&name)?;
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                &[],
            )
            .map_err(|e| format!("on {name}: {e}"))?
            .get(0);
        if n as usize != replicas {
            return Err(format!(
                "{n} streaming in pg_stat_replication of {name}: {c}"
            ));
        }
        Ok(name)
    }

    /// Wait until `f(/cluster)` holds; panic with the dump on timeout.
    pub fn wait_cluster(&self, what: &str, timeout: Duration, mut f: impl FnMut(&Value) -> bool) {
        let mut last = Value::Null;
        let ok = os::poll_until(timeout, || match self.cluster_json() {
            Ok(v) => {
                let done = f(&v);
                last = v;
                done
            }
            Err(_) => false,
        });
        if !ok {
            panic!(
                "{what}: not within {timeout:?}; last /cluster: {last}\n{}",
                self.dump()
            );
        }
    }

    /// POST /switchover to the leader (to `candidate`, or any). 3.0.2 wants `leader`; 4.x
    /// accepts it too.
    pub fn switchover(
        &self,
        leader: &str,
        candidate: Option<&str>,
    ) -> Result<(u16, String), String> {
        let mut body = serde_json::json!({ "leader": leader });
        if let Some(c) = candidate {
            body["candidate"] = Value::from(c);
        }
        self.post(leader, "/switchover", &body)
    }

    /// POST /failover (manual failover to `candidate`), sent to `via`.
    pub fn failover(&self, via: &str, candidate: &str) -> Result<(u16, String), String> {
        self.post(
            via,
            "/failover",
            &serde_json::json!({ "candidate": candidate }),
        )
    }

    /// Maintenance mode on or off (PATCH /config {"pause": on}) through any live member; waits
    /// until `/cluster` says so.
    pub fn pause(&self, on: bool) -> Result<(), String> {
        let via = self
            .members
            .iter()
            .find(|m| m.child.is_some())
            .ok_or("no live member")?;
        let (status, body) =
            self.patch(&via.name, "/config", &serde_json::json!({ "pause": on }))?;
        if status != 200 {
            return Err(format!("PATCH /config pause={on}: {status} {body}"));
        }
        self.wait_cluster("pause to show in /cluster", PATRONI_WAIT, |c| {
            c.get("pause").and_then(Value::as_bool).unwrap_or(false) == on
        });
        Ok(())
    }

    /// The last `/cluster` answer, etcd's log tail and every member's log tail.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        match self.cluster_json() {
            Ok(v) => writeln!(out, "===== /cluster =====\n{v:#}").unwrap(),
            Err(e) => writeln!(out, "===== /cluster: {e}").unwrap(),
        }
        if let Some(etcd) = &self.etcd {
            writeln!(
                out,
                "===== etcd (last 10 lines) =====\n{}",
                etcd.log_tail(10)
            )
            .unwrap();
        }
        for m in &self.members {
            writeln!(
                out,
                "===== {} (pg {}, api {}, {}) last 40 lines of {} =====\n{}",
                m.name,
                m.pg_port,
                m.api_port,
                if m.child.is_some() {
                    "running"
                } else {
                    "stopped"
                },
                m.log_file.display(),
                m.log_tail(40)
            )
            .unwrap();
        }
        out
    }
}

impl Drop for PatroniCluster {
    fn drop(&mut self) {
        for m in self.members.iter_mut() {
            m.kill();
        }
        self.etcd.take();
        let keep = std::thread::panicking()
            && std::env::var_os("PG_HARNESS_KEEP").is_some_and(|v| !v.is_empty() && v != "0");
        if let Some(dir) = self.dir.take()
            && keep
        {
            eprintln!("PG_HARNESS_KEEP: keeping {}", dir.keep().display());
        }
    }
}

/// A request over HTTPS with the client certificate, through curl (the harness has no TLS client
/// of its own): (status, body).
fn curl(t: &RestTls, url: &str, method: &str, body: Option<&str>) -> Result<(u16, String), String> {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "30",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
    ])
    .arg("--cacert")
    .arg(&t.ca)
    .arg("--cert")
    .arg(&t.client_cert)
    .arg("--key")
    .arg(&t.client_key);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    let out = cmd
        .arg(url)
        .output()
        .map_err(|e| format!("run curl (apt-get install curl): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "curl {method} {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').ok_or("curl: no status")?;
    let status = status
        .trim()
        .parse()
        .map_err(|_| format!("curl: bad status {status:?}"))?;
    Ok((status, body.to_string()))
}

/// One HTTP/1.1 request over a fresh connection (Connection: close): (status, body).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(b) = body {
        write!(
            req,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )
        .unwrap();
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or_default());
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("send {method} {path} to {addr}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read the answer to {method} {path} from {addr}: {e}"))?;
    let r = super::http::parse_response(&raw)
        .map_err(|e| format!("{method} {path} from {addr}: {e}"))?;
    Ok((r.status, r.text()))
}
