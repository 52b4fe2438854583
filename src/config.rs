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
/// `poll.backoff_max` when nothing sets it.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// `user` when neither the node, its dsn nor its cluster sets one.
/// Role names starting with "pg_" are reserved by PostgreSQL, hence not the program name.
pub const DEFAULT_USER: &str = "replication_exporter";
/// `dbname` when neither the node, its dsn nor its cluster sets one.
pub const DEFAULT_DBNAME: &str = "postgres";
/// `port` when neither the node nor its dsn sets one.
pub const DEFAULT_PORT: u16 = 5432;
/// Prefix of the environment variables that override the file; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "PG_REPLICATION_EXPORTER_";

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub web: WebConfig,
    pub poll: PollConfig,
    pub clusters: Vec<ClusterConfig>,
}

/// `[web]`: where `/metrics` is served.
#[derive(Clone, Debug)]
pub struct WebConfig {
    pub listen_address: SocketAddr,
    /// Starts with "/" and is not one of the built-in endpoints.
    pub telemetry_path: String,
    /// exporter-toolkit style web config (TLS, basic auth); read by the server, not here.
    pub config_file: Option<PathBuf>,
}

/// `[poll]`: every duration is > 0, `timeout <= interval`, `lag_history` and `backoff_max >= interval`.
#[derive(Clone, Debug)]
pub struct PollConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub lag_history: Duration,
    pub backoff_max: Duration,
}

/// One `[[cluster]]`: a non-empty, unique name and at least one node.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub name: String,
    pub nodes: Vec<NodeConfig>,
}

/// One `[[cluster.node]]`, with the cluster defaults and its dsn already folded in.
#[derive(Clone, Debug)]
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
    fn new(key: Option<String>, problem: impl Into<String>, origin: Option<String>) -> Self {
        // One line, whatever a library put into its message.
        let problem = crate::error::one_line(&problem.into());
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

// ---------------------------------------------------------------------------------------------
// Where values come from.

const ENV_SOURCE: &str = "pg_replication_exporter environment";
const FLAG_SOURCE: &str = "pg_replication_exporter flags";

/// `PG_REPLICATION_EXPORTER_POLL__INTERVAL=2s` → `poll.interval = "2s"`, from an explicit list
/// so that tests need not touch the process environment. Same key mapping as figment's
/// `Env::prefixed(ENV_PREFIX).split("__")`, but values stay strings: figment's value parser would
/// turn "[::1]:9999" into an array.
struct EnvProvider {
    /// (dotted lowercase key, variable name as given)
    vars: Vec<(String, String, String)>,
}

impl EnvProvider {
    fn new(env: &[(String, String)]) -> Self {
        let mut vars = Vec::new();
        for (name, value) in env {
            let Some(rest) = name
                .get(..ENV_PREFIX.len())
                .filter(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
                .map(|_| &name[ENV_PREFIX.len()..])
            else {
                continue;
            };
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if key.split('.').any(str::is_empty) {
                continue;
            }
            vars.push((key, name.clone(), value.clone()));
        }
        EnvProvider { vars }
    }
}

impl Provider for &EnvProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_SOURCE)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (key, _, value) in &self.vars {
            insert_nested(&mut root, key, Value::from(value.as_str()));
        }
        Ok(Map::from([(Profile::Default, root)]))
    }
}

struct FlagProvider(Overrides);

impl FlagProvider {
    const FLAGS: [(&'static str, &'static str); 3] = [
        ("web.listen_address", "--web.listen-address"),
        ("web.telemetry_path", "--web.telemetry-path"),
        ("web.config_file", "--web.config.file"),
    ];
}

impl Provider for FlagProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named(FLAG_SOURCE)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        let o = &self.0;
        let values = [
            o.listen_address.clone(),
            o.telemetry_path.clone(),
            o.web_config_file
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        ];
        for ((key, _), value) in Self::FLAGS.iter().zip(values) {
            if let Some(v) = value {
                insert_nested(&mut root, key, Value::from(v.as_str()));
            }
        }
        Ok(Map::from([(Profile::Default, root)]))
    }
}

fn insert_nested(dict: &mut Dict, dotted: &str, value: Value) {
    match dotted.split_once('.') {
        None => {
            dict.insert(dotted.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_nested(inner, rest, value);
            }
        }
    }
}

/// The merged figment plus what is needed to say where a value came from.
struct Ctx<'a> {
    figment: Figment,
    file_label: String,
    env_vars: Vec<(String, String, String)>,
    env: &'a [(String, String)],
}

impl Ctx<'_> {
    /// Where the value at `key` (dotted, array indices as numbers) came from, if it is set.
    fn origin_of(&self, key: &str) -> Option<String> {
        self.find_tag(key, true).map(|tag| self.describe(tag, key))
    }

    /// For a value that is absent: the origin of its nearest present ancestor (where it should
    /// have been written), or the file.
    fn origin_of_parent(&self, key: &str) -> String {
        self.find_tag(key, false)
            .map(|tag| self.describe(tag, key))
            .unwrap_or_else(|| format!("in {}", self.file_label))
    }

    fn find_tag(&self, key: &str, exact: bool) -> Option<figment::value::Tag> {
        let mut segments = key.split('.');
        let mut value = self.figment.find_value(segments.next()?).ok()?;
        for segment in segments {
            let next = match &value {
                Value::Dict(_, dict) => dict.get(segment).cloned(),
                Value::Array(_, items) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i).cloned()),
                _ => None,
            };
            match next {
                Some(v) => value = v,
                None if exact => return None,
                None => break,
            }
        }
        Some(value.tag())
    }

    fn describe(&self, tag: figment::value::Tag, key: &str) -> String {
        self.describe_metadata(self.figment.get_metadata(tag), key)
    }

    fn describe_metadata(&self, metadata: Option<&Metadata>, key: &str) -> String {
        match metadata.map(|m| m.name.as_ref()) {
            Some(ENV_SOURCE) => {
                // The variable whose key is the longest prefix of `key` (or, for a table made
                // only of variables, any variable below it).
                let best = self
                    .env_vars
                    .iter()
                    .filter(|(k, _, _)| is_key_prefix(k, key))
                    .max_by_key(|(k, _, _)| k.len())
                    .or_else(|| self.env_vars.iter().find(|(k, _, _)| is_key_prefix(key, k)));
                match best {
                    Some((_, name, _)) => format!("from environment variable {name}"),
                    None => "from the environment".to_owned(),
                }
            }
            Some(FLAG_SOURCE) => FlagProvider::FLAGS
                .iter()
                .find(|(k, _)| is_key_prefix(k, key))
                .map(|(_, flag)| format!("from flag {flag}"))
                .unwrap_or_else(|| "from a command-line flag".to_owned()),
            _ => format!("in {}", self.file_label),
        }
    }

    /// An error about a value that is set (or else has its documented default).
    fn err(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        let origin = self.origin_of(key).unwrap_or_else(|| "default".to_owned());
        ConfigError::new(Some(render_key(key)), problem, Some(origin))
    }

    /// An error about a value that is required but absent.
    fn err_missing(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::new(
            Some(render_key(key)),
            problem,
            Some(self.origin_of_parent(key)),
        )
    }

    fn figment_error(&self, error: figment::Error) -> ConfigError {
        use figment::error::Kind;
        // Figment chains several errors only when several providers fail; the first is enough.
        let error = error
            .into_iter()
            .next()
            .expect("an error holds at least one");
        let mut path = error.path.join(".");
        let problem = match &error.kind {
            Kind::UnknownField(field, _) => {
                if path.is_empty() {
                    path = field.clone();
                }
                if field.starts_with("password")
                    && field != "password_file"
                    && field != "password_env"
                {
                    "unknown key (a password comes from password_file, password_env or dsn)"
                        .to_owned()
                } else {
                    "unknown key".to_owned()
                }
            }
            Kind::MissingField(field) => {
                path = if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
                return self.err_missing(&path, "required key is missing");
            }
            Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                let last = path.rsplit('.').next().unwrap_or_default();
                if last == "dsn" || last.starts_with("password") {
                    format!("expected {expected}")
                } else {
                    format!("expected {expected}, found {actual}")
                }
            }
            Kind::UnknownVariant(found, expected) => {
                format!(
                    "invalid value {found:?}, expected one of {}",
                    expected.join(", ")
                )
            }
            Kind::Message(msg) if path.is_empty() => {
                // A provider failed before any key existed: the TOML did not parse.
                return ConfigError::new(
                    None,
                    toml_syntax_message(msg),
                    Some(format!("in {}", self.file_label)),
                );
            }
            other => other.to_string(),
        };
        let origin = if path.is_empty() {
            format!("in {}", self.file_label)
        } else {
            self.describe_metadata(error.metadata.as_ref(), &path)
        };
        let key = (!path.is_empty()).then(|| render_key(&path));
        ConfigError::new(key, problem, Some(origin))
    }

    fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether dotted `prefix` equals `key` or is one of its ancestors.
fn is_key_prefix(prefix: &str, key: &str) -> bool {
    key == prefix || key.strip_prefix(prefix).is_some_and(|r| r.starts_with('.'))
}

/// `cluster.0.node.1.name` → `cluster[0].node[1].name`.
fn render_key(dotted: &str) -> String {
    let mut out = String::new();
    for segment in dotted.split('.') {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

/// The toml crate's error is a multi-line snippet that quotes the offending line, which may hold
/// a dsn with a password: keep its first line and its explanation, drop the quoted source.
fn toml_syntax_message(msg: &str) -> String {
    let mut lines = msg.lines();
    let head = lines.next().unwrap_or("syntax error").to_lowercase();
    let explanation: Vec<&str> = lines
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.contains(" |"))
        .filter(|l| !l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    if explanation.is_empty() {
        head
    } else {
        format!("{head}: {}", explanation.join(", "))
    }
}

/// io::Error's Display ends in " (os error 2)", which is noise in a config message.
fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

// ---------------------------------------------------------------------------------------------
// Raw configuration as written: every field optional unless required, every default documented
// in examples/config.toml and applied in `resolve`.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    web: RawWeb,
    #[serde(default)]
    poll: RawPoll,
    #[serde(default)]
    cluster: Vec<RawCluster>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    listen_address: Option<String>,
    telemetry_path: Option<String>,
    config_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPoll {
    interval: Option<RawDuration>,
    timeout: Option<RawDuration>,
    lag_history: Option<RawDuration>,
    backoff_max: Option<RawDuration>,
}

// The connection settings are repeated in RawCluster and RawNode rather than flattened: serde's
// `flatten` does not honour `deny_unknown_fields` and hides figment's key paths.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    user: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    dbname: Option<String>,
    sslmode: Option<SslMode>,
    sslrootcert: Option<PathBuf>,
    connect_timeout: Option<RawDuration>,
    #[serde(default)]
    node: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: String,
    host: Option<String>,
    port: Option<RawPort>,
    application_name: Option<String>,
    expect_streaming: Option<bool>,
    dsn: Option<String>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    dbname: Option<String>,
    sslmode: Option<SslMode>,
    sslrootcert: Option<PathBuf>,
    connect_timeout: Option<RawDuration>,
}

/// Connection settings that a cluster gives as defaults and a node may override.
struct RawConn {
    user: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    dbname: Option<String>,
    sslmode: Option<SslMode>,
    sslrootcert: Option<PathBuf>,
    connect_timeout: Option<RawDuration>,
}

macro_rules! take_conn {
    ($raw:expr) => {
        RawConn {
            user: $raw.user.take(),
            password_file: $raw.password_file.take(),
            password_env: $raw.password_env.take(),
            dbname: $raw.dbname.take(),
            sslmode: $raw.sslmode.take(),
            sslrootcert: $raw.sslrootcert.take(),
            connect_timeout: $raw.connect_timeout.take(),
        }
    };
}

/// A humantime duration ("1s", "800ms", "1h 30m"), parsed during deserialization so that a bad
/// one is reported with figment's key path and source.
#[derive(Clone, Copy)]
struct RawDuration(Duration);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"1s\" or \"800ms\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawDuration, E> {
                humantime::parse_duration(s)
                    .map(RawDuration)
                    .map_err(|e| E::custom(format!("invalid duration {s:?}: {e}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// A TCP port, 1–65535.
#[derive(Clone, Copy)]
struct RawPort(u16);

impl<'de> Deserialize<'de> for RawPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawPort;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number between 1 and 65535")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawPort, E> {
                match u16::try_from(v) {
                    Ok(p) if p > 0 => Ok(RawPort(p)),
                    _ => Err(E::custom(format!("port {v} is out of range 1-65535"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPort, E> {
                match u16::try_from(v) {
                    Ok(p) if p > 0 => Ok(RawPort(p)),
                    _ => Err(E::custom(format!("port {v} is out of range 1-65535"))),
                }
            }
        }
        d.deserialize_u16(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Raw → Config.

/// Endpoints the server always serves, which `telemetry_path` must not shadow.
const RESERVED_PATHS: [&str; 3] = ["/", "/healthz", "/ready"];

fn resolve(raw: RawConfig, cx: &Ctx) -> Result<Config, ConfigError> {
    let web = resolve_web(raw.web, cx)?;
    let poll = resolve_poll(raw.poll, cx)?;
    if raw.cluster.is_empty() {
        return Err(cx.err_missing("cluster", "at least one [[cluster]] table is required"));
    }
    let mut clusters: Vec<ClusterConfig> = Vec::with_capacity(raw.cluster.len());
    for (i, cluster) in raw.cluster.into_iter().enumerate() {
        let resolved = resolve_cluster(cluster, i, &poll, cx)?;
        if clusters.iter().any(|c| c.name == resolved.name) {
            return Err(cx.err(
                &format!("cluster.{i}.name"),
                format!("duplicate cluster name {:?}", resolved.name),
            ));
        }
        clusters.push(resolved);
    }
    Ok(Config {
        web,
        poll,
        clusters,
    })
}

fn resolve_web(raw: RawWeb, cx: &Ctx) -> Result<WebConfig, ConfigError> {
    let listen = raw
        .listen_address
        .as_deref()
        .unwrap_or(DEFAULT_LISTEN_ADDRESS);
    let listen_address = parse_listen_address(listen).map_err(|why| {
        cx.err(
            "web.listen_address",
            format!("invalid listen address {listen:?}: {why}"),
        )
    })?;
    let telemetry_path = raw
        .telemetry_path
        .unwrap_or_else(|| DEFAULT_TELEMETRY_PATH.to_owned());
    if !telemetry_path.starts_with('/') {
        return Err(cx.err(
            "web.telemetry_path",
            format!("{telemetry_path:?} must start with \"/\""),
        ));
    }
    if RESERVED_PATHS.contains(&telemetry_path.as_str()) {
        return Err(cx.err(
            "web.telemetry_path",
            format!("{telemetry_path:?} is a built-in endpoint"),
        ));
    }
    if raw
        .config_file
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(cx.err("web.config_file", "must not be empty"));
    }
    Ok(WebConfig {
        listen_address,
        telemetry_path,
        config_file: raw.config_file,
    })
}

/// ":10187" (all IPv4 interfaces), "127.0.0.1:9999" or "[::1]:9999". Host names are refused:
/// resolving them here would make loading the configuration depend on DNS.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix(':') {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p))
            .map_err(|_| format!("invalid port {port:?}"));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bracketed = s.starts_with('[') && s.ends_with(']');
    if bracketed || s.parse::<IpAddr>().is_ok() {
        return Err("missing port, expected ip:port, [ipv6]:port or :port".to_owned());
    }
    match s.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_err() => Err(format!("invalid port {port:?}")),
        Some((host, port)) => Err(format!(
            "{host:?} is not an ip address (host names are not resolved); use e.g. \"127.0.0.1:{port}\" or \":{port}\""
        )),
        None => Err("expected ip:port, [ipv6]:port or :port".to_owned()),
    }
}

fn resolve_poll(raw: RawPoll, cx: &Ctx) -> Result<PollConfig, ConfigError> {
    let get = |v: Option<RawDuration>, default| v.map_or(default, |d| d.0);
    let poll = PollConfig {
        interval: get(raw.interval, DEFAULT_POLL_INTERVAL),
        timeout: get(raw.timeout, DEFAULT_POLL_TIMEOUT),
        lag_history: get(raw.lag_history, DEFAULT_LAG_HISTORY),
        backoff_max: get(raw.backoff_max, DEFAULT_BACKOFF_MAX),
    };
    let show = |d: Duration| humantime::format_duration(d).to_string();
    for (key, d) in [
        ("poll.interval", poll.interval),
        ("poll.timeout", poll.timeout),
        ("poll.lag_history", poll.lag_history),
        ("poll.backoff_max", poll.backoff_max),
    ] {
        if d.is_zero() {
            return Err(cx.err(key, "must be greater than zero"));
        }
    }
    if poll.timeout > poll.interval {
        return Err(cx.err(
            "poll.timeout",
            format!(
                "{} must not exceed poll.interval ({})",
                show(poll.timeout),
                show(poll.interval)
            ),
        ));
    }
    for (key, d) in [
        ("poll.lag_history", poll.lag_history),
        ("poll.backoff_max", poll.backoff_max),
    ] {
        if d < poll.interval {
            return Err(cx.err(
                key,
                format!(
                    "{} must be at least poll.interval ({})",
                    show(d),
                    show(poll.interval)
                ),
            ));
        }
    }
    Ok(poll)
}

/// A resolved setting and the dotted key it was taken from (for error messages).
struct Sourced<T> {
    value: T,
    key: String,
}

/// Connection settings checked once where they are written, before nodes inherit them.
#[derive(Default)]
struct Conn {
    user: Option<Sourced<String>>,
    password_file: Option<Password>,
    password_env: Option<Password>,
    dbname: Option<Sourced<String>>,
    sslmode: Option<Sourced<SslMode>>,
    sslrootcert: Option<Sourced<PathBuf>>,
    connect_timeout: Option<Duration>,
}

fn resolve_conn(raw: RawConn, prefix: &str, cx: &Ctx) -> Result<Conn, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let non_empty = |v: Option<String>, k: &str| -> Result<Option<Sourced<String>>, ConfigError> {
        match v {
            Some(s) if s.trim().is_empty() => Err(cx.err(&key(k), "must not be empty")),
            Some(s) => Ok(Some(Sourced {
                value: s,
                key: key(k),
            })),
            None => Ok(None),
        }
    };
    let password_file = match raw.password_file {
        Some(path) => {
            Some(read_password_file(&path).map_err(|why| cx.err(&key("password_file"), why))?)
        }
        None => None,
    };
    let password_env = match raw.password_env {
        Some(name) if name.is_empty() => {
            return Err(cx.err(&key("password_env"), "must not be empty"));
        }
        Some(name) => match cx.env_var(&name) {
            Some(v) if !v.is_empty() => Some(Password::new(v.to_owned())),
            Some(_) => {
                return Err(cx.err(
                    &key("password_env"),
                    format!("environment variable {name} is empty"),
                ));
            }
            None => {
                return Err(cx.err(
                    &key("password_env"),
                    format!("environment variable {name} is not set"),
                ));
            }
        },
        None => None,
    };
    if let Some(path) = &raw.sslrootcert {
        check_readable(path).map_err(|why| cx.err(&key("sslrootcert"), why))?;
    }
    if let Some(d) = raw.connect_timeout
        && d.0.is_zero()
    {
        return Err(cx.err(&key("connect_timeout"), "must be greater than zero"));
    }
    Ok(Conn {
        user: non_empty(raw.user, "user")?,
        password_file,
        password_env,
        dbname: non_empty(raw.dbname, "dbname")?,
        sslmode: raw.sslmode.map(|m| Sourced {
            value: m,
            key: key("sslmode"),
        }),
        sslrootcert: raw.sslrootcert.map(|p| Sourced {
            value: p,
            key: key("sslrootcert"),
        }),
        connect_timeout: raw.connect_timeout.map(|d| d.0),
    })
}

/// The first line of the file, without its line ending.
fn read_password_file(path: &Path) -> Result<Password, String> {
    let content = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read {:?}: {}",
            path.display().to_string(),
            io_message(&e)
        )
    })?;
    match content.lines().next() {
        Some(line) if !line.is_empty() => Ok(Password::new(line.to_owned())),
        _ => Err(format!(
            "password file {:?} has an empty first line",
            path.display().to_string()
        )),
    }
}

fn check_readable(path: &Path) -> Result<(), String> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {shown:?}: {}", io_message(&e)))?;
    if meta.is_dir() {
        return Err(format!("cannot read {shown:?}: is a directory"));
    }
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| format!("cannot read {shown:?}: {}", io_message(&e)))
}

fn resolve_cluster(
    mut raw: RawCluster,
    i: usize,
    poll: &PollConfig,
    cx: &Ctx,
) -> Result<ClusterConfig, ConfigError> {
    let prefix = format!("cluster.{i}");
    if raw.name.trim().is_empty() {
        return Err(cx.err(&format!("{prefix}.name"), "must not be empty"));
    }
    let defaults = resolve_conn(take_conn!(raw), &prefix, cx)?;
    if raw.node.is_empty() {
        return Err(cx.err_missing(
            &format!("{prefix}.node"),
            format!(
                "cluster {:?} has no nodes; add at least one [[cluster.node]] table",
                raw.name
            ),
        ));
    }
    let mut nodes: Vec<NodeConfig> = Vec::with_capacity(raw.node.len());
    for (j, node) in raw.node.into_iter().enumerate() {
        let node_prefix = format!("{prefix}.node.{j}");
        let explicit_app_name = node.application_name.is_some();
        let resolved = resolve_node(node, &node_prefix, &defaults, poll, cx)?;
        if nodes.iter().any(|n| n.name == resolved.name) {
            return Err(cx.err(
                &format!("{node_prefix}.name"),
                format!(
                    "duplicate node name {:?} in cluster {:?}",
                    resolved.name, raw.name
                ),
            ));
        }
        if nodes.iter().any(|n| {
            n.application_name
                .eq_ignore_ascii_case(&resolved.application_name)
        }) {
            // Two nodes listed under one application_name could not be told apart upstream.
            let key = if explicit_app_name {
                format!("{node_prefix}.application_name")
            } else {
                format!("{node_prefix}.name")
            };
            return Err(cx.err(
                &key,
                format!(
                    "duplicate application_name {:?} in cluster {:?}",
                    resolved.application_name, raw.name
                ),
            ));
        }
        nodes.push(resolved);
    }
    Ok(ClusterConfig {
        name: raw.name,
        nodes,
    })
}

fn resolve_node(
    mut raw: RawNode,
    prefix: &str,
    cluster: &Conn,
    poll: &PollConfig,
    cx: &Ctx,
) -> Result<NodeConfig, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    if raw.name.trim().is_empty() {
        return Err(cx.err(&key("name"), "must not be empty"));
    }
    let dsn = match &raw.dsn {
        Some(s) => parse_dsn(s).map_err(|why| cx.err(&key("dsn"), why))?,
        None => Dsn::default(),
    };
    if let Some(path) = &dsn.sslrootcert {
        check_readable(path).map_err(|why| cx.err(&key("dsn"), format!("sslrootcert: {why}")))?;
    }
    let application_name = match raw.application_name {
        Some(a) if a.trim().is_empty() => {
            return Err(cx.err(&key("application_name"), "must not be empty"));
        }
        Some(a) => a,
        None => raw.name.clone(),
    };
    let host = match (raw.host, dsn.host) {
        (Some(h), _) if h.trim().is_empty() => {
            return Err(cx.err(&key("host"), "must not be empty"));
        }
        (Some(h), _) => h,
        (None, Some(h)) => h,
        (None, None) => {
            return Err(cx.err_missing(
                &key("host"),
                format!("node {:?} needs a host (or a dsn that names one)", raw.name),
            ));
        }
    };
    let node = resolve_conn(take_conn!(raw), prefix, cx)?;
    let user = node
        .user
        .map(|f| f.value)
        .or(dsn.user)
        .or(cluster.user.as_ref().map(|f| f.value.clone()))
        .unwrap_or_else(|| DEFAULT_USER.to_owned());
    let dbname = node
        .dbname
        .map(|f| f.value)
        .or(dsn.dbname)
        .or(cluster.dbname.as_ref().map(|f| f.value.clone()))
        .unwrap_or_else(|| DEFAULT_DBNAME.to_owned());
    let sslmode = node
        .sslmode
        .or(dsn.sslmode.map(|m| Sourced {
            value: m,
            key: key("dsn"),
        }))
        .or(cluster.sslmode.as_ref().map(|f| Sourced {
            value: f.value,
            key: f.key.clone(),
        }));
    let sslrootcert = node
        .sslrootcert
        .map(|f| f.value)
        .or(dsn.sslrootcert)
        .or(cluster.sslrootcert.as_ref().map(|f| f.value.clone()));
    if let Some(mode) = &sslmode
        && mode.value.verifies()
        && sslrootcert.is_none()
    {
        return Err(cx.err(
            &mode.key,
            format!(
                "sslmode {} needs sslrootcert (node {:?})",
                mode.value, raw.name
            ),
        ));
    }
    let password = node
        .password_file
        .or(node.password_env)
        .or(dsn.password)
        .or(cluster.password_file.clone())
        .or(cluster.password_env.clone());
    let connect_timeout = node
        .connect_timeout
        .or(dsn.connect_timeout)
        .or(cluster.connect_timeout)
        .unwrap_or(poll.timeout);
    Ok(NodeConfig {
        name: raw.name,
        application_name,
        host,
        port: raw.port.map(|p| p.0).or(dsn.port).unwrap_or(DEFAULT_PORT),
        user,
        password,
        dbname,
        sslmode: sslmode.map_or(SslMode::Prefer, |f| f.value),
        sslrootcert,
        connect_timeout,
        expect_streaming: raw.expect_streaming.unwrap_or(true),
    })
}

// ---------------------------------------------------------------------------------------------
// dsn: a libpq key=value string or a postgres:// URL. tokio-postgres parses it, except for the
// TLS settings it does not know (verify-ca, verify-full, sslrootcert), which are taken out first.
// No message built here may quote the dsn: it may hold a password.

#[derive(Default)]
struct Dsn {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<Password>,
    dbname: Option<String>,
    sslmode: Option<SslMode>,
    sslrootcert: Option<PathBuf>,
    connect_timeout: Option<Duration>,
}

/// Options whose values make it into [`NodeConfig`]; anything else would be silently ignored,
/// so it is refused.
const DSN_OPTIONS: [&str; 8] = [
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
];

/// libpq option names, which may be named in an error; any other "key" might be a piece of a
/// badly quoted password.
const LIBPQ_OPTIONS: [&str; 41] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

const MALFORMED_DSN: &str = "cannot parse dsn: malformed (expected key=value pairs separated by spaces, values with spaces in single quotes, or a postgresql:// url)";

fn parse_dsn(s: &str) -> Result<Dsn, String> {
    let is_url = s.starts_with("postgres://") || s.starts_with("postgresql://");
    let (rest, params) = if is_url {
        split_url_params(s)?
    } else {
        split_kv_params(s)?
    };
    let mut dsn = Dsn::default();
    for (k, v) in params {
        if !DSN_OPTIONS.contains(&k.as_str()) {
            return Err(if LIBPQ_OPTIONS.contains(&k.as_str()) {
                format!(
                    "option `{k}` is not supported in a dsn (supported: {})",
                    DSN_OPTIONS.join(", ")
                )
            } else {
                format!(
                    "cannot parse dsn: unknown option (supported: {})",
                    DSN_OPTIONS.join(", ")
                )
            });
        }
        match k.as_str() {
            "sslmode" => dsn.sslmode = Some(v.parse::<SslMode>()?),
            "sslrootcert" => dsn.sslrootcert = Some(PathBuf::from(v)),
            _ => {}
        }
    }
    let parsed = tokio_postgres::Config::from_str(&rest).map_err(|e| {
        let cause = std::error::Error::source(&e).map_or_else(|| e.to_string(), |c| c.to_string());
        // tokio-postgres quotes the unexpected character, which could belong to a password.
        let cause = match cause.find(": expected") {
            Some(i) => cause[..i].to_owned(),
            None => cause,
        };
        format!("cannot parse dsn: {cause}")
    })?;
    dsn.host = match parsed.get_hosts() {
        [] => None,
        [tokio_postgres::config::Host::Tcp(h)] => Some(h.clone()),
        #[cfg(unix)]
        [tokio_postgres::config::Host::Unix(p)] => Some(p.to_string_lossy().into_owned()),
        hosts => {
            return Err(format!(
                "dsn names {} hosts; configure one node per host",
                hosts.len()
            ));
        }
    };
    dsn.port = match parsed.get_ports() {
        [] => None,
        [0] => return Err("dsn port 0 is out of range 1-65535".to_owned()),
        [p] => Some(*p),
        ports => {
            return Err(format!(
                "dsn names {} ports; configure one node per host",
                ports.len()
            ));
        }
    };
    dsn.user = parsed.get_user().map(str::to_owned);
    dsn.dbname = parsed.get_dbname().map(str::to_owned);
    dsn.password = match parsed.get_password() {
        None => None,
        Some(bytes) => Some(Password::new(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| "dsn password is not valid utf-8".to_owned())?,
        )),
    };
    dsn.connect_timeout = parsed.get_connect_timeout().copied();
    if dsn.connect_timeout.is_some_and(|d| d.is_zero()) {
        // libpq reads 0 as "wait forever"; a poller must never do that.
        return Err("dsn connect_timeout must be greater than zero".to_owned());
    }
    Ok(dsn)
}

/// Splits a key=value dsn into (the part for tokio-postgres, every (key, unescaped value)).
fn split_kv_params(s: &str) -> Result<(String, Vec<(String, String)>), String> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(s.len(), |&(b, _)| b);
    let mut i = 0;
    let mut kept = Vec::new();
    let mut params = Vec::new();
    loop {
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if i == chars.len() {
            break;
        }
        let start = at(i);
        let mut key = String::new();
        while i < chars.len() && !chars[i].1.is_whitespace() && chars[i].1 != '=' {
            key.push(chars[i].1);
            i += 1;
        }
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if key.is_empty() || i == chars.len() || chars[i].1 != '=' {
            return Err(MALFORMED_DSN.to_owned());
        }
        i += 1;
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && chars[i].1 == '\'' {
            i += 1;
            loop {
                match chars.get(i).map(|c| c.1) {
                    None => return Err(MALFORMED_DSN.to_owned()),
                    Some('\\') => {
                        value.push(chars.get(i + 1).ok_or(MALFORMED_DSN)?.1);
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < chars.len() && !chars[i].1.is_whitespace() {
                if chars[i].1 == '\\' {
                    i += 1;
                }
                value.push(chars.get(i).ok_or(MALFORMED_DSN)?.1);
                i += 1;
            }
        }
        if key != "sslmode" && key != "sslrootcert" {
            kept.push(&s[start..at(i)]);
        }
        params.push((key, value));
    }
    Ok((kept.join(" "), params))
}

/// Splits a postgres:// URL into (the URL without sslmode/sslrootcert, every query parameter).
fn split_url_params(s: &str) -> Result<(String, Vec<(String, String)>), String> {
    let Some((base, query)) = s.split_once('?') else {
        return Ok((s.to_owned(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        if k != "sslmode" && k != "sslrootcert" {
            kept.push(pair);
        }
        params.push((k, v));
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, params))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bad = || "cannot parse dsn: invalid percent-encoding".to_owned();
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const SECRET: &str = "s3cr3t-Pa55";

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ok(toml: &str) -> Config {
        load_from_str(toml, &[], &Overrides::default())
            .unwrap_or_else(|e| panic!("expected a valid config, got: {e}"))
    }

    fn err_with(toml: &str, env: &[(String, String)], overrides: &Overrides) -> String {
        match load_from_str(toml, env, overrides) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn err(toml: &str) -> String {
        err_with(toml, &[], &Overrides::default())
    }

    fn temp_file(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    const NODE: &str =
        "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"node_a\"\nhost = \"10.0.0.11\"\n";
    const IN: &str = "(in configuration string)";

    #[test]
    fn rejects_bad_configurations_with_one_line_naming_key_and_source() {
        let cases: Vec<(&str, String, String)> = vec![
            ("unknown top-level key", format!("typo = 1\n{NODE}"), format!("typo: unknown key {IN}")),
            ("unknown web key", format!("[web]\nlisten = \":1\"\n{NODE}"), format!("web.listen: unknown key {IN}")),
            ("unknown poll key", format!("[poll]\nintervall = \"1s\"\n{NODE}"), format!("poll.intervall: unknown key {IN}")),
            ("unknown cluster key", format!("{NODE}[[cluster]]\nname = \"b\"\nhots = \"x\"\n[[cluster.node]]\nname = \"n\"\nhost = \"h\"\n"), format!("cluster[1].hots: unknown key {IN}")),
            ("unknown node key", format!("{NODE}typo = true\n"), format!("cluster[0].node[0].typo: unknown key {IN}")),
            ("password given inline", format!("{NODE}password = \"x\"\n"), format!("cluster[0].node[0].password: unknown key (a password comes from password_file, password_env or dsn) {IN}")),
            ("port is a string", format!("{NODE}port = \"abc\"\n"), format!("cluster[0].node[0].port: expected a port number between 1 and 65535, found string \"abc\" {IN}")),
            ("port out of range", format!("{NODE}port = 70000\n"), format!("cluster[0].node[0].port: port 70000 is out of range 1-65535 {IN}")),
            ("port zero", format!("{NODE}port = 0\n"), format!("cluster[0].node[0].port: port 0 is out of range 1-65535 {IN}")),
            ("expect_streaming is a string", format!("{NODE}expect_streaming = \"no\"\n"), format!("cluster[0].node[0].expect_streaming: expected a boolean, found string \"no\" {IN}")),
            ("expect_streaming is a number", format!("{NODE}expect_streaming = 0\n"), format!("cluster[0].node[0].expect_streaming: expected a boolean, found signed int `0` {IN}")),
            ("duplicate node name", format!("{NODE}[[cluster.node]]\nname = \"node_b\"\nhost = \"b\"\n[[cluster.node]]\nname = \"node_b\"\nhost = \"c\"\n"), format!("cluster[0].node[2].name: duplicate node name \"node_b\" in cluster \"pg\" {IN}")),
            ("duplicate application_name", format!("{NODE}[[cluster.node]]\nname = \"node_b\"\nhost = \"b\"\napplication_name = \"NODE_A\"\n"), format!("cluster[0].node[1].application_name: duplicate application_name \"NODE_A\" in cluster \"pg\" {IN}")),
            ("duplicate cluster name", format!("{NODE}{NODE}"), format!("cluster[1].name: duplicate cluster name \"pg\" {IN}")),
            ("bad duration", format!("[poll]\ninterval = \"1 parsec\"\n{NODE}"), format!("poll.interval: invalid duration \"1 parsec\": unknown time unit \"parsec\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations) {IN}")),
            ("duration is a number", format!("[poll]\ninterval = 5\n{NODE}"), format!("poll.interval: expected a duration string such as \"1s\" or \"800ms\", found signed int `5` {IN}")),
            ("timeout above interval", format!("[poll]\ninterval = \"500ms\"\ntimeout = \"2s\"\n{NODE}"), format!("poll.timeout: 2s must not exceed poll.interval (500ms) {IN}")),
            ("default timeout above interval", format!("[poll]\ninterval = \"500ms\"\n{NODE}"), "poll.timeout: 800ms must not exceed poll.interval (500ms) (default)".to_owned()),
            ("zero interval", format!("[poll]\ninterval = \"0s\"\n{NODE}"), format!("poll.interval: must be greater than zero {IN}")),
            ("default backoff below interval", format!("[poll]\ninterval = \"1m\"\n{NODE}"), "poll.backoff_max: 30s must be at least poll.interval (1m) (default)".to_owned()),
            ("lag history below interval", format!("[poll]\ninterval = \"10s\"\ntimeout = \"1s\"\nlag_history = \"5s\"\n{NODE}"), format!("poll.lag_history: 5s must be at least poll.interval (10s) {IN}")),
            ("backoff below interval", format!("[poll]\ninterval = \"1m\"\nbackoff_max = \"30s\"\n{NODE}"), format!("poll.backoff_max: 30s must be at least poll.interval (1m) {IN}")),
            ("bad sslmode", format!("{NODE}sslmode = \"allow\"\n"), format!("cluster[0].node[0].sslmode: invalid value \"allow\", expected one of disable, prefer, require, verify-ca, verify-full {IN}")),
            ("verify-full without sslrootcert", "[[cluster]]\nname = \"pg\"\nsslmode = \"verify-full\"\n[[cluster.node]]\nname = \"node_a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].sslmode: sslmode verify-full needs sslrootcert (node \"node_a\") {IN}")),
            ("verify-ca in node without sslrootcert", format!("{NODE}sslmode = \"verify-ca\"\n"), format!("cluster[0].node[0].sslmode: sslmode verify-ca needs sslrootcert (node \"node_a\") {IN}")),
            ("unreadable sslrootcert", format!("{NODE}sslrootcert = \"/nonexistent/ca.pem\"\n"), format!("cluster[0].node[0].sslrootcert: cannot read \"/nonexistent/ca.pem\": No such file or directory {IN}")),
            ("unreadable password_file", "[[cluster]]\nname = \"pg\"\npassword_file = \"/nope\"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].password_file: cannot read \"/nope\": No such file or directory {IN}")),
            ("password_env unset", format!("{NODE}password_env = \"PG_TEST_UNSET_VARIABLE\"\n"), format!("cluster[0].node[0].password_env: environment variable PG_TEST_UNSET_VARIABLE is not set {IN}")),
            ("cluster without nodes", "[[cluster]]\nname = \"pg\"\n".to_owned(), format!("cluster[0].node: cluster \"pg\" has no nodes; add at least one [[cluster.node]] table {IN}")),
            ("no cluster", "[poll]\ninterval = \"1s\"\n".to_owned(), format!("cluster: at least one [[cluster]] table is required {IN}")),
            ("empty file", String::new(), format!("cluster: at least one [[cluster]] table is required {IN}")),
            ("missing host", "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"a\"\n".to_owned(), format!("cluster[0].node[0].host: node \"a\" needs a host (or a dsn that names one) {IN}")),
            ("missing node name", "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nhost = \"h\"\n".to_owned(), format!("cluster[0].node[0].name: required key is missing {IN}")),
            ("missing cluster name", "[[cluster]]\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].name: required key is missing {IN}")),
            ("empty node name", "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].node[0].name: must not be empty {IN}")),
            ("empty cluster name", "[[cluster]]\nname = \" \"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].name: must not be empty {IN}")),
            ("empty host", "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"a\"\nhost = \"\"\n".to_owned(), format!("cluster[0].node[0].host: must not be empty {IN}")),
            ("listen port not a number", format!("[web]\nlisten_address = \":abc\"\n{NODE}"), format!("web.listen_address: invalid listen address \":abc\": invalid port \"abc\" {IN}")),
            ("listen address without port", format!("[web]\nlisten_address = \"1.2.3.4\"\n{NODE}"), format!("web.listen_address: invalid listen address \"1.2.3.4\": missing port, expected ip:port, [ipv6]:port or :port {IN}")),
            ("listen address with bad port", format!("[web]\nlisten_address = \"host:port\"\n{NODE}"), format!("web.listen_address: invalid listen address \"host:port\": invalid port \"port\" {IN}")),
            ("listen address with a host name", format!("[web]\nlisten_address = \"localhost:9\"\n{NODE}"), format!("web.listen_address: invalid listen address \"localhost:9\": \"localhost\" is not an ip address (host names are not resolved); use e.g. \"127.0.0.1:9\" or \":9\" {IN}")),
            ("telemetry path without slash", format!("[web]\ntelemetry_path = \"metrics\"\n{NODE}"), format!("web.telemetry_path: \"metrics\" must start with \"/\" {IN}")),
            ("telemetry path shadows an endpoint", format!("[web]\ntelemetry_path = \"/healthz\"\n{NODE}"), format!("web.telemetry_path: \"/healthz\" is a built-in endpoint {IN}")),
            ("dsn that does not parse", format!("{NODE}dsn = \"host=h password=pw with spaces\"\n"), format!("cluster[0].node[0].dsn: {MALFORMED_DSN} {IN}")),
            ("dsn with an unsupported option", format!("{NODE}dsn = \"host=h options=-cfoo=bar\"\n"), format!("cluster[0].node[0].dsn: option `options` is not supported in a dsn (supported: host, port, user, password, dbname, sslmode, sslrootcert, connect_timeout) {IN}")),
            ("dsn with a bad sslmode", format!("{NODE}dsn = \"sslmode=allow\"\n"), format!("cluster[0].node[0].dsn: invalid sslmode \"allow\", expected one of disable, prefer, require, verify-ca, verify-full {IN}")),
            ("dsn with a bad port", format!("{NODE}dsn = \"port=x\"\n"), format!("cluster[0].node[0].dsn: cannot parse dsn: invalid value for option `port` {IN}")),
            ("dsn with two hosts", format!("{NODE}dsn = \"postgresql://a,b/db\"\n"), format!("cluster[0].node[0].dsn: dsn names 2 hosts; configure one node per host {IN}")),
            ("zero connect_timeout", format!("{NODE}connect_timeout = \"0s\"\n"), format!("cluster[0].node[0].connect_timeout: must be greater than zero {IN}")),
            ("empty user", "[[cluster]]\nname = \"pg\"\nuser = \"\"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].user: must not be empty {IN}")),
            ("cluster is a table, not an array", "[cluster]\nname = \"pg\"\n".to_owned(), format!("cluster: expected a sequence, found map {IN}")),
        ];
        assert!(cases.len() >= 15);
        for (what, toml, want) in &cases {
            let got = err(toml);
            assert_eq!(
                got,
                format!("invalid configuration: {want}"),
                "case: {what}"
            );
            assert!(!got.contains('\n'), "case {what}: not one line: {got}");
        }
    }

    #[test]
    fn errors_name_the_environment_variable_or_flag_that_set_the_value() {
        let e = err_with(
            NODE,
            &env(&[("PG_REPLICATION_EXPORTER_POLL__INTERVAL", "1 parsec")]),
            &Overrides::default(),
        );
        assert!(
            e.starts_with("invalid configuration: poll.interval: invalid duration \"1 parsec\""),
            "{e}"
        );
        assert!(
            e.ends_with("(from environment variable PG_REPLICATION_EXPORTER_POLL__INTERVAL)"),
            "{e}"
        );

        let e = err_with(
            NODE,
            &env(&[("PG_REPLICATION_EXPORTER_POLL__TIMEOUT", "5s")]),
            &Overrides::default(),
        );
        assert_eq!(
            e,
            "invalid configuration: poll.timeout: 5s must not exceed poll.interval (1s) (from environment variable PG_REPLICATION_EXPORTER_POLL__TIMEOUT)"
        );

        let e = err_with(
            NODE,
            &env(&[("PG_REPLICATION_EXPORTER_POLL__TYPO", "1s")]),
            &Overrides::default(),
        );
        assert_eq!(
            e,
            "invalid configuration: poll.typo: unknown key (from environment variable PG_REPLICATION_EXPORTER_POLL__TYPO)"
        );

        let overrides = Overrides {
            listen_address: Some("nope".into()),
            ..Overrides::default()
        };
        let e = err_with(NODE, &[], &overrides);
        assert_eq!(
            e,
            "invalid configuration: web.listen_address: invalid listen address \"nope\": expected ip:port, [ipv6]:port or :port (from flag --web.listen-address)"
        );

        let overrides = Overrides {
            telemetry_path: Some("x".into()),
            ..Overrides::default()
        };
        let e = err_with(NODE, &[], &overrides);
        assert_eq!(
            e,
            "invalid configuration: web.telemetry_path: \"x\" must start with \"/\" (from flag --web.telemetry-path)"
        );
    }

    #[test]
    fn errors_from_a_file_name_the_file() {
        let f = temp_file(&format!("{NODE}typo = 1\n"));
        let e = load(f.path(), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "invalid configuration: cluster[0].node[0].typo: unknown key (in {})",
                f.path().display()
            )
        );

        let e = load(Path::new("/nonexistent/x.toml"), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid configuration: cannot read configuration file \"/nonexistent/x.toml\": No such file or directory"
        );

        let f = temp_file(NODE);
        let c = load(f.path(), &Overrides::default()).unwrap();
        assert_eq!(c.clusters[0].nodes[0].host, "10.0.0.11");
    }

    #[test]
    fn toml_syntax_errors_are_one_line_and_do_not_quote_the_source() {
        let e = err(&format!(
            "{NODE}dsn = \"host=h password={SECRET}\nport = 1\n"
        ));
        assert!(
            e.starts_with("invalid configuration: toml parse error at line"),
            "{e}"
        );
        assert!(e.ends_with(IN), "{e}");
        assert!(!e.contains('\n'), "{e}");
        assert!(!e.contains(SECRET), "{e}");
    }

    #[test]
    fn secrets_never_reach_errors() {
        // A dsn that fails to parse must not be echoed.
        let e = err(&format!("{NODE}dsn = \"host=h password={SECRET} junk\"\n"));
        assert!(!e.contains(SECRET), "{e}");
        assert!(!e.contains("junk"), "{e}");
        let e = err(&format!(
            "{NODE}dsn = \"host=h password={SECRET} port=x\"\n"
        ));
        assert!(!e.contains(SECRET), "{e}");
        // An unrelated error in a config whose dsn holds a password.
        let e = err(&format!(
            "{NODE}dsn = \"host=h password={SECRET}\"\n[[cluster.node]]\nname = \"b\"\ntypo = 1\n"
        ));
        assert!(e.contains("cluster[0].node[1].typo: unknown key"), "{e}");
        assert!(!e.contains(SECRET), "{e}");
        // A dsn of the wrong type is not echoed either.
        let e = err(&format!("{NODE}dsn = [\"{SECRET}\"]\n"));
        assert!(e.contains("cluster[0].node[0].dsn"), "{e}");
        assert!(!e.contains(SECRET), "{e}");
        // An empty password file is refused without printing anything of it.
        let f = temp_file("\nsecond line");
        let e = err(&format!(
            "{NODE}password_file = {:?}\n",
            f.path().display().to_string()
        ));
        assert!(e.contains("has an empty first line"), "{e}");
        assert!(!e.contains("second line"), "{e}");
    }

    #[test]
    fn debug_output_redacts_passwords() {
        let f = temp_file(&format!("{SECRET}\n"));
        let c = ok(&format!(
            "{NODE}password_file = {:?}\n[[cluster.node]]\nname = \"b\"\ndsn = \"postgresql://u:{SECRET}x@h/db\"\n",
            f.path().display().to_string()
        ));
        let debug = format!("{c:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert_eq!(debug.matches("[redacted]").count(), 2, "{debug}");
        let p = c.clusters[0].nodes[0].password.as_ref().unwrap();
        assert_eq!(p.expose(), SECRET);
        assert_eq!(p.to_string(), "[redacted]");
        assert_eq!(
            c.clusters[0].nodes[1].password.as_ref().unwrap().expose(),
            format!("{SECRET}x")
        );
    }

    #[test]
    fn defaults_are_applied() {
        let c = ok(NODE);
        assert_eq!(c.web.listen_address, "0.0.0.0:10187".parse().unwrap());
        assert_eq!(
            c.web.listen_address,
            parse_listen_address(DEFAULT_LISTEN_ADDRESS).unwrap()
        );
        assert_eq!(c.web.telemetry_path, "/metrics");
        assert_eq!(c.web.config_file, None);
        assert_eq!(c.poll.interval, Duration::from_secs(1));
        assert_eq!(c.poll.timeout, Duration::from_millis(800));
        assert_eq!(c.poll.lag_history, Duration::from_secs(3600));
        assert_eq!(c.poll.backoff_max, Duration::from_secs(30));
        let n = &c.clusters[0].nodes[0];
        assert_eq!(c.clusters[0].name, "pg");
        assert_eq!(n.name, "node_a");
        assert_eq!(n.application_name, "node_a");
        assert!(n.expect_streaming);
        assert_eq!(n.host, "10.0.0.11");
        assert_eq!(n.port, 5432);
        assert_eq!(n.user, "replication_exporter");
        assert!(n.password.is_none());
        assert_eq!(n.dbname, "postgres");
        assert_eq!(n.sslmode, SslMode::Prefer);
        assert_eq!(n.sslrootcert, None);
        assert_eq!(n.connect_timeout, Duration::from_millis(800));
    }

    #[test]
    fn example_file_is_valid_and_matches_the_defaults() {
        let example = include_str!("../examples/config.toml");
        let ca = temp_file("ca");
        let pw = temp_file("pw\n");
        // The example names real-looking paths; point them at temp files to load it here.
        let example = example
            .replace("/etc/ssl/pg-ca.pem", &ca.path().display().to_string())
            .replace(
                "/etc/pg_replication_exporter/password",
                &pw.path().display().to_string(),
            );
        let c = load_from_str(&example, &[], &Overrides::default()).unwrap();
        assert_eq!(c.web.listen_address.to_string(), "0.0.0.0:10187");
        assert_eq!(c.poll.timeout, DEFAULT_POLL_TIMEOUT);
        assert!(!c.clusters.is_empty());
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let toml = format!(
            "[web]\nlisten_address = \"127.0.0.1:1\"\ntelemetry_path = \"/a\"\n[poll]\ninterval = \"5s\"\n{NODE}"
        );
        let vars = env(&[
            ("PG_REPLICATION_EXPORTER_POLL__INTERVAL", "2s"),
            ("PG_REPLICATION_EXPORTER_WEB__LISTEN_ADDRESS", "[::1]:9999"),
            ("PG_REPLICATION_EXPORTER_WEB__TELEMETRY_PATH", "/b"),
            ("UNRELATED", "x"),
        ]);
        let c = load_from_str(&toml, &vars, &Overrides::default()).unwrap();
        assert_eq!(c.poll.interval, Duration::from_secs(2));
        assert_eq!(c.web.listen_address, "[::1]:9999".parse().unwrap());
        assert_eq!(c.web.telemetry_path, "/b");

        let overrides = Overrides {
            listen_address: Some(":7777".into()),
            telemetry_path: None,
            web_config_file: Some(PathBuf::from("web.yml")),
        };
        let c = load_from_str(&toml, &vars, &overrides).unwrap();
        assert_eq!(c.web.listen_address, "0.0.0.0:7777".parse().unwrap());
        assert_eq!(c.web.telemetry_path, "/b");
        assert_eq!(c.web.config_file, Some(PathBuf::from("web.yml")));
    }

    #[test]
    fn listen_addresses() {
        let p = |s| parse_listen_address(s);
        assert_eq!(p(":10187").unwrap(), "0.0.0.0:10187".parse().unwrap());
        assert_eq!(p("[::1]:9999").unwrap(), "[::1]:9999".parse().unwrap());
        assert_eq!(
            p("127.0.0.1:9999").unwrap(),
            "127.0.0.1:9999".parse().unwrap()
        );
        assert!(p("[::1]").unwrap_err().contains("missing port"));
        assert!(p(":70000").is_err());
        assert!(p("").is_err());
    }

    #[test]
    fn nodes_inherit_cluster_defaults_and_may_override_them() {
        let ca = temp_file("ca");
        let ca2 = temp_file("ca2");
        let pw = temp_file("cluster-pw\n");
        let toml = format!(
            r#"
            [poll]
            timeout = "900ms"
            [[cluster]]
            name = "pg"
            user = "exporter"
            password_file = {pw:?}
            dbname = "app"
            sslmode = "verify-full"
            sslrootcert = {ca:?}
            connect_timeout = "5s"
            [[cluster.node]]
            name = "inherits"
            host = "a"
            [[cluster.node]]
            name = "overrides"
            host = "b"
            port = 6432
            application_name = "member_b"
            user = "other"
            password_env = "NODE_PW"
            dbname = "db2"
            sslmode = "verify-ca"
            sslrootcert = {ca2:?}
            connect_timeout = "2s"
            "#,
            pw = pw.path().display().to_string(),
            ca = ca.path().display().to_string(),
            ca2 = ca2.path().display().to_string(),
        );
        let c = load_from_str(
            &toml,
            &env(&[("NODE_PW", "node-pw")]),
            &Overrides::default(),
        )
        .unwrap();
        let [a, b] = &c.clusters[0].nodes[..] else {
            panic!("two nodes expected")
        };
        assert_eq!(a.user, "exporter");
        assert_eq!(a.password.as_ref().unwrap().expose(), "cluster-pw");
        assert_eq!(a.dbname, "app");
        assert_eq!(a.sslmode, SslMode::VerifyFull);
        assert_eq!(a.sslrootcert.as_deref(), Some(ca.path()));
        assert_eq!(a.connect_timeout, Duration::from_secs(5));
        assert_eq!(a.port, 5432);

        assert_eq!(b.application_name, "member_b");
        assert_eq!(b.port, 6432);
        assert_eq!(b.user, "other");
        assert_eq!(b.password.as_ref().unwrap().expose(), "node-pw");
        assert_eq!(b.dbname, "db2");
        assert_eq!(b.sslmode, SslMode::VerifyCa);
        assert_eq!(b.sslrootcert.as_deref(), Some(ca2.path()));
        assert_eq!(b.connect_timeout, Duration::from_secs(2));
    }

    #[test]
    fn connect_timeout_defaults_to_poll_timeout() {
        let c = ok(&format!("[poll]\ntimeout = \"300ms\"\n{NODE}"));
        assert_eq!(
            c.clusters[0].nodes[0].connect_timeout,
            Duration::from_millis(300)
        );
    }

    #[test]
    fn dsn_fills_in_what_the_node_leaves_out_and_beats_cluster_defaults() {
        let ca = temp_file("ca");
        let toml = format!(
            r#"
            [[cluster]]
            name = "pg"
            user = "cluster_user"
            dbname = "cluster_db"
            sslmode = "disable"
            [[cluster.node]]
            name = "kv"
            dsn = "host=10.0.0.12 port=5433 user=dsn_user password='p w\\'x' dbname=dsn_db sslmode=verify-full sslrootcert={ca} connect_timeout=3"
            [[cluster.node]]
            name = "url"
            dsn = "postgresql://u%40x:pa%2Fss@db.example:6000/mydb?sslmode=require&connect_timeout=4"
            [[cluster.node]]
            name = "explicit_wins"
            host = "explicit"
            port = 7000
            user = "explicit_user"
            dbname = "explicit_db"
            sslmode = "prefer"
            dsn = "host=dsnhost port=1 user=u dbname=d sslmode=require"
            [[cluster.node]]
            name = "partial"
            dsn = "host=/var/run/postgresql"
            "#,
            ca = ca.path().display()
        );
        let c = ok(&toml);
        let [kv, url, explicit, partial] = &c.clusters[0].nodes[..] else {
            panic!("four nodes expected")
        };
        assert_eq!(kv.host, "10.0.0.12");
        assert_eq!(kv.port, 5433);
        assert_eq!(kv.user, "dsn_user");
        assert_eq!(kv.password.as_ref().unwrap().expose(), "p w'x");
        assert_eq!(kv.dbname, "dsn_db");
        assert_eq!(kv.sslmode, SslMode::VerifyFull);
        assert_eq!(kv.sslrootcert.as_deref(), Some(ca.path()));
        assert_eq!(kv.connect_timeout, Duration::from_secs(3));

        assert_eq!(url.host, "db.example");
        assert_eq!(url.port, 6000);
        assert_eq!(url.user, "u@x");
        assert_eq!(url.password.as_ref().unwrap().expose(), "pa/ss");
        assert_eq!(url.dbname, "mydb");
        assert_eq!(url.sslmode, SslMode::Require);
        assert_eq!(url.connect_timeout, Duration::from_secs(4));

        assert_eq!(explicit.host, "explicit");
        assert_eq!(explicit.port, 7000);
        assert_eq!(explicit.user, "explicit_user");
        assert_eq!(explicit.dbname, "explicit_db");
        assert_eq!(explicit.sslmode, SslMode::Prefer);

        // What the dsn does not set still comes from the cluster.
        assert_eq!(partial.host, "/var/run/postgresql");
        assert_eq!(partial.user, "cluster_user");
        assert_eq!(partial.dbname, "cluster_db");
        assert_eq!(partial.sslmode, SslMode::Disable);
        assert_eq!(partial.port, 5432);
    }

    #[test]
    fn password_precedence() {
        let node_file = temp_file("node-file\n");
        let cluster_file = temp_file("cluster-file\r\n");
        let vars = env(&[("NODE_ENV", "node-env"), ("CLUSTER_ENV", "cluster-env")]);
        let node = |name: &str, extra: &str| {
            format!("[[cluster.node]]\nname = \"{name}\"\nhost = \"h\"\n{extra}\n")
        };
        let nf = format!(
            "password_file = {:?}",
            node_file.path().display().to_string()
        );
        let cf = format!(
            "password_file = {:?}",
            cluster_file.path().display().to_string()
        );
        let toml = format!(
            "[[cluster]]\nname = \"pg\"\n{cf}\npassword_env = \"CLUSTER_ENV\"\n{}{}{}{}",
            node(
                "a",
                &format!("{nf}\npassword_env = \"NODE_ENV\"\ndsn = \"password=dsn\"")
            ),
            node("b", "password_env = \"NODE_ENV\"\ndsn = \"password=dsn\""),
            node("c", "dsn = \"password=dsn\""),
            node("d", ""),
        );
        let c = load_from_str(&toml, &vars, &Overrides::default()).unwrap();
        let got: Vec<&str> = c.clusters[0]
            .nodes
            .iter()
            .map(|n| n.password.as_ref().unwrap().expose())
            .collect();
        assert_eq!(got, ["node-file", "node-env", "dsn", "cluster-file"]);

        let toml = "[[cluster]]\nname = \"pg\"\npassword_env = \"CLUSTER_ENV\"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n";
        let c = load_from_str(toml, &vars, &Overrides::default()).unwrap();
        assert_eq!(
            c.clusters[0].nodes[0].password.as_ref().unwrap().expose(),
            "cluster-env"
        );
    }

    #[test]
    fn sslmode_strings_round_trip() {
        for m in SslMode::ALL {
            assert_eq!(m.as_str().parse::<SslMode>().unwrap(), m);
        }
        assert!("allow".parse::<SslMode>().is_err());
    }

    #[test]
    fn keys_render_with_indices() {
        assert_eq!(
            render_key("cluster.0.node.12.name"),
            "cluster[0].node[12].name"
        );
        assert_eq!(render_key("web.listen_address"), "web.listen_address");
    }
}
