//! Front-ends (SPEC §9): a VIP or haproxy (`postgres`), pgpool-II (`pgpool`), pgbouncer's admin
//! console (`pgbouncer`). Each `[[cluster.endpoint]]` is checked by a task of its own, every
//! `interval`, bounded by `timeout`, over one long-lived session (reconnected at once when it
//! breaks: a VIP move breaks it, and that is when the answer matters); each check is published
//! whole as a [`Probe`] on a watch channel that the cluster's poll task reads. So a hung
//! front-end never delays the nodes' polls or the other endpoints. [`judge`] (pure) compares what
//! the front-end said with the direct polls of the same round.

#[cfg(test)]
mod fixtures;
pub mod judge;
pub mod pgbouncer;
pub mod pgpool;
pub mod postgres;
pub mod table;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio_postgres::Client;
use tracing::{debug, info, warn};

use crate::clock::unix_now;
use crate::config::{EndpointConfig, EndpointKind};
use crate::core::model::{ErrorKind, UnixTime};
use crate::pg::connect::{AbortOnDrop, Target, open};
use crate::pg::error::PollError;
use table::Table;

/// What one check of a front-end read.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Postgres(postgres::Answer),
    Pgpool(pgpool::Answer),
    Pgbouncer(pgbouncer::Answer),
}

/// One check's outcome, with the endpoint's error counters so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// Exporter clock when the check ended.
    pub at: UnixTime,
    /// Seconds the check took, connect included when a new session was needed.
    pub duration: f64,
    /// The answer, or the error (one line, no secret).
    pub answer: Result<Answer, String>,
    pub errors_total: BTreeMap<ErrorKind, u64>,
}

/// Checks `cfg` forever and publishes each check into `tx`. Returns when no receiver is left.
pub async fn run(cluster: String, cfg: EndpointConfig, tx: watch::Sender<Option<Arc<Probe>>>) {
    let mut ticker = tokio::time::interval(cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checker = Checker::new(cluster, cfg);
    loop {
        ticker.tick().await;
        let probe = checker.check().await;
        if tx.send(Some(Arc::new(probe))).is_err() {
            return;
        }
    }
}

/// One check of `cfg` on a new session (for `check` and `status`).
pub async fn check_once(cluster: &str, cfg: &EndpointConfig) -> Probe {
    Checker::new(cluster.to_owned(), cfg.clone()).check().await
}

/// What was last logged for an endpoint, so that logs come on change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    Unknown,
    Up,
    Down(ErrorKind),
}

struct Checker {
    cluster: String,
    cfg: EndpointConfig,
    session: Option<(Client, AbortOnDrop)>,
    errors_total: BTreeMap<ErrorKind, u64>,
    health: Health,
    /// pgpool before 4.1 has no `SHOW POOL_HEALTH_CHECK_STATS`, before 4.3 no
    /// `SHOW POOL_BACKEND_STATS`: asked once, then not again.
    no_health_stats: bool,
    no_backend_stats: bool,
    /// The last `SHOW POOL_NODES` and when it was read.
    pool_nodes: Option<(Instant, Vec<pgpool::PoolNode>)>,
}

impl Checker {
    fn new(cluster: String, cfg: EndpointConfig) -> Self {
        Checker {
            cluster,
            cfg,
            session: None,
            errors_total: ErrorKind::ALL.iter().map(|k| (*k, 0)).collect(),
            health: Health::Unknown,
            no_health_stats: false,
            no_backend_stats: false,
            pool_nodes: None,
        }
    }

    /// "endpoint vip-rw (host=10.0.0.100 port=5432)": how messages name it.
    fn describe(&self) -> String {
        format!(
            "endpoint {} (host={} port={})",
            self.cfg.name, self.cfg.host, self.cfg.port
        )
    }

    async fn check(&mut self) -> Probe {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.cfg.timeout, self.try_check()).await {
            Ok(r) => r,
            Err(_) => {
                // Its state is unknown: a frozen front-end holds the socket open.
                self.session = None;
                Err(PollError::new(
                    ErrorKind::Timeout,
                    format!(
                        "check {}: no answer within {}",
                        self.describe(),
                        humantime::format_duration(self.cfg.timeout)
                    ),
                ))
            }
        };
        let duration = started.elapsed().as_secs_f64();
        let answer = match result {
            Ok(a) => {
                if self.health != Health::Up {
                    info!(cluster = %self.cluster, endpoint = %self.cfg.name,
                          kind = self.cfg.kind.as_str(), "endpoint is up");
                    self.health = Health::Up;
                }
                Ok(a)
            }
            Err(e) => {
                if matches!(
                    e.kind,
                    ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Tls | ErrorKind::Auth
                ) {
                    self.session = None;
                }
                *self.errors_total.entry(e.kind).or_default() += 1;
                if self.health != Health::Down(e.kind) {
                    warn!(cluster = %self.cluster, endpoint = %self.cfg.name,
                          kind = e.kind.as_str(), error = %e, "endpoint is down");
                    self.health = Health::Down(e.kind);
                }
                Err(e.message)
            }
        };
        Probe {
            at: unix_now(),
            duration,
            answer,
            errors_total: self.errors_total.clone(),
        }
    }

    async fn try_check(&mut self) -> Result<Answer, PollError> {
        if self.session.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            debug!(cluster = %self.cluster, endpoint = %self.cfg.name, "the session through the endpoint closed; reconnecting");
            self.session = None;
        }
        let reused = self.session.is_some();
        match self.check_once().await {
            // A VIP that moved, a proxy that restarted: check again at once, on a new session,
            // so that the answer is about where the endpoint leads now.
            Err(e) if reused && e.kind == ErrorKind::Connect => {
                debug!(cluster = %self.cluster, endpoint = %self.cfg.name, error = %e,
                       "the session through the endpoint broke; reconnecting");
                self.session = None;
                self.check_once().await
            }
            r => r,
        }
    }

    async fn check_once(&mut self) -> Result<Answer, PollError> {
        if self.session.is_none() {
            let context = format!("connect to {}", self.describe());
            let target = Target {
                host: &self.cfg.host,
                port: self.cfg.port,
                user: &self.cfg.user,
                password: self.cfg.password.as_ref(),
                dbname: &self.cfg.dbname,
                sslmode: self.cfg.sslmode,
                sslrootcert: self.cfg.sslrootcert.as_deref(),
                connect_timeout: self.cfg.connect_timeout,
                options: None,
            };
            self.session = Some(open(&target, &context).await?);
        }
        let context = format!("check {}", self.describe());
        let result = self.ask(&context).await;
        if result.is_err() && self.session.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            self.session = None;
        }
        result
    }

    async fn ask(&mut self, context: &str) -> Result<Answer, PollError> {
        let client = &self.session.as_ref().expect("connected above").0;
        let bad = |e: String| PollError::new(ErrorKind::Query, format!("{context}: {e}"));
        match self.cfg.kind {
            EndpointKind::Postgres => {
                let t = simple(client, postgres::CHECK, context).await?;
                Ok(Answer::Postgres(postgres::parse(&t).map_err(bad)?))
            }
            EndpointKind::Pgpool => {
                // SHOW POOL_NODES makes pgpool log in to every backend: only every
                // pool_nodes_interval, or every check where the cheap commands do not exist.
                let due = self.pool_nodes.as_ref().is_none_or(|(at, _)| {
                    self.no_health_stats || at.elapsed() >= self.cfg.pool_nodes_interval
                });
                if due {
                    let t = simple(client, "SHOW POOL_NODES", context).await?;
                    let nodes = pgpool::parse_pool_nodes(&t).map_err(bad)?;
                    self.pool_nodes = Some((Instant::now(), nodes));
                }
                let health = if self.no_health_stats {
                    None
                } else {
                    match optional(client, "SHOW POOL_HEALTH_CHECK_STATS", context).await? {
                        Some(t) => Some(pgpool::parse_health(&t)),
                        None => {
                            debug!(cluster = %self.cluster, endpoint = %self.cfg.name,
                                   "no SHOW POOL_HEALTH_CHECK_STATS (pgpool-II before 4.1): SHOW POOL_NODES every check");
                            self.no_health_stats = true;
                            None
                        }
                    }
                };
                let stats = if self.no_backend_stats || health.is_none() {
                    None
                } else {
                    match optional(client, "SHOW POOL_BACKEND_STATS", context).await? {
                        Some(t) => Some(pgpool::parse_backend_stats(&t)),
                        None => {
                            self.no_backend_stats = true;
                            None
                        }
                    }
                };
                if health.is_none() && !due {
                    // Learned just now that the cheap commands are missing: ask the full one.
                    let t = simple(client, "SHOW POOL_NODES", context).await?;
                    let nodes = pgpool::parse_pool_nodes(&t).map_err(bad)?;
                    self.pool_nodes = Some((Instant::now(), nodes));
                }
                let last = &self.pool_nodes.as_ref().expect("asked above").1;
                let nodes = pgpool::merge(last, health.as_deref(), stats.as_deref());
                Ok(Answer::Pgpool(pgpool::Answer { nodes, health }))
            }
            EndpointKind::Pgbouncer => {
                let d = simple(client, "SHOW DATABASES", context).await?;
                let p = simple(client, "SHOW POOLS", context).await?;
                Ok(Answer::Pgbouncer(pgbouncer::Answer {
                    databases: pgbouncer::parse_databases(&d).map_err(bad)?,
                    waiting: pgbouncer::parse_pools(&p).map_err(bad)?,
                }))
            }
        }
    }
}

/// A command that older releases lack: `None` when the server answered with an error.
async fn optional(client: &Client, sql: &str, context: &str) -> Result<Option<Table>, PollError> {
    match client.simple_query(sql).await {
        Ok(m) => Ok(Some(Table::from_messages(&m))),
        Err(e) if e.as_db_error().is_some() => Ok(None),
        Err(e) => Err(PollError::from_query(context, &e)),
    }
}

async fn simple(client: &Client, sql: &str, context: &str) -> Result<Table, PollError> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| PollError::from_query(context, &e))?;
    Ok(Table::from_messages(&messages))
}
