//! A real pgpool-II (Debian's pgpool2, 4.3.5 here) in streaming-replication mode in front of
//! nodes of a harness [`Cluster`]: its own free port and PCP port, sockets, pid file and log in a
//! temp dir, run in the foreground (`-n`) as the `postgres` user when the tests run as root.
//!
//! ```ignore
//! let c = Cluster::builder().standbys(2).start();
//! let pool = Pgpool::start(&c, &["primary", "standby1", "standby2"]);
//! pool.wait_healthy(PGPOOL_WAIT);
//! let nodes = pool.show_pool_nodes();                  // the harness' ground truth
//! assert_eq!(nodes.cell("node_id", "1", "role"), Some("standby"));
//! ```
//!
//! pgpool is configured to notice and never to repair: `sr_check_period = 1` and
//! `health_check_period = 1` (2 s timeouts, no retries, so a stopped or frozen node is marked
//! down within a few seconds), `failover_command` empty and `detach_false_primary` off (after a
//! promotion behind its back pgpool keeps its wrong view: `role` stays `standby` while `pg_role`
//! says `primary`), `auto_failback` off (a node marked down stays down until
//! [`Pgpool::pcp_attach_node`]).
//!
//! Authentication: `enable_pool_hba = on`; pool_hba.conf trusts `postgres` from 127.0.0.1 (the
//! harness' own sessions, sr_check and health_check, all trusted by the backends too) and asks
//! every other user for scram-sha-256. pool_passwd holds the cluster's `exporter` and
//! `exporter_nomon` passwords in clear text (`exporter:TEXT<password>`), which pgpool needs both
//! to check the client's SCRAM proof and to log in to every backend with SCRAM itself. So
//! `Cluster::exporter_role()` logs in through pgpool exactly as it logs in to a node.
//!
//! Dropping it SIGQUITs pgpool (immediate shutdown), then SIGKILLs whatever of its process tree is
//! left, and removes the directory (kept with PG_HARNESS_KEEP=1 when the test panicked).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::cluster::{Cluster, base_dir, conf_str};
use super::os;
use super::reply::{Reply, bounded};

/// Deadline of the waits on pgpool (startup, health).
pub const PGPOOL_WAIT: Duration = Duration::from_secs(30);

/// How long one harness query through pgpool may take before it counts as no answer. pgpool
/// computes `pg_status` by pinging every backend with `connect_timeout` (2 s here) per frozen node.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);

/// The pgpool executable and its version ("4.3.5").
#[derive(Debug)]
pub struct PgpoolBin {
    pub path: PathBuf,
    pub version: String,
}

impl PgpoolBin {
    /// Debian's /usr/sbin/pgpool, else `pgpool` on PATH. Panics with an install hint when there is
    /// none: a missing pgpool fails the test, it never skips it.
    pub fn get() -> &'static PgpoolBin {
        static BIN: OnceLock<PgpoolBin> = OnceLock::new();
        BIN.get_or_init(|| {
            let path = [PathBuf::from("/usr/sbin/pgpool")]
                .into_iter()
                .chain(which("pgpool"))
                .find(|p| p.is_file())
                .unwrap_or_else(|| {
                    panic!(
                        "no pgpool-II: neither /usr/sbin/pgpool nor `pgpool` on PATH; \
                         apt-get install pgpool2 (scripts/deps.sh)"
                    )
                });
            let out = Command::new(&path)
                .arg("--version")
                .output()
                .unwrap_or_else(|e| panic!("run {} --version: {e}", path.display()));
            // "pgpool-II version 4.3.5 (tamahomeboshi)", on stdout or stderr by version.
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let version = text
                .split("version ")
                .nth(1)
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or_else(|| panic!("{} --version said {text:?}", path.display()))
                .to_string();
            PgpoolBin { path, version }
        })
    }

    /// A PCP client tool (`pcp_attach_node`, ...) installed beside pgpool.
    fn tool(&self, name: &str) -> PathBuf {
        let beside = self.path.with_file_name(name);
        if beside.is_file() {
            return beside;
        }
        which(name).unwrap_or_else(|| {
            panic!(
                "no {name} beside {} or on PATH: apt-get install pgpool2",
                self.path.display()
            )
        })
    }
}

pub(super) fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Options of a pgpool; see [`Pgpool::builder`].
pub struct Builder<'a> {
    cluster: &'a Cluster,
    nodes: Vec<String>,
    conf: Vec<String>,
}

impl Builder<'_> {
    /// An extra pgpool.conf line (after the harness' own; pgpool takes the last value of a key),
    /// e.g. `delay_threshold = 1024`.
    pub fn conf(mut self, line: &str) -> Self {
        self.conf.push(line.to_string());
        self
    }

    pub fn start(self) -> Pgpool {
        let bin = PgpoolBin::get();
        let base = base_dir();
        let dir = tempfile::Builder::new()
            .prefix("pgpool-harness.")
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("create a temp dir in {}: {e}", base.display()));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        os::give_to_server(dir.path());
        let d = dir.path().to_path_buf();
        let ports = os::free_ports(2);
        let backends: Vec<Backend> = self
            .nodes
            .iter()
            .map(|name| {
                let n = self.cluster.node(name);
                Backend {
                    name: n.name().to_string(),
                    port: n.port(),
                }
            })
            .collect();
        let pcp_password = os::random_hex(16);
        let mut pool = Pgpool {
            child: None,
            port: ports[0],
            pcp_port: ports[1],
            version: bin.version.clone(),
            backends,
            log_file: d.join("pgpool.log"),
            conf_file: d.join("pgpool.conf"),
            pcp_pass_file: d.join("pcppass"),
            dir: Some(dir),
        };

        let path = |name: &str| conf_str(&d.join(name).to_string_lossy());
        let mut conf = format!(
            "# pg_replication_exporter test harness\n\
             backend_clustering_mode = 'streaming_replication'\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = {dir}\n\
             pcp_listen_addresses = '127.0.0.1'\n\
             pcp_port = {pcp_port}\n\
             pcp_socket_dir = {dir}\n\
             wd_ipc_socket_dir = {dir}\n\
             pid_file_name = {pid}\n\
             logdir = {dir}\n\
             memqcache_oiddir = {oiddir}\n\
             enable_pool_hba = on\n\
             pool_passwd = {pool_passwd}\n\
             allow_clear_text_frontend_auth = off\n\
             num_init_children = 10\n\
             max_pool = 2\n\
             log_destination = 'stderr'\n\
             log_line_prefix = '%m: %a pid %p: '\n\
             log_connections = off\n\
             sr_check_period = 1\n\
             sr_check_user = 'postgres'\n\
             sr_check_password = ''\n\
             sr_check_database = 'postgres'\n\
             health_check_period = 1\n\
             health_check_timeout = 2\n\
             health_check_user = 'postgres'\n\
             health_check_password = ''\n\
             health_check_database = 'postgres'\n\
             health_check_max_retries = 0\n\
             health_check_retry_delay = 1\n\
             connect_timeout = 2000\n\
             failover_command = ''\n\
             failback_command = ''\n\
             follow_primary_command = ''\n\
             failover_on_backend_error = on\n\
             search_primary_node_timeout = 5\n\
             detach_false_primary = off\n\
             auto_failback = off\n\
             use_watchdog = off\n\
             load_balance_mode = on\n\
             memory_cache_enabled = off\n\
             enable_shared_relcache = off\n\
             ssl = off\n",
            port = pool.port,
            pcp_port = pool.pcp_port,
            dir = conf_str(&d.to_string_lossy()),
            pid = path("pgpool.pid"),
            oiddir = path("oiddir"),
            pool_passwd = path("pool_passwd"),
        );
        for (i, b) in pool.backends.iter().enumerate() {
            // backend_application_name: how the primary's pg_stat_replication names the standby
            // (the harness' node name), for replication_state and replication_sync_state.
            conf.push_str(&format!(
                "backend_hostname{i} = '127.0.0.1'\n\
                 backend_port{i} = {}\n\
                 backend_weight{i} = 1\n\
                 backend_flag{i} = 'ALLOW_TO_FAILOVER'\n\
                 backend_application_name{i} = {}\n",
                b.port,
                conf_str(&b.name)
            ));
        }
        for line in &self.conf {
            conf.push_str(line);
            conf.push('\n');
        }
        write_file(&pool.conf_file, &conf, 0o644);
        write_file(
            &d.join("pool_hba.conf"),
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
            0o644,
        );
        let mut passwd = String::new();
        for role in [self.cluster.exporter_role(), self.cluster.nomon_role()] {
            passwd.push_str(&format!("{}:TEXT{}\n", role.user(), role.password()));
        }
        write_file(&d.join("pool_passwd"), &passwd, 0o600);
        write_file(
            &d.join("pcp.conf"),
            &format!("{PCP_USER}:{}\n", md5_hex(&pcp_password)),
            0o600,
        );
        // Read by the PCP tools, which run as the test's user.
        os::write_private(
            &pool.pcp_pass_file,
            &format!("127.0.0.1:{}:{PCP_USER}:{pcp_password}\n", pool.pcp_port),
        );

        let log = fs::File::create(&pool.log_file).unwrap();
        let mut cmd = Command::new(&bin.path);
        cmd.arg("-n")
            .arg("-D")
            .arg("-f")
            .arg(&pool.conf_file)
            .arg("-F")
            .arg(d.join("pcp.conf"))
            .arg("-a")
            .arg(d.join("pool_hba.conf"))
            .current_dir(&d)
            .env("HOME", &d)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for var in ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGSERVICE"] {
            cmd.env_remove(var);
        }
        if let Some(a) = os::server_account() {
            cmd.uid(a.uid).gid(a.gid);
        }
        // In the struct before the wait, so that Drop kills it if the wait panics.
        pool.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.path.display())),
        );
        let n = pool.backends.len();
        let log_path = pool.log_file.clone();
        let probe_pool = ProbeTarget { port: pool.port };
        let what = format!("pgpool-II {} on port {}", pool.version, pool.port);
        os::wait_ready(
            &what,
            pool.child.as_mut().unwrap(),
            PGPOOL_WAIT,
            || match probe_pool.show("SHOW POOL_NODES", QUERY_TIMEOUT) {
                Ok(r) if r.rows.len() == n => Ok(()),
                Ok(r) => Err(format!("{} backends listed:\n{}", r.rows.len(), r.table())),
                Err(e) => Err(e),
            },
            || os::tail(&log_path, 40),
        );
        pool
    }
}

const PCP_USER: &str = "pcpadmin";

fn md5_hex(s: &str) -> String {
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run md5sum: {e}"));
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Write a file the server account owns, with permission bits `mode`.
fn write_file(path: &Path, content: &str, mode: u32) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    os::give_to_server(path);
}

/// Where a harness session through pgpool goes: the superuser, trusted.
#[derive(Clone, Copy)]
struct ProbeTarget {
    port: u16,
}

impl ProbeTarget {
    fn connstr(self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5 \
             application_name=harness",
            self.port
        )
    }

    /// One statement in a new session, bounded by `timeout`.
    fn show(self, sql: &str, timeout: Duration) -> Result<Reply, String> {
        let sql = sql.to_string();
        bounded(timeout, move || {
            let mut c = postgres::Client::connect(&self.connstr(), postgres::NoTls)
                .map_err(|e| format!("connect: {}", super::cluster::pg_error(&e)))?;
            Reply::simple_query(&mut c, &sql)
        })
    }
}

/// One backend: the harness node it is and its port.
#[derive(Clone, Debug)]
struct Backend {
    name: String,
    port: u16,
}

/// A running pgpool-II in front of some nodes of a cluster.
pub struct Pgpool {
    child: Option<Child>,
    port: u16,
    pcp_port: u16,
    version: String,
    backends: Vec<Backend>,
    log_file: PathBuf,
    conf_file: PathBuf,
    pcp_pass_file: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Pgpool {
    /// pgpool over `nodes` of `cluster` (names; backend N is `nodes[N]`).
    pub fn builder<'a>(cluster: &'a Cluster, nodes: &[&str]) -> Builder<'a> {
        assert!(!nodes.is_empty(), "pgpool needs at least one backend");
        Builder {
            cluster,
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            conf: Vec::new(),
        }
    }

    /// pgpool over `nodes` of `cluster` with the harness defaults; returns once `SHOW
    /// POOL_NODES` answers with every backend.
    pub fn start(cluster: &Cluster, nodes: &[&str]) -> Pgpool {
        Pgpool::builder(cluster, nodes).start()
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn pcp_port(&self) -> u16 {
        self.pcp_port
    }
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }
    /// "4.3.5".
    pub fn version(&self) -> &str {
        &self.version
    }
    /// "pgpool-II 4.3.5", as the fixtures name the program.
    pub fn program(&self) -> String {
        format!("pgpool-II {}", self.version)
    }
    /// The main process (the parent of every pgpool child).
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("pgpool runs").id() as i32
    }
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("pgpool dir").path()
    }
    pub fn conf_file(&self) -> &Path {
        &self.conf_file
    }
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }
    pub fn log_tail(&self, n: usize) -> String {
        os::tail(&self.log_file, n)
    }

    /// pgpool's backend number of the harness node `name`.
    pub fn backend_id(&self, name: &str) -> usize {
        self.backends
            .iter()
            .position(|b| b.name == name)
            .unwrap_or_else(|| panic!("{name} is not a backend of this pgpool"))
    }

    /// The harness node name of backend `id`.
    pub fn backend_name(&self, id: usize) -> &str {
        &self.backends[id].name
    }

    /// The superuser's libpq connection string through pgpool (trusted).
    pub fn connstr(&self) -> String {
        ProbeTarget { port: self.port }.connstr()
    }

    /// A new superuser session through pgpool.
    pub fn conn(&self) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(&self.connstr(), postgres::NoTls)
    }

    /// A session through pgpool as another role with a password (scram-sha-256 both ways).
    pub fn conn_as(&self, user: &str, password: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(5))
            .connect(postgres::NoTls)
    }

    /// One statement (`SHOW POOL_NODES`, `SHOW POOL_HEALTH_CHECK_STATS`, ...) in a new session,
    /// with `simple_query`; Err when it fails or takes longer than 15 s.
    pub fn try_show(&self, sql: &str) -> Result<Reply, String> {
        self.try_show_within(sql, QUERY_TIMEOUT)
    }

    /// [`Pgpool::try_show`] with another deadline (a frozen pgpool never answers).
    pub fn try_show_within(&self, sql: &str, timeout: Duration) -> Result<Reply, String> {
        ProbeTarget { port: self.port }.show(sql, timeout)
    }

    /// [`Pgpool::try_show`] that panics with pgpool's log.
    pub fn show(&self, sql: &str) -> Reply {
        self.try_show(sql).unwrap_or_else(|e| {
            panic!(
                "{sql} through pgpool (port {}): {e}\n--- last 40 lines of {} ---\n{}",
                self.port,
                self.log_file.display(),
                self.log_tail(40)
            )
        })
    }

    /// `SHOW POOL_NODES`: one row per backend, pgpool's view (`status`, `role`) beside what it
    /// finds when asked (`pg_status`, `pg_role`).
    pub fn show_pool_nodes(&self) -> Reply {
        self.show("SHOW POOL_NODES")
    }

    /// Column `col` of the harness node `name`'s row in a `SHOW POOL_NODES` reply.
    pub fn node_value<'r>(&self, nodes: &'r Reply, name: &str, col: &str) -> Option<&'r str> {
        nodes.cell("node_id", &self.backend_id(name).to_string(), col)
    }

    /// Poll `SHOW POOL_NODES` every 100 ms until `cond` holds for it; return that reply. On
    /// timeout panic with `what`, the last reply (or error) and pgpool's log.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Reply) -> bool,
    ) -> Reply {
        let mut last = Err(String::from("not asked yet"));
        let ok = os::poll_until(timeout, || {
            last = self.try_show("SHOW POOL_NODES");
            last.as_ref().is_ok_and(&mut cond)
        });
        match last {
            Ok(r) if ok => r,
            last => panic!(
                "timed out after {timeout:?} waiting for pgpool (port {}) to show {what}\n\
                 --- last SHOW POOL_NODES ---\n{}\n--- last 40 lines of {} ---\n{}",
                self.port,
                match last {
                    Ok(r) => r.table(),
                    Err(e) => e,
                },
                self.log_file.display(),
                self.log_tail(40)
            ),
        }
    }

    /// Wait until every backend is `up` in both views, pgpool's role agrees with the node's, and
    /// every standby is `streaming` in replication_state (sr_check has run).
    pub fn wait_healthy(&self, timeout: Duration) -> Reply {
        self.wait_for(
            "every backend up, roles agreed, standbys streaming",
            timeout,
            |r| {
                (0..r.rows.len()).all(|i| {
                    let role = r.get(i, "role");
                    r.get(i, "status") == Some("up")
                        && r.get(i, "pg_status") == Some("up")
                        && role == r.get(i, "pg_role")
                        && (role == Some("primary")
                            || r.get(i, "replication_state") == Some("streaming"))
                })
            },
        )
    }

    /// Run a PCP tool against this pgpool's PCP port (password from a pcppass file); its stdout,
    /// or Err with its output.
    pub fn pcp(&self, tool: &str, args: &[&str]) -> Result<String, String> {
        let path = PgpoolBin::get().tool(tool);
        let out = Command::new(&path)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.pcp_port.to_string(),
                "-U",
                PCP_USER,
                "-w",
            ])
            .args(args)
            .env("PCPPASSFILE", &self.pcp_pass_file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "{tool} {args:?} failed ({}): {text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `pcp_attach_node -n id`: pgpool takes a backend it marked down back into use.
    pub fn pcp_attach_node(&self, id: usize) {
        self.pcp("pcp_attach_node", &["-n", &id.to_string()])
            .unwrap_or_else(|e| panic!("{e}\n--- pgpool log ---\n{}", self.log_tail(30)));
    }

    /// `pcp_node_info --verbose -n id`.
    pub fn pcp_node_info(&self, id: usize) -> String {
        self.pcp("pcp_node_info", &["--verbose", "-n", &id.to_string()])
            .unwrap_or_else(|e| panic!("{e}\n--- pgpool log ---\n{}", self.log_tail(30)))
    }

    /// Every process of this pgpool: the main one and all its children.
    fn processes(&self) -> Vec<i32> {
        let Some(child) = &self.child else {
            return Vec::new();
        };
        let pid = child.id() as i32;
        let mut all = vec![pid];
        all.extend(os::descendants(pid));
        all
    }

    /// SIGSTOP pgpool and all its children: it hangs as a frozen VM would (the kernel still
    /// accepts TCP connections, nothing answers).
    pub fn sigstop(&self) {
        for p in self.processes() {
            os::signal(p, libc::SIGSTOP);
        }
    }

    /// SIGCONT pgpool and all its children.
    pub fn sigcont(&self) {
        for p in self.processes().into_iter().rev() {
            os::signal(p, libc::SIGCONT);
        }
    }
}

impl Drop for Pgpool {
    fn drop(&mut self) {
        let all = self.processes();
        for &p in &all {
            os::signal(p, libc::SIGCONT);
        }
        if let Some(&main) = all.first() {
            // SIGQUIT: pgpool's immediate shutdown (it stops its children itself).
            os::signal(main, libc::SIGQUIT);
            if !os::wait_gone(&all, Duration::from_secs(5)) {
                for &p in &all {
                    os::signal(p, libc::SIGKILL);
                }
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        os::wait_gone(&all, Duration::from_secs(5));
        let keep = std::thread::panicking()
            && std::env::var_os("PG_HARNESS_KEEP").is_some_and(|v| !v.is_empty() && v != "0");
        if let Some(dir) = self.dir.take()
            && keep
        {
            eprintln!("PG_HARNESS_KEEP: keeping {}", dir.keep().display());
        }
    }
}
