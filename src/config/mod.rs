//! Configuration: the TOML file, `PG_REPLICATION_EXPORTER_*` environment overrides and command-line
//! overrides, merged with figment, parsed once into the typed [`Config`] that the rest of the
//! exporter uses.
//!
//! Raw serde structs (`deny_unknown_fields`, every default documented in `examples/config.toml`)
//! are turned into a [`Config`] whose values are already checked: durations parsed, addresses
//! parsed, names unique, hosts present, passwords read and TLS files readable. Every failure is a
//! [`ConfigError`] that prints one lowercase line naming the key and where its value came from
//! (a file, an environment variable, a flag or a default). Passwords never appear in an error or in
//! `Debug` output.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

mod dsn;
#[macro_use]
mod raw;
mod endpoint;
mod resolve;
mod sources;
#[cfg(test)]
mod tests;

use dsn::*;
use endpoint::*;
use raw::*;
pub use resolve::parse_listen_address;
use resolve::*;
use sources::*;

/// `web.listen_address` when nothing sets it: all IPv4 interfaces, port 10187.
pub const DEFAULT_LISTEN_ADDRESS: &str = ":10187";
/// `web.telemetry_path` when nothing sets it.
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";
/// `poll.interval` when nothing sets it.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// `poll.timeout` when nothing sets it.
pub const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_millis(800);
/// `poll.lag_history` when nothing sets it.
pub const DEFAULT_LAG_HISTORY: Duration = Duration::from_secs(3600);
/// `poll.slow_interval` when nothing sets it: the slowly-changing parts of a poll (the slot
/// scan, the archiver, the privilege check) are read in one round of thirty at 1 s polling:
/// the slot alerts wait 5 minutes, and between two slow rounds idle slots stay exact and
/// served ones follow their walsenders. With a longer `poll.interval` the default is that
/// interval (every round).
pub const DEFAULT_SLOW_INTERVAL: Duration = Duration::from_secs(30);
/// `poll.backoff_max` when nothing sets it.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// `user` when neither the node, its dsn nor its cluster sets one.
/// Role names starting with "pg_" are reserved by PostgreSQL, hence not the program name.
pub const DEFAULT_USER: &str = "replication_exporter";
/// `dbname` when neither the node, its dsn nor its cluster sets one.
pub const DEFAULT_DBNAME: &str = "postgres";
/// `port` when neither the node nor its dsn sets one.
pub const DEFAULT_PORT: u16 = 5432;
/// `[cluster.patroni]` defaults (SPEC §8).
pub const DEFAULT_PATRONI_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_PATRONI_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_PATRONI_FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// `[[cluster.endpoint]]` port when none is set, per kind: PostgreSQL's, pgpool-II's and
/// pgbouncer's own defaults.
pub const DEFAULT_ENDPOINT_PORTS: [(EndpointKind, u16); 3] = [
    (EndpointKind::Postgres, 5432),
    (EndpointKind::Pgpool, 9999),
    (EndpointKind::Pgbouncer, 6432),
];
/// A pgpool endpoint's `pool_nodes_interval` when none is set (and the interval is shorter).
pub const DEFAULT_POOL_NODES_INTERVAL: Duration = Duration::from_secs(30);
/// The database of pgbouncer's admin console.
pub const PGBOUNCER_ADMIN_DBNAME: &str = "pgbouncer";
/// `sslmode` when nothing sets it, as libpq.
pub const DEFAULT_SSLMODE: SslMode = SslMode::Prefer;
/// Prefix of the environment variables that override the file; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "PG_REPLICATION_EXPORTER_";

/// The validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub web: WebConfig,
    pub poll: PollConfig,
    pub clusters: Vec<ClusterConfig>,
    /// `[shard]`; without it one shard that owns every cluster. Which clusters this exporter
    /// polls is decided by [`crate::fleet::shard::owned`], not here.
    pub shard: ShardConfig,
}

/// `[shard] count = N, index = I`: `count >= 1`, `index < count` (SPEC §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardConfig {
    pub count: u64,
    pub index: u64,
}

impl Default for ShardConfig {
    /// No `[shard]`: the one shard, owning everything.
    fn default() -> Self {
        ShardConfig { count: 1, index: 0 }
    }
}

/// `[web]`: where `/metrics` is served.
#[derive(Clone, Debug, PartialEq)]
pub struct WebConfig {
    pub listen_address: SocketAddr,
    /// Starts with "/" and is not one of the built-in endpoints.
    pub telemetry_path: String,
    /// exporter-toolkit style web config (TLS, basic auth); read by the server, not here.
    pub config_file: Option<PathBuf>,
}

/// `[poll]`: every duration is > 0, `timeout <= interval`; `lag_history`, `backoff_max` and
/// `slow_interval >= interval`.
#[derive(Clone, Debug, PartialEq)]
pub struct PollConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub lag_history: Duration,
    pub backoff_max: Duration,
    /// How often a poll reads the slowly-changing parts (see `pg::sql::Read`).
    pub slow_interval: Duration,
}

/// One `[[cluster]]`: a non-empty, unique name and at least one node (static, or discovered
/// through Patroni).
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterConfig {
    pub name: String,
    /// The static `[[cluster.node]]`s.
    pub nodes: Vec<NodeConfig>,
    /// The cluster's connection defaults, for nodes discovered at run time.
    pub defaults: NodeDefaults,
    pub patroni: Option<PatroniConfig>,
    /// The `[[cluster.endpoint]]`s: front-ends checked against the nodes (SPEC §9).
    pub endpoints: Vec<EndpointConfig>,
    /// `[cluster.drill]`: the write role of `drill` (SPEC §10); `None` when not configured.
    pub drill: Option<DrillConfig>,
}

/// `[cluster.drill]`: the role `drill` writes its probe with, never the exporter's read-only
/// one. Host, port, sslmode and connect_timeout come from the node (or the write endpoint).
#[derive(Clone, Debug, PartialEq)]
pub struct DrillConfig {
    /// Required; must differ from the cluster's `user`.
    pub user: String,
    /// `password_file` or `password_env` (at most one); none for trust or peer setups.
    pub password: Option<Password>,
    /// Default: the cluster's `dbname`.
    pub dbname: String,
}

/// What kind of front-end an endpoint is, and so how it is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointKind {
    /// Anything that leads to a node over the PostgreSQL protocol: a VIP, haproxy, a DNS name.
    Postgres,
    /// pgpool-II: `SHOW POOL_NODES` through it.
    Pgpool,
    /// pgbouncer's admin console: `SHOW DATABASES`, `SHOW POOLS`.
    Pgbouncer,
}

impl EndpointKind {
    pub const ALL: [EndpointKind; 3] = [
        EndpointKind::Postgres,
        EndpointKind::Pgpool,
        EndpointKind::Pgbouncer,
    ];

    /// The `kind` key's spelling and the `kind` label.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Postgres => "postgres",
            EndpointKind::Pgpool => "pgpool",
            EndpointKind::Pgbouncer => "pgbouncer",
        }
    }
}

/// Where an endpoint (or a pgbouncer database) should lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Expect {
    /// The cluster's writable primary.
    Primary,
    /// A standby (in recovery).
    Standby,
    /// Any node of the cluster that answers.
    Any,
}

impl Expect {
    pub const ALL: [Expect; 3] = [Expect::Primary, Expect::Standby, Expect::Any];

    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Primary => "primary",
            Expect::Standby => "standby",
            Expect::Any => "any",
        }
    }
}

/// One `[[cluster.endpoint]]`, its connection settings resolved (the cluster's, else defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointConfig {
    /// The `endpoint` label; unique within the cluster.
    pub name: String,
    pub kind: EndpointKind,
    pub host: String,
    pub port: u16,
    /// postgres and pgpool kinds: where it should lead (default any).
    pub expect: Option<Expect>,
    /// pgbouncer kind: where each of its databases should route.
    pub expect_databases: Vec<(String, Expect)>,
    /// Between two checks (default `poll.interval`), each bounded by `timeout` (default
    /// `poll.timeout`, at most `interval`).
    pub interval: Duration,
    pub timeout: Duration,
    /// pgpool kind: between two `SHOW POOL_NODES` (each makes pgpool log in to every backend);
    /// the checks in between read pgpool's shared memory only. Default 30s (at least interval).
    pub pool_nodes_interval: Duration,
    pub user: String,
    pub password: Option<Password>,
    /// pgbouncer kind: always the admin console's `pgbouncer`.
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
}

/// The connection settings a discovered node gets: the cluster's, else the built-in defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeDefaults {
    pub user: String,
    pub password: Option<Password>,
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
}

impl ClusterConfig {
    /// The node to poll for a Patroni member: the static node of that name when there is one
    /// (it overrides host, port and connection settings), else the member's host and port with
    /// the cluster's connection defaults. Patroni sets `application_name` to the member name.
    pub fn node_for_member(&self, name: &str, host: &str, port: u16) -> NodeConfig {
        if let Some(n) = self.nodes.iter().find(|n| n.name == name) {
            return n.clone();
        }
        let d = &self.defaults;
        NodeConfig {
            name: name.to_owned(),
            application_name: name.to_owned(),
            host: host.to_owned(),
            port,
            user: d.user.clone(),
            password: d.password.clone(),
            dbname: d.dbname.clone(),
            sslmode: d.sslmode,
            sslrootcert: d.sslrootcert.clone(),
            connect_timeout: d.connect_timeout,
            // Patroni members stream (or Patroni restores them); archive-fed designs are
            // declared with a static node of the same name.
            expect_streaming: true,
        }
    }
}

/// `[cluster.patroni]`: where Patroni's REST API answers and how to ask it.
#[derive(Clone, Debug, PartialEq)]
pub struct PatroniConfig {
    /// `http://` or `https://` base URLs of one or more members (no credentials in them).
    pub urls: Vec<String>,
    /// Between two REST polls (each `GET /patroni` runs SQL on that member). Default 5s.
    pub interval: Duration,
    /// Budget of one REST request; at most `interval`. Default 2s.
    pub timeout: Duration,
    /// Nodes come from `GET /cluster`. Default true.
    pub discover: bool,
    /// How long a discovered member that left the DCS stays a node. Default 24h.
    pub forget_after: Duration,
    /// REST basic auth (Patroni's `restapi.authentication`).
    pub username: Option<String>,
    pub password: Option<Password>,
    /// CA of the REST API's certificate (HTTPS), and a client certificate for `verify_client`.
    pub cafile: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
}

/// One `[[cluster.node]]`, with the cluster defaults and its dsn already folded in.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeConfig {
    /// The `node` label; unique within the cluster.
    pub name: String,
    /// How upstreams list this node in `pg_stat_replication`; unique within the cluster.
    pub application_name: String,
    /// A host name, an IP address, or a Unix socket directory (starting with "/").
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Password>,
    pub dbname: String,
    pub sslmode: SslMode,
    /// Set (and readable at load time) whenever `sslmode` is verify-ca or verify-full.
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// `expect_streaming` (default true): false declares a standby fed from the WAL archive by
    /// design (`restore_command`, no `primary_conninfo`), so not streaming is no fault.
    pub expect_streaming: bool,
}

impl NodeConfig {
    /// The same node reached the same way (name, address and every connection setting).
    pub fn same_target(&self, other: &NodeConfig) -> bool {
        self.name == other.name
            && self.application_name == other.application_name
            && self.host == other.host
            && self.port == other.port
            && self.user == other.user
            && self.password.as_ref().map(Password::expose)
                == other.password.as_ref().map(Password::expose)
            && self.dbname == other.dbname
            && self.sslmode == other.sslmode
            && self.sslrootcert == other.sslrootcert
            && self.connect_timeout == other.connect_timeout
            && self.expect_streaming == other.expect_streaming
    }
}

/// libpq's `sslmode` values that the exporter supports (`allow` is not one of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub const ALL: [SslMode; 5] = [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The libpq spelling, e.g. "verify-full".
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the server certificate is checked against `sslrootcert`.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SslMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("invalid sslmode {s:?}, expected one of {}", sslmode_list()))
    }
}

fn sslmode_list() -> String {
    SslMode::ALL.map(SslMode::as_str).join(", ")
}

/// A database password. Debug and Display print "[redacted]"; only [`Password::expose`] gives
/// the secret, so it cannot reach a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(secret: String) -> Self {
        Password(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Command-line flags, which win over both the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--web.listen-address`
    pub listen_address: Option<String>,
    /// `--web.telemetry-path`
    pub telemetry_path: Option<String>,
    /// `--web.config.file`
    pub web_config_file: Option<PathBuf>,
}

/// Why a configuration was rejected. Displays as one lowercase line:
/// `invalid configuration: <key>: <problem> (<where the value came from>)`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", self.detail())]
pub struct ConfigError {
    key: Option<String>,
    problem: String,
    origin: Option<String>,
}

impl ConfigError {
    pub(super) fn new(
        key: Option<String>,
        problem: impl Into<String>,
        origin: Option<String>,
    ) -> Self {
        // One line, whatever a library put into its message.
        let problem = crate::core::text::one_line(&problem.into());
        ConfigError {
            key,
            problem,
            origin,
        }
    }

    /// The offending key, rendered like `cluster[0].node[1].name`, when there is one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    fn detail(&self) -> String {
        let mut s = String::new();
        if let Some(key) = &self.key {
            s.push_str(key);
            s.push_str(": ");
        }
        s.push_str(&self.problem);
        if let Some(origin) = &self.origin {
            s.push_str(" (");
            s.push_str(origin);
            s.push(')');
        }
        s
    }
}

/// Loads the file at `path`, applies `PG_REPLICATION_EXPORTER_*` variables from the process
/// environment and then `overrides`, and validates the result. A missing file is an error.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    let toml = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            None,
            format!(
                "cannot read configuration file {:?}: {}",
                path.display().to_string(),
                io_message(&e)
            ),
            None,
        )
    })?;
    // Non-UTF-8 variables cannot be configuration; they are skipped rather than mangled.
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    load_impl(&toml, &path.display().to_string(), &env, overrides)
}

/// Like [`load`] but with the TOML text and the environment given explicitly (for tests and
/// callers that already hold them). Errors say "in configuration string" for file values.
pub fn load_from_str(
    toml: &str,
    env: &[(String, String)],
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    load_impl(toml, "configuration string", env, overrides)
}

fn load_impl(
    toml: &str,
    file_label: &str,
    env: &[(String, String)],
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let env_provider = EnvProvider::new(env);
    let cx = Ctx {
        figment: Figment::from(Toml::string(toml))
            .merge(&env_provider)
            .merge(FlagProvider(overrides.clone())),
        file_label: file_label.to_owned(),
        env_vars: env_provider.vars.clone(),
        env,
    };
    let raw: RawConfig = cx.figment.extract().map_err(|e| cx.figment_error(e))?;
    resolve(raw, &cx)
}
