//! Polling: one long-lived connection per node, one poll round per `poll.interval` for all the
//! nodes of a cluster at once, each node bounded by `poll.timeout`, reconnecting with a capped
//! exponential backoff. A round's reports go through the pure cluster view into the shared
//! snapshot; nothing here renders metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use futures_util::future::join_all;
use tokio_postgres::{Client, Statement};
use tracing::{debug, info, warn};

use crate::clock::unix_now;
use crate::config::{NodeConfig, PollConfig};
use crate::core::lsn::Lsn;
use crate::core::model::{
    Archiver, ErrorKind, NodeReport, NodeState, RecoverySettings, Settings, Slot, Subscription,
};
use crate::pg::connect::{AbortOnDrop, Target, open};
use crate::pg::error::PollError;
use crate::pg::logins::{self, Logins, Place, Turn};
use crate::pg::sql::{self, Band};

/// A node's report before its first poll, with what the configuration says about it.
pub(crate) fn report_for(cfg: &NodeConfig) -> NodeReport {
    NodeReport {
        expect_streaming: cfg.expect_streaming,
        address: Some((cfg.host.clone(), cfg.port)),
        ..NodeReport::new(&cfg.name, &cfg.application_name)
    }
}

/// Polls every node concurrently, each bounded by `timeout`; returns every node's report.
pub(crate) async fn poll_round(pollers: &mut [NodePoller], timeout: Duration) -> Vec<NodeReport> {
    join_all(pollers.iter_mut().map(|p| p.poll(timeout))).await;
    pollers.iter_mut().map(NodePoller::take_report).collect()
}

/// A live session: the client, its connection task, what the server said once when it opened
/// ([`sql::SESSION`]), the statement prepared for its major (see [`sql::Read`]) and what its
/// last full and slow reads said.
struct Session {
    client: Client,
    constants: Constants,
    /// The walsenders seen in the last read (see [`sql::resolve_walsenders`]).
    names: sql::WalsenderNames,
    /// The poll statement (see [`sql::Read`]).
    statement: Statement,
    last_full: Option<FullRead>,
    last_slow: Option<SlowRead>,
    /// A walsender came or went in the last read: the next round is a slow one, so that the
    /// slots' `active` and the walsenders' slots follow within a round.
    walsenders_changed: bool,
    _task: AbortOnDrop,
}

/// The values of [`sql::SESSION`]: constant while the session lasts.
struct Constants {
    server_version_num: u32,
    server_version: String,
    system_identifier: Option<String>,
    postmaster_start_us: Option<i64>,
}

impl Constants {
    fn fill(&self, state: &mut NodeState) {
        state.server_version_num = self.server_version_num;
        state.server_version.clone_from(&self.server_version);
        state.system_identifier.clone_from(&self.system_identifier);
        state.postmaster_start_us = self.postmaster_start_us;
    }
}

/// What a full read returned that a fast read does not: the idle slots (those whose values do
/// not move between rounds) and their fingerprint, and the settings, with the
/// `pg_conf_load_time()` they were read at.
struct FullRead {
    at: Instant,
    conf_load_us: Option<i64>,
    settings: Arc<Settings>,
    /// The node position the full read's slot scan saw (the WAL write position on a primary,
    /// the replay position on a standby: the position PostgreSQL measures `safe_wal_size`
    /// from), see [`NodeState::slots_lsn`].
    wal_lsn: Option<Lsn>,
    fingerprint: Option<String>,
    idle_slots: Vec<Slot>,
    recovery: Option<Arc<RecoverySettings>>,
}

impl FullRead {
    fn of(state: &NodeState) -> FullRead {
        FullRead {
            at: Instant::now(),
            conf_load_us: state.conf_load_us,
            settings: state.settings.clone(),
            wal_lsn: state.slots_lsn.or(state.wal_lsn),
            fingerprint: state.slots_fingerprint.clone(),
            idle_slots: state.slots.iter().filter(|s| !moving(s)).cloned().collect(),
            recovery: state.recovery.clone(),
        }
    }

    /// Whether a fast read can be completed from this full read: the idle slots' fingerprint
    /// and the configuration's load time are unchanged.
    fn still_holds(&self, fast: &NodeState) -> bool {
        self.fingerprint == fast.slots_fingerprint && self.conf_load_us == fast.conf_load_us
    }

    /// Completes a fast read that [`FullRead::still_holds`]: its moving slots and the idle ones
    /// of the full read, in name order as the SQL returns them, and the settings of the full
    /// read.
    ///
    /// An idle slot's `restart_lsn` is unchanged (the fingerprint matched): its `safe_wal_size`
    /// follows from the position read now ([`derive_safe_wal_size`]).
    fn complete(&self, state: &mut NodeState) {
        let moved = moved(state.wal_lsn, self.wal_lsn);
        state.slots.extend(
            self.idle_slots
                .iter()
                .cloned()
                .map(|slot| derive_safe_wal_size(slot, moved)),
        );
        state.slots.sort_by(|a, b| a.slot_name.cmp(&b.slot_name));
        self.give_settings(state);
    }

    /// The settings of the full read, to every fast read (they change only with a reload, which
    /// runs the full read again).
    fn give_settings(&self, state: &mut NodeState) {
        state.recovery.clone_from(&self.recovery);
        state.settings.clone_from(&self.settings);
    }
}

/// What the last slow round read (the fast read's gate `$2`, or a full read), given to the
/// rounds until the next one: the slots as completed, the archiver, the privilege check and
/// the subscriptions, with the node's role and position then.
///
/// Between two slow rounds (`poll.slow_interval`) an idle slot's values are exact (nothing
/// moves it but an explicit change, which shows in the next slow round, and its retained bytes
/// are taken from the node position of the round). A slot a walsender serves follows that
/// walsender's `flush_lsn`, read every round ([`follow_walsender`]); a logical slot's
/// `restart_lsn`, a held horizon's age and the archiver's counters are those of the last slow
/// round.
struct SlowRead {
    at: Instant,
    in_recovery: bool,
    wal_lsn: Option<Lsn>,
    slots: Vec<Slot>,
    archiver: Option<Archiver>,
    subscriptions: Vec<Subscription>,
    privilege_missing: bool,
}

impl SlowRead {
    fn of(state: &NodeState) -> SlowRead {
        SlowRead {
            at: Instant::now(),
            in_recovery: state.in_recovery,
            wal_lsn: state.slots_lsn.or(state.wal_lsn),
            slots: state.slots.clone(),
            archiver: state.archiver.clone(),
            subscriptions: state.subscriptions.clone(),
            privilege_missing: state.privilege_missing,
        }
    }

    /// Completes a fast read that did not read the slow parts (and the subscriptions unless
    /// `subscriptions_read`) from this slow read.
    fn fill(&self, state: &mut NodeState, subscriptions_read: bool) {
        let moved = moved(state.wal_lsn, self.wal_lsn);
        let walsenders = &state.walsenders;
        state.slots = self
            .slots
            .iter()
            .cloned()
            .map(|slot| follow_walsender(derive_safe_wal_size(slot, moved), walsenders))
            .collect();
        sql::join_slots(state);
        state.archiver.clone_from(&self.archiver);
        state.privilege_missing = self.privilege_missing;
        if !subscriptions_read {
            state.subscriptions.clone_from(&self.subscriptions);
        }
    }
}

/// How far the node position moved since a read (`None` when either is unknown).
fn moved(now: Option<Lsn>, then: Option<Lsn>) -> Option<i64> {
    match (now, then) {
        (Some(now), Some(then)) => Some(now.0 as i64 - then.0 as i64),
        _ => None,
    }
}

/// A slot's `safe_wal_size` after the node position `moved` since it was read: `failLSN −
/// position`, where `failLSN` follows from its `restart_lsn` and the settings (unknown when
/// the movement is).
fn derive_safe_wal_size(mut slot: Slot, moved: Option<i64>) -> Slot {
    slot.safe_wal_size = match moved {
        Some(moved) => slot.safe_wal_size.map(|s| s - moved),
        None => None,
    };
    slot
}

/// A slot as the walsender that serves it (`active_pid`) says it is now. PostgreSQL sets a
/// physical slot's `restart_lsn`, and a logical slot's `confirmed_flush_lsn`, to the flush
/// position of each standby reply, the walsender's `flush_lsn` of the same reply
/// (`ProcessStandbyReplyMessage`), so the walsender read this round gives the slot's value of
/// this round; a physical slot's `safe_wal_size` moves with its `restart_lsn` (to within the
/// WAL segment PostgreSQL counts it in).
fn follow_walsender(mut slot: Slot, walsenders: &[crate::core::model::Walsender]) -> Slot {
    let Some(flush) = slot.active_pid.and_then(|pid| {
        walsenders
            .iter()
            .find(|w| w.pid == Some(pid))
            .and_then(|w| w.flush_lsn)
    }) else {
        return slot;
    };
    if slot.slot_type == "logical" {
        if slot.confirmed_flush_lsn.is_some_and(|c| flush > c) {
            slot.confirmed_flush_lsn = Some(flush);
        }
    } else if let Some(restart) = slot.restart_lsn.filter(|r| flush > *r) {
        slot.safe_wal_size = slot.safe_wal_size.map(|s| s + (flush.0 - restart.0) as i64);
        slot.restart_lsn = Some(flush);
    }
    slot
}

/// The SQL's `moving`: an active slot's positions move, a held horizon ages every transaction.
fn moving(slot: &Slot) -> bool {
    slot.active || slot.xmin_age.is_some() || slot.catalog_xmin_age.is_some()
}

/// What was last logged for a node, so that logs come on change, not every poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    Unknown,
    Up,
    Down(ErrorKind),
}

/// One node: its connection, its backoff and its report.
pub(crate) struct NodePoller {
    cluster: String,
    cfg: NodeConfig,
    session: Option<Session>,
    /// Consecutive failed attempts, and when the next attempt may start.
    failures: u32,
    next_attempt: Option<Instant>,
    interval: Duration,
    slow_interval: Duration,
    timeout: Duration,
    backoff_max: Duration,
    health: Health,
    privilege_logged: bool,
    /// This node's place in the process-wide login queue while it waits for a turn to log in.
    login: Option<Place>,
    /// How long a poll waits for a login turn (`Duration::MAX`: until it comes; see
    /// [`NodePoller::in_rounds`]).
    login_patience: Duration,
    /// Debug builds only: panic in every poll of this node (see [`PANIC_FAILPOINT_ENV`]).
    #[cfg(debug_assertions)]
    panic_failpoint: bool,
    pub report: NodeReport,
}

/// Debug builds only: a node name in this variable makes every poll of that node panic after
/// its query, so that the end-to-end tests can prove a panicking poll is contained. Not read by
/// release builds. (Not under `PG_REPLICATION_EXPORTER_`: that prefix is configuration.)
#[cfg(debug_assertions)]
pub const PANIC_FAILPOINT_ENV: &str = "PG_REPLICATION_FAILPOINT_POLL_PANIC";

impl NodePoller {
    pub(crate) fn new(cluster: &str, cfg: NodeConfig, poll: &PollConfig) -> Self {
        #[cfg(debug_assertions)]
        let panic_failpoint = std::env::var(PANIC_FAILPOINT_ENV).is_ok_and(|v| v == cfg.name);
        NodePoller {
            cluster: cluster.to_string(),
            report: report_for(&cfg),
            cfg,
            session: None,
            failures: 0,
            next_attempt: None,
            interval: poll.interval,
            slow_interval: poll.slow_interval,
            timeout: poll.timeout,
            backoff_max: poll.backoff_max,
            health: Health::Unknown,
            privilege_logged: false,
            login: None,
            login_patience: Duration::MAX,
            #[cfg(debug_assertions)]
            panic_failpoint,
        }
    }

    /// For polls in rounds of `poll.interval`: a poll waits for a login turn at most what its
    /// round leaves besides `poll.timeout`, so that no round waits longer than its interval for
    /// the queue. One-shot polls (`check`, `status`, `drill`) wait until their turn comes.
    pub(crate) fn in_rounds(mut self) -> Self {
        self.login_patience = self.interval.saturating_sub(self.timeout);
        self
    }

    /// The report of the poll just made. Its state moves out (every poll sets it afresh or
    /// clears it, so the poller has no use for it), the rest (counters, last error) is copied.
    fn take_report(&mut self) -> NodeReport {
        let state = self.report.state.take();
        NodeReport {
            state,
            ..self.report.clone()
        }
    }

    /// The node this poller polls.
    pub(crate) fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    fn endpoint(&self) -> String {
        format!(
            "{} (host={} port={})",
            self.cfg.name, self.cfg.host, self.cfg.port
        )
    }

    /// One poll, bounded by `timeout`. While backing off after failures it does nothing (the
    /// node stays down); a timed-out session is dropped because its state is unknown.
    ///
    /// Without a session it first waits for a login turn ([`logins`]), outside `timeout` (in
    /// rounds at most what is left of the round, see [`NodePoller::in_rounds`]); when the turn
    /// has not come the node is not up yet, keeps its place in the queue and asks again next
    /// round (no error).
    pub(crate) async fn poll(&mut self, timeout: Duration) {
        if self.next_attempt.is_some_and(|t| Instant::now() < t) {
            return;
        }
        // A session the server closed while it sat idle (a restart between two polls,
        // pg_terminate_backend, idle_session_timeout, a pooler or firewall dropping idle
        // connections) says nothing about the node now: replace it within this poll rather than
        // report the node down for a round.
        if self.session.as_ref().is_some_and(|s| s.client.is_closed()) {
            debug!(cluster = %self.cluster, node = %self.cfg.name, "the server closed the idle session; reconnecting");
            self.session = None;
        }
        let turn = if self.session.is_none() {
            let place = self.login.get_or_insert_with(|| Logins::global().place());
            match place.turn(self.login_patience).await {
                Some(turn) => {
                    self.login = None;
                    Some(turn)
                }
                None => return self.waiting_for_login(),
            }
        } else {
            None
        };
        let started = Instant::now();
        // A panic inside the poll (a bug: an unexpected value from a server, say) must not take
        // the cluster's task down and freeze its data: it is this node's failed poll, kind
        // `query`, and its session (in an unknown state) is dropped.
        let attempt = AssertUnwindSafe(self.try_poll(turn)).catch_unwind();
        let result = match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => {
                self.session = None;
                Err(PollError::new(
                    ErrorKind::Query,
                    format!(
                        "poll {}: internal error (a bug in the exporter; please report it): {}",
                        self.endpoint(),
                        panic_message(panic.as_ref())
                    ),
                ))
            }
            Err(_) => {
                self.session = None;
                Err(PollError::new(
                    ErrorKind::Timeout,
                    format!(
                        "poll {}: no answer within {}",
                        self.endpoint(),
                        humantime::format_duration(timeout)
                    ),
                ))
            }
        };
        self.report.poll_duration = Some(started.elapsed().as_secs_f64());
        match result {
            Ok(state) => self.succeeded(state),
            Err(e) => self.failed(e, started),
        }
    }

    /// No session and no login turn this round: not up (nothing was read), not a failure. A
    /// node that failed keeps its last error, the news until it logs in again.
    fn waiting_for_login(&mut self) {
        self.report.up = false;
        self.report.state = None;
        if !matches!(self.health, Health::Down(_)) || self.report.last_error.is_none() {
            self.report.last_error = Some(logins::WAITING.to_owned());
        }
    }

    fn succeeded(&mut self, state: NodeState) {
        self.failures = 0;
        self.next_attempt = None;
        if state.privilege_missing {
            *self
                .report
                .errors_total
                .entry(ErrorKind::Privilege)
                .or_default() += 1;
            if !self.privilege_logged {
                warn!(
                    cluster = %self.cluster, node = %self.cfg.name, user = %self.cfg.user,
                    "the role cannot see replication columns (lag, positions, states are hidden and reported as absent); fix: GRANT pg_monitor TO {}",
                    quote_ident(&self.cfg.user)
                );
                self.privilege_logged = true;
            }
        } else {
            self.privilege_logged = false;
        }
        if self.health != Health::Up {
            info!(cluster = %self.cluster, node = %self.cfg.name, version = %state.server_version,
                  primary = !state.in_recovery, "node is up");
            self.health = Health::Up;
        }
        self.report.up = true;
        self.report.last_success = Some(unix_now());
        self.report.last_error = None;
        self.report.state = Some(state);
    }

    fn failed(&mut self, e: PollError, started: Instant) {
        if matches!(
            e.kind,
            ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Tls | ErrorKind::Auth
        ) {
            self.session = None;
        }
        *self.report.errors_total.entry(e.kind).or_default() += 1;
        if self.health != Health::Down(e.kind) {
            warn!(cluster = %self.cluster, node = %self.cfg.name, kind = e.kind.as_str(), error = %e, "node is down");
            self.health = Health::Down(e.kind);
        } else {
            debug!(cluster = %self.cluster, node = %self.cfg.name, kind = e.kind.as_str(), error = %e, "poll failed again");
        }
        self.failures = self.failures.saturating_add(1);
        // Jittered, so that nodes that failed together (a server restart, an overload) do not
        // all log in again in the same instant and fail together again.
        let delay = jitter(
            backoff(self.interval, self.backoff_max, self.failures),
            &self.cfg.name,
        );
        // Rounds start every interval: leave half an interval of slack so that a one-interval
        // backoff means "try again next round".
        self.next_attempt = Some(started + delay.saturating_sub(self.interval / 2));
        self.report.up = false;
        self.report.state = None;
        self.report.last_error = Some(e.message);
    }

    /// The poll proper: a new session first when `turn` (a login turn) is given, else the
    /// session in place.
    async fn try_poll(&mut self, turn: Option<Turn>) -> Result<NodeState, PollError> {
        let reused = turn.is_none();
        if let Some(turn) = turn {
            self.log_in(turn).await?;
        }
        match self.query_once().await {
            // The close raced with the query: one more try on a fresh connection, when a login
            // turn is free at once (never ahead of a node waiting for one).
            Err(e) if reused && e.kind == ErrorKind::Connect => {
                debug!(cluster = %self.cluster, node = %self.cfg.name, error = %e, "the session broke; reconnecting");
                self.session = None;
                let turn = Logins::global().turn_now().ok_or(e)?;
                self.log_in(turn).await?;
                self.query_once().await
            }
            result => result,
        }
    }

    /// A new session, in flight on the login budget until it is set up (or failed).
    async fn log_in(&mut self, turn: Turn) -> Result<(), PollError> {
        let session = self.connect().await;
        drop(turn);
        self.session = Some(session?);
        Ok(())
    }

    /// One poll: the fast read while the last full read still holds (see
    /// [`FullRead::still_holds`]; at most [`sql::FULL_READ_INTERVAL`] old), else (or when it
    /// no longer holds) the full read. Needs a session ([`NodePoller::try_poll`] logs in first, on a login turn).
    ///
    /// A fast read reads the slowly-changing parts (see [`sql::Read`]) in one round of every
    /// `poll.slow_interval`, and in the round after a walsender came or went; the rounds in
    /// between take them from that read ([`SlowRead`]). A change of role (a promotion) or of
    /// the configuration runs the full read at once.
    async fn query_once(&mut self) -> Result<NodeState, PollError> {
        let Some(session) = self.session.as_ref() else {
            return Err(PollError::new(
                ErrorKind::Connect,
                format!(
                    "poll {}: no session (a bug in the exporter)",
                    self.endpoint()
                ),
            ));
        };
        let recent = session
            .last_full
            .as_ref()
            .is_some_and(|f| f.at.elapsed() < sql::FULL_READ_INTERVAL);
        if recent && let Some(last) = session.last_slow.as_ref() {
            // Rounds start one interval apart: half an interval of slack makes a slow
            // interval of N rounds every Nth round.
            let slow = session.walsenders_changed
                || last.at.elapsed() + self.interval / 2 >= self.slow_interval;
            let subscriptions = slow || !last.subscriptions.is_empty();
            let mut state = self
                .read(sql::Read {
                    slow,
                    subscriptions,
                    full: false,
                })
                .await?;
            let session = self.session.as_mut().expect("read keeps the session");
            let (Some(full), Some(last)) = (session.last_full.as_ref(), session.last_slow.as_ref())
            else {
                unreachable!("checked above")
            };
            // A promotion or a demotion changes what the positions and the slots mean: read
            // everything again.
            if full.conf_load_us == state.conf_load_us && last.in_recovery == state.in_recovery {
                if slow && full.still_holds(&state) {
                    full.complete(&mut state);
                    session.last_slow = Some(SlowRead::of(&state));
                    return Ok(state);
                }
                if !slow {
                    last.fill(&mut state, subscriptions);
                    full.give_settings(&mut state);
                    return Ok(state);
                }
            }
            debug!(cluster = %self.cluster, node = %self.cfg.name, "the idle slots, the role or the configuration changed; reading every slot and setting");
        }
        let state = self.read(sql::Read::FULL).await?;
        if let Some(session) = self.session.as_mut() {
            session.last_full = Some(FullRead::of(&state));
            session.last_slow = Some(SlowRead::of(&state));
        }
        Ok(state)
    }

    async fn read(&mut self, read: sql::Read) -> Result<NodeState, PollError> {
        let session = self.session.as_ref().expect("read needs a session");
        // Only an error names the node: formatted then, not on every poll.
        let context = || format!("poll {}", self.endpoint());
        // The full read looks every walsender up again (a logical walsender's session may
        // have changed its application_name).
        let known = if read.full {
            Vec::new()
        } else {
            sql::known_pids(&session.names)
        };
        let answer = session
            .client
            .query_one(
                &session.statement,
                &[&known, &read.slow, &read.subscriptions, &read.full],
            )
            .await;
        let row = match answer {
            Ok(row) => row,
            Err(e) => {
                let err = PollError::from_query(&context(), &e);
                if session.client.is_closed() {
                    self.session = None;
                }
                return Err(err);
            }
        };
        #[cfg(debug_assertions)]
        if self.panic_failpoint {
            panic!(
                "failpoint {PANIC_FAILPOINT_ENV} set for node {}",
                self.cfg.name
            );
        }
        let mut state = decode_row(&row)
            .map_err(|e| PollError::new(ErrorKind::Query, format!("{}: {e}", context())))?;
        session.constants.fill(&mut state);
        if let Some(session) = self.session.as_mut() {
            session.walsenders_changed = state.walsenders.len() != session.names.len()
                || state
                    .walsenders
                    .iter()
                    .any(|w| w.pid.is_none_or(|pid| !session.names.contains_key(&pid)));
            sql::resolve_walsenders(&mut state, &mut session.names);
        }
        Ok(state)
    }

    async fn connect(&self) -> Result<Session, PollError> {
        let context = format!("connect to {}", self.endpoint());
        let target = Target {
            host: &self.cfg.host,
            port: self.cfg.port,
            user: &self.cfg.user,
            password: self.cfg.password.as_ref(),
            dbname: &self.cfg.dbname,
            sslmode: self.cfg.sslmode,
            sslrootcert: self.cfg.sslrootcert.as_deref(),
            connect_timeout: self.cfg.connect_timeout,
            // Read-only and bounded, set in the startup packet: no extra round trip.
            // Startup options win over role and database settings. Besides read-only and the
            // timeouts: search_path = pg_catalog, so that no function of a writable schema can
            // stand in for a catalog function the poll calls; and read committed, because a
            // cluster-wide default of serializable makes every query on a hot standby fail.
            // And generic plans: the fast read's gates are parameters, and a custom plan (the
            // first five executions, then whenever its estimate wins) would be planned again in
            // every poll.
            options: Some(format!(
                "-c default_transaction_read_only=on -c statement_timeout={ms} -c lock_timeout={ms} \
                 -c search_path=pg_catalog -c default_transaction_isolation=read\\ committed \
                 -c plan_cache_mode=force_generic_plan",
                ms = self.timeout.as_millis().max(1),
            )),
        };
        let (client, task) = open(&target, &context).await?;
        let row = client
            .query_one(sql::SESSION, &[])
            .await
            .map_err(|e| PollError::from_query(&context, &e))?;
        let bad =
            |e: tokio_postgres::Error| PollError::new(ErrorKind::Query, format!("{context}: {e}"));
        let version_num = row.try_get::<_, i32>(0).map_err(bad)? as u32;
        let encoding: String = row.try_get(1).map_err(bad)?;
        let constants = Constants {
            server_version_num: version_num,
            server_version: row.try_get(2).map_err(bad)?,
            system_identifier: row.try_get(3).map_err(bad)?,
            postmaster_start_us: row.try_get(4).map_err(bad)?,
        };
        let choice = choose_band(&context, version_num)?;
        if choice.newer_than_known {
            warn!(cluster = %self.cluster, node = %self.cfg.name, version_num,
                  "PostgreSQL major {} is newer than the newest tested ({}); using the newest known query",
                  version_num / 10000, sql::NEWEST_KNOWN / 10000);
        }
        let band = choice.band;
        let statement = client
            .prepare(&band.prepared(&encoding))
            .await
            .map_err(|e| PollError::from_query(&context, &e))?;
        debug!(cluster = %self.cluster, node = %self.cfg.name, version_num, band = ?band, "connected");
        Ok(Session {
            client,
            constants,
            names: sql::WalsenderNames::new(),
            statement,
            last_full: None,
            last_slow: None,
            walsenders_changed: false,
            _task: task,
        })
    }
}

/// A poll's row: the node's columns, the document of the rounds that have one, the walsenders.
fn decode_row(row: &tokio_postgres::Row) -> Result<NodeState, sql::DecodeError> {
    let columns = sql::columns_of(row)?;
    let walsenders = columns.walsenders.into_walsenders()?;
    // Server strings (database names) may carry bytes that are not UTF-8 in a SQL_ASCII
    // database: replace them rather than failing the whole poll.
    let document = columns.document.map(String::from_utf8_lossy);
    sql::decode(columns.node, document.as_deref(), walsenders)
}

/// The query band a freshly connected server gets, and whether its major is newer than any the
/// exporter was tested against (it then still gets the newest band, with a warning).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BandChoice {
    pub band: Band,
    pub newer_than_known: bool,
}

/// Picks the band for `server_version_num`; a server older than [`sql::MIN_SUPPORTED`] is a
/// poll error of kind `query` (the connection works, the exporter cannot read that server), its
/// message prefixed with `context` ("connect to node_b (host=… port=…)").
pub(crate) fn choose_band(context: &str, version_num: u32) -> Result<BandChoice, PollError> {
    let band = Band::for_version(version_num)
        .map_err(|e| PollError::new(ErrorKind::Query, format!("{context}: {e}")))?;
    Ok(BandChoice {
        band,
        newer_than_known: version_num / 10000 > sql::NEWEST_KNOWN / 10000,
    })
}

/// Capped exponential backoff: interval, 2×, 4×, … up to `max`.
pub(crate) fn backoff(interval: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    interval.saturating_mul(factor).min(max.max(interval))
}

/// `delay` shortened by a random 0–25 % past the first interval of backoff (a first retry
/// stays "next round").
pub(crate) fn jitter(delay: Duration, seed: &str) -> Duration {
    use std::hash::BuildHasher as _;
    let random = std::collections::hash_map::RandomState::new().hash_one((seed, Instant::now()));
    let fraction = (random % 1000) as f64 / 4000.0;
    delay.saturating_sub(delay.mul_f64(fraction))
}

/// What a panic said, for the log and the node's last error.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// A role name as an SQL identifier, for the GRANT hint.
fn quote_ident(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::Walsender;

    #[test]
    fn between_slow_rounds_idle_slots_keep_their_values_and_served_ones_follow_their_walsender() {
        let slot = |name: &str, kind: &str, pid: Option<i32>, restart: u64, safe: i64| Slot {
            slot_name: name.into(),
            slot_type: kind.into(),
            active: pid.is_some(),
            active_pid: pid,
            restart_lsn: Some(Lsn(restart)),
            confirmed_flush_lsn: (kind == "logical").then_some(Lsn(restart + 10)),
            safe_wal_size: Some(safe),
            ..Slot::default()
        };
        let slow = SlowRead {
            at: Instant::now(),
            in_recovery: false,
            wal_lsn: Some(Lsn(1000)),
            slots: vec![
                slot("idle", "physical", None, 100, 5000),
                slot("standby", "physical", Some(7), 900, 5800),
                slot("sub", "logical", Some(8), 500, 5400),
            ],
            archiver: Some(Archiver::default()),
            subscriptions: vec![Subscription::default()],
            privilege_missing: true,
        };
        let walsender = |pid, flush| Walsender {
            pid: Some(pid),
            flush_lsn: Some(Lsn(flush)),
            ..Walsender::default()
        };
        // 300 bytes of WAL later; the standby flushed up to 1250, the subscriber to 1200.
        let mut state = NodeState {
            wal_lsn: Some(Lsn(1300)),
            walsenders: vec![walsender(7, 1250), walsender(8, 1200)],
            ..NodeState::default()
        };
        slow.fill(&mut state, false);
        let [idle, standby, sub] = &state.slots[..] else {
            panic!("{:?}", state.slots)
        };
        assert_eq!(
            (idle.restart_lsn, idle.safe_wal_size),
            (Some(Lsn(100)), Some(4700))
        );
        assert_eq!(
            (standby.restart_lsn, standby.safe_wal_size),
            (Some(Lsn(1250)), Some(5800 - 300 + 350))
        );
        // A logical slot: confirmed_flush follows, restart_lsn waits for the next slow round.
        assert_eq!(
            (sub.restart_lsn, sub.confirmed_flush_lsn),
            (Some(Lsn(500)), Some(Lsn(1200)))
        );
        assert_eq!(
            state.walsenders[0].slot_name.as_deref(),
            Some("standby"),
            "joined again"
        );
        assert!(state.archiver.is_some() && state.privilege_missing);
        assert_eq!(state.subscriptions.len(), 1);
        // Subscriptions read this round are the round's own.
        let mut read = NodeState::default();
        slow.fill(&mut read, true);
        assert!(read.subscriptions.is_empty());
        // A walsender behind the slot (an old reply) never moves it back.
        let mut behind = NodeState {
            wal_lsn: Some(Lsn(1000)),
            walsenders: vec![walsender(7, 800)],
            ..NodeState::default()
        };
        slow.fill(&mut behind, false);
        assert_eq!(behind.slots[1].restart_lsn, Some(Lsn(900)));
    }

    #[test]
    fn slots_are_measured_from_the_position_of_their_scan() {
        // The scan saw the node at 1000 (safe_wal_size 5000 from there); the row's own
        // position, read after the walsenders, is already 1648 (WAL written in between).
        let slot = |name: &str, horizon: Option<i64>| Slot {
            slot_name: name.into(),
            slot_type: "logical".into(),
            restart_lsn: Some(Lsn(100)),
            safe_wal_size: Some(5000),
            catalog_xmin_age: horizon,
            ..Slot::default()
        };
        let read = NodeState {
            wal_lsn: Some(Lsn(1648)),
            slots_lsn: Some(Lsn(1000)),
            slots: vec![slot("held", Some(3)), slot("idle", None)],
            ..NodeState::default()
        };
        let later = || NodeState {
            wal_lsn: Some(Lsn(1648)),
            ..NodeState::default()
        };
        let mut fast = later();
        SlowRead::of(&read).fill(&mut fast, false);
        assert_eq!(
            fast.slots
                .iter()
                .map(|s| s.safe_wal_size)
                .collect::<Vec<_>>(),
            [Some(5000 - 648), Some(5000 - 648)]
        );
        let mut fast = later();
        FullRead::of(&read).complete(&mut fast);
        assert_eq!(fast.slots[0].slot_name, "idle");
        assert_eq!(fast.slots[0].safe_wal_size, Some(5000 - 648));
        // A round that scanned no slots has no scan position: the row's is the basis.
        let unscanned = NodeState {
            slots_lsn: None,
            ..read.clone()
        };
        let mut fast = later();
        SlowRead::of(&unscanned).fill(&mut fast, false);
        assert_eq!(fast.slots[0].safe_wal_size, Some(5000));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs;
        let got: Vec<_> = (1..=7).map(|n| backoff(s(1), s(30), n)).collect();
        assert_eq!(got, [s(1), s(2), s(4), s(8), s(16), s(30), s(30)]);
        assert_eq!(backoff(s(1), s(30), u32::MAX), s(30));
        // A cap below the interval never makes the exporter poll faster than its interval.
        assert_eq!(backoff(s(5), s(1), 3), s(5));
    }

    #[test]
    fn jitter_shortens_by_at_most_a_quarter_and_varies() {
        let d = Duration::from_secs(8);
        let got: Vec<Duration> = (0..200).map(|_| jitter(d, "node_a")).collect();
        assert!(got.iter().all(|j| *j <= d && *j >= d * 3 / 4), "{got:?}");
        let distinct: std::collections::BTreeSet<_> = got.iter().collect();
        assert!(distinct.len() > 10, "{distinct:?}");
    }

    #[test]
    fn a_newer_major_gets_the_newest_band_with_a_warning() {
        let ctx = "connect to node_a (host=127.0.0.1 port=5432)";
        let cases = [
            (130023, Band::Pg13, false),
            (140014, Band::Pg14, false),
            (150014, Band::Pg15, false),
            (160014, Band::Pg16, false),
            (170010, Band::Pg17, false),
            // The newest tested major itself, any minor: no warning.
            (sql::NEWEST_KNOWN + 99, Band::Pg17, false),
            (sql::NEWEST_KNOWN + 10000, Band::Pg17, true),
            (250001, Band::Pg17, true),
        ];
        for (v, band, newer_than_known) in cases {
            assert_eq!(
                choose_band(ctx, v).unwrap(),
                BandChoice {
                    band,
                    newer_than_known
                },
                "{v}"
            );
        }
    }

    #[test]
    fn an_older_major_is_a_clear_query_error() {
        let ctx = "connect to node_a (host=127.0.0.1 port=5432)";
        for (v, major) in [(120022, "12"), (sql::MIN_SUPPORTED - 1, "12"), (90624, "9")] {
            let err = choose_band(ctx, v).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Query, "{v}");
            assert_eq!(
                err.message,
                format!(
                    "{ctx}: unsupported PostgreSQL version {major} (server_version_num {v}): \
                     pg_replication_exporter supports 13 and newer"
                )
            );
        }
    }

    #[test]
    fn grant_hint_quotes_odd_role_names() {
        assert_eq!(quote_ident("exporter"), "exporter");
        assert_eq!(quote_ident("Exporter"), "\"Exporter\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1x"), "\"1x\"");
    }
}
