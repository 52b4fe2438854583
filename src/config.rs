//! STAND-IN (replaced at merge by the real loader): the config contract types only.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN_ADDRESS: &str = ":10187";
#[derive(Clone, Debug)]
pub struct Config {
    pub web: WebConfig,
    pub poll: PollConfig,
    pub clusters: Vec<ClusterConfig>,
}
#[derive(Clone, Debug)]
pub struct WebConfig {
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    pub config_file: Option<PathBuf>,
}
#[derive(Clone, Debug)]
pub struct PollConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub lag_history: Duration,
    pub backoff_max: Duration,
}
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub name: String,
    pub nodes: Vec<NodeConfig>,
}
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub name: String,
    pub application_name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Password>,
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}
impl SslMode {
    pub fn as_str(self) -> &'static str {
        "prefer"
    }
}
#[derive(Clone)]
pub struct Password(String);
impl Password {
    pub fn new(s: String) -> Self {
        Password(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}
#[derive(Default, Debug, Clone)]
pub struct Overrides {
    pub listen_address: Option<String>,
    pub telemetry_path: Option<String>,
    pub web_config_file: Option<PathBuf>,
}
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);
pub fn load(_path: &Path, _o: &Overrides) -> Result<Config, ConfigError> {
    Err(ConfigError("stand-in".into()))
}
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    let s = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    s.parse()
        .map_err(|e: std::net::AddrParseError| e.to_string())
}
