//! Raw configuration as written: every field optional unless required, every default documented
//! in examples/config.toml and applied in `resolve`.

use super::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) web: RawWeb,
    #[serde(default)]
    pub(super) poll: RawPoll,
    #[serde(default)]
    pub(super) cluster: Vec<RawCluster>,
    pub(super) shard: Option<RawShard>,
}

/// `[shard]`: this exporter's share of the clusters (SPEC §11).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShard {
    pub(super) count: Option<RawCount>,
    pub(super) index: Option<RawCount>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeb {
    pub(super) listen_address: Option<String>,
    pub(super) telemetry_path: Option<String>,
    pub(super) config_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPoll {
    pub(super) interval: Option<RawDuration>,
    pub(super) timeout: Option<RawDuration>,
    pub(super) lag_history: Option<RawDuration>,
    pub(super) backoff_max: Option<RawDuration>,
    pub(super) slow_interval: Option<RawDuration>,
}

// The connection settings are repeated in RawCluster and RawNode rather than flattened: serde's
// `flatten` does not honour `deny_unknown_fields` and hides figment's key paths.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub(super) name: String,
    pub(super) user: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_env: Option<String>,
    pub(super) dbname: Option<String>,
    pub(super) sslmode: Option<SslMode>,
    pub(super) sslrootcert: Option<PathBuf>,
    pub(super) connect_timeout: Option<RawDuration>,
    #[serde(default)]
    pub(super) node: Vec<RawNode>,
    pub(super) patroni: Option<RawPatroni>,
    #[serde(default)]
    pub(super) endpoint: Vec<RawEndpoint>,
    pub(super) drill: Option<RawDrill>,
}

/// `[cluster.drill]`: the role the failover drill writes its probe with (SPEC §10).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDrill {
    pub(super) user: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_env: Option<String>,
    pub(super) dbname: Option<String>,
}

/// `[[cluster.endpoint]]`: a front-end checked against the nodes (SPEC §9).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    pub(super) name: String,
    pub(super) kind: Option<String>,
    pub(super) host: Option<String>,
    pub(super) port: Option<RawPort>,
    pub(super) expect: Option<String>,
    pub(super) expect_databases: Option<std::collections::BTreeMap<String, String>>,
    pub(super) interval: Option<RawDuration>,
    pub(super) pool_nodes_interval: Option<RawDuration>,
    pub(super) timeout: Option<RawDuration>,
    pub(super) user: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_env: Option<String>,
    pub(super) dbname: Option<String>,
    pub(super) sslmode: Option<SslMode>,
    pub(super) sslrootcert: Option<PathBuf>,
    pub(super) connect_timeout: Option<RawDuration>,
}

/// `[cluster.patroni]`: Patroni's REST API (SPEC §8).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPatroni {
    pub(super) urls: Option<Vec<String>>,
    pub(super) interval: Option<RawDuration>,
    pub(super) timeout: Option<RawDuration>,
    pub(super) discover: Option<bool>,
    pub(super) forget_after: Option<RawDuration>,
    pub(super) username: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_env: Option<String>,
    pub(super) cafile: Option<PathBuf>,
    pub(super) certfile: Option<PathBuf>,
    pub(super) keyfile: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) name: String,
    pub(super) host: Option<String>,
    pub(super) port: Option<RawPort>,
    pub(super) application_name: Option<String>,
    pub(super) expect_streaming: Option<bool>,
    pub(super) dsn: Option<String>,
    pub(super) user: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_env: Option<String>,
    pub(super) dbname: Option<String>,
    pub(super) sslmode: Option<SslMode>,
    pub(super) sslrootcert: Option<PathBuf>,
    pub(super) connect_timeout: Option<RawDuration>,
}

/// Connection settings that a cluster gives as defaults and a node may override.
pub(super) struct RawConn {
    pub(super) user: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_env: Option<String>,
    pub(super) dbname: Option<String>,
    pub(super) sslmode: Option<SslMode>,
    pub(super) sslrootcert: Option<PathBuf>,
    pub(super) connect_timeout: Option<RawDuration>,
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
pub(super) struct RawDuration(pub(super) Duration);

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
pub(super) struct RawPort(pub(super) u16);

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

/// A non-negative integer, written as a number in the file or as a string in an environment
/// variable (`PG_REPLICATION_EXPORTER_SHARD__INDEX=3`, e.g. a StatefulSet ordinal).
#[derive(Clone, Copy)]
pub(super) struct RawCount(pub(super) u64);

impl<'de> Deserialize<'de> for RawCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawCount, E> {
                u64::try_from(v)
                    .map(RawCount)
                    .map_err(|_| E::custom(format!("{v} is negative")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawCount, E> {
                Ok(RawCount(v))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawCount, E> {
                s.trim()
                    .parse::<u64>()
                    .map(RawCount)
                    .map_err(|_| E::custom(format!("{s:?} is not a non-negative integer")))
            }
        }
        d.deserialize_any(V)
    }
}
