//! Plain data that flows one way: pollers produce [`NodeState`]s, the pure cluster view turns a
//! round of them into a [`ClusterView`], and the renderer reads the immutable [`Snapshot`].
//!
//! Nothing here does I/O. `Option` means "PostgreSQL returned NULL or the value does not apply";
//! it is rendered as an absent series, never as 0.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::core::lsn::Lsn;

/// Seconds since the Unix epoch, as a float (PostgreSQL timestamps have microsecond precision).
pub type UnixTime = f64;

/// The `kind` label of `pg_replication_poll_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    Connect,
    Auth,
    Tls,
    Timeout,
    Query,
    Privilege,
}

impl ErrorKind {
    /// Every kind, so that each error counter is exported from the start (at 0).
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Connect,
        ErrorKind::Auth,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Query,
        ErrorKind::Privilege,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Auth => "auth",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Query => "query",
            ErrorKind::Privilege => "privilege",
        }
    }
}

/// Everything one successful poll of one node returned (one SQL round trip).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct NodeState {
    /// `server_version_num`, e.g. 150018. This and the other constants of a session (version,
    /// system identifier, postmaster start) are read once when the session opens
    /// (`pg::sql::SESSION`), not by every poll.
    #[serde(default)]
    pub server_version_num: u32,
    /// `server_version`, e.g. "15.18 (Debian 15.18-0+deb12u1)".
    #[serde(default)]
    pub server_version: String,
    /// `pg_control_system().system_identifier` as text (it does not fit an f64 exactly).
    #[serde(default)]
    pub system_identifier: Option<String>,
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    /// `pg_postmaster_start_time()` in microseconds since the epoch: with the system identifier,
    /// what tells which node a front-end led to.
    #[serde(default)]
    pub postmaster_start_us: Option<i64>,
    /// Primary: the timeline of `pg_current_wal_lsn()`; standby: the WAL receiver's
    /// `received_tli` (unknown while no receiver runs or it is hidden).
    pub timeline_id: Option<u32>,
    /// The node's own position: `pg_current_wal_lsn()` on a primary, the replay LSN on a standby.
    pub wal_lsn: Option<Lsn>,
    /// Standby: `pg_last_wal_receive_lsn()`.
    pub receive_lsn: Option<Lsn>,
    /// Standby: `pg_last_wal_replay_lsn()`.
    pub replay_lsn: Option<Lsn>,
    /// Standby: replay paused or pause requested.
    pub replay_paused: Option<bool>,
    /// Standby: `pg_last_xact_replay_timestamp()`.
    pub last_replay_timestamp: Option<UnixTime>,
    /// The server's `now()` (statement start) when the poll ran.
    pub server_now: UnixTime,
    /// Standby: the row of `pg_stat_wal_receiver`; `None` when no receiver runs.
    pub wal_receiver: Option<WalReceiver>,
    /// Rows of `pg_stat_replication`, without `pg_basebackup`'s walsenders.
    #[serde(default)]
    pub walsenders: Vec<Walsender>,
    /// Rows of `pg_replication_slots`.
    #[serde(default)]
    pub slots: Vec<Slot>,
    /// Read by the full read, which runs again whenever [`NodeState::conf_load_us`] changes:
    /// every setting here changes only when the server (and so this session) reloads its
    /// configuration or restarts.
    /// Shared with the read it came from (it is the same every round until a reload).
    #[serde(default)]
    pub settings: std::sync::Arc<Settings>,
    /// `pg_conf_load_time()` in microseconds since the epoch: when this session last read the
    /// configuration files (a reload or a restart changes it).
    #[serde(default)]
    pub conf_load_us: Option<i64>,
    /// Recovery and archiving settings from `pg_settings` (`None` when the role may not see
    /// them, or from a server that predates the field).
    #[serde(default)]
    pub recovery: Option<std::sync::Arc<RecoverySettings>>,
    /// The row of `pg_stat_archiver`.
    #[serde(default)]
    pub archiver: Option<Archiver>,
    /// Subscriptions of the connected database (`pg_subscription` with `pg_stat_subscription`).
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// A digest of the idle slots (see `pg::sql::Read`): equal digests, same idle slots.
    #[serde(default)]
    pub slots_fingerprint: Option<String>,
    /// The node position read with the slot scan (absent when the round scanned no slots): what
    /// the slots' `safe_wal_size` was measured from. The row's own `wal_lsn` is read after the
    /// scan and the walsenders, and while WAL is written it can be ahead of it.
    #[serde(default)]
    pub slots_lsn: Option<Lsn>,
    /// True when the role cannot see the replication columns (no pg_monitor / pg_read_all_stats
    /// and not superuser): hidden columns are NULL and must not be read as "no lag".
    pub privilege_missing: bool,
}

/// One row of `pg_stat_wal_receiver`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WalReceiver {
    /// `status`: stopped, starting, streaming, waiting, restarting, stopping (NULL when hidden).
    pub status: Option<String>,
    pub received_tli: Option<u32>,
    pub written_lsn: Option<Lsn>,
    pub flushed_lsn: Option<Lsn>,
    pub last_msg_receipt_time: Option<UnixTime>,
    pub latest_end_lsn: Option<Lsn>,
    pub slot_name: Option<String>,
    pub sender_host: Option<String>,
    pub sender_port: Option<i32>,
}

/// One row of `pg_stat_replication` (one walsender on this node).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Walsender {
    /// `application_name`: how the standby introduced itself (Patroni: the member name).
    pub application_name: String,
    /// The walsender's pid: joins it to the slot it holds ([`Slot::active_pid`]).
    #[serde(default)]
    pub pid: Option<i32>,
    /// `backend_start`: of two walsenders of one standby, the newer is listed first.
    #[serde(default)]
    pub backend_start: Option<UnixTime>,
    /// Poll wire only: the statement did not look this pid's `application_name` and
    /// `backend_start` up (the session already knew the pid from the round before); the
    /// poller fills them in from its cache. Always false after the poller.
    #[serde(default)]
    pub name_cached: bool,
    /// `state`: startup, catchup, streaming, backup, stopping.
    pub state: Option<String>,
    pub sent_lsn: Option<Lsn>,
    pub write_lsn: Option<Lsn>,
    pub flush_lsn: Option<Lsn>,
    pub replay_lsn: Option<Lsn>,
    /// `write_lag`, `flush_lag`, `replay_lag` in seconds.
    pub write_lag: Option<f64>,
    pub flush_lag: Option<f64>,
    pub replay_lag: Option<f64>,
    pub sync_priority: Option<i32>,
    /// `sync_state`: async, potential, sync, quorum.
    pub sync_state: Option<String>,
    pub reply_time: Option<UnixTime>,
    /// The walsender's session is to a database (`pg_stat_activity.datid`): a logical
    /// replication connection, whether or not the slot it serves has been read yet.
    #[serde(default)]
    pub on_database: bool,
    /// `slot_type` of the slot this walsender serves (`pg_replication_slots.active_pid`):
    /// `logical` for a subscriber or decoding client, which is never a standby; `None` without
    /// a slot.
    #[serde(default)]
    pub slot_type: Option<String>,
    #[serde(default)]
    pub slot_name: Option<String>,
}

impl Walsender {
    /// A walsender of logical decoding (a subscriber, a CDC client), not a standby.
    pub fn is_logical(&self) -> bool {
        self.on_database || self.slot_type.as_deref() == Some("logical")
    }
}

/// One row of `pg_replication_slots`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Slot {
    pub slot_name: String,
    /// physical | logical
    pub slot_type: String,
    /// NULL for physical slots.
    pub database: Option<String>,
    pub active: bool,
    /// The pid of the process holding the slot (a walsender, or a backend decoding it).
    #[serde(default)]
    pub active_pid: Option<i32>,
    pub restart_lsn: Option<Lsn>,
    pub confirmed_flush_lsn: Option<Lsn>,
    /// reserved, extended, unreserved, lost (PostgreSQL 13+).
    pub wal_status: Option<String>,
    /// Bytes; NULL unless `max_slot_wal_keep_size` is set.
    pub safe_wal_size: Option<i64>,
    /// `age(xmin)` and `age(catalog_xmin)` in transactions.
    pub xmin_age: Option<i64>,
    pub catalog_xmin_age: Option<i64>,
    /// PostgreSQL 17+.
    pub inactive_since: Option<UnixTime>,
    /// PostgreSQL 16+.
    pub conflicting: Option<bool>,
    /// PostgreSQL 17+ (`invalidation_reason`), e.g. wal_removed.
    pub invalidation_reason: Option<String>,
}

/// The server settings the exporter reports or checks, as `current_setting()` text.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Settings {
    pub synchronous_commit: String,
    pub synchronous_standby_names: String,
    pub wal_level: String,
    pub max_wal_senders: String,
    pub max_replication_slots: String,
    pub hot_standby: String,
    pub hot_standby_feedback: String,
    pub wal_keep_size: String,
    pub max_slot_wal_keep_size: String,
}

/// Settings read from `pg_settings` as text, each `None` when hidden or not reported.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct RecoverySettings {
    /// Milliseconds (the unit `pg_settings` reports it in).
    pub recovery_min_apply_delay: Option<String>,
    pub restore_command: Option<String>,
    /// off, on, always.
    pub archive_mode: Option<String>,
    /// Seconds; 0 = off.
    pub archive_timeout: Option<String>,
}

impl RecoverySettings {
    /// `recovery_min_apply_delay` in seconds (0 when none).
    pub fn apply_delay_seconds(&self) -> Option<f64> {
        let ms: f64 = self
            .recovery_min_apply_delay
            .as_deref()?
            .trim()
            .parse()
            .ok()?;
        Some(ms.max(0.0) / 1000.0)
    }

    /// `archive_timeout` in seconds (0 when off).
    pub fn archive_timeout_seconds(&self) -> Option<f64> {
        self.archive_timeout.as_deref()?.trim().parse().ok()
    }

    /// Whether a `restore_command` is set.
    pub fn has_restore_command(&self) -> Option<bool> {
        self.restore_command
            .as_deref()
            .map(|c| !c.trim().is_empty())
    }
}

/// The row of `pg_stat_archiver`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Archiver {
    pub archived_count: Option<i64>,
    pub failed_count: Option<i64>,
    pub last_archived_wal: Option<String>,
    pub last_failed_wal: Option<String>,
    pub last_archived_time: Option<UnixTime>,
    pub last_failed_time: Option<UnixTime>,
}

/// One subscription of the connected database.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Subscription {
    pub name: String,
    pub enabled: Option<bool>,
    /// `subslotname`: the slot on the publisher (NULL with `slot_name = NONE`).
    pub slot_name: Option<String>,
    /// An apply worker runs (`pg_stat_subscription.pid`).
    pub worker_running: Option<bool>,
    pub received_lsn: Option<Lsn>,
    pub latest_end_lsn: Option<Lsn>,
    pub last_msg_receipt_time: Option<UnixTime>,
    /// `pg_stat_subscription_stats` (15+).
    pub apply_error_count: Option<i64>,
    pub sync_error_count: Option<i64>,
    /// Tables by `pg_subscription_rel.srsubstate` code (i, d, f, s, r); `None` when none.
    pub tables: Option<BTreeMap<String, i64>>,
}

/// How a standby is fed WAL (`pg_replication_node_recovery_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoverySource {
    /// A WAL receiver streams.
    Stream,
    /// No streaming receiver, and a `restore_command` is set: replaying from the archive.
    Archive,
    /// Neither.
    None,
}

impl RecoverySource {
    pub fn as_str(self) -> &'static str {
        match self {
            RecoverySource::Stream => "stream",
            RecoverySource::Archive => "archive",
            RecoverySource::None => "none",
        }
    }
}

impl NodeState {
    /// Standby: how it is fed; `None` on a primary or when the witnesses are hidden (a receiver
    /// whose status the role may not see, or a `restore_command` it may not read).
    pub fn recovery_source(&self) -> Option<RecoverySource> {
        if !self.in_recovery {
            return None;
        }
        match self.wal_receiver.as_ref().map(|r| r.status.as_deref()) {
            Some(Some("streaming")) => return Some(RecoverySource::Stream),
            Some(None) => return None,
            _ => {}
        }
        match self.recovery.as_ref().and_then(|r| r.has_restore_command()) {
            Some(true) => Some(RecoverySource::Archive),
            Some(false) => Some(RecoverySource::None),
            None => None,
        }
    }

    /// Standby: `recovery_min_apply_delay` in seconds.
    pub fn apply_delay_seconds(&self) -> Option<f64> {
        self.recovery.as_ref()?.apply_delay_seconds()
    }
}

/// What the exporter knows of one configured node after the latest round.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeReport {
    /// The configured node name (the `node` label).
    pub name: String,
    /// How upstreams list this node in `pg_stat_replication.application_name`.
    pub application_name: String,
    /// The last poll succeeded.
    pub up: bool,
    /// Seconds the last poll took (absent before the first attempt).
    pub poll_duration: Option<f64>,
    pub last_success: Option<UnixTime>,
    /// Monotonic error counters, one per kind (all kinds present, from 0).
    pub errors_total: BTreeMap<ErrorKind, u64>,
    /// The last error, for the landing page and `status` (never contains a secret).
    pub last_error: Option<String>,
    /// The latest successful poll's data; `None` while the node is down.
    pub state: Option<NodeState>,
    /// Configured `expect_streaming` (default true); false: a standby fed from the archive by
    /// design.
    pub expect_streaming: bool,
    /// Configured host and port, to tell whether a standby streams from inside its cluster.
    pub address: Option<(String, u16)>,
}

impl NodeReport {
    pub fn new(name: impl Into<String>, application_name: impl Into<String>) -> Self {
        NodeReport {
            name: name.into(),
            application_name: application_name.into(),
            up: false,
            poll_duration: None,
            last_success: None,
            errors_total: ErrorKind::ALL.iter().map(|k| (*k, 0)).collect(),
            last_error: None,
            state: None,
            expect_streaming: true,
            address: None,
        }
    }
}

/// The correlated view of one cluster (SPEC §4.5), computed by `cluster.rs` after each round.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterView {
    /// Reachable nodes not in recovery.
    pub primaries: u32,
    pub nodes_up: u32,
    pub nodes_configured: u32,
    /// Distinct timelines / system identifiers among reachable nodes.
    pub timelines: u32,
    pub system_identifiers: u32,
    /// One entry per configured node that is not the current (single) primary.
    pub standbys: Vec<StandbyView>,
    /// WAL on the primary not yet flushed by the most advanced standby.
    pub rpo_bytes: Option<u64>,
    pub failovers_total: u64,
    pub last_failover_timestamp: Option<UnixTime>,
    pub last_failover_duration: Option<f64>,
    /// The top node is in recovery and replicates from outside the cluster (its standby
    /// leader); `None` when no node is reachable.
    pub is_standby_cluster: Option<bool>,
    /// Standby cluster: where its leader streams from (`sender_host`, `sender_port`).
    pub source: Option<(String, String)>,
    /// Standby cluster: the node name of its standby leader.
    pub standby_leader: Option<String>,
    /// Rounds that took longer than `poll.interval` (set by the round loop, not by `observe`).
    pub rounds_late: u64,
}

/// The cluster's view of one standby.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StandbyView {
    /// Configured node name.
    pub node: String,
    /// None when every witness is hidden (no pg_monitor on the upstream and on the standby).
    pub streaming: Option<bool>,
    pub lag_bytes: Option<u64>,
    pub lag_seconds: Option<f64>,
}

/// One cluster in a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSnapshot {
    pub name: String,
    pub nodes: Vec<NodeReport>,
    pub view: ClusterView,
    /// What Patroni says and how it compares with the SQL truth; `None` without
    /// `[cluster.patroni]`.
    pub patroni: Option<PatroniView>,
    /// The cluster's front-ends, judged against the direct polls (SPEC §9), in configuration
    /// order.
    pub endpoints: Vec<EndpointView>,
}

/// The `node` value of an endpoint target that is none of the polled nodes.
pub const UNKNOWN_NODE: &str = "unknown";

/// One front-end (`[[cluster.endpoint]]`) judged against the direct polls of the same round.
/// Each `Option` is unknown (absent series) when `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndpointView {
    /// The `endpoint` label.
    pub name: String,
    /// postgres, pgpool, pgbouncer (the `kind` label).
    pub kind: String,
    /// Where it is, for `status`, the landing page and the topology.
    pub host: String,
    pub port: u16,
    /// postgres and pgpool kinds: primary, standby or any.
    pub expect: Option<String>,
    /// The last check succeeded (false before the first one).
    pub up: bool,
    /// Connect (when a new session was needed) + the check's statements, as a client feels it.
    pub check_duration: Option<f64>,
    /// Failed checks by kind (connect, auth, tls, timeout, query; every kind from 0).
    pub errors_total: BTreeMap<ErrorKind, u64>,
    /// The last error, for the landing page and `status` (never contains a secret).
    pub last_error: Option<String>,
    /// The node it led to: a polled node's name, or [`UNKNOWN_NODE`]; `None` while it is down
    /// (and for pgbouncer, whose admin console leads to no node).
    pub target: Option<String>,
    /// The session through it is writable (postgres), or the backend pgpool writes to is the
    /// real primary (pgpool).
    pub is_primary: Option<bool>,
    /// It leads where `expect` says.
    pub expectation_met: Option<bool>,
    /// pgpool: one row per backend of `SHOW POOL_NODES`, then one per polled node it lacks.
    pub pgpool_backends: Vec<PgpoolBackendView>,
    /// pgbouncer: one row per database of `SHOW DATABASES`.
    pub pgbouncer_databases: Vec<PgbouncerDatabaseView>,
}

/// One pgpool-II backend (a row of `SHOW POOL_NODES`) beside the node's real state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PgpoolBackendView {
    /// The polled node at the backend's host:port, else "host:port".
    pub node: String,
    /// pgpool lists it (false: a polled node pgpool does not know).
    pub listed: bool,
    /// pgpool's status: up, waiting, down, quarantine, unused (its `status` column).
    pub status: Option<String>,
    /// pgpool's belief: primary or standby (its `role` column).
    pub role: Option<String>,
    /// pgpool's role is the node's real role by its direct poll.
    pub role_correct: Option<bool>,
    pub delay_bytes: Option<u64>,
    pub delay_seconds: Option<f64>,
    /// `select_cnt`.
    pub selects_total: Option<u64>,
    /// pgpool sends read queries here (`load_balance_node`).
    pub load_balance_node: Option<bool>,
    /// `SHOW POOL_HEALTH_CHECK_STATS` `fail_count` (absent where the command is missing).
    pub health_check_failures_total: Option<u64>,
}

/// One pgbouncer database (`SHOW DATABASES` with `SHOW POOLS`) beside its target's real role.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PgbouncerDatabaseView {
    /// pgbouncer's database name (the `database` label).
    pub database: String,
    /// The polled node at its host:port, else "host:port"; `None` for a database without a host
    /// (pgbouncer's own console, auto-databases over a Unix socket).
    pub node: Option<String>,
    /// From `expect_databases`.
    pub expect: Option<String>,
    pub expectation_met: Option<bool>,
    /// `SHOW POOLS` `cl_waiting`, summed over the database's pools.
    pub clients_waiting: u64,
    /// `SHOW POOLS` `maxwait` + `maxwait_us`, the longest over the database's pools.
    pub max_wait_seconds: f64,
}

/// Patroni's word on a cluster, judged against the SQL truth (SPEC §8). Each `Option` is
/// unknown (absent series) when `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatroniView {
    /// Per member known now or within `forget_after`, and per static node Patroni lists.
    pub members: Vec<PatroniMemberView>,
    /// `GET /cluster` answered in the last pass.
    pub reachable: bool,
    pub paused: Option<bool>,
    pub cluster_unlocked: Option<bool>,
    /// Patroni's leader is not the single SQL primary (Some(false): they agree).
    pub leader_mismatch: Option<bool>,
    pub failover_candidates: Option<u32>,
    pub config: Option<PatroniDynamicConfig>,
    pub timeline_switches: Option<u32>,
    pub last_promotion: Option<PatroniPromotion>,
    pub scheduled_switchover_timestamp: Option<UnixTime>,
    /// Last WAL position seen written on the old timeline − the switch LSN of the new one.
    pub last_failover_lost_bytes: Option<u64>,
}

/// One member as Patroni reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatroniMemberView {
    /// The member name, which is the node name.
    pub node: String,
    /// The node is polled because `GET /cluster` listed it (not a static `[[cluster.node]]`).
    pub discovered: bool,
    /// The last `GET /patroni` of the member answered.
    pub up: bool,
    pub version: Option<String>,
    pub scope: Option<String>,
    /// Listed by `/cluster` now (true), or seen before and gone from the DCS (false).
    pub member: bool,
    /// The `role` label (leader, standby_leader, sync_standby, quorum_standby, replica, other).
    pub role: Option<String>,
    /// The `state` label (one of Patroni's known states, or `other`).
    pub state: Option<String>,
    pub dcs_last_seen_age: Option<f64>,
    pub failsafe_active: Option<bool>,
    pub pending_restart: Option<bool>,
    pub failover_candidate: Option<bool>,
    /// Why it is not a candidate (for `status` and `check`), when it is not.
    pub not_candidate_because: Option<String>,
    /// A replica's lag by Patroni's measure for `maximum_lag_on_failover` (the leader's
    /// position − max(received, replayed)), on the exporter's positions.
    pub failover_lag_bytes: Option<u64>,
}

/// `/config`, as exported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatroniDynamicConfig {
    /// off | on | quorum.
    pub synchronous_mode: String,
    pub synchronous_mode_strict: bool,
    /// "true" | "false".
    pub failsafe_mode: bool,
    pub maximum_lag_on_failover_bytes: u64,
    pub ttl_seconds: Option<u64>,
    pub loop_wait_seconds: Option<u64>,
}

/// The last `/history` entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatroniPromotion {
    pub timestamp: Option<UnixTime>,
    /// The member promoted (absent in entries of old Patroni versions).
    pub node: Option<String>,
    /// The timeline it started.
    pub timeline: u32,
}

/// Everything `/metrics` renders, swapped in atomically after each round.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The clusters this exporter polls (its shard's, SPEC §11). Shared with the snapshots
    /// before and after it: a round replaces one cluster's entry, and the page builder keeps the
    /// rendered chunk of every entry that did not change.
    pub clusters: Vec<std::sync::Arc<ClusterSnapshot>>,
    /// The exporter's own state beside the clusters.
    pub exporter: ExporterState,
}

impl Snapshot {
    /// A snapshot of these clusters.
    pub fn new(clusters: Vec<ClusterSnapshot>) -> Snapshot {
        Snapshot {
            clusters: clusters.into_iter().map(std::sync::Arc::new).collect(),
            ..Snapshot::default()
        }
    }
}

/// What the exporter says about itself (not about a cluster).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExporterState {
    /// The outcome of the last configuration load: `None` while the exporter runs on a
    /// configuration it was not given as a file (the demo, embedders).
    pub reload: Option<ReloadStatus>,
    /// This exporter's place in a fleet (SPEC §11).
    pub shard: ShardView,
}

/// `pg_replication_exporter_config_last_reload_successful` and its timestamp, as Prometheus
/// reports its own reloads: the start counts as the first (successful) load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReloadStatus {
    /// Whether the last attempt (start, SIGHUP or `POST /-/reload`) was applied.
    pub successful: bool,
    /// When the running configuration was last loaded successfully.
    pub last_success: UnixTime,
}

/// `[shard]` as the pages show it: the shard, and the configured clusters left to other shards.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardView {
    pub index: u64,
    pub count: u64,
    /// Names of the configured clusters other shards own, in configuration order.
    pub skipped: Vec<String>,
}

impl Default for ShardView {
    /// The one shard, owning everything.
    fn default() -> Self {
        ShardView {
            index: 0,
            count: 1,
            skipped: Vec::new(),
        }
    }
}
