//! A real PostgreSQL streaming-replication cluster on loopback: a primary made by initdb,
//! standbys cloned from it (or, for the cascade, from standby1) with a plain file copy between
//! `pg_backup_start` and `pg_backup_stop` — no pg_basebackup, which the npm builds lack — and
//! the helpers a test needs to steer the nodes (lag, pause, crash, freeze, promote) and to wait
//! for them, dumping the replication state and the logs when a wait times out.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use postgres::types::{PgLsn, ToSql};
use postgres::{Client, NoTls, Row};

use super::os;
use super::pgbin::PgBin;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// Default deadline of the waits (startup, streaming, promotion, catch-up).
pub const WAIT: Duration = Duration::from_secs(90);

/// `pg_ctl stop -m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    Smart,
    Fast,
    Immediate,
}

impl StopMode {
    fn as_str(self) -> &'static str {
        match self {
            StopMode::Smart => "smart",
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// What a standby must have done with the WAL for [`Cluster::wait_for_catchup_mode`]: the
/// `write_lsn`, `flush_lsn` or `replay_lsn` column of pg_stat_replication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Catchup {
    Write,
    Flush,
    Replay,
}

impl Catchup {
    fn column(self) -> &'static str {
        match self {
            Catchup::Write => "write",
            Catchup::Flush => "flush",
            Catchup::Replay => "replay",
        }
    }
}

/// Format a byte position as PostgreSQL prints a pg_lsn ("16/B374D848").
pub fn fmt_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// A postgres::Error as one line with the server's message (its Display says only "db error").
pub fn pg_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} {}: {}{}",
            db.severity(),
            db.code().code(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

/// A login role created on the primary for the exporter, with its password file (mode 0600).
pub struct Role {
    user: String,
    password: String,
    password_file: PathBuf,
}

impl Role {
    pub fn user(&self) -> &str {
        &self.user
    }
    pub fn password(&self) -> &str {
        &self.password
    }
    pub fn password_file(&self) -> &Path {
        &self.password_file
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Role")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// Options of a cluster; see [`Cluster::builder`].
#[derive(Clone, Debug)]
pub struct Builder {
    standbys: usize,
    cascade: bool,
    slots: bool,
    synchronous_standby_names: Option<String>,
    conf: Vec<String>,
    logical_slot: Option<String>,
    /// Extra node.conf settings of one standby: (standby, key, value).
    standby_settings: Vec<(String, String, String)>,
    archive: bool,
    archive_only: Vec<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            standbys: 2,
            cascade: false,
            slots: true,
            synchronous_standby_names: None,
            conf: Vec::new(),
            logical_slot: None,
            standby_settings: Vec::new(),
            archive: false,
            archive_only: Vec::new(),
        }
    }
}

impl Builder {
    /// Standbys of the primary, named standby1, standby2, ... (default 2).
    pub fn standbys(mut self, n: usize) -> Self {
        self.standbys = n;
        self
    }
    /// Add a standby named "cascade" that streams from standby1 (default off).
    pub fn cascade(mut self, on: bool) -> Self {
        self.cascade = on;
        self
    }
    /// A physical replication slot on its upstream per standby, named after it (default on).
    pub fn slots(mut self, on: bool) -> Self {
        self.slots = on;
        self
    }
    /// `synchronous_standby_names` of the primary only (a promoted standby has none), e.g.
    /// "ANY 1 (standby1, standby2)".
    pub fn synchronous_standby_names(mut self, names: &str) -> Self {
        self.synchronous_standby_names = Some(names.to_string());
        self
    }
    /// An extra postgresql.conf line for every node (wins over the harness defaults).
    pub fn conf(mut self, line: &str) -> Self {
        self.conf.push(line.to_string());
        self
    }
    /// wal_level=logical and a test_decoding logical slot of this name on the primary.
    pub fn logical_slot(mut self, name: &str) -> Self {
        self.logical_slot = Some(name.to_string());
        self
    }

    /// A postgresql.conf setting of one standby only (node.conf), e.g.
    /// `("standby2", "recovery_min_apply_delay", "10s")`.
    pub fn standby_setting(mut self, standby: &str, key: &str, value: &str) -> Self {
        self.standby_settings
            .push((standby.to_string(), key.to_string(), value.to_string()));
        self
    }
    /// WAL archiving: the primary archives into `<cluster dir>/archive` (archive_mode = on, a
    /// `cp` archive_command) and every standby has a `restore_command` reading from it.
    pub fn archive(mut self, on: bool) -> Self {
        self.archive = on;
        self
    }
    /// This standby is fed from the archive only: no primary_conninfo, no slot (implies
    /// `archive(true)`); `start` does not wait for it to stream.
    pub fn archive_only(mut self, standby: &str) -> Self {
        self.archive = true;
        self.archive_only.push(standby.to_string());
        self
    }

    /// initdb the primary, clone and start the standbys, create the exporter roles and slots,
    /// and wait until every standby streams.
    pub fn start(self) -> Cluster {
        assert!(
            !self.cascade || self.standbys >= 1,
            "a cascading standby needs standby1 as its upstream"
        );
        let bin = PgBin::from_env();
        let base = base_dir();
        let dir = tempfile::Builder::new()
            .prefix("pg-harness.")
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("create a temp dir in {}: {e}", base.display()));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        os::give_to_server(dir.path());

        let exporter = new_role(dir.path(), "exporter");
        let exporter_nomon = new_role(dir.path(), "exporter_nomon");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            bin,
            exporter,
            exporter_nomon,
            logical_slot: self.logical_slot.clone(),
            dir: Some(dir),
        };

        let n_nodes = 1 + self.standbys + usize::from(self.cascade);
        let mut ports = os::free_ports(n_nodes).into_iter();

        // Primary. It joins the cluster before it starts, so that Drop stops it whatever fails.
        let primary = cluster.new_node("primary", ports.next().unwrap(), None);
        primary.initdb(&self);
        let archive_dir = cluster.dir().join("archive");
        if self.archive {
            fs::create_dir(&archive_dir).unwrap();
            os::give_to_server(&archive_dir);
            let dir = archive_dir.to_string_lossy();
            primary.write_node_conf(&[
                ("archive_mode", "on"),
                (
                    "archive_command",
                    &format!("test ! -f '{dir}/%f' && cp %p '{dir}/%f'"),
                ),
            ]);
        } else {
            primary.write_node_conf(&[]);
        }
        cluster.nodes.push(primary);
        cluster.primary().start();
        cluster.create_roles();

        for i in 1..=self.standbys {
            let name = format!("standby{i}");
            let archive_only = self.archive_only.contains(&name);
            let standby = cluster.new_node(
                &name,
                ports.next().unwrap(),
                Some((cluster.primary(), self.slots && !archive_only)),
            );
            let mut extra: Vec<(String, String)> = self
                .standby_settings
                .iter()
                .filter(|(n, _, _)| *n == name)
                .map(|(_, k, v)| (k.clone(), v.clone()))
                .collect();
            if self.archive {
                extra.push((
                    "restore_command".into(),
                    format!("cp '{}/%f' %p", archive_dir.to_string_lossy()),
                ));
            }
            if archive_only {
                extra.push(("primary_conninfo".into(), String::new()));
            }
            cluster.clone_from_upstream_with(&standby, &extra);
            cluster.nodes.push(standby);
            cluster.nodes.last().unwrap().start();
        }
        if self.cascade {
            let port = ports.next().unwrap();
            cluster.start_standby("cascade", port, "standby1", self.slots);
        }
        if let Some(slot) = &self.logical_slot {
            cluster.primary().execute(
                "SELECT pg_create_logical_replication_slot($1, 'test_decoding')",
                &[slot],
            );
        }
        // Only now: with synchronous standbys named before they exist, every commit above (the
        // roles) would wait for them.
        if let Some(names) = &self.synchronous_standby_names {
            let p = cluster.primary();
            p.write_node_conf(&[("synchronous_standby_names", names)]);
            p.batch_execute("SELECT pg_reload_conf()");
            cluster.wait_for(
                "the primary to load synchronous_standby_names",
                WAIT,
                || {
                    p.try_query_one("SHOW synchronous_standby_names")
                        .is_some_and(|r| r.get::<_, String>(0) == *names)
                },
            );
        }
        for standby in cluster.standbys() {
            if !self.archive_only.iter().any(|n| n == standby.name()) {
                cluster.wait_for_streaming(standby);
            }
        }
        cluster
    }
}

/// Where a test cluster's temp dir goes (PostgreSQL and Patroni alike): `$TMPDIR` if the postgres user can reach it, else /tmp.
pub(super) fn base_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    if os::server_account().is_none() {
        return tmp;
    }
    let traversable = tmp
        .ancestors()
        .all(|d| fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if traversable {
        tmp
    } else {
        PathBuf::from("/tmp")
    }
}

fn new_role(dir: &Path, user: &str) -> Role {
    let password = os::random_hex(16);
    let password_file = dir.join(format!("{user}.password"));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&password_file)
        .unwrap_or_else(|e| panic!("create {}: {e}", password_file.display()));
    writeln!(f, "{password}").unwrap();
    Role {
        user: user.to_string(),
        password,
        password_file,
    }
}

/// Quote a string for postgresql.conf, where `\n` is an escape the server turns into a newline.
pub fn conf_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Quote a string as a TOML basic string.
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A primary, its standbys and the optional cascade, in one temp dir. Dropping it stops every
/// server (`pg_ctl stop -m immediate`, SIGKILL for leftovers) and removes the directory — also
/// when the test panicked. Set PG_HARNESS_KEEP=1 to keep the directory of a failed test.
pub struct Cluster {
    nodes: Vec<Node>,
    bin: &'static PgBin,
    exporter: Role,
    exporter_nomon: Role,
    logical_slot: Option<String>,
    dir: Option<tempfile::TempDir>,
}

impl Cluster {
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub fn bin(&self) -> &'static PgBin {
        self.bin
    }

    /// The temp dir holding data dirs (`<dir>/<node>`), logs (`<dir>/<node>.log`), sockets and
    /// password files.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("cluster dir").path()
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node named "primary" (still so named after another node was promoted).
    pub fn primary(&self) -> &Node {
        self.node("primary")
    }

    /// standby`i` (1-based).
    pub fn standby(&self, i: usize) -> &Node {
        self.node(&format!("standby{i}"))
    }

    pub fn cascade(&self) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == "cascade")
    }

    /// Every node that was built as a standby (cascade included), in build order.
    pub fn standbys(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.upstream.is_some())
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node named {name:?} in this cluster"))
    }

    /// The role `exporter`: LOGIN, scram password, member of pg_monitor.
    pub fn exporter_role(&self) -> &Role {
        &self.exporter
    }

    /// The role `exporter_nomon`: LOGIN, scram password, NOT a member of pg_monitor.
    pub fn nomon_role(&self) -> &Role {
        &self.exporter_nomon
    }

    pub fn logical_slot(&self) -> Option<&str> {
        self.logical_slot.as_deref()
    }

    /// The exporter's TOML (the config contract) for all nodes of this cluster, as one
    /// `[[cluster]]` named `cluster_name`; poll interval 1s, timeout 800ms, backoff_max 2s.
    pub fn exporter_config(&self, cluster_name: &str, user: &str, password_file: &Path) -> String {
        let mut toml = format!(
            "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n\n\
             [[cluster]]\nname = {}\nuser = {}\npassword_file = {}\nsslmode = \"disable\"\n",
            toml_str(cluster_name),
            toml_str(user),
            toml_str(&password_file.to_string_lossy()),
        );
        for n in &self.nodes {
            toml.push_str(&format!(
                "\n[[cluster.node]]\nname = {}\nhost = \"127.0.0.1\"\nport = {}\n",
                toml_str(&n.name),
                n.port
            ));
        }
        toml
    }

    fn create_roles(&self) {
        let p = self.primary();
        for (role, monitor) in [(&self.exporter, true), (&self.exporter_nomon, false)] {
            // Hex passwords need no quoting; log_statement is off, so they stay out of the log.
            p.batch_execute(&format!(
                "CREATE ROLE {} LOGIN PASSWORD '{}'",
                role.user, role.password
            ));
            if monitor {
                p.batch_execute(&format!("GRANT pg_monitor TO {}", role.user));
            }
        }
    }

    fn new_node(&self, name: &str, port: u16, upstream: Option<(&Node, bool)>) -> Node {
        let root = self.dir();
        Node {
            name: name.to_string(),
            port,
            data_dir: root.join(name),
            log_file: root.join(format!("{name}.log")),
            socket_dir: root.to_path_buf(),
            upstream: upstream.map(|(u, _)| u.name.clone()),
            upstream_port: upstream.map(|(u, _)| u.port),
            slot: upstream.and_then(|(_, slot)| slot.then(|| name.to_string())),
            bin: self.bin,
            frozen: AtomicBool::new(false),
        }
    }

    /// Clone a standby of `upstream`, add it to the cluster (so that Drop stops it whatever
    /// fails next) and start it.
    fn start_standby(&mut self, name: &str, port: u16, upstream: &str, slot: bool) {
        assert!(
            !self.nodes.iter().any(|n| n.name == name),
            "this cluster already has a node named {name:?}"
        );
        let standby = self.new_node(name, port, Some((self.node(upstream), slot)));
        self.clone_from_upstream(&standby);
        self.nodes.push(standby);
        self.nodes.last().unwrap().start();
    }

    /// Add a node mid-test: a new standby named `name` cloned from the running node `upstream`
    /// (the primary or a standby, for a cascade), with a physical slot on it when `slot`; wait
    /// until it streams and return it. Like Cluster.pm's backup + init_from_backup + start.
    pub fn add_standby(&mut self, name: &str, upstream: &str, slot: bool) -> &Node {
        let port = os::free_port();
        self.start_standby(name, port, upstream, slot);
        let standby = self.node(name);
        self.wait_for_streaming(standby);
        standby
    }

    /// Build `standby`'s data dir from its upstream without pg_basebackup: slot, non-exclusive
    /// backup start, file copy, backup stop in the same session, backup_label, standby.signal.
    fn clone_from_upstream(&self, standby: &Node) {
        self.clone_from_upstream_with(standby, &[]);
    }

    /// [`Cluster::clone_from_upstream`] with extra node.conf settings (later ones win).
    fn clone_from_upstream_with(&self, standby: &Node, extra: &[(String, String)]) {
        let upstream = self.node(standby.upstream.as_deref().expect("a standby"));
        if let Some(slot) = &standby.slot {
            upstream.execute(
                "SELECT pg_create_physical_replication_slot($1, true)",
                &[slot],
            );
        }
        let mut session = upstream.conn();
        let major = self.bin.major();
        // 13/14 only have the old names; their third argument `false` = non-exclusive.
        let (start_sql, stop_sql) = if major >= 15 {
            (
                "SELECT pg_backup_start($1, true)",
                "SELECT labelfile, spcmapfile FROM pg_backup_stop(false)",
            )
        } else {
            (
                "SELECT pg_start_backup($1, true, false)",
                "SELECT labelfile, spcmapfile FROM pg_stop_backup(false, false)",
            )
        };
        let label = format!("harness clone of {} for {}", upstream.name, standby.name);
        session
            .execute(start_sql, &[&label])
            .unwrap_or_else(|e| panic!("backup start on {}: {}", upstream.name, pg_error(&e)));
        copy_data_dir(&upstream.data_dir, &standby.data_dir, true);
        let row = session
            .query_one(stop_sql, &[])
            .unwrap_or_else(|e| panic!("backup stop on {}: {}", upstream.name, pg_error(&e)));
        let labelfile: String = row.get(0);
        let spcmapfile: Option<String> = row.get(1);
        drop(session);

        standby.write_file("backup_label", &labelfile);
        if let Some(map) = spcmapfile.filter(|m| !m.is_empty()) {
            standby.write_file("tablespace_map", &map);
        }
        standby.write_file("standby.signal", "");
        let conninfo = format!(
            "host=127.0.0.1 port={} user=postgres application_name={}",
            standby.upstream_port.unwrap(),
            standby.name
        );
        let mut settings: Vec<(&str, &str)> = vec![
            ("primary_conninfo", &conninfo),
            ("primary_slot_name", standby.slot.as_deref().unwrap_or("")),
        ];
        settings.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        standby.write_node_conf(&settings);
    }

    /// Demote the node `name` (a primary, running or stopped) to a standby of the primary
    /// `upstream`, as an operator does after a switchover: fast stop if it runs,
    /// `standby.signal`, a node.conf whose `primary_conninfo` points at `upstream` (no slot; the
    /// node's other node.conf settings go), start, and wait until it streams from `upstream`.
    /// Without pg_rewind: the node must not have written WAL past `upstream`'s fork point, as
    /// when it was stopped cleanly before `upstream` was promoted. The node keeps the upstream
    /// it was built with in [`Node::upstream`].
    pub fn demote(&self, name: &str, upstream: &str) {
        let node = self.node(name);
        let up = self.node(upstream);
        if node.postmaster_pid().is_some() {
            node.stop(StopMode::Fast);
        }
        node.write_file("standby.signal", "");
        let conninfo = format!(
            "host=127.0.0.1 port={} user=postgres application_name={}",
            up.port, node.name
        );
        node.write_node_conf(&[("primary_conninfo", &conninfo), ("primary_slot_name", "")]);
        node.start();
        self.wait_for(
            &format!("the demoted {name} to stream from {upstream}"),
            WAIT,
            || {
                let receiving = node
                    .try_query_one("SELECT status FROM pg_stat_wal_receiver")
                    .is_some_and(|r| r.get::<_, Option<String>>(0).as_deref() == Some("streaming"));
                receiving
                    && up
                        .try_query_one_params(
                            "SELECT count(*) FROM pg_stat_replication \
                             WHERE application_name = $1 AND state = 'streaming'",
                            &[&node.name],
                        )
                        .is_some_and(|r| r.get::<_, i64>(0) == 1)
            },
        );
    }

    /// Poll `f` every 100 ms until it holds; on timeout panic with `what` and [`Cluster::dump`].
    pub fn wait_for(&self, what: &str, timeout: Duration, f: impl FnMut() -> bool) {
        if !os::poll_until(timeout, f) {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.dump()
            );
        }
    }

    /// Wait until `standby` has replayed everything the node named "primary" has written now,
    /// and its WAL receiver streams.
    pub fn wait_for_catchup(&self, standby: &Node) {
        self.wait_for_catchup_to(self.primary(), standby);
    }

    /// Wait until `standby` has replayed up to `source`'s current WAL position (taken once, now)
    /// and its WAL receiver streams. `source` must be a primary.
    pub fn wait_for_catchup_to(&self, source: &Node, standby: &Node) {
        let target = source.current_lsn();
        self.wait_for(
            &format!(
                "{} to stream and replay up to {} ({} current LSN)",
                standby.name,
                fmt_lsn(target),
                source.name
            ),
            WAIT,
            || {
                standby
                    .try_query_one(
                        "SELECT pg_last_wal_replay_lsn(), \
                         (SELECT status FROM pg_stat_wal_receiver)",
                    )
                    .is_some_and(|r| {
                        let replay: Option<PgLsn> = r.get(0);
                        let status: Option<String> = r.get(1);
                        replay.is_some_and(|l| u64::from(l) >= target)
                            && status.as_deref() == Some("streaming")
                    })
            },
        );
    }

    /// Wait until `standby`'s upstream reports in pg_stat_replication that the standby has
    /// written, flushed or replayed (`mode`) everything the upstream has now (its current LSN, or
    /// for a cascading upstream its replay LSN), while streaming. Like Cluster.pm's
    /// `wait_for_catchup($standby, $mode)`.
    pub fn wait_for_catchup_mode(&self, standby: &Node, mode: Catchup) {
        let upstream = self.node(standby.upstream.as_deref().expect("a standby"));
        let target = if upstream.is_in_recovery() {
            upstream.replay_lsn()
        } else {
            upstream.current_lsn()
        };
        let sql = format!(
            "SELECT {}_lsn >= $1 FROM pg_stat_replication \
             WHERE application_name = $2 AND state = 'streaming'",
            mode.column()
        );
        let target_text = fmt_lsn(target);
        self.wait_for(
            &format!(
                "{} to {} up to {target_text} ({}'s position) as {} reports it",
                standby.name,
                mode.column(),
                upstream.name,
                upstream.name
            ),
            WAIT,
            || {
                upstream
                    .try_query_one_params(&sql, &[&PgLsn::from(target), &standby.name])
                    .is_some_and(|r| r.get::<_, Option<bool>>(0) == Some(true))
            },
        );
    }

    /// Wait until `standby`'s WAL receiver streams and its upstream lists it (by
    /// application_name) in pg_stat_replication as streaming.
    pub fn wait_for_streaming(&self, standby: &Node) {
        let upstream = self.node(standby.upstream.as_deref().expect("a standby"));
        self.wait_for(
            &format!("{} to stream from {}", standby.name, upstream.name),
            WAIT,
            || {
                let receiving = standby
                    .try_query_one("SELECT status FROM pg_stat_wal_receiver")
                    .is_some_and(|r| r.get::<_, Option<String>>(0).as_deref() == Some("streaming"));
                receiving
                    && upstream
                        .try_query_one_params(
                            "SELECT count(*) FROM pg_stat_replication \
                             WHERE application_name = $1 AND state = 'streaming'",
                            &[&standby.name],
                        )
                        .is_some_and(|r| r.get::<_, i64>(0) == 1)
            },
        );
    }

    /// The state of every node for a failure message: role and positions,
    /// pg_stat_replication, pg_stat_wal_receiver, pg_replication_slots, the log's last 30 lines.
    pub fn dump(&self) -> String {
        dump_nodes(self.nodes.iter())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Cascade first, primary last: fewer reconnect attempts logged while tearing down.
        for node in self.nodes.iter().rev() {
            node.teardown();
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

/// Top-level entries of a data dir that a clone must not take from its source.
const SKIP_FILES: &[&str] = &[
    "postmaster.pid",
    "postmaster.opts",
    "current_logfiles",
    "backup_label",
    "backup_label.old",
    "tablespace_map",
    "standby.signal",
    "recovery.signal",
    "node.conf",
    "postgresql.auto.conf.tmp",
];

/// Top-level directories whose contents a clone leaves out (as pg_basebackup does): WAL comes
/// from streaming, slots are per node, the rest is runtime state.
const EMPTY_DIRS: &[&str] = &[
    "pg_wal",
    "pg_replslot",
    "pg_dynshmem",
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_stat_tmp",
    "pg_subtrans",
];

/// Copy a live data dir, tolerating files that vanish meanwhile; give every entry to the server
/// account and keep the permission bits.
fn copy_data_dir(src: &Path, dst: &Path, top: bool) {
    let mode = fs::metadata(src)
        .unwrap_or_else(|e| panic!("stat {}: {e}", src.display()))
        .permissions()
        .mode();
    fs::create_dir(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    fs::set_permissions(dst, fs::Permissions::from_mode(mode & 0o7777)).unwrap();
    os::give_to_server(dst);
    let entries = match fs::read_dir(src) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => panic!("read {}: {e}", src.display()),
    };
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if (top && SKIP_FILES.contains(&name_str.as_ref()))
            || name_str == "pg_internal.init"
            || name_str.starts_with("pgsql_tmp")
        {
            continue;
        }
        let (from, to) = (entry.path(), dst.join(&name));
        let Ok(meta) = fs::symlink_metadata(&from) else {
            continue; // vanished
        };
        if meta.is_dir() {
            if top && EMPTY_DIRS.contains(&name_str.as_ref()) {
                fs::create_dir(&to).unwrap();
                fs::set_permissions(&to, meta.permissions()).unwrap();
                os::give_to_server(&to);
                if name_str == "pg_wal" {
                    let status = to.join("archive_status");
                    fs::create_dir(&status).unwrap();
                    os::give_to_server(&status);
                }
            } else {
                copy_data_dir(&from, &to, false);
            }
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&from).unwrap();
            std::os::unix::fs::symlink(target, &to).unwrap();
            os::give_to_server(&to);
        } else {
            match fs::copy(&from, &to) {
                Ok(_) => os::give_to_server(&to),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("copy {} to {}: {e}", from.display(), to.display()),
            }
        }
    }
}

fn dump_nodes<'a>(nodes: impl Iterator<Item = &'a Node>) -> String {
    let mut out = String::new();
    for n in nodes {
        out.push_str(&format!(
            "\n===== {} (port {}, upstream {}) =====\n",
            n.name,
            n.port,
            n.upstream.as_deref().unwrap_or("-")
        ));
        if n.frozen.load(Ordering::SeqCst) {
            out.push_str("SIGSTOPped: not queried\n");
        } else if n.postmaster_pid().is_none() {
            out.push_str("not running\n");
        } else {
            out.push_str(&n.state_report());
        }
        out.push_str(&format!(
            "--- last 30 lines of {} ---\n{}\n",
            n.log_file.display(),
            os::tail(&n.log_file, 30)
        ));
    }
    out
}

/// One PostgreSQL server of the cluster.
pub struct Node {
    name: String,
    port: u16,
    data_dir: PathBuf,
    log_file: PathBuf,
    socket_dir: PathBuf,
    upstream: Option<String>,
    upstream_port: Option<u16>,
    slot: Option<String>,
    bin: &'static PgBin,
    /// Set between sigstop and sigcont, so that failure dumps don't hang on it.
    frozen: AtomicBool,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("upstream", &self.upstream)
            .finish()
    }
}

impl Node {
    /// "primary", "standby1", "standby2", "cascade": the exporter's node name and the standby's
    /// application_name.
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }
    /// The directory of this node's Unix socket (`unix_socket_directories`): the socket is
    /// `<dir>/.s.PGSQL.<port>`. Shared by the nodes of a cluster; only the server account (and
    /// root) can enter it.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }
    /// The node this standby was cloned from and streams from (None for the primary).
    pub fn upstream(&self) -> Option<&str> {
        self.upstream.as_deref()
    }
    /// The physical slot this standby uses on its upstream.
    pub fn slot_name(&self) -> Option<&str> {
        self.slot.as_deref()
    }

    /// A libpq key/value connection string for the superuser over TCP.
    pub fn connstr(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5 \
             application_name=harness",
            self.port
        )
    }

    pub fn try_conn(&self) -> Result<Client, postgres::Error> {
        Client::connect(&self.connstr(), NoTls)
    }

    /// A new superuser connection; panics naming the node and the log tail if it fails.
    pub fn conn(&self) -> Client {
        self.try_conn().unwrap_or_else(|e| {
            panic!(
                "connect to {} (port {}): {}\n--- log ---\n{}",
                self.name,
                self.port,
                pg_error(&e),
                self.log_tail(30)
            )
        })
    }

    /// Connect as another role with a password (over TCP, so scram-sha-256 applies).
    pub fn conn_as(&self, user: &str, password: &str) -> Result<Client, postgres::Error> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(5))
            .connect(NoTls)
    }

    fn fail(&self, sql: &str, e: postgres::Error) -> ! {
        panic!("on {}: {sql}: {}", self.name, pg_error(&e))
    }

    pub fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Vec<Row> {
        self.conn()
            .query(sql, params)
            .unwrap_or_else(|e| self.fail(sql, e))
    }

    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Row {
        self.conn()
            .query_one(sql, params)
            .unwrap_or_else(|e| self.fail(sql, e))
    }

    pub fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Option<Row> {
        self.conn()
            .query_opt(sql, params)
            .unwrap_or_else(|e| self.fail(sql, e))
    }

    /// The first column of the single row of `sql` (no parameters).
    pub fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'a> postgres::types::FromSql<'a>,
    {
        self.query_one(sql, &[]).get(0)
    }

    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> u64 {
        self.conn()
            .execute(sql, params)
            .unwrap_or_else(|e| self.fail(sql, e))
    }

    /// Run one or more statements without parameters.
    pub fn batch_execute(&self, sql: &str) {
        self.conn()
            .batch_execute(sql)
            .unwrap_or_else(|e| self.fail(sql, e))
    }

    /// `query_one` that returns None on any error (node down, restarting): for wait closures.
    pub fn try_query_one(&self, sql: &str) -> Option<Row> {
        self.try_query_one_params(sql, &[])
    }

    pub fn try_query_one_params(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Option<Row> {
        self.try_conn().ok()?.query_one(sql, params).ok()
    }

    pub fn is_in_recovery(&self) -> bool {
        self.scalar("SELECT pg_is_in_recovery()")
    }

    /// `pg_current_wal_lsn()` in bytes (primary only).
    pub fn current_lsn(&self) -> u64 {
        u64::from(self.scalar::<PgLsn>("SELECT pg_current_wal_lsn()"))
    }

    /// `pg_last_wal_replay_lsn()` in bytes (standby only; panics on NULL).
    pub fn replay_lsn(&self) -> u64 {
        let lsn: Option<PgLsn> = self.scalar("SELECT pg_last_wal_replay_lsn()");
        u64::from(lsn.unwrap_or_else(|| panic!("{}: pg_last_wal_replay_lsn() is NULL", self.name)))
    }

    /// `pg_last_wal_receive_lsn()` in bytes; None before the receiver got anything.
    pub fn receive_lsn(&self) -> Option<u64> {
        self.scalar::<Option<PgLsn>>("SELECT pg_last_wal_receive_lsn()")
            .map(u64::from)
    }

    /// Pause WAL replay and wait until it is paused (WAL is still received and flushed).
    pub fn pause_replay(&self) {
        self.batch_execute("SELECT pg_wal_replay_pause()");
        let paused_sql = if self.bin.major() >= 14 {
            "SELECT pg_get_wal_replay_pause_state() = 'paused'"
        } else {
            "SELECT pg_is_wal_replay_paused()"
        };
        self.wait_for(&format!("replay to pause on {}", self.name), WAIT, || {
            self.try_query_one(paused_sql).is_some_and(|r| r.get(0))
        });
    }

    pub fn resume_replay(&self) {
        self.batch_execute("SELECT pg_wal_replay_resume()");
    }

    /// Write about `bytes` of WAL on the primary, fast: 1 MiB non-transactional logical
    /// messages, 64 per statement.
    pub fn write_wal(&self, bytes: u64) {
        let mut client = self.conn();
        let mut left = bytes.div_ceil(MIB) as i32;
        while left > 0 {
            let n = left.min(64);
            client
                .query_one(
                    "SELECT count(pg_logical_emit_message(false, 'harness', repeat('x', 1048576))) \
                     FROM generate_series(1, $1)",
                    &[&n],
                )
                .unwrap_or_else(|e| self.fail("pg_logical_emit_message", e));
            left -= n;
        }
    }

    fn initdb(&self, opts: &Builder) {
        let mut cmd = self.bin.command("initdb", self.socket_dir.as_path());
        cmd.arg("-D").arg(&self.data_dir).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ]);
        self.bin.run(cmd, &format!("initdb of {}", self.name));
        self.write_file(
            "pg_hba.conf",
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             host replication all 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        );
        let wal_level = if opts.logical_slot.is_some() {
            "logical"
        } else {
            "replica"
        };
        let mut conf = format!(
            "\n# pg_replication_exporter test harness\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = {}\n\
             max_connections = 40\n\
             shared_buffers = 32MB\n\
             fsync = off\n\
             full_page_writes = on\n\
             max_wal_size = 2GB\n\
             min_wal_size = 80MB\n\
             wal_keep_size = 0\n\
             wal_level = {wal_level}\n\
             max_wal_senders = 10\n\
             max_replication_slots = 10\n\
             hot_standby = on\n\
             hot_standby_feedback = on\n\
             wal_receiver_status_interval = 1s\n\
             wal_retrieve_retry_interval = 1s\n\
             password_encryption = 'scram-sha-256'\n\
             logging_collector = off\n\
             log_line_prefix = '%m [%p] %q%a '\n",
            conf_str(&self.socket_dir.to_string_lossy())
        );
        for line in &opts.conf {
            conf.push_str(line);
            conf.push('\n');
        }
        // Per-node settings (port, upstream, sync names) live in node.conf, rewritten per clone.
        conf.push_str("include_if_exists 'node.conf'\n");
        let path = self.data_dir.join("postgresql.conf");
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(conf.as_bytes()).unwrap();
    }

    /// Write a file in the data dir, owned by the server account, mode 0600.
    fn write_file(&self, name: &str, content: &str) {
        self.write_data_file(name, content, 0o600);
    }

    /// Write a file in the data dir (a certificate, a key), owned by the server account, with
    /// permission bits `mode`.
    pub fn write_data_file(&self, name: &str, content: &str, mode: u32) {
        let path = self.data_dir.join(name);
        fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        os::give_to_server(&path);
    }

    fn write_node_conf(&self, settings: &[(&str, &str)]) {
        let mut conf = format!(
            "port = {}\ncluster_name = {}\n",
            self.port,
            conf_str(&self.name)
        );
        for (k, v) in settings {
            conf.push_str(&format!("{k} = {}\n", conf_str(v)));
        }
        self.write_file("node.conf", &conf);
    }

    fn pg_ctl(&self, args: &[&str], what: &str) {
        let mut cmd = self.bin.command("pg_ctl", self.socket_dir.as_path());
        cmd.arg("-D").arg(&self.data_dir).args(args);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{what} {}: cannot run pg_ctl: {e}", self.name));
        if !out.status.success() {
            panic!(
                "{what} {} failed ({}): {}{}\n--- last 30 lines of {} ---\n{}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_file.display(),
                self.log_tail(30)
            );
        }
    }

    /// `pg_ctl start -w`: returns once the server accepts connections (a standby: once it is
    /// consistent).
    pub fn start(&self) {
        let log = self.log_file.to_string_lossy().into_owned();
        self.pg_ctl(&["start", "-w", "-t", "120", "-s", "-l", &log], "start");
        self.frozen.store(false, Ordering::SeqCst);
    }

    /// `pg_ctl stop -m <mode> -w`. Don't call it on a SIGSTOPped node (except Immediate after
    /// sigcont).
    pub fn stop(&self, mode: StopMode) {
        self.pg_ctl(
            &["stop", "-w", "-t", "60", "-s", "-m", mode.as_str()],
            "stop",
        );
    }

    /// Fast stop, then start.
    pub fn restart(&self) {
        self.stop(StopMode::Fast);
        self.start();
    }

    /// `pg_ctl promote`, then wait until the node is out of recovery.
    pub fn promote(&self) {
        self.pg_ctl(&["promote", "-w", "-t", "60", "-s"], "promote");
        self.wait_for(&format!("{} to leave recovery", self.name), WAIT, || {
            self.try_query_one("SELECT pg_is_in_recovery()")
                .is_some_and(|r| !r.get::<_, bool>(0))
        });
    }

    /// The live postmaster's pid, from postmaster.pid.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let pid: i32 = text.lines().next()?.trim().parse().ok()?;
        os::alive(pid).then_some(pid)
    }

    fn running_pid(&self, what: &str) -> i32 {
        self.postmaster_pid()
            .unwrap_or_else(|| panic!("{what} {}: the server is not running", self.name))
    }

    /// SIGKILL the postmaster (a crash), then wait until its children have noticed and exited,
    /// so that `start()` can run crash recovery right away.
    pub fn kill9(&self) {
        let pid = self.running_pid("kill9");
        let children = os::descendants(pid);
        os::signal(pid, libc::SIGKILL);
        let mut all = children.clone();
        all.push(pid);
        if !os::wait_gone(&all, Duration::from_secs(10)) {
            for &c in &children {
                os::signal(c, libc::SIGKILL);
            }
            if !os::wait_gone(&all, Duration::from_secs(10)) {
                panic!("kill9 {}: processes {all:?} still alive", self.name);
            }
        }
        // The dead postmaster stays a zombie until init reaps it (about 1 s here), and PostgreSQL
        // takes a zombie in postmaster.pid for a running server. Where init never reaps, the
        // lock file of the dead server goes, as an operator would remove it.
        if !os::poll_until(Duration::from_secs(5), || !os::exists(pid)) {
            let _ = fs::remove_file(self.data_dir.join("postmaster.pid"));
        }
    }

    /// SIGSTOP the postmaster and all its children: the node freezes as a hung VM would, TCP
    /// connections stay open and nothing answers.
    pub fn sigstop(&self) {
        let pid = self.running_pid("sigstop");
        self.frozen.store(true, Ordering::SeqCst);
        os::signal(pid, libc::SIGSTOP);
        for c in os::descendants(pid) {
            os::signal(c, libc::SIGSTOP);
        }
    }

    /// SIGCONT the postmaster and all its children.
    pub fn sigcont(&self) {
        let pid = self.running_pid("sigcont");
        for c in os::descendants(pid) {
            os::signal(c, libc::SIGCONT);
        }
        os::signal(pid, libc::SIGCONT);
        self.frozen.store(false, Ordering::SeqCst);
    }

    /// Append lines to this node's postgresql.conf (after the harness's own settings and
    /// node.conf, so they win). Call [`Node::reload`] or restart for them to take effect.
    pub fn append_conf(&self, lines: &str) {
        let path = self.data_dir.join("postgresql.conf");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        writeln!(f, "\n{lines}").unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
    }

    /// `pg_ctl reload`: the server rereads its configuration files.
    pub fn reload(&self) {
        self.pg_ctl(&["reload", "-s"], "reload");
    }

    /// Append `lines` to postgresql.conf, reload, and wait until `SHOW setting` reads `want`
    /// (a reload is asynchronous): e.g. `set_conf("ssl = on", "ssl", "on")`.
    pub fn set_conf(&self, lines: &str, setting: &str, want: &str) {
        self.append_conf(lines);
        self.reload();
        self.wait_for(
            &format!("{} to load {setting} = {want}", self.name),
            WAIT,
            || {
                self.try_query_one(&format!("SHOW {setting}"))
                    .is_some_and(|r| r.get::<_, String>(0) == want)
            },
        );
    }

    /// The size of this node's log now: pass it to [`Node::wait_for_log`] to see only what is
    /// logged afterwards.
    pub fn log_position(&self) -> u64 {
        os::log_position(&self.log_file)
    }

    /// Wait until a line of this node's log past byte `from` matches the regex `re`; return it.
    pub fn wait_for_log(&self, re: &str, from: u64, timeout: Duration) -> String {
        os::wait_for_log(&self.name, &self.log_file, re, from, timeout)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        os::tail(&self.log_file, lines)
    }

    /// Poll `f` every 100 ms; on timeout panic with `what`, this node's state and log.
    pub fn wait_for(&self, what: &str, timeout: Duration, f: impl FnMut() -> bool) {
        if !os::poll_until(timeout, f) {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                dump_nodes(std::iter::once(self))
            );
        }
    }

    /// Role, positions and replication views of a running node; bounded to 5 s so that a dump
    /// never hangs on a node that does not answer.
    fn state_report(&self) -> String {
        let connstr = self.connstr();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let report = (|| -> Result<String, postgres::Error> {
                let mut c = Client::connect(&connstr, NoTls)?;
                let mut out = String::new();
                let row = c.query_one(
                    "SELECT CASE WHEN pg_is_in_recovery() THEN \
                       'standby: receive ' || coalesce(pg_last_wal_receive_lsn()::text, 'NULL') \
                       || ', replay ' || coalesce(pg_last_wal_replay_lsn()::text, 'NULL') \
                     ELSE 'primary: current ' || pg_current_wal_lsn()::text END",
                    &[],
                )?;
                out.push_str(&format!("{}\n", row.get::<_, String>(0)));
                for view in [
                    "pg_stat_replication",
                    "pg_stat_wal_receiver",
                    "pg_replication_slots",
                ] {
                    out.push_str(&format!("{view}:\n"));
                    for r in c.query(&format!("SELECT row_to_json(v)::text FROM {view} v"), &[])? {
                        out.push_str(&format!("  {}\n", r.get::<_, String>(0)));
                    }
                }
                Ok(out)
            })();
            let _ = tx.send(report);
        });
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => format!("cannot query: {}\n", pg_error(&e)),
            Err(_) => "no answer within 5 s\n".to_string(),
        }
    }

    /// Stop without panicking (runs in Drop, maybe during a panic): resume a frozen node, ask
    /// pg_ctl for an immediate stop, SIGKILL whatever is left.
    fn teardown(&self) {
        let Some(pid) = self.postmaster_pid() else {
            return;
        };
        let mut all = os::descendants(pid);
        all.push(pid);
        for &p in &all {
            os::signal(p, libc::SIGCONT);
        }
        let mut cmd = self.bin.command("pg_ctl", self.socket_dir.as_path());
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["stop", "-w", "-t", "10", "-s", "-m", "immediate"]);
        let _ = cmd.output();
        if !os::wait_gone(&all, Duration::from_secs(5)) {
            for &p in &all {
                os::signal(p, libc::SIGKILL);
            }
            os::wait_gone(&all, Duration::from_secs(5));
        }
    }
}
