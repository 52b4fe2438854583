//! Patroni's REST replies as plain data: `GET /patroni`, `/cluster`, `/history` and `/config` of
//! Patroni 3.x and 4.x, parsed without I/O.
//!
//! Every field is optional and read leniently: a field of an unexpected type is left out (it
//! reads as unknown), it never fails the whole reply; only a body that is not JSON, or not the
//! JSON shape of the endpoint (an object, or for `/history` an array), is an error.
//!
//! Differences between versions that this module absorbs (seen in the replies recorded in
//! tests/fixtures/patroni/{3.0.2,4.1.4}):
//! - the primary's role: `master` (3.x), `primary` (4.x `/patroni`), `leader` (`/cluster` of
//!   both) all become [`Role::Leader`]; `quorum_standby` exists only in 4.x quorum mode;
//! - a streaming replica's state is `running` in 3.0.2 and `streaming` in 4.x `/cluster` (4.x
//!   `/patroni` says `running` plus `replication_state: streaming`);
//! - `/cluster` lag: 3.0.2 has only `lag` (bytes of the member's max(receive, replay) LSN behind
//!   the leader's last DCS optime, or `"unknown"`); 4.1 adds `receive_lag`, `replay_lag` and the
//!   positions `lsn`, `receive_lsn`, `replay_lsn` as "X/Y" strings or `"unknown"`; 4.x adds
//!   `scope`;
//! - `/config` `synchronous_mode` is a boolean, or `"quorum"` in 4.x.
//!
//! States are kept as Patroni's strings; [`State::label`] maps them onto the list pinned in
//! [`KNOWN_STATES`] (from `PostgresqlState` in patroni/postgresql/misc.py of 4.1.4, the
//! `set_state(...)` strings of patroni/postgresql/__init__.py of 3.0.2, the replication states
//! of `replication_state_from_parameters` and the `unknown` of `api.py`), anything else → `other`.

use serde_json::{Map, Value};

/// A reply that is not the JSON of the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("parse the reply to GET {endpoint}: {source}")]
    Json {
        endpoint: &'static str,
        source: serde_json::Error,
    },
    #[error("parse the reply to GET {endpoint}: expected a JSON {expected}, got {got}")]
    Shape {
        endpoint: &'static str,
        expected: &'static str,
        got: &'static str,
    },
}

fn json(endpoint: &'static str, body: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(body).map_err(|source| ParseError::Json { endpoint, source })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn object(endpoint: &'static str, v: Value) -> Result<Map<String, Value>, ParseError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(ParseError::Shape {
            endpoint,
            expected: "object",
            got: kind(&other),
        }),
    }
}

// Lenient field readers: a wrong type reads as absent.

fn str_of(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_string)
}

/// An unsigned integer, also from a numeric string (Patroni's `parse_int` accepts both).
fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn u64_of(m: &Map<String, Value>, k: &str) -> Option<u64> {
    m.get(k).and_then(uint)
}

fn u32_of(m: &Map<String, Value>, k: &str) -> Option<u32> {
    u64_of(m, k).and_then(|v| u32::try_from(v).ok())
}

fn i64_of(m: &Map<String, Value>, k: &str) -> Option<i64> {
    match m.get(k)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean as Patroni's `parse_bool` reads configuration values (`str(value).lower()` in
/// on/true/yes/1 or off/false/no/0): JSON booleans, those strings in any case, and the numbers
/// 1 and 0 only (2 is neither, as for Patroni).
fn boolish(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Some(true),
            "off" | "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn bool_of(m: &Map<String, Value>, k: &str) -> Option<bool> {
    m.get(k).and_then(boolish)
}

/// Python truthiness of a tag value: how Patroni reads `tags.get('nofailover')`, so that a tag
/// written as the string "false" counts as set, as it does for Patroni.
fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_f64() != Some(0.0)),
        Value::String(s) => Some(!s.is_empty()),
        Value::Array(a) => Some(!a.is_empty()),
        Value::Object(o) => Some(!o.is_empty()),
    }
}

/// Patroni's role of a member, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// `leader` (/cluster), `master` (3.x /patroni), `primary` (4.x /patroni).
    Leader,
    /// The leader of a standby cluster.
    StandbyLeader,
    SyncStandby,
    /// 4.x quorum commit (`synchronous_mode: quorum`).
    QuorumStandby,
    Replica,
    /// Any other string (4.x also knows `demoted`, `uninitialized`, `promoted`).
    Other(String),
}

impl Role {
    pub fn parse(s: &str) -> Role {
        match s {
            "leader" | "master" | "primary" => Role::Leader,
            "standby_leader" => Role::StandbyLeader,
            "sync_standby" => Role::SyncStandby,
            "quorum_standby" => Role::QuorumStandby,
            "replica" => Role::Replica,
            other => Role::Other(other.to_string()),
        }
    }

    /// The `role` label of `pg_replication_patroni_role`.
    pub fn label(&self) -> &str {
        match self {
            Role::Leader => "leader",
            Role::StandbyLeader => "standby_leader",
            Role::SyncStandby => "sync_standby",
            Role::QuorumStandby => "quorum_standby",
            Role::Replica => "replica",
            Role::Other(_) => "other",
        }
    }

    /// Leader or standby leader: the member that holds the leader lock.
    pub fn is_leader(&self) -> bool {
        matches!(self, Role::Leader | Role::StandbyLeader)
    }
}

/// The state labels this exporter knows, pinned from Patroni's source (see the module doc).
pub const KNOWN_STATES: &[&str] = &[
    "running",
    "streaming",
    "in archive recovery",
    "starting",
    "starting after custom bootstrap",
    "stopping",
    "stopped",
    "stop failed",
    "crashed",
    "start failed",
    "restarting",
    "restart failed",
    "initializing new cluster",
    "initdb failed",
    "running custom bootstrap script",
    "custom bootstrap failed",
    "creating replica",
    "unknown",
];

/// A PostgreSQL state string as Patroni reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State(pub String);

impl State {
    /// The `state` label: one of [`KNOWN_STATES`], or `other`. 3.0.2 reports a failed restart
    /// as "restart failed (<state before>)"; that is `restart failed`.
    pub fn label(&self) -> &'static str {
        let s = self.0.as_str();
        if s.starts_with("restart failed (") && s.ends_with(')') {
            return "restart failed";
        }
        KNOWN_STATES
            .iter()
            .find(|k| **k == s)
            .copied()
            .unwrap_or("other")
    }

    pub fn is_known(&self) -> bool {
        self.label() != "other"
    }

    /// PostgreSQL is up and serving as Patroni sees it: `running`, `streaming`, `in archive
    /// recovery`.
    pub fn is_running(&self) -> bool {
        matches!(
            self.label(),
            "running" | "streaming" | "in archive recovery"
        )
    }
}

/// Tags of a member (`tags` of /patroni and /cluster).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tags {
    /// Python truthiness of the value, as Patroni reads it; None when absent or null.
    pub nofailover: Option<bool>,
    /// 3.2+; non-positive means "never promote" when `nofailover` is absent.
    pub failover_priority: Option<i64>,
    pub nosync: Option<bool>,
    pub noloadbalance: Option<bool>,
    pub clonefrom: Option<bool>,
    pub replicatefrom: Option<String>,
    /// Every tag as sent, custom ones included.
    pub all: Map<String, Value>,
}

impl Tags {
    fn from(v: Option<&Value>) -> Tags {
        let Some(Value::Object(m)) = v else {
            return Tags::default();
        };
        Tags {
            nofailover: m.get("nofailover").and_then(truthy),
            failover_priority: i64_of(m, "failover_priority"),
            nosync: m.get("nosync").and_then(truthy),
            noloadbalance: m.get("noloadbalance").and_then(truthy),
            clonefrom: m.get("clonefrom").and_then(truthy),
            replicatefrom: str_of(m, "replicatefrom"),
            all: m.clone(),
        }
    }
}

/// The `xlog` object of /patroni: `location` on a primary; received/replayed on a replica.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Xlog {
    pub location: Option<u64>,
    pub received_location: Option<u64>,
    pub replayed_location: Option<u64>,
    pub replayed_timestamp: Option<String>,
    pub paused: Option<bool>,
}

/// One row of /patroni `replication` (the primary's pg_stat_replication, streaming only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicationRow {
    pub usename: Option<String>,
    pub application_name: Option<String>,
    pub client_addr: Option<String>,
    pub state: Option<String>,
    pub sync_state: Option<String>,
    pub sync_priority: Option<u32>,
}

/// `GET /patroni` (also served at `/`, `/health`, ... with other status codes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatroniStatus {
    pub state: Option<State>,
    pub role: Option<Role>,
    pub server_version: Option<u32>,
    pub postmaster_start_time: Option<String>,
    pub timeline: Option<u32>,
    pub xlog: Option<Xlog>,
    /// 4.x: `streaming` or `in archive recovery` on a replica.
    pub replication_state: Option<String>,
    pub replication: Vec<ReplicationRow>,
    /// Present (true) only in maintenance mode.
    pub pause: Option<bool>,
    pub cluster_unlocked: Option<bool>,
    pub failsafe_mode_is_active: Option<bool>,
    pub pending_restart: Option<bool>,
    pub scheduled_restart: Option<Value>,
    pub watchdog_failed: Option<bool>,
    pub sync_standby: Option<bool>,
    pub quorum_standby: Option<bool>,
    /// Unix seconds of the member's last successful DCS round trip.
    pub dcs_last_seen: Option<i64>,
    pub database_system_identifier: Option<String>,
    pub tags: Tags,
    pub version: Option<String>,
    pub scope: Option<String>,
    /// 4.x: the member's name.
    pub name: Option<String>,
}

pub fn parse_patroni(body: &[u8]) -> Result<PatroniStatus, ParseError> {
    const EP: &str = "/patroni";
    let m = object(EP, json(EP, body)?)?;
    // Patroni itself reads `wal` before `xlog` (ha.py `_MemberStatus.from_api_response`).
    let xlog = match m.get("wal").or_else(|| m.get("xlog")) {
        Some(Value::Object(x)) => Some(Xlog {
            location: u64_of(x, "location"),
            received_location: u64_of(x, "received_location"),
            replayed_location: u64_of(x, "replayed_location"),
            replayed_timestamp: str_of(x, "replayed_timestamp"),
            paused: bool_of(x, "paused"),
        }),
        _ => None,
    };
    let replication = m
        .get("replication")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|r| ReplicationRow {
            usename: str_of(r, "usename"),
            application_name: str_of(r, "application_name"),
            client_addr: str_of(r, "client_addr"),
            state: str_of(r, "state"),
            sync_state: str_of(r, "sync_state"),
            sync_priority: u32_of(r, "sync_priority"),
        })
        .collect();
    let patroni = m.get("patroni").and_then(Value::as_object);
    let pstr = |k: &str| patroni.and_then(|p| str_of(p, k));
    Ok(PatroniStatus {
        state: str_of(&m, "state").map(State),
        role: str_of(&m, "role").map(|r| Role::parse(&r)),
        server_version: u32_of(&m, "server_version"),
        postmaster_start_time: str_of(&m, "postmaster_start_time"),
        timeline: u32_of(&m, "timeline"),
        xlog,
        replication_state: str_of(&m, "replication_state"),
        replication,
        pause: bool_of(&m, "pause"),
        cluster_unlocked: bool_of(&m, "cluster_unlocked"),
        failsafe_mode_is_active: bool_of(&m, "failsafe_mode_is_active"),
        pending_restart: bool_of(&m, "pending_restart"),
        scheduled_restart: m.get("scheduled_restart").cloned(),
        watchdog_failed: bool_of(&m, "watchdog_failed"),
        sync_standby: bool_of(&m, "sync_standby"),
        quorum_standby: bool_of(&m, "quorum_standby"),
        dcs_last_seen: i64_of(&m, "dcs_last_seen"),
        database_system_identifier: str_of(&m, "database_system_identifier"),
        tags: Tags::from(m.get("tags")),
        version: pstr("version"),
        scope: pstr("scope").or_else(|| str_of(&m, "scope")),
        name: pstr("name"),
    })
}

/// A `/cluster` lag or position: a number, or Patroni's `"unknown"` (the member reported no
/// position).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    Known(u64),
    Unknown,
}

impl Reading {
    pub fn known(self) -> Option<u64> {
        match self {
            Reading::Known(v) => Some(v),
            Reading::Unknown => None,
        }
    }
}

/// A lag in bytes; a negative number (not sent by 3.0.2 or 4.x, which clamp) reads as 0.
fn lag_of(m: &Map<String, Value>, k: &str) -> Option<Reading> {
    match m.get(k)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|_| 0))
            .map(Reading::Known),
        Value::String(s) if s == "unknown" => Some(Reading::Unknown),
        _ => None,
    }
}

fn lsn_of(m: &Map<String, Value>, k: &str) -> Option<Reading> {
    match m.get(k)? {
        Value::String(s) if s == "unknown" => Some(Reading::Unknown),
        Value::String(s) => parse_lsn(s).map(Reading::Known),
        Value::Number(n) => n.as_u64().map(Reading::Known),
        _ => None,
    }
}

/// "16/B374D848" (PostgreSQL's and Patroni's `format_lsn`) → bytes.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.trim().split_once('/')?;
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    (hi <= u32::MAX as u64 && lo <= u32::MAX as u64).then_some((hi << 32) | lo)
}

/// One entry of `/cluster` `members`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterMember {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub state: Option<State>,
    pub api_url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub timeline: Option<u32>,
    pub pending_restart: Option<bool>,
    pub scheduled_restart: Option<Value>,
    pub tags: Tags,
    /// Bytes of `lsn` behind the leader's last DCS optime (3.0.2: of the member's
    /// max(receive, replay) LSN, i.e. received WAL counts).
    pub lag: Option<Reading>,
    /// 4.1+.
    pub receive_lag: Option<Reading>,
    pub replay_lag: Option<Reading>,
    pub lsn: Option<Reading>,
    pub receive_lsn: Option<Reading>,
    pub replay_lsn: Option<Reading>,
}

/// `scheduled_switchover` of `/cluster`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScheduledSwitchover {
    pub at: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// `GET /cluster`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterStatus {
    pub members: Vec<ClusterMember>,
    /// Present (true) only in maintenance mode.
    pub pause: Option<bool>,
    /// 4.x.
    pub scope: Option<String>,
    pub scheduled_switchover: Option<ScheduledSwitchover>,
}

impl ClusterStatus {
    /// The member holding the leader lock (leader or standby leader), if exactly one does.
    pub fn leader(&self) -> Option<&ClusterMember> {
        let mut it = self
            .members
            .iter()
            .filter(|m| m.role.as_ref().is_some_and(Role::is_leader));
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// True when no member holds the leader lock (`cluster_unlocked`).
    pub fn is_unlocked(&self) -> bool {
        !self
            .members
            .iter()
            .any(|m| m.role.as_ref().is_some_and(Role::is_leader))
    }

    pub fn paused(&self) -> bool {
        self.pause.unwrap_or(false)
    }
}

pub fn parse_cluster(body: &[u8]) -> Result<ClusterStatus, ParseError> {
    const EP: &str = "/cluster";
    let m = object(EP, json(EP, body)?)?;
    let members = m
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|x| ClusterMember {
            name: str_of(x, "name"),
            role: str_of(x, "role").map(|r| Role::parse(&r)),
            state: str_of(x, "state").map(State),
            api_url: str_of(x, "api_url"),
            host: str_of(x, "host"),
            port: u64_of(x, "port").and_then(|p| u16::try_from(p).ok()),
            timeline: u32_of(x, "timeline"),
            pending_restart: bool_of(x, "pending_restart"),
            scheduled_restart: x.get("scheduled_restart").cloned(),
            tags: Tags::from(x.get("tags")),
            lag: lag_of(x, "lag"),
            receive_lag: lag_of(x, "receive_lag"),
            replay_lag: lag_of(x, "replay_lag"),
            lsn: lsn_of(x, "lsn"),
            receive_lsn: lsn_of(x, "receive_lsn"),
            replay_lsn: lsn_of(x, "replay_lsn"),
        })
        .collect();
    let scheduled_switchover = m
        .get("scheduled_switchover")
        .and_then(Value::as_object)
        .map(|s| ScheduledSwitchover {
            at: str_of(s, "at"),
            from: str_of(s, "from"),
            to: str_of(s, "to"),
        });
    Ok(ClusterStatus {
        members,
        pause: bool_of(&m, "pause"),
        scope: str_of(&m, "scope"),
        scheduled_switchover,
    })
}

/// One line of the timeline history Patroni keeps in the DCS: timeline `timeline` ended at
/// `switch_lsn` (the first LSN of `timeline + 1`), `new_leader` was promoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub timeline: u32,
    pub switch_lsn: u64,
    /// PostgreSQL's reason from the .history file ("no recovery target specified").
    pub reason: Option<String>,
    /// ISO 8601 with offset, e.g. "2026-12-01T10:23:09.856337+00:00".
    pub timestamp: Option<String>,
    pub new_leader: Option<String>,
}

impl HistoryEntry {
    pub fn timestamp_seconds(&self) -> Option<f64> {
        self.timestamp.as_deref().and_then(parse_timestamp)
    }
}

/// `GET /history`: the entries that have a timeline and a switch LSN, and how many did not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub entries: Vec<HistoryEntry>,
    pub malformed: usize,
}

pub fn parse_history(body: &[u8]) -> Result<History, ParseError> {
    const EP: &str = "/history";
    let v = json(EP, body)?;
    let Value::Array(items) = v else {
        return Err(ParseError::Shape {
            endpoint: EP,
            expected: "array",
            got: kind(&v),
        });
    };
    let mut h = History::default();
    for item in &items {
        let e = item.as_array().and_then(|a| {
            Some(HistoryEntry {
                timeline: a
                    .first()
                    .and_then(uint)
                    .and_then(|t| u32::try_from(t).ok())?,
                switch_lsn: a.get(1).and_then(uint)?,
                reason: a.get(2).and_then(Value::as_str).map(str::to_string),
                timestamp: a.get(3).and_then(Value::as_str).map(str::to_string),
                new_leader: a.get(4).and_then(Value::as_str).map(str::to_string),
            })
        });
        match e {
            Some(e) => h.entries.push(e),
            None => h.malformed += 1,
        }
    }
    Ok(h)
}

/// `synchronous_mode` of `/config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncMode {
    Off,
    On,
    /// 4.x quorum commit.
    Quorum,
}

impl SyncMode {
    pub fn label(&self) -> &'static str {
        match self {
            SyncMode::Off => "off",
            SyncMode::On => "on",
            SyncMode::Quorum => "quorum",
        }
    }
}

/// The dynamic configuration (`GET /config`, the DCS `/config` key). Absent keys take
/// Patroni's defaults at the point of use, not here.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DynamicConfig {
    pub ttl: Option<u64>,
    pub loop_wait: Option<u64>,
    pub retry_timeout: Option<u64>,
    pub maximum_lag_on_failover: Option<u64>,
    pub synchronous_mode: Option<SyncMode>,
    pub synchronous_mode_strict: Option<bool>,
    pub synchronous_node_count: Option<u32>,
    pub failsafe_mode: Option<bool>,
    pub check_timeline: Option<bool>,
    pub pause: Option<bool>,
    /// A `standby_cluster` section is present.
    pub standby_cluster: bool,
}

impl DynamicConfig {
    /// Patroni's default when the key is absent (1 MiB, `global_config.maximum_lag_on_failover`).
    pub fn maximum_lag_on_failover_or_default(&self) -> u64 {
        self.maximum_lag_on_failover.unwrap_or(1 << 20)
    }
}

pub fn parse_config(body: &[u8]) -> Result<DynamicConfig, ParseError> {
    const EP: &str = "/config";
    let m = object(EP, json(EP, body)?)?;
    let synchronous_mode = m.get("synchronous_mode").and_then(|v| match v {
        Value::String(s) if s.eq_ignore_ascii_case("quorum") => Some(SyncMode::Quorum),
        v => boolish(v).map(|b| if b { SyncMode::On } else { SyncMode::Off }),
    });
    Ok(DynamicConfig {
        ttl: u64_of(&m, "ttl"),
        loop_wait: u64_of(&m, "loop_wait"),
        retry_timeout: u64_of(&m, "retry_timeout"),
        maximum_lag_on_failover: u64_of(&m, "maximum_lag_on_failover"),
        synchronous_mode,
        synchronous_mode_strict: bool_of(&m, "synchronous_mode_strict"),
        synchronous_node_count: u32_of(&m, "synchronous_node_count"),
        failsafe_mode: bool_of(&m, "failsafe_mode"),
        check_timeline: bool_of(&m, "check_timeline"),
        pause: bool_of(&m, "pause"),
        standby_cluster: m.get("standby_cluster").is_some_and(Value::is_object),
    })
}

/// Unix seconds of "2026-12-01T10:23:09.856337+00:00" or "2026-12-01 10:22:58.203832+00:00"
/// (the forms Patroni writes: Python's `isoformat()` and PostgreSQL's timestamptz text); a
/// missing offset reads as UTC.
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    let mut d = date.split('-');
    let (y, mo, da): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, offset) = match rest.find(['+', '-', 'Z', 'z']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let mut c = clock.split(':');
    let h: u32 = c.next()?.parse().ok()?;
    let mi: u32 = c.next()?.parse().ok()?;
    let sec: f64 = c.next().unwrap_or("0").parse().ok()?;
    if h > 23 || mi > 59 || !(0.0..61.0).contains(&sec) || c.next().is_some() {
        return None;
    }
    let offset_secs = match offset {
        "" | "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let digits: String = o[1..].chars().filter(|c| *c != ':').collect();
            let (oh, om) = match digits.len() {
                2 => (digits.parse::<i64>().ok()?, 0),
                4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
                _ => return None,
            };
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, da);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 - offset_secs;
    Some(secs as f64 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
