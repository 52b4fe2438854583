//! A real pgbouncer (Debian's, 1.18 here) on a free loopback port, with databases routed to
//! harness nodes and an admin console: config, auth file, hba file, log, pid file and socket in a
//! temp dir, run in the foreground as the `postgres` user when the tests run as root (pgbouncer
//! refuses root).
//!
//! ```ignore
//! let bouncer = Pgbouncer::builder()
//!     .database("app_rw", c.primary())
//!     .database_with("app_ro", c.standby(1), "pool_size=1")
//!     .stats_user(c.exporter_role())
//!     .start();
//! let dbs = bouncer.admin_reply("SHOW DATABASES");
//! bouncer.repoint("app_rw", c.standby(1));           // rewrite the ini, RELOAD
//! c.standby(1).sigstop();
//! let waiting = bouncer.waiting_clients("app_ro", 3); // SHOW POOLS: cl_waiting 3
//! ```
//!
//! Authentication (`auth_type = hba`): pgbouncer_hba.conf trusts `postgres` from 127.0.0.1 (the
//! harness' application sessions; the backends trust it too) and asks everyone else for
//! scram-sha-256 against userlist.txt, which holds plain-text passwords (pgbouncer 1.18 checks a
//! SCRAM proof against a plain-text entry and logs in to the backend with SCRAM itself). The admin
//! user `pgb_admin` (in `admin_users` and `stats_users`, random password, also in
//! [`Pgbouncer::admin_password_file`]) runs RELOAD; [`Builder::stats_user`] adds a role, e.g. the
//! cluster's exporter role, to `stats_users` (SHOW only) with its password.
//!
//! No `ignore_startup_parameters` by default: clients must send only what pgbouncer tracks
//! (client_encoding, application_name, DateStyle, TimeZone, standard_conforming_strings).
//! `server_login_retry = 1` so that a backend back from a stop is used again within a second
//! (pgbouncer's default 15 s fails every new client meanwhile).
//!
//! Dropping it SIGKILLs pgbouncer and removes the directory (kept with PG_HARNESS_KEEP=1 when the
//! test panicked).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::cluster::{Node, Role, base_dir, pg_error};
use super::os;
use super::pgpool::which;
use super::reply::{Reply, bounded};

/// Deadline of the waits on pgbouncer (startup, reload, waiting clients).
pub const PGBOUNCER_WAIT: Duration = Duration::from_secs(15);

/// How long one admin console statement may take before it counts as no answer.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

const ADMIN_USER: &str = "pgb_admin";

/// The pgbouncer executable and its version ("1.18.0").
#[derive(Debug)]
pub struct PgbouncerBin {
    pub path: PathBuf,
    pub version: String,
}

impl PgbouncerBin {
    /// Debian's /usr/sbin/pgbouncer, else `pgbouncer` on PATH; panics with an install hint when
    /// there is none.
    pub fn get() -> &'static PgbouncerBin {
        static BIN: OnceLock<PgbouncerBin> = OnceLock::new();
        BIN.get_or_init(|| {
            let path = [PathBuf::from("/usr/sbin/pgbouncer")]
                .into_iter()
                .chain(which("pgbouncer"))
                .find(|p| p.is_file())
                .unwrap_or_else(|| {
                    panic!(
                        "no pgbouncer: neither /usr/sbin/pgbouncer nor `pgbouncer` on PATH; \
                         apt-get install pgbouncer (scripts/deps.sh)"
                    )
                });
            let out = Command::new(&path)
                .arg("--version")
                .output()
                .unwrap_or_else(|e| panic!("run {} --version: {e}", path.display()));
            // "PgBouncer 1.18.0\nlibevent 2.1.12-stable\n..."
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let version = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("PgBouncer "))
                .unwrap_or_else(|| panic!("{} --version said {text:?}", path.display()))
                .trim()
                .to_string();
            PgbouncerBin { path, version }
        })
    }
}

/// One `[databases]` entry.
#[derive(Clone, Debug)]
struct Db {
    name: String,
    node: String,
    port: u16,
    /// More `key=value` pairs of the connection string (`pool_size=1`).
    extra: String,
}

/// Options of a pgbouncer; see [`Pgbouncer::builder`].
#[derive(Default)]
pub struct Builder {
    databases: Vec<Db>,
    stats_users: Vec<(String, String)>,
    /// Roles that log in to the databases (auth file only).
    users: Vec<(String, String)>,
    settings: Vec<(String, String)>,
}

impl Builder {
    /// A database `name` routed to `node`'s `postgres` database.
    pub fn database(self, name: &str, node: &Node) -> Self {
        self.database_with(name, node, "")
    }

    /// A database with more connection-string options, e.g. `pool_size=1`.
    pub fn database_with(self, name: &str, node: &Node, extra: &str) -> Self {
        self.database_at(name, node.name(), node.port(), extra)
    }

    /// A database routed to the server named `node` on 127.0.0.1:`port` (e.g. a Patroni
    /// member), with more connection-string options.
    pub fn database_at(mut self, name: &str, node: &str, port: u16, extra: &str) -> Self {
        self.databases.push(Db {
            name: name.to_string(),
            node: node.to_string(),
            port,
            extra: extra.to_string(),
        });
        self
    }

    /// Put `role` in `stats_users` (SHOW commands on the admin console, no RELOAD) with its
    /// password in the auth file.
    pub fn stats_user(mut self, role: &Role) -> Self {
        self.stats_users
            .push((role.user().to_string(), role.password().to_string()));
        self
    }

    /// A role that logs in to the databases with `password` (scram-sha-256 against the auth
    /// file; pgbouncer logs in to the backend as that role with the same password).
    pub fn user(mut self, user: &str, password: &str) -> Self {
        self.users.push((user.to_string(), password.to_string()));
        self
    }

    /// A `[pgbouncer]` setting (after the harness' own, so it wins), e.g.
    /// `("ignore_startup_parameters", "extra_float_digits")`.
    pub fn setting(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.to_string(), value.to_string()));
        self
    }

    pub fn start(self) -> Pgbouncer {
        let bin = PgbouncerBin::get();
        let base = base_dir();
        let dir = tempfile::Builder::new()
            .prefix("pgbouncer-harness.")
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("create a temp dir in {}: {e}", base.display()));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        os::give_to_server(dir.path());
        let d = dir.path().to_path_buf();
        let admin_password = os::random_hex(16);
        let admin_password_file = d.join("pgb_admin.password");
        os::write_private(&admin_password_file, &format!("{admin_password}\n"));
        let mut b = Pgbouncer {
            child: None,
            port: os::free_port(),
            version: bin.version.clone(),
            admin_password,
            admin_password_file,
            ini_file: d.join("pgbouncer.ini"),
            log_file: d.join("pgbouncer.log"),
            stderr_file: d.join("pgbouncer.stderr"),
            databases: Mutex::new(self.databases),
            stats_users: self.stats_users,
            settings: self.settings,
            dir: Some(dir),
        };
        write_file(
            &d.join("pgbouncer_hba.conf"),
            "host all postgres 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
            0o644,
        );
        // pgbouncer quotes with double quotes and doubles an inner one; hex passwords need none.
        let mut users = format!(
            "\"{ADMIN_USER}\" \"{}\"\n\"postgres\" \"\"\n",
            b.admin_password
        );
        for (user, password) in b.stats_users.iter().chain(&self.users) {
            users.push_str(&format!("\"{user}\" \"{password}\"\n"));
        }
        write_file(&d.join("userlist.txt"), &users, 0o600);
        b.write_ini();

        let stderr = fs::File::create(&b.stderr_file).unwrap();
        let mut cmd = Command::new(&bin.path);
        cmd.arg(&b.ini_file)
            .current_dir(&d)
            .env("HOME", &d)
            .stdin(Stdio::null())
            .stdout(stderr.try_clone().unwrap())
            .stderr(stderr);
        if let Some(a) = os::server_account() {
            cmd.uid(a.uid).gid(a.gid);
        }
        // In the struct before the wait, so that Drop kills it if the wait panics.
        b.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.path.display())),
        );
        let target = b.admin_target();
        let log = b.log_paths();
        let what = format!("pgbouncer {} on port {}", b.version, b.port);
        os::wait_ready(
            &what,
            b.child.as_mut().unwrap(),
            PGBOUNCER_WAIT,
            || target.query("SHOW VERSION").map(|_| ()),
            || log.dump(),
        );
        b
    }
}

/// Write a file the server account owns, with permission bits `mode`.
fn write_file(path: &Path, content: &str, mode: u32) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    os::give_to_server(path);
}

/// The admin console's address and credentials, to query it from another thread.
#[derive(Clone)]
struct AdminTarget {
    port: u16,
    password: String,
}

impl AdminTarget {
    fn query(&self, sql: &str) -> Result<Reply, String> {
        let (t, sql) = (self.clone(), sql.to_string());
        bounded(ADMIN_TIMEOUT, move || {
            let mut c = postgres::Config::new()
                .host("127.0.0.1")
                .port(t.port)
                .user(ADMIN_USER)
                .password(&t.password)
                .dbname("pgbouncer")
                .application_name("harness")
                .connect_timeout(Duration::from_secs(3))
                .connect(postgres::NoTls)
                .map_err(|e| format!("connect to the admin console: {}", pg_error(&e)))?;
            Reply::simple_query(&mut c, &sql)
        })
    }
}

/// The log file and the stderr capture (errors before the log file opens).
struct LogPaths {
    log: PathBuf,
    stderr: PathBuf,
}

impl LogPaths {
    fn dump(&self) -> String {
        format!(
            "--- last 40 lines of {} ---\n{}\n--- stderr ({}) ---\n{}",
            self.log.display(),
            os::tail(&self.log, 40),
            self.stderr.display(),
            os::tail(&self.stderr, 20)
        )
    }
}

/// A running pgbouncer.
pub struct Pgbouncer {
    child: Option<Child>,
    port: u16,
    version: String,
    admin_password: String,
    admin_password_file: PathBuf,
    ini_file: PathBuf,
    log_file: PathBuf,
    stderr_file: PathBuf,
    databases: Mutex<Vec<Db>>,
    stats_users: Vec<(String, String)>,
    settings: Vec<(String, String)>,
    dir: Option<tempfile::TempDir>,
}

impl Pgbouncer {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// pgbouncer with these databases (name → node), the harness defaults and no stats user but
    /// the admin.
    pub fn start(databases: &[(&str, &Node)]) -> Pgbouncer {
        databases
            .iter()
            .fold(Pgbouncer::builder(), |b, (name, node)| {
                b.database(name, node)
            })
            .start()
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }
    /// "1.18.0".
    pub fn version(&self) -> &str {
        &self.version
    }
    /// "PgBouncer 1.18.0", as the fixtures name the program.
    pub fn program(&self) -> String {
        format!("PgBouncer {}", self.version)
    }
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("pgbouncer runs").id() as i32
    }
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("pgbouncer dir").path()
    }
    pub fn ini_file(&self) -> &Path {
        &self.ini_file
    }
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The admin user (in `admin_users` and `stats_users`).
    pub fn admin_user(&self) -> &str {
        ADMIN_USER
    }
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }
    /// The admin password, one line, mode 0600, owned by the test's user.
    pub fn admin_password_file(&self) -> &Path {
        &self.admin_password_file
    }

    fn admin_target(&self) -> AdminTarget {
        AdminTarget {
            port: self.port,
            password: self.admin_password.clone(),
        }
    }

    fn log_paths(&self) -> LogPaths {
        LogPaths {
            log: self.log_file.clone(),
            stderr: self.stderr_file.clone(),
        }
    }

    /// The log's and stderr's last lines, for failure messages.
    pub fn dump(&self) -> String {
        self.log_paths().dump()
    }

    fn write_ini(&self) {
        let d = self.dir();
        let mut ini = String::from("[databases]\n");
        for db in self.databases.lock().unwrap().iter() {
            ini.push_str(&format!(
                "{} = host=127.0.0.1 port={} dbname=postgres {}\n",
                db.name, db.port, db.extra
            ));
        }
        let mut stats: Vec<&str> = vec![ADMIN_USER];
        stats.extend(self.stats_users.iter().map(|(u, _)| u.as_str()));
        ini.push_str(&format!(
            "\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir = {dir}\n\
             logfile = {log}\n\
             pidfile = {dir}/pgbouncer.pid\n\
             auth_type = hba\n\
             auth_hba_file = {dir}/pgbouncer_hba.conf\n\
             auth_file = {dir}/userlist.txt\n\
             admin_users = {ADMIN_USER}\n\
             stats_users = {stats}\n\
             pool_mode = session\n\
             default_pool_size = 5\n\
             max_client_conn = 100\n\
             server_login_retry = 1\n",
            port = self.port,
            dir = d.display(),
            log = self.log_file.display(),
            stats = stats.join(", "),
        ));
        for (k, v) in &self.settings {
            ini.push_str(&format!("{k} = {v}\n"));
        }
        write_file(&self.ini_file, &ini, 0o644);
    }

    /// One statement on the admin console (`SHOW POOLS`, `RELOAD`) as the admin user, in a new
    /// session, with `simple_query`; Err when it fails or takes longer than 5 s.
    pub fn try_admin(&self, sql: &str) -> Result<Reply, String> {
        self.admin_target().query(sql)
    }

    /// [`Pgbouncer::try_admin`] that panics with the log.
    pub fn admin_reply(&self, sql: &str) -> Reply {
        self.try_admin(sql).unwrap_or_else(|e| {
            panic!(
                "{sql} on pgbouncer's admin console (port {}): {e}\n{}",
                self.port,
                self.dump()
            )
        })
    }

    /// The rows of an admin console statement, every value as text (None for NULL).
    pub fn admin_query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.admin_reply(sql).rows
    }

    /// A session as `postgres` (trusted) to database `db` through pgbouncer.
    pub fn conn(&self, db: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname(db)
            .application_name("harness")
            .connect_timeout(Duration::from_secs(5))
            .connect(postgres::NoTls)
    }

    /// A session to `db` that has run a query and so holds one server connection for its
    /// lifetime (session pooling): with `pool_size=1`, every other client of `db` waits.
    pub fn hold(&self, db: &str) -> postgres::Client {
        let mut c = self.conn(db).unwrap_or_else(|e| {
            panic!(
                "connect to {db} through pgbouncer: {}\n{}",
                pg_error(&e),
                self.dump()
            )
        });
        c.simple_query("SELECT 1")
            .unwrap_or_else(|e| panic!("SELECT 1 on {db} through pgbouncer: {}", pg_error(&e)));
        c
    }

    /// Point database `db` at `node`: rewrite the ini, `RELOAD` on the admin console, and wait
    /// until `SHOW DATABASES` lists the new port.
    pub fn repoint(&self, db: &str, node: &Node) {
        {
            let mut dbs = self.databases.lock().unwrap();
            let entry = dbs
                .iter_mut()
                .find(|d| d.name == db)
                .unwrap_or_else(|| panic!("pgbouncer has no database {db:?}"));
            entry.node = node.name().to_string();
            entry.port = node.port();
        }
        self.write_ini();
        self.admin_reply("RELOAD");
        let want = node.port().to_string();
        self.wait_admin(
            &format!(
                "SHOW DATABASES to route {db} to {} (port {want})",
                node.name()
            ),
            "SHOW DATABASES",
            PGBOUNCER_WAIT,
            |r| r.cell("name", db, "port") == Some(want.as_str()),
        );
    }

    /// Poll an admin statement every 100 ms until `cond` holds for its reply; return that reply.
    /// On timeout panic with `what`, the last reply and the log.
    pub fn wait_admin(
        &self,
        what: &str,
        sql: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Reply) -> bool,
    ) -> Reply {
        let mut last = Err(String::from("not asked yet"));
        let ok = os::poll_until(timeout, || {
            last = self.try_admin(sql);
            last.as_ref().is_ok_and(&mut cond)
        });
        match last {
            Ok(r) if ok => r,
            last => panic!(
                "timed out after {timeout:?} waiting for {what}\n--- last {sql} ---\n{}\n{}",
                match last {
                    Ok(r) => r.table(),
                    Err(e) => e,
                },
                self.dump()
            ),
        }
    }

    /// `cl_waiting` of database `db` in `SHOW POOLS`, summed over its users.
    pub fn clients_waiting(&self, pools: &Reply, db: &str) -> u64 {
        let (dcol, wcol) = (pools.column("database"), pools.column("cl_waiting"));
        pools
            .rows
            .iter()
            .filter(|r| r[dcol].as_deref() == Some(db))
            .filter_map(|r| r[wcol].as_deref()?.parse::<u64>().ok())
            .sum()
    }

    /// Make `k` clients of `db` (as `postgres`, each sending `SELECT 1`) wait in pgbouncer's
    /// queue, and return once `SHOW CLIENTS` lists exactly `k` of them `waiting`. Clients wait
    /// only when the pool cannot serve them: its node SIGSTOPped (a stopped node makes pgbouncer
    /// fail new clients fast instead: tests/fixtures/pgbouncer/README.md), or a `pool_size=1`
    /// database held by [`Pgbouncer::hold`]. A client that gets a server connection instead (a
    /// warm pool hands its idle one to the first client, whose query then hangs on the frozen
    /// node) counts as active, and another client is opened in its place; panics when more than
    /// `k + 5` clients did not make `k` wait (the pool serves them). Dropping the guard closes all.
    pub fn waiting_clients(&self, db: &str, k: usize) -> WaitingClients {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime for the waiting clients");
        let tag = format!("harness-wait-{}", os::random_hex(4));
        let mut guard = WaitingClients {
            rt: Some(rt),
            waiting: 0,
            opened: 0,
        };
        let deadline = std::time::Instant::now() + PGBOUNCER_WAIT;
        let mut last = String::new();
        loop {
            // Every client opened so far has a state (waiting or active), the same in three
            // readings in a row, before we count: a client still logging in can show as active
            // for a moment before it joins the queue.
            let mut states: Vec<String> = Vec::new();
            let mut readings: Vec<Vec<String>> = Vec::new();
            let settled = os::poll_until(Duration::from_secs(5), || {
                match self.try_admin("SHOW CLIENTS") {
                    Ok(r) => {
                        let (app, state) = (r.column("application_name"), r.column("state"));
                        states = r
                            .rows
                            .iter()
                            .filter(|row| row[app].as_deref().is_some_and(|a| a.starts_with(&tag)))
                            .map(|row| row[state].clone().unwrap_or_default())
                            .collect();
                        states.sort();
                        last = r.table();
                        readings.push(states.clone());
                        let n = readings.len();
                        states.len() == guard.opened
                            && n >= 3
                            && readings[n - 3..].iter().all(|x| *x == states)
                    }
                    Err(e) => {
                        last = e;
                        false
                    }
                }
            });
            let waiting = states.iter().filter(|s| *s == "waiting").count();
            if settled && waiting == k {
                guard.waiting = k;
                return guard;
            }
            if !settled
                || waiting > k
                || guard.opened >= k + 5
                || std::time::Instant::now() >= deadline
            {
                panic!(
                    "{} clients opened on {db}, {waiting} waiting, not {k} (the pool serves \
                     them, or they failed)\n--- last SHOW CLIENTS ---\n{last}\n{}",
                    guard.opened,
                    self.dump()
                );
            }
            for _ in waiting..k {
                self.spawn_client(&guard, db, &format!("{tag}-{}", guard.opened));
                guard.opened += 1;
            }
        }
    }

    fn spawn_client(&self, guard: &WaitingClients, db: &str, application_name: &str) {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname(db)
            .application_name(application_name);
        guard.rt.as_ref().unwrap().spawn(async move {
            let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client.simple_query("SELECT 1").await?;
            // Served after all: keep the session open, as an application would.
            std::future::pending::<()>().await;
            Ok::<(), tokio_postgres::Error>(())
        });
    }

    /// SIGSTOP pgbouncer: it hangs (the kernel still accepts connections, nothing answers).
    pub fn sigstop(&self) {
        os::signal(self.pid(), libc::SIGSTOP);
    }

    pub fn sigcont(&self) {
        os::signal(self.pid(), libc::SIGCONT);
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let keep = std::thread::panicking()
            && std::env::var_os("PG_HARNESS_KEEP").is_some_and(|v| !v.is_empty() && v != "0");
        if let Some(dir) = self.dir.take()
            && keep
        {
            eprintln!("PG_HARNESS_KEEP: keeping {}", dir.keep().display());
        }
    }
}

/// Clients of [`Pgbouncer::waiting_clients`]; dropping (or [`WaitingClients::release`]) closes
/// their connections.
pub struct WaitingClients {
    rt: Option<tokio::runtime::Runtime>,
    waiting: usize,
    opened: usize,
}

impl WaitingClients {
    /// Clients that were waiting when [`Pgbouncer::waiting_clients`] returned.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Clients opened to get there (more than `waiting` when some got a server connection).
    pub fn opened(&self) -> usize {
        self.opened
    }

    /// Close every client now.
    pub fn release(mut self) {
        self.close();
    }

    fn close(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Dropping the tasks drops their sockets: pgbouncer sees the clients go.
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for WaitingClients {
    fn drop(&mut self) {
        self.close();
    }
}
