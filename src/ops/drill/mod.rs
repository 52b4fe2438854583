//! `drill`: a failover drill that measures what clients felt (SPEC §10). The report is built by
//! pure functions over what the drill recorded — the write probe's log ([`Attempt`]s), the read
//! probes' logs ([`read::Read`]s), the events seen by the 100 ms polls, and the probe table read
//! back on the new primary — so the RTO, the lost writes, the bytes lost and what each read
//! endpoint's clients felt are tested without a server; the rest of this file is the I/O that
//! records them: preconditions from one [`poll_cluster`], the drill lock on every node
//! ([`lock`]), the probe schema on the primary, the probe tasks, the polls, the switch, the
//! wait for the cluster to settle ([`may_still_come`]) and the clean-up.

mod lock;
mod read;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::watch;

use crate::clock::unix_now;
use crate::config::{
    ClusterConfig, Config, DrillConfig, EndpointConfig, EndpointKind, Expect, NodeConfig,
    PatroniConfig, PollConfig,
};
use crate::core::cluster::{ClusterHistory, observe};
use crate::core::lsn::Lsn;
use crate::core::model::{NodeReport, PatroniView, UnixTime};
use crate::pg::connect::{self, AbortOnDrop, Target};
use crate::pg::poller::{NodePoller, poll_round};
use crate::sources::endpoints;
use crate::sources::patroni::client::{ApiBase, PatroniClient};
use crate::sources::patroni::source;

use super::poll_cluster;

/// The probe's schema; created at the start, dropped at the end. SPEC §10 names it
/// `pg_replication_drill`, but PostgreSQL reserves the `pg_` prefix for system schemas
/// (`CREATE SCHEMA pg_…` fails with 42939 "unacceptable schema name" for any role without
/// `allow_system_table_mods`), so the drill's role could never create it.
pub const PROBE_SCHEMA: &str = "replication_drill";
const WRITE_EVERY: Duration = Duration::from_millis(50);
const POLL_EVERY: Duration = Duration::from_millis(100);
/// One probe write (connect included) or one poll round may take this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);
/// After the switch, something that does not answer (the old primary, a front-end) is waited
/// for only while it answered within this long (counted from the switch at the earliest), or
/// while Patroni still lists it as a member (the old primary).
pub const GRACE: Duration = Duration::from_secs(10);
/// Between two `GET /cluster` while the drill runs (is the old primary still a member?).
const MEMBERS_EVERY: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------------
// Pure: the report from what was recorded.

/// One write attempt of the probe.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attempt {
    /// The sequence number sent; `None` when no session could be opened.
    pub seq: Option<i64>,
    /// The node it was sent to (the primary as last polled), or the write endpoint's name.
    pub via: String,
    pub sent_at: UnixTime,
    /// When the commit was acknowledged; `None` when it failed.
    pub acked_at: Option<UnixTime>,
    pub error: Option<String>,
}

impl Attempt {
    fn ok(&self) -> bool {
        self.acked_at.is_some()
    }
}

/// The client-visible outage: from the first failed write to the first successful one after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Outage {
    /// The last write acknowledged before the first failure (seq, acked_at).
    pub last_ack_before: Option<(i64, UnixTime)>,
    /// When the first failed attempt was sent.
    pub first_failed_at: UnixTime,
    /// The first write acknowledged after it (seq, acked_at); `None`: writes never came back.
    pub first_ack_after: Option<(i64, UnixTime)>,
}

impl Outage {
    /// RTO in seconds: first failed attempt sent → first acknowledgement after it.
    pub fn seconds(&self) -> Option<f64> {
        self.first_ack_after
            .map(|(_, at)| (at - self.first_failed_at).max(0.0))
    }
}

/// The outage in a probe log (in send order), or `None` when no write failed.
pub fn outage(log: &[Attempt]) -> Option<Outage> {
    let first = log.iter().position(|a| !a.ok())?;
    let ack = |a: &Attempt| Some((a.seq?, a.acked_at?));
    Some(Outage {
        last_ack_before: log[..first].iter().rev().find_map(ack),
        first_failed_at: log[first].sent_at,
        first_ack_after: log[first..].iter().find_map(ack),
    })
}

/// The acknowledged sequence numbers that `found` (the probe table on the new primary) lacks.
pub fn lost_writes(acked: &[i64], found: &[i64]) -> Vec<i64> {
    let found: std::collections::BTreeSet<i64> = found.iter().copied().collect();
    let mut lost: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|s| !found.contains(s))
        .collect();
    lost.sort_unstable();
    lost.dedup();
    lost
}

/// SPEC §8's rule: the last position seen written on the old primary − the switch LSN of the
/// new timeline (0 when the new timeline starts after it); unknown without either.
pub fn bytes_lost(last_old_primary_lsn: Option<Lsn>, switch_lsn: Option<u64>) -> Option<u64> {
    Some(last_old_primary_lsn?.0.saturating_sub(switch_lsn?))
}

/// Latencies of a set of writes (commit acknowledged) or reads (answered), in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub max_ms: f64,
}

/// Latency of the `(sent, answered)` pairs sent in `[from, to)`.
pub fn latency_ms(
    pairs: impl Iterator<Item = (UnixTime, UnixTime)>,
    from: UnixTime,
    to: UnixTime,
) -> Option<Latency> {
    let mut ms: Vec<f64> = pairs
        .filter(|(sent, _)| *sent >= from && *sent < to)
        .map(|(sent, done)| (done - sent) * 1000.0)
        .collect();
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    Some(Latency {
        count: ms.len(),
        p50_ms: round3(ms[ms.len() / 2]),
        max_ms: round3(ms[ms.len() - 1]),
    })
}

/// Latency of the acknowledged writes sent in `[from, to)`.
pub fn latency(log: &[Attempt], from: UnixTime, to: UnixTime) -> Option<Latency> {
    latency_ms(
        log.iter().filter_map(|a| Some((a.sent_at, a.acked_at?))),
        from,
        to,
    )
}

/// The first write the new primary acknowledged: the lowest sequence number acknowledged among
/// the writes sent once it was seen out of recovery (only it could take them).
pub fn first_new_seq(log: &[Attempt], promoted_at: Option<UnixTime>) -> Option<i64> {
    let p = promoted_at?;
    log.iter()
        .filter(|a| a.ok() && a.sent_at >= p)
        .filter_map(|a| a.seq)
        .min()
}

/// Is something that has not arrived yet (the old primary streaming again, a front-end leading
/// to the new topology) still worth waiting for at `now`? While Patroni lists it as a member,
/// or while it answered within [`GRACE`] (counted from the switch at the earliest). Pure.
pub fn may_still_come(
    now: UnixTime,
    switch_at: UnixTime,
    last_answer: Option<UnixTime>,
    member: bool,
) -> bool {
    let since = last_answer.map_or(switch_at, |t| t.max(switch_at));
    member || now - since < GRACE.as_secs_f64()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What the drill is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DrillMode {
    Switchover,
    Failover,
    Command,
}

impl DrillMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DrillMode::Switchover => "switchover",
            DrillMode::Failover => "failover",
            DrillMode::Command => "command",
        }
    }
}

/// Why the drill refuses to start (empty: go). `check`'s health rules, judged on one poll:
/// one SQL primary, every node reachable, Patroni agreeing on the leader, not paused, and the
/// target (or, without one, some member) a failover candidate within
/// `maximum_lag_on_failover`. Pure.
pub fn preconditions(
    mode: DrillMode,
    target: Option<&str>,
    reports: &[NodeReport],
    patroni: Option<&PatroniView>,
) -> Vec<String> {
    let mut why = Vec::new();
    let primaries: Vec<&str> = reports
        .iter()
        .filter(|r| r.state.as_ref().is_some_and(|s| !s.in_recovery))
        .map(|r| r.name.as_str())
        .collect();
    match primaries.len() {
        1 => {}
        0 => why.push("no primary: no node is out of recovery".to_owned()),
        _ => why.push(format!(
            "{} primaries: {}",
            primaries.len(),
            primaries.join(", ")
        )),
    }
    for r in reports.iter().filter(|r| r.state.is_none()) {
        why.push(format!(
            "{} unreachable: {}",
            r.name,
            r.last_error.as_deref().unwrap_or("not polled")
        ));
    }
    if mode != DrillMode::Command && patroni.is_none() {
        why.push(format!("mode {} needs [cluster.patroni]", mode.as_str()));
    }
    let Some(view) = patroni else {
        if let Some(t) = target
            && !reports.iter().any(|r| r.name == t)
        {
            why.push(format!("target {t} is not a node of the cluster"));
        }
        return why;
    };
    if !view.reachable {
        why.push("Patroni REST API unreachable".to_owned());
        return why;
    }
    if view.leader_mismatch == Some(true) {
        why.push("Patroni's leader is not the SQL primary".to_owned());
    }
    if view.paused == Some(true) {
        why.push("maintenance mode on (paused): patronictl resume first".to_owned());
    }
    let listed: Vec<_> = view.members.iter().filter(|m| m.member).collect();
    let maximum = view
        .config
        .as_ref()
        .map(|c| c.maximum_lag_on_failover_bytes);
    let too_far = |lag: Option<u64>| matches!((lag, maximum), (Some(l), Some(m)) if l > m);
    match target {
        Some(t) => match listed.iter().find(|m| m.node == t) {
            None => why.push(format!(
                "target {t} is not a Patroni member (members: {})",
                listed
                    .iter()
                    .map(|m| m.node.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(m) if m.role.as_deref() == Some("leader") => {
                why.push(format!("target {t} is the leader already"));
            }
            Some(m) => {
                if m.failover_candidate != Some(true) {
                    why.push(format!(
                        "target {t} is not a failover candidate: {}",
                        m.not_candidate_because.as_deref().unwrap_or("unknown")
                    ));
                } else if too_far(m.failover_lag_bytes) {
                    why.push(format!(
                        "target {t} lags {} bytes, above maximum_lag_on_failover ({} bytes)",
                        m.failover_lag_bytes.unwrap_or(0),
                        maximum.unwrap_or(0)
                    ));
                }
            }
        },
        None => match view.failover_candidates {
            Some(0) => why.push(format!(
                "no failover candidate ({})",
                listed
                    .iter()
                    .filter_map(|m| Some(format!(
                        "{}: {}",
                        m.node,
                        m.not_candidate_because.as_deref()?
                    )))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            None => why.push("failover candidates unknown".to_owned()),
            Some(_) => {}
        },
    }
    why
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// RFC 3339 with milliseconds, UTC.
    pub at: String,
    pub event: String,
    #[serde(skip)]
    pub unix: UnixTime,
}

impl Event {
    pub fn new(unix: UnixTime, event: impl Into<String>) -> Event {
        Event {
            at: rfc3339_ms(unix),
            event: event.into(),
            unix,
        }
    }
}

/// `2026-12-01T10:23:09.856Z`.
pub fn rfc3339_ms(t: UnixTime) -> String {
    let d = Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_millis(UNIX_EPOCH + d).to_string()
}

/// A node as the drill saw it before and after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopologyRow {
    pub node: String,
    /// primary, standby or down.
    pub role: String,
    pub timeline: Option<u32>,
    /// A standby's WAL receiver status (streaming, …).
    pub receiver: Option<String>,
}

pub fn topology(reports: &[NodeReport]) -> Vec<TopologyRow> {
    reports
        .iter()
        .map(|r| TopologyRow {
            node: r.name.clone(),
            role: match &r.state {
                None => "down",
                Some(s) if s.in_recovery => "standby",
                Some(_) => "primary",
            }
            .to_owned(),
            timeline: r.state.as_ref().and_then(|s| s.timeline_id),
            receiver: r
                .state
                .as_ref()
                .and_then(|s| s.wal_receiver.as_ref())
                .and_then(|w| w.status.clone()),
        })
        .collect()
}

/// The `command` mode's command and what it printed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandRun {
    pub command: String,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

/// The drill's report (`--output json` prints it as one object).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub cluster: String,
    pub mode: DrillMode,
    pub target: Option<String>,
    pub write_via: String,
    pub old_primary: String,
    pub new_primary: Option<String>,
    /// What Patroni (or the command) answered.
    pub switch_result: String,
    pub command: Option<CommandRun>,
    /// Client view: first failed write → first successful write after it.
    pub rto_seconds: Option<f64>,
    /// Switch requested → the new primary seen out of recovery.
    pub promotion_seconds: Option<f64>,
    pub acknowledged_writes: usize,
    pub failed_writes: usize,
    pub acknowledged_writes_lost: usize,
    pub lost_write_numbers: Vec<i64>,
    pub bytes_lost: Option<u64>,
    /// Endpoint → seconds from the switch request until it led to the new primary (null: not
    /// within the settle time).
    pub endpoints: BTreeMap<String, Option<f64>>,
    /// Read endpoint → what its clients felt (see [`read`]).
    pub read_endpoints: BTreeMap<String, read::ReadReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_primary_streaming_seconds: Option<f64>,
    /// Why the drill stopped waiting for the old primary to stream again, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_primary_not_returned: Option<String>,
    pub write_latency: BTreeMap<String, Option<Latency>>,
    pub topology_before: Vec<TopologyRow>,
    pub topology_after: Vec<TopologyRow>,
    pub events: Vec<Event>,
    /// Every write attempt: seq, via, sent_at, acked_at, error.
    pub write_log: Vec<Attempt>,
    /// Every read: endpoint, sent_at, answered_at, in_recovery, max_seq, error.
    pub read_log: Vec<read::Read>,
    pub passed: bool,
    /// Why not passed: a bound exceeded, the switch failed, the probe table unreadable.
    pub failures: Vec<String>,
}

/// A front-end timed until it leads to the new primary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Followed {
    pub led_at: Option<UnixTime>,
    /// Expected on the primary (or the write endpoint): not leading there is a failure.
    pub must_lead: bool,
    /// The last check that got an answer.
    pub last_answer: Option<UnixTime>,
}

/// What was recorded during the drill, before judging.
pub struct Recorded {
    pub cluster: String,
    pub mode: DrillMode,
    pub target: Option<String>,
    pub write_via: String,
    pub old_primary: String,
    pub new_primary: Option<String>,
    pub switch_at: Option<UnixTime>,
    pub switch_result: Result<String, String>,
    pub command: Option<CommandRun>,
    pub promoted_at: Option<UnixTime>,
    pub endpoint_led_at: BTreeMap<String, Followed>,
    pub old_primary_streaming_at: Option<UnixTime>,
    pub old_primary_not_returned: Option<String>,
    pub log: Vec<Attempt>,
    /// The read endpoints' names and every read through them.
    pub read_endpoints: Vec<String>,
    pub read_log: Vec<read::Read>,
    /// The sequence numbers the new primary's probe table holds (Err: why it could not be read).
    pub found: Result<Vec<i64>, String>,
    pub last_old_primary_lsn: Option<Lsn>,
    pub switch_lsn: Option<u64>,
    pub before: Vec<NodeReport>,
    pub after: Vec<NodeReport>,
    pub events: Vec<Event>,
}

/// The report, judged against `--rto-max` (seconds) and `--rpo-max` (acknowledged writes). Pure.
pub fn build_report(r: Recorded, rto_max: Option<f64>, rpo_max: Option<u64>) -> Report {
    let out = outage(&r.log);
    let acked: Vec<i64> = r
        .log
        .iter()
        .filter(|a| a.ok())
        .filter_map(|a| a.seq)
        .collect();
    let mut failures = Vec::new();
    let lost = match &r.found {
        Ok(found) => lost_writes(&acked, found),
        Err(e) => {
            failures.push(format!("probe table not read on the new primary: {e}"));
            Vec::new()
        }
    };
    let since = |t: Option<UnixTime>| Some(round3(t? - r.switch_at?));
    let (t0, t1) = match (&out, r.switch_at) {
        (Some(o), _) => (
            o.first_failed_at,
            o.first_ack_after.map_or(f64::INFINITY, |(_, at)| at),
        ),
        (None, Some(s)) => (s, s),
        (None, None) => (f64::INFINITY, f64::INFINITY),
    };
    let mut events = r.events;
    let first_new = first_new_seq(&r.log, r.promoted_at);
    let mut read_endpoints = BTreeMap::new();
    for name in &r.read_endpoints {
        let log: Vec<read::Read> = r
            .read_log
            .iter()
            .filter(|x| &x.endpoint == name)
            .cloned()
            .collect();
        let rep = read::read_report(&log, r.switch_at, first_new, (t0, t1));
        if let Some((at, seq)) = rep.new_topology_at {
            events.push(Event::new(
                at,
                format!(
                    "read endpoint {name} answers from the new topology (seq {seq}, {})",
                    rep.new_topology_answered_by.as_deref().unwrap_or("unknown")
                ),
            ));
        }
        if let Some(since) = rep.unreadable_since {
            failures.push(format!(
                "read endpoint {name} unreadable at the end (every read failed since {})",
                rfc3339_ms(since)
            ));
        } else if rep.new_topology_at.is_none() && r.new_primary.is_some() {
            failures.push(format!(
                "read endpoint {name} never answered with a write of the new primary"
            ));
        }
        read_endpoints.insert(name.clone(), rep);
    }
    if r.new_primary.is_some() {
        for (name, f) in &r.endpoint_led_at {
            if f.must_lead && f.led_at.is_none() {
                failures.push(format!(
                    "endpoint {name} did not lead to the new primary ({})",
                    f.last_answer.map_or_else(
                        || "no answer".to_owned(),
                        |t| format!("last answer {}", rfc3339_ms(t))
                    )
                ));
            }
        }
    }
    if let Some(o) = &out {
        if let Some((seq, at)) = o.last_ack_before {
            events.push(Event::new(
                at,
                format!("last acknowledged write before the outage (seq {seq})"),
            ));
        }
        events.push(Event::new(o.first_failed_at, "first failed write"));
        if let Some((seq, at)) = o.first_ack_after {
            events.push(Event::new(
                at,
                format!("first acknowledged write after the outage (seq {seq})"),
            ));
        }
    }
    events.sort_by(|a, b| a.unix.total_cmp(&b.unix));
    let rto = out.as_ref().and_then(Outage::seconds).map(round3);
    match &r.switch_result {
        Ok(_) => {}
        Err(e) => failures.push(format!("switch failed: {e}")),
    }
    if r.new_primary.is_none() {
        failures.push("no new primary within the settle time".to_owned());
    }
    if out.as_ref().is_some_and(|o| o.first_ack_after.is_none()) {
        failures.push("writes did not come back within the settle time".to_owned());
    }
    if let Some(max) = rto_max {
        match rto {
            Some(x) if x > max => failures.push(format!("RTO {x:.3}s above --rto-max {max}s")),
            None if out.is_some() => failures.push(format!(
                "RTO unknown (writes did not come back) with --rto-max {max}s"
            )),
            _ => {}
        }
    }
    if let Some(max) = rpo_max
        && lost.len() as u64 > max
    {
        failures.push(format!(
            "{} acknowledged writes lost, above --rpo-max {max}",
            lost.len()
        ));
    }
    let write_latency = BTreeMap::from([
        ("before".to_owned(), latency(&r.log, f64::NEG_INFINITY, t0)),
        ("during".to_owned(), latency(&r.log, t0, t1)),
        ("after".to_owned(), latency(&r.log, t1, f64::INFINITY)),
    ]);
    Report {
        cluster: r.cluster,
        mode: r.mode,
        target: r.target,
        write_via: r.write_via,
        old_primary: r.old_primary,
        new_primary: r.new_primary,
        switch_result: match r.switch_result {
            Ok(s) | Err(s) => s,
        },
        command: r.command,
        rto_seconds: rto,
        promotion_seconds: since(r.promoted_at),
        acknowledged_writes: acked.len(),
        failed_writes: r.log.iter().filter(|a| !a.ok()).count(),
        acknowledged_writes_lost: lost.len(),
        lost_write_numbers: lost,
        bytes_lost: bytes_lost(r.last_old_primary_lsn, r.switch_lsn),
        endpoints: r
            .endpoint_led_at
            .iter()
            .map(|(k, v)| (k.clone(), since(v.led_at)))
            .collect(),
        read_endpoints,
        old_primary_streaming_seconds: since(r.old_primary_streaming_at),
        old_primary_not_returned: r
            .old_primary_not_returned
            .filter(|_| r.old_primary_streaming_at.is_none()),
        write_latency,
        topology_before: topology(&r.before),
        topology_after: topology(&r.after),
        events,
        write_log: r.log,
        read_log: r.read_log,
        passed: failures.is_empty(),
        failures,
    }
}

fn secs(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |s| format!("{s:.3}s"))
}

/// The report as text.
pub fn render_report(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "drill {} of cluster {}: {} -> {}",
        r.mode.as_str(),
        r.cluster,
        r.old_primary,
        r.new_primary.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(s, "  switch:                    {}", r.switch_result);
    let _ = writeln!(s, "  writes through:            {}", r.write_via);
    let _ = writeln!(
        s,
        "  client-visible RTO:        {}  (first failed write to first successful one)",
        secs(r.rto_seconds)
    );
    let _ = writeln!(
        s,
        "  promotion:                 {}  (switch requested to new primary out of recovery)",
        secs(r.promotion_seconds)
    );
    for (name, t) in &r.endpoints {
        let _ = writeln!(
            s,
            "  endpoint {name:<16} {}  (until it led to the new primary)",
            secs(*t)
        );
    }
    for (name, e) in &r.read_endpoints {
        let _ = writeln!(
            s,
            "  read endpoint {name}: new topology {}{}, longest unreadable {:.3}s, {} of {} reads failed",
            secs(e.new_topology_seconds),
            e.new_topology_answered_by
                .as_deref()
                .map_or_else(String::new, |b| format!(" (a {b})")),
            e.longest_unreadable_seconds,
            e.failed_reads,
            e.reads
        );
        let phases: Vec<String> = ["before", "during", "after"]
            .iter()
            .filter_map(|p| {
                let l = e.latency.get(*p)?.as_ref()?;
                Some(format!(
                    "{p} p50 {:.1} ms, max {:.1} ms ({})",
                    l.p50_ms, l.max_ms, l.count
                ))
            })
            .collect();
        if !phases.is_empty() {
            let _ = writeln!(s, "    read latency {}", phases.join("; "));
        }
    }
    let _ = writeln!(
        s,
        "  old primary streaming:     {}{}",
        secs(r.old_primary_streaming_seconds),
        r.old_primary_not_returned
            .as_deref()
            .map_or_else(String::new, |w| format!("  ({w})"))
    );
    let _ = writeln!(
        s,
        "  acknowledged writes:       {} ({} failed attempts)",
        r.acknowledged_writes, r.failed_writes
    );
    let nums: Vec<String> = r.lost_write_numbers.iter().map(i64::to_string).collect();
    let _ = writeln!(
        s,
        "  acknowledged writes lost:  {}{}",
        r.acknowledged_writes_lost,
        if nums.is_empty() {
            String::new()
        } else {
            format!(" (seq {})", nums.join(", "))
        }
    );
    let _ = writeln!(
        s,
        "  bytes lost:                {}",
        r.bytes_lost
            .map_or_else(|| "-".to_owned(), |b| b.to_string())
    );
    for phase in ["before", "during", "after"] {
        if let Some(Some(l)) = r.write_latency.get(phase) {
            let _ = writeln!(
                s,
                "  write latency {phase:<7}     p50 {:.1} ms, max {:.1} ms ({} writes)",
                l.p50_ms, l.max_ms, l.count
            );
        }
    }
    if let Some(c) = &r.command {
        let _ = writeln!(
            s,
            "  command: {} (exit {}, {:.3}s)",
            c.command,
            c.exit_code
                .map_or_else(|| "-".to_owned(), |x| x.to_string()),
            c.seconds
        );
        for line in c.stdout.lines().chain(c.stderr.lines()) {
            let _ = writeln!(s, "    | {line}");
        }
    }
    let _ = writeln!(s, "topology before / after:");
    for b in &r.topology_before {
        let a = r.topology_after.iter().find(|a| a.node == b.node);
        let _ = writeln!(
            s,
            "  {:<12} {:<8} tl {:<3} -> {:<8} tl {}",
            b.node,
            b.role,
            b.timeline.map_or_else(|| "-".to_owned(), |t| t.to_string()),
            a.map_or("-", |a| a.role.as_str()),
            a.and_then(|a| a.timeline)
                .map_or_else(|| "-".to_owned(), |t| t.to_string())
        );
    }
    let _ = writeln!(s, "timeline:");
    for e in &r.events {
        let _ = writeln!(s, "  {}  {}", e.at, e.event);
    }
    if r.passed {
        let _ = writeln!(s, "passed");
    } else {
        for f in &r.failures {
            let _ = writeln!(s, "FAILED: {f}");
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// I/O.

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrillOutput {
    Text,
    Json,
}

/// The `drill` flags.
#[derive(Clone, Debug)]
pub struct DrillArgs {
    pub cluster: String,
    pub mode: DrillMode,
    pub target: Option<String>,
    pub command: Option<String>,
    pub command_timeout: Duration,
    pub write_endpoint: Option<String>,
    pub rto_max: Option<Duration>,
    pub rpo_max: Option<u64>,
    pub yes: bool,
    pub dry_run: bool,
    pub force: bool,
    pub output: DrillOutput,
    /// Writes before the switch (the baseline).
    pub warmup: Duration,
    /// After the switch, how long to wait for the cluster to settle.
    pub settle_timeout: Duration,
    /// Leave the probe table on the new primary for inspection (the operator drops it).
    pub keep_probe_table: bool,
}

/// Where the probe writes.
#[derive(Clone)]
enum WriteVia {
    Endpoint(Box<EndpointConfig>),
    /// The primary as last polled.
    Primary(watch::Receiver<Option<NodeConfig>>),
}

fn node_target<'a>(n: &'a NodeConfig, d: &'a DrillConfig) -> Target<'a> {
    Target {
        host: &n.host,
        port: n.port,
        user: &d.user,
        password: d.password.as_ref(),
        dbname: &d.dbname,
        sslmode: n.sslmode,
        sslrootcert: n.sslrootcert.as_deref(),
        connect_timeout: n.connect_timeout.min(ATTEMPT_TIMEOUT),
        options: None,
    }
}

fn endpoint_target<'a>(e: &'a EndpointConfig, d: &'a DrillConfig) -> Target<'a> {
    Target {
        host: &e.host,
        port: e.port,
        user: &d.user,
        password: d.password.as_ref(),
        dbname: &d.dbname,
        sslmode: e.sslmode,
        sslrootcert: e.sslrootcert.as_deref(),
        connect_timeout: e.connect_timeout.min(ATTEMPT_TIMEOUT),
        options: None,
    }
}

/// A session through `t` within [`ATTEMPT_TIMEOUT`]; the error is one line naming `ctx`.
async fn open_within(
    t: &Target<'_>,
    ctx: &str,
) -> Result<(tokio_postgres::Client, AbortOnDrop), String> {
    tokio::time::timeout(ATTEMPT_TIMEOUT, connect::open(t, ctx))
        .await
        .map_err(|_| format!("{ctx}: connect timed out"))
        .and_then(|r| r.map_err(|e| e.to_string()))
}

/// `pg_replication_exporter drill`: returns the exit code (0 passed, 1 refused, failed or a
/// bound exceeded, 2 bad input, 130 interrupted before the switch).
pub async fn run_drill(config: &Config, args: DrillArgs) -> u8 {
    match drill(config, &args).await {
        Ok(code) => code,
        Err((code, e)) => {
            eprintln!("pg_replication_exporter drill: {e}");
            code
        }
    }
}

type Fail = (u8, String);

fn bad(e: impl Into<String>) -> Fail {
    (2, e.into())
}

async fn drill(config: &Config, args: &DrillArgs) -> Result<u8, Fail> {
    let Some(cluster) = config.clusters.iter().find(|c| c.name == args.cluster) else {
        let names: Vec<&str> = config.clusters.iter().map(|c| c.name.as_str()).collect();
        return Err(bad(format!(
            "no cluster {:?} in the configuration (clusters: {})",
            args.cluster,
            names.join(", ")
        )));
    };
    let Some(dcfg) = &cluster.drill else {
        return Err(bad(format!(
            "cluster {:?} has no [cluster.drill] table: the drill needs its own role with write rights (user, password_file or password_env, dbname)",
            cluster.name
        )));
    };
    match (args.mode, &args.command) {
        (DrillMode::Command, None) => return Err(bad("--mode command needs --command")),
        (DrillMode::Switchover | DrillMode::Failover, Some(_)) => {
            return Err(bad("--command is only for --mode command"));
        }
        (DrillMode::Switchover | DrillMode::Failover, None) if cluster.patroni.is_none() => {
            return Err(bad(format!(
                "--mode {} needs [cluster.patroni] in cluster {:?}",
                args.mode.as_str(),
                cluster.name
            )));
        }
        _ => {}
    }
    let endpoint = match &args.write_endpoint {
        None => None,
        Some(name) => match cluster.endpoints.iter().find(|e| &e.name == name) {
            Some(e) if e.kind == EndpointKind::Postgres => Some(e.clone()),
            Some(e) => {
                return Err(bad(format!(
                    "--write-endpoint {name} is of kind {}: it must be of kind postgres",
                    e.kind.as_str()
                )));
            }
            None => {
                return Err(bad(format!(
                    "--write-endpoint {name}: no [[cluster.endpoint]] of that name in cluster {:?}",
                    cluster.name
                )));
            }
        },
    };
    if !args.yes && !args.dry_run && !std::io::stdin().is_terminal() {
        return Err(bad(
            "standard input is not a terminal, so the drill cannot ask for confirmation: pass --yes to drill without asking",
        ));
    }

    // Preconditions, from one poll as `check` does it; first of all, no other drill running.
    let mut history = ClusterHistory::new(config.poll.lag_history, config.poll.interval);
    let polled = poll_cluster(cluster, config, &mut history).await;
    let view = polled.patroni.as_ref().map(|(_, v)| v);
    let looked = lock::look(&polled.nodes, dcfg).await;
    if let Some(running) = looked.running {
        return Err((
            1,
            format!(
                "refused: another drill is running on cluster {}: the drill lock is held by {running}; wait for it to end (--force does not override this)",
                cluster.name
            ),
        ));
    }
    let mut reasons = preconditions(args.mode, args.target.as_deref(), &polled.reports, view);
    reasons.extend(looked.unreachable);
    let old_primary = polled
        .reports
        .iter()
        .find(|r| r.state.as_ref().is_some_and(|s| !s.in_recovery))
        .map(|r| r.name.clone());
    let target = args.target.clone().or_else(|| {
        // POST /failover needs a candidate: the first one Patroni would promote.
        (args.mode == DrillMode::Failover)
            .then(|| {
                view?
                    .members
                    .iter()
                    .find(|m| m.failover_candidate == Some(true))
                    .map(|m| m.node.clone())
            })
            .flatten()
    });
    let write_via = endpoint.as_ref().map_or_else(
        || "the primary (direct)".to_owned(),
        |e| format!("endpoint {} ({}:{})", e.name, e.host, e.port),
    );
    let plan = format!(
        "drill plan for cluster {}: {} from {} to {}; writes every 50 ms through {} as role {} into {PROBE_SCHEMA}.probe; nodes polled every 100 ms\n",
        cluster.name,
        args.mode.as_str(),
        old_primary.as_deref().unwrap_or("(no primary)"),
        target.as_deref().unwrap_or("(Patroni's choice)"),
        write_via,
        dcfg.user,
    );
    if !reasons.is_empty() {
        let list = reasons.join("; ");
        if !args.force {
            return Err((
                1,
                format!(
                    "refused: cluster {} is not ready: {list} (--force to drill anyway)",
                    cluster.name
                ),
            ));
        }
        eprintln!("drill: --force: going on despite: {list}");
    }
    if args.dry_run {
        print!("{plan}");
        if reasons.is_empty() {
            println!(
                "preconditions: passed (one primary, every node reachable, the target a failover candidate)"
            );
        }
        println!("dry run: nothing was touched");
        return Ok(0);
    }
    let Some(old_primary) = old_primary else {
        return Err((1, "refused: no primary to drill".to_owned()));
    };
    eprint!("{plan}");
    if !args.yes {
        eprint!("start the drill on cluster {}? [y/N] ", cluster.name);
        let mut line = String::new();
        // EOF (or an unreadable terminal) is a no.
        let _ = std::io::stdin().read_line(&mut line);
        if !matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Err((1, "not confirmed: nothing was touched".to_owned()));
        }
    }
    let nodes = polled.nodes.clone();
    let old_node = nodes
        .iter()
        .find(|n| n.name == old_primary)
        .cloned()
        .ok_or_else(|| (1, format!("{old_primary} has no connection settings")))?;

    // From here on Ctrl-C is ours: before the switch it aborts, after it the drill settles.
    let (int_tx, int_rx) = watch::channel(false);
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            let _ = int_tx.send(true);
        }
    });

    // The lock on every node, then the schema on the primary in its lock session.
    let label = format!(
        "drill pid {} {} of {} since {}Z",
        std::process::id(),
        args.mode.as_str(),
        cluster.name,
        &rfc3339_ms(unix_now())[11..19]
    );
    let (held, skipped) = lock::take(&nodes, dcfg, &label, args.force)
        .await
        .map_err(|e| (1, format!("refused: {e}")))?;
    let ctx = format!("drill session on {old_primary}");
    let lock = &held
        .iter()
        .find(|h| h.node == old_primary)
        .ok_or_else(|| (1, format!("{ctx}: the drill lock was not taken there")))?
        .client;
    let mut events = vec![Event::new(
        unix_now(),
        format!(
            "drill lock taken on {} as {label:?}",
            held.iter()
                .map(|h| h.node.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )];
    events.extend(
        skipped
            .into_iter()
            .map(|e| Event::new(unix_now(), format!("drill lock not taken (--force): {e}"))),
    );
    lock.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {PROBE_SCHEMA} CASCADE; CREATE SCHEMA {PROBE_SCHEMA}; \
         CREATE TABLE {PROBE_SCHEMA}.probe (seq bigint PRIMARY KEY, sent_at timestamptz NOT NULL, \
         acked_at timestamptz)"
    ))
    .await
    .map_err(|e| {
        (
            1,
            sql_err(
                &format!(
                    "{ctx}: create {PROBE_SCHEMA}.probe (the role needs CREATE on the database)"
                ),
                &e,
            ),
        )
    })?;
    events.push(Event::new(
        unix_now(),
        format!("probe table {PROBE_SCHEMA}.probe created"),
    ));

    // The probe.
    let (primary_tx, primary_rx) = watch::channel(Some(old_node.clone()));
    let via = match &endpoint {
        Some(e) => WriteVia::Endpoint(Box::new(e.clone())),
        None => WriteVia::Primary(primary_rx),
    };
    let log = Arc::new(Mutex::new(Vec::<Attempt>::new()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let probe = tokio::spawn(run_probe(via, dcfg.clone(), log.clone(), stop_rx.clone()));
    let read_targets = read::read_targets(cluster, &dcfg.dbname, args.write_endpoint.as_deref());
    let read_log = Arc::new(Mutex::new(Vec::<read::Read>::new()));
    let readers: Vec<_> = read_targets
        .iter()
        .map(|t| {
            tokio::spawn(read::run_read_probe(
                t.clone(),
                dcfg.clone(),
                read_log.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    // Who Patroni lists as members, while the drill runs.
    let (members_tx, members_rx) = watch::channel(None::<Vec<String>>);
    let _members_task = cluster.patroni.as_ref().map(|p| {
        let mut seeds = p.urls.clone();
        if let Some(c) = polled
            .patroni
            .as_ref()
            .and_then(|(r, _)| r.cluster.as_ref())
        {
            seeds.extend(c.members.iter().filter_map(|m| m.api_url.clone()));
        }
        AbortOnDrop(tokio::spawn(watch_members(p.clone(), seeds, members_tx)))
    });

    // The polls.
    let poll = PollConfig {
        interval: POLL_EVERY,
        timeout: ATTEMPT_TIMEOUT,
        lag_history: config.poll.lag_history,
        backoff_max: Duration::from_millis(300),
        slow_interval: config.poll.slow_interval.max(POLL_EVERY),
    };
    let mut pollers: Vec<NodePoller> = nodes
        .iter()
        .map(|n| NodePoller::new(&cluster.name, n.clone(), &poll))
        .collect();
    // The front-ends timed until they lead to the new primary: all but pgbouncer (its
    // databases are read endpoints) and those expected on a standby; waited for when expected
    // on the primary or written through.
    let watched: Vec<&EndpointConfig> = cluster
        .endpoints
        .iter()
        .filter(|e| e.kind != EndpointKind::Pgbouncer && e.expect != Some(Expect::Standby))
        .collect();
    let mut endpoint_led_at: BTreeMap<String, Followed> = watched
        .iter()
        .map(|e| {
            let must_lead = e.expect == Some(Expect::Primary)
                || args.write_endpoint.as_deref() == Some(e.name.as_str());
            (
                e.name.clone(),
                Followed {
                    must_lead,
                    ..Followed::default()
                },
            )
        })
        .collect();
    let read_names: Vec<String> = read_targets.iter().map(|t| t.name.clone()).collect();
    let old_timeline = polled
        .reports
        .iter()
        .find(|r| r.name == old_primary)
        .and_then(|r| r.state.as_ref()?.timeline_id);
    let history_before = polled
        .patroni
        .as_ref()
        .and_then(|(r, _)| r.history.as_ref())
        .map(|h| h.entries.len());

    let started = Instant::now();
    let mut ticker = ticker(POLL_EVERY);
    let mut switch: Option<tokio::task::JoinHandle<Switched>> = None;
    let mut switch_at: Option<UnixTime> = None;
    let mut switch_result: Option<Switched> = None;
    let mut new_primary: Option<String> = None;
    let mut promoted_at = None;
    let mut streaming_at = None;
    let mut last_old_lsn: Option<Lsn> = None;
    let mut old_last_answer: Option<UnixTime> = None;
    let mut old_not_returned: Option<String> = None;
    let mut interrupted_logged = false;
    let mut reports: Vec<NodeReport>;
    loop {
        ticker.tick().await;
        let checks = futures_util::future::join_all(
            watched
                .iter()
                .map(|e| endpoints::check_once(&cluster.name, e)),
        );
        let (r, probes) = tokio::join!(poll_round(&mut pollers, ATTEMPT_TIMEOUT), checks);
        reports = r;
        let now = unix_now();
        if reports
            .iter()
            .any(|r| r.name == old_primary && r.state.is_some())
        {
            old_last_answer = Some(now);
        }
        for (e, p) in watched.iter().zip(&probes) {
            if p.answer.is_ok()
                && let Some(f) = endpoint_led_at.get_mut(&e.name)
            {
                f.last_answer = Some(now);
            }
        }
        let primaries: Vec<&NodeReport> = reports
            .iter()
            .filter(|r| r.state.as_ref().is_some_and(|s| !s.in_recovery))
            .collect();
        if let [p] = primaries.as_slice() {
            let cfg = nodes.iter().find(|n| n.name == p.name).cloned();
            primary_tx.send_if_modified(|cur| {
                let changed = cur.as_ref().map(|c| &c.name) != cfg.as_ref().map(|c| &c.name);
                if changed {
                    *cur = cfg;
                }
                changed
            });
        }
        for p in &primaries {
            if p.name == old_primary && p.state.as_ref().and_then(|s| s.timeline_id) == old_timeline
            {
                last_old_lsn = p.state.as_ref().and_then(|s| s.wal_lsn).or(last_old_lsn);
            }
        }
        let interrupted = *int_rx.borrow();
        if switch_at.is_none() {
            if interrupted {
                let _ = stop_tx.send(true);
                let _ = probe.await;
                for r in readers {
                    let _ = r.await;
                }
                let dropped = drop_schema(lock).await;
                eprintln!("drill interrupted before the switch: nothing was switched; {dropped}");
                return Ok(130);
            }
            if started.elapsed() >= args.warmup {
                let at = unix_now();
                switch_at = Some(at);
                events.push(Event::new(
                    at,
                    format!("switch requested ({})", args.mode.as_str()),
                ));
                switch = Some(tokio::spawn(do_switch(
                    cluster.clone(),
                    args.clone(),
                    old_primary.clone(),
                    target.clone(),
                )));
            }
            continue;
        }
        if interrupted && !interrupted_logged {
            interrupted_logged = true;
            eprintln!(
                "drill: interrupted after the switch: waiting for the cluster to settle, then reporting"
            );
        }
        if let Some(h) = &switch
            && h.is_finished()
            && let Some(h) = switch.take()
        {
            let done = h
                .await
                .unwrap_or_else(|e| (Err(format!("internal error: {e}")), None));
            events.push(Event::new(
                unix_now(),
                match &done.0 {
                    Ok(s) => format!("switch answered: {s}"),
                    Err(e) => format!("switch failed: {e}"),
                },
            ));
            switch_result = Some(done);
        }
        if new_primary.is_none()
            && let [p] = primaries.as_slice()
            && p.name != old_primary
        {
            new_primary = Some(p.name.clone());
            promoted_at = Some(now);
            events.push(Event::new(
                now,
                format!("new primary {} out of recovery", p.name),
            ));
        }
        if let Some(np) = &new_primary {
            let view = observe(&mut history, now, &reports);
            let probes: Vec<_> = probes.into_iter().map(|p| Some(Arc::new(p))).collect();
            let owned: Vec<EndpointConfig> = watched.iter().map(|e| (*e).clone()).collect();
            for e in endpoints::judge::judge(&owned, &probes, &reports, &view) {
                if e.target.as_deref() == Some(np.as_str())
                    && e.is_primary == Some(true)
                    && let Some(f) = endpoint_led_at.get_mut(&e.name)
                    && f.led_at.is_none()
                {
                    f.led_at = Some(now);
                    events.push(Event::new(
                        now,
                        format!("endpoint {} leads to {np}", e.name),
                    ));
                }
            }
            if streaming_at.is_none()
                && reports.iter().any(|r| {
                    r.name == old_primary
                        && r.state.as_ref().is_some_and(|s| {
                            s.in_recovery
                                && s.wal_receiver.as_ref().and_then(|w| w.status.as_deref())
                                    == Some("streaming")
                        })
                })
            {
                streaming_at = Some(now);
                events.push(Event::new(
                    now,
                    format!("old primary {old_primary} streaming again"),
                ));
            }
        }
        let (writes_back, first_new) = {
            let log = log.lock().unwrap_or_else(|p| p.into_inner());
            let back = match outage(&log) {
                Some(o) => o.first_ack_after.is_some(),
                None => {
                    promoted_at.is_some_and(|p| log.last().is_some_and(|a| a.sent_at > p && a.ok()))
                }
            };
            (back, first_new_seq(&log, promoted_at))
        };
        // What may still come: the old primary streaming, the front-ends following (see
        // may_still_come: a thing that stopped answering is not waited for forever).
        let switch_t = switch_at.unwrap_or(now);
        let is_member = members_rx
            .borrow()
            .as_ref()
            .is_some_and(|m| m.contains(&old_primary));
        let old_pending =
            streaming_at.is_none() && may_still_come(now, switch_t, old_last_answer, is_member);
        if !old_pending && streaming_at.is_none() && old_not_returned.is_none() && writes_back {
            let why = format!(
                "old primary {old_primary} did not return within {:.1}s: {}, and {}",
                now - switch_t,
                old_last_answer.map_or_else(
                    || "no answer".to_owned(),
                    |t| format!("no answer since {}", rfc3339_ms(t))
                ),
                if cluster.patroni.is_some() {
                    "Patroni no longer lists it as a member"
                } else {
                    "no Patroni to list it"
                }
            );
            events.push(Event::new(now, why.clone()));
            old_not_returned = Some(why);
        }
        let endpoints_pending = endpoint_led_at.values().any(|f| {
            f.must_lead && f.led_at.is_none() && may_still_come(now, switch_t, f.last_answer, false)
        });
        let reads_pending = {
            let reads = read_log.lock().unwrap_or_else(|p| p.into_inner());
            read_names.iter().any(|name| {
                let mine: Vec<read::Read> = reads
                    .iter()
                    .filter(|r| &r.endpoint == name)
                    .cloned()
                    .collect();
                let r = read::read_report(&mine, switch_at, first_new, (now, now));
                r.new_topology_at.is_none()
                    && may_still_come(now, switch_t, r.last_answer_at, false)
            })
        };
        let switch_failed = matches!(&switch_result, Some((Err(_), _))) && new_primary.is_none();
        let settled = switch_result.is_some()
            && new_primary.is_some()
            && writes_back
            && !old_pending
            && !endpoints_pending
            && !reads_pending;
        let waited = switch_at.is_some_and(|s| now - s > args.settle_timeout.as_secs_f64());
        if settled || switch_failed || waited {
            break;
        }
    }
    // Let the probes write and read a little on the settled cluster, then stop them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(true);
    let _ = probe.await;
    for r in readers {
        let _ = r.await;
    }
    let (switch_result, command) = match switch_result {
        Some(r) => r,
        None => match switch.take() {
            Some(h) => {
                h.abort();
                (Err("no answer within the settle time".to_owned()), None)
            }
            None => (Err("not requested".to_owned()), None),
        },
    };
    // The probe table on the new primary (or the old one when nothing switched), then away.
    let reader = new_primary.as_deref().unwrap_or(old_primary.as_str());
    let reader_cfg = nodes.iter().find(|n| n.name == reader).cloned();
    let (found, cleanup) = match reader_cfg {
        Some(n) => read_and_drop(&n, dcfg, args.keep_probe_table).await,
        None => (
            Err(format!("{reader} has no connection settings")),
            String::new(),
        ),
    };
    events.push(Event::new(unix_now(), cleanup));
    let switch_lsn = match (&cluster.patroni, history_before) {
        // The new leader writes `/history` in one of its first HA loops: wait for it.
        (Some(p), Some(before)) if new_primary.is_some() => {
            let mut lsn = None;
            for _ in 0..20 {
                let round = source::pass_once(p).await;
                lsn = round
                    .history
                    .filter(|h| h.entries.len() > before)
                    .and_then(|h| h.entries.last().map(|e| e.switch_lsn));
                if lsn.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            lsn
        }
        _ => None,
    };
    let log = std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()));
    let report = build_report(
        Recorded {
            cluster: cluster.name.clone(),
            mode: args.mode,
            target,
            write_via,
            old_primary,
            new_primary,
            switch_at,
            switch_result,
            command,
            promoted_at,
            endpoint_led_at,
            old_primary_streaming_at: streaming_at,
            old_primary_not_returned: old_not_returned,
            log,
            read_endpoints: read_names,
            read_log: std::mem::take(&mut *read_log.lock().unwrap_or_else(|p| p.into_inner())),
            found,
            last_old_primary_lsn: last_old_lsn,
            switch_lsn,
            before: polled.reports,
            after: reports,
            events,
        },
        args.rto_max.map(|d| d.as_secs_f64()),
        args.rpo_max,
    );
    match args.output {
        DrillOutput::Text => print!("{}", render_report(&report)),
        DrillOutput::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        ),
    }
    Ok(if report.passed { 0 } else { 1 })
}

/// `GET /cluster` every [`MEMBERS_EVERY`] from the first seed that answers: the member names
/// (`None` while no seed answers). Ends when the drill drops the receiver.
async fn watch_members(
    p: PatroniConfig,
    seeds: Vec<String>,
    tx: watch::Sender<Option<Vec<String>>>,
) {
    let Ok(client) = PatroniClient::new(&source::client_settings(&p)) else {
        return;
    };
    let mut bases: Vec<ApiBase> = Vec::new();
    for b in seeds.iter().filter_map(|u| ApiBase::parse(u).ok()) {
        if !bases.contains(&b) {
            bases.push(b);
        }
    }
    let mut ticker = ticker(MEMBERS_EVERY);
    loop {
        ticker.tick().await;
        let mut names = None;
        for b in &bases {
            if let Ok(c) = client.cluster(b).await {
                names = Some(c.members.iter().filter_map(|m| m.name.clone()).collect());
                break;
            }
        }
        if tx.send(names).is_err() {
            return;
        }
    }
}

/// A statement's error with the server's message ("db error" alone says nothing).
fn sql_err(context: &str, e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{context}: {} ({})", db.message(), db.code().code()),
        None => crate::pg::error::PollError::from_query(context, e).to_string(),
    }
}

async fn drop_schema(client: &tokio_postgres::Client) -> String {
    match client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {PROBE_SCHEMA} CASCADE"))
        .await
    {
        Ok(()) => format!("probe schema {PROBE_SCHEMA} dropped"),
        Err(e) => sql_err(&format!("probe schema {PROBE_SCHEMA} NOT dropped"), &e),
    }
}

/// The sequence numbers in the probe table of `node`, and the schema dropped; retried for a
/// few seconds (the new primary may still be settling).
async fn read_and_drop(
    node: &NodeConfig,
    d: &DrillConfig,
    keep: bool,
) -> (Result<Vec<i64>, String>, String) {
    let ctx = format!("drill session on {}", node.name);
    let mut last = String::new();
    for _ in 0..20 {
        match connect::open(&node_target(node, d), &ctx).await {
            Ok((client, _task)) => {
                let rows = client
                    .query(&format!("SELECT seq FROM {PROBE_SCHEMA}.probe"), &[])
                    .await;
                match rows {
                    Ok(rows) => {
                        let found = rows.iter().map(|r| r.get::<_, i64>(0)).collect();
                        let done = if keep {
                            format!(
                                "probe table {PROBE_SCHEMA}.probe kept on {} (--keep-probe-table): DROP SCHEMA {PROBE_SCHEMA} CASCADE when done",
                                node.name
                            )
                        } else {
                            drop_schema(&client).await
                        };
                        return (Ok(found), done);
                    }
                    Err(e) => last = sql_err(&format!("{ctx}: read {PROBE_SCHEMA}.probe"), &e),
                }
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    (
        Err(last.clone()),
        format!("probe schema {PROBE_SCHEMA} NOT dropped: {last}"),
    )
}

/// One insert every 50 ms until `stop`; a failed attempt drops the session and is logged.
async fn run_probe(
    via: WriteVia,
    d: DrillConfig,
    log: Arc<Mutex<Vec<Attempt>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = ticker(WRITE_EVERY);
    let mut session: Option<(tokio_postgres::Client, connect::AbortOnDrop, String)> = None;
    let mut seq: i64 = 0;
    // Each insert also records the previous write's acknowledgement time in its row, in the
    // same statement: the table holds send and ack times without a second round trip.
    let insert = format!(
        "WITH ack AS (UPDATE {PROBE_SCHEMA}.probe SET acked_at = $3 WHERE seq = $4) \
         INSERT INTO {PROBE_SCHEMA}.probe (seq, sent_at) VALUES ($1, $2)"
    );
    let mut previous: (i64, SystemTime) = (0, SystemTime::now());
    while tick_or_stop(&mut ticker, &mut stop).await {
        let sent_at = unix_now();
        if session.is_none() {
            let opened = match &via {
                WriteVia::Endpoint(e) => {
                    let ctx = format!("drill write through endpoint {}", e.name);
                    open_within(&endpoint_target(e, &d), &ctx)
                        .await
                        .map(|(c, t)| (c, t, e.name.clone()))
                }
                WriteVia::Primary(rx) => {
                    let node = rx.borrow().clone();
                    match node {
                        None => Err("no primary known".to_owned()),
                        Some(n) => {
                            let ctx = format!("drill write on {}", n.name);
                            open_within(&node_target(&n, &d), &ctx)
                                .await
                                .map(|(c, t)| (c, t, n.name.clone()))
                        }
                    }
                }
            };
            match opened {
                Ok(s) => session = Some(s),
                Err(e) => {
                    push(
                        &log,
                        Attempt {
                            seq: None,
                            via: String::new(),
                            sent_at,
                            acked_at: None,
                            error: Some(e),
                        },
                    );
                    continue;
                }
            }
        }
        let Some((client, _, name)) = &session else {
            continue;
        };
        seq += 1;
        let sent = SystemTime::now();
        let result = tokio::time::timeout(
            ATTEMPT_TIMEOUT,
            client.execute(&insert, &[&seq, &sent, &previous.1, &previous.0]),
        )
        .await;
        let acked = unix_now();
        let name = name.clone();
        let error = match result {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(
                crate::pg::error::PollError::from_query(
                    &format!("insert seq {seq} via {name}"),
                    &e,
                )
                .to_string(),
            ),
            Err(_) => Some(format!(
                "insert seq {seq} via {name}: no acknowledgement within {ATTEMPT_TIMEOUT:?}"
            )),
        };
        match error {
            Some(_) => session = None,
            None => previous = (seq, SystemTime::now()),
        }
        push(
            &log,
            Attempt {
                seq: Some(seq),
                via: name,
                sent_at,
                acked_at: error.is_none().then_some(acked),
                error,
            },
        );
    }
}

/// A probe's ticker: a late tick delays the next ones (no burst after a stall).
fn ticker(every: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval(every);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

/// Wait for a probe's next tick; false once the drill says stop.
async fn tick_or_stop(
    ticker: &mut tokio::time::Interval,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        _ = ticker.tick() => {}
        _ = stop.changed() => return false,
    }
    !*stop.borrow()
}

fn push(log: &Mutex<Vec<Attempt>>, a: Attempt) {
    log.lock().unwrap_or_else(|p| p.into_inner()).push(a);
}

/// What the switch answered (or why it failed), and the command's run in `command` mode.
type Switched = (Result<String, String>, Option<CommandRun>);

/// The switch itself: Patroni's REST call, or the operator's command with a timeout.
async fn do_switch(
    cluster: ClusterConfig,
    args: DrillArgs,
    old_primary: String,
    target: Option<String>,
) -> Switched {
    if args.mode == DrillMode::Command {
        let cmd = args.command.clone().unwrap_or_default();
        let started = Instant::now();
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let cut = |b: &[u8]| -> String { String::from_utf8_lossy(b).chars().take(4000).collect() };
        return match tokio::time::timeout(args.command_timeout, child).await {
            Err(_) => (
                Err(format!(
                    "command timed out after {:?}",
                    args.command_timeout
                )),
                Some(CommandRun {
                    command: cmd,
                    exit_code: None,
                    stdout: String::new(),
                    stderr: String::new(),
                    seconds: started.elapsed().as_secs_f64(),
                }),
            ),
            Ok(Err(e)) => (Err(format!("command could not start: {e}")), None),
            Ok(Ok(out)) => {
                let run = CommandRun {
                    command: cmd,
                    exit_code: out.status.code(),
                    stdout: cut(&out.stdout),
                    stderr: cut(&out.stderr),
                    seconds: round3(started.elapsed().as_secs_f64()),
                };
                let r = if out.status.success() {
                    Ok(format!("command exited 0 after {:.3}s", run.seconds))
                } else {
                    Err(format!("command exited with {}", out.status))
                };
                (r, Some(run))
            }
        };
    }
    let Some(p) = &cluster.patroni else {
        return (Err("no [cluster.patroni]".to_owned()), None);
    };
    // Patroni answers a switchover or failover when it is done (or has given up): allow long.
    let mut settings = source::client_settings(p);
    settings.timeout = args.settle_timeout.max(Duration::from_secs(30));
    let client = match PatroniClient::new(&settings) {
        Ok(c) => c,
        Err(e) => return (Err(format!("Patroni REST client: {e}")), None),
    };
    let round = source::pass_once(p).await;
    let api = |name: &str| {
        round
            .cluster
            .as_ref()?
            .members
            .iter()
            .find(|m| m.name.as_deref() == Some(name))?
            .api_url
            .clone()
    };
    let (via, path, body) = match args.mode {
        DrillMode::Switchover => {
            let mut body = serde_json::json!({ "leader": old_primary });
            if let Some(t) = &target {
                body["candidate"] = serde_json::Value::from(t.as_str());
            }
            (api(&old_primary), "/switchover", body)
        }
        _ => (
            target
                .as_deref()
                .and_then(api)
                .or_else(|| api(&old_primary)),
            "/failover",
            serde_json::json!({ "candidate": target }),
        ),
    };
    let base = via
        .or_else(|| p.urls.first().cloned())
        .ok_or_else(|| "no Patroni URL".to_owned())
        .and_then(|u| ApiBase::parse(&u).map_err(|e| e.to_string()));
    let base = match base {
        Ok(b) => b,
        Err(e) => return (Err(e), None),
    };
    match client.post_json(&base, path, &body).await {
        Ok((200, text)) => (Ok(format!("POST {path}: 200 {text}")), None),
        Ok((status, text)) => (Err(format!("POST {path}: {status} {text}")), None),
        Err(e) => (Err(e), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{NodeState, PatroniMemberView};

    fn ok(seq: i64, sent: f64, ack: f64) -> Attempt {
        Attempt {
            seq: Some(seq),
            via: "a".into(),
            sent_at: sent,
            acked_at: Some(ack),
            error: None,
        }
    }

    fn failed(seq: Option<i64>, sent: f64) -> Attempt {
        Attempt {
            seq,
            via: "a".into(),
            sent_at: sent,
            acked_at: None,
            error: Some("connection refused".into()),
        }
    }

    #[test]
    fn outage_runs_from_the_first_failed_write_to_the_first_ack_after_it() {
        let log = vec![
            ok(1, 10.00, 10.01),
            ok(2, 10.05, 10.06),
            failed(Some(3), 10.10),
            failed(None, 10.15),
            failed(None, 10.20),
            ok(4, 11.00, 11.02),
            failed(Some(5), 11.05),
            ok(6, 11.10, 11.11),
        ];
        let o = outage(&log).unwrap();
        assert_eq!(o.last_ack_before, Some((2, 10.06)));
        assert_eq!(o.first_failed_at, 10.10);
        assert_eq!(o.first_ack_after, Some((4, 11.02)));
        assert!((o.seconds().unwrap() - 0.92).abs() < 1e-9);
        assert_eq!(outage(&[ok(1, 1.0, 1.1)]), None, "no failure, no outage");
        let never = outage(&[ok(1, 1.0, 1.1), failed(None, 1.2)]).unwrap();
        assert_eq!(never.first_ack_after, None);
        assert_eq!(
            never.seconds(),
            None,
            "writes never came back: unknown, not 0"
        );
        let from_start = outage(&[failed(None, 1.0), ok(1, 2.0, 2.5)]).unwrap();
        assert_eq!(from_start.last_ack_before, None);
        assert_eq!(from_start.seconds(), Some(1.5));
    }

    #[test]
    fn lost_writes_are_the_acknowledged_numbers_the_new_primary_lacks() {
        assert_eq!(lost_writes(&[1, 2, 3], &[1, 2, 3]), Vec::<i64>::new());
        assert_eq!(lost_writes(&[1, 2, 3, 4], &[1, 2]), vec![3, 4]);
        // A write that failed without an acknowledgement may still be there: not a loss.
        assert_eq!(lost_writes(&[1, 2], &[1, 2, 3]), Vec::<i64>::new());
        assert_eq!(lost_writes(&[5, 3, 3], &[]), vec![3, 5]);
    }

    #[test]
    fn bytes_lost_follows_the_switch_lsn_rule() {
        assert_eq!(bytes_lost(Some(Lsn(1000)), Some(800)), Some(200));
        assert_eq!(bytes_lost(Some(Lsn(800)), Some(1000)), Some(0));
        assert_eq!(bytes_lost(None, Some(1)), None);
        assert_eq!(bytes_lost(Some(Lsn(1)), None), None);
    }

    #[test]
    fn latency_takes_the_acknowledged_writes_of_a_window() {
        let log = vec![
            ok(1, 1.0, 1.002),
            ok(2, 1.05, 1.054),
            failed(Some(3), 1.1),
            ok(4, 2.0, 2.01),
        ];
        let l = latency(&log, 0.0, 1.1).unwrap();
        assert_eq!((l.count, l.p50_ms, l.max_ms), (2, 4.0, 4.0));
        assert_eq!(latency(&log, 1.1, 1.9), None);
    }

    fn node(name: &str, primary: bool) -> NodeReport {
        NodeReport {
            state: Some(NodeState {
                in_recovery: !primary,
                ..NodeState::default()
            }),
            ..NodeReport::new(name, name)
        }
    }

    fn member(name: &str, role: &str, candidate: bool, why: Option<&str>) -> PatroniMemberView {
        PatroniMemberView {
            node: name.into(),
            member: true,
            up: true,
            role: Some(role.into()),
            failover_candidate: Some(candidate),
            not_candidate_because: why.map(str::to_owned),
            failover_lag_bytes: Some(0),
            ..PatroniMemberView::default()
        }
    }

    fn patroni() -> PatroniView {
        PatroniView {
            reachable: true,
            paused: Some(false),
            leader_mismatch: Some(false),
            failover_candidates: Some(1),
            members: vec![
                member("a", "leader", false, Some("the leader")),
                member("b", "sync_standby", true, None),
                member("c", "replica", false, Some("tag nofailover")),
            ],
            ..PatroniView::default()
        }
    }

    #[test]
    fn the_new_primarys_first_write_is_the_first_acknowledged_once_it_was_seen() {
        let log = vec![
            ok(1, 9.9, 9.91),
            failed(Some(2), 10.0),
            ok(3, 10.4, 10.41),
            ok(4, 10.6, 10.61),
            ok(5, 10.8, 10.81),
        ];
        assert_eq!(first_new_seq(&log, Some(10.5)), Some(4));
        assert_eq!(
            first_new_seq(&log, None),
            None,
            "no new primary, no write of it"
        );
        assert_eq!(first_new_seq(&log, Some(11.0)), None);
    }

    #[test]
    fn a_silent_thing_is_waited_for_while_a_member_or_within_the_grace_of_its_last_answer() {
        let g = GRACE.as_secs_f64();
        // Answered just before the switch: waited for GRACE from the switch.
        assert!(may_still_come(100.0 + g - 0.1, 100.0, Some(99.0), false));
        assert!(!may_still_come(100.0 + g + 0.1, 100.0, Some(99.0), false));
        // Answered after the switch: GRACE from that answer.
        assert!(may_still_come(105.0 + g - 0.1, 100.0, Some(105.0), false));
        assert!(!may_still_come(105.0 + g, 100.0, Some(105.0), false));
        // Never answered: from the switch.
        assert!(!may_still_come(100.0 + g, 100.0, None, false));
        // Patroni still lists it: waited for (until the settle timeout).
        assert!(may_still_come(1000.0, 100.0, None, true));
    }

    #[test]
    fn preconditions_refuse_with_the_reasons() {
        let nodes = vec![node("a", true), node("b", false), node("c", false)];
        let p = patroni();
        let sw = DrillMode::Switchover;
        assert_eq!(
            preconditions(sw, None, &nodes, Some(&p)),
            Vec::<String>::new()
        );
        assert_eq!(
            preconditions(sw, Some("b"), &nodes, Some(&p)),
            Vec::<String>::new()
        );
        assert_eq!(
            preconditions(sw, Some("c"), &nodes, Some(&p)),
            vec!["target c is not a failover candidate: tag nofailover"]
        );
        assert_eq!(
            preconditions(sw, Some("zz"), &nodes, Some(&p)),
            vec!["target zz is not a Patroni member (members: a, b, c)"]
        );
        assert_eq!(
            preconditions(sw, Some("a"), &nodes, Some(&p)),
            vec!["target a is the leader already"]
        );
        let two = vec![node("a", true), node("b", true)];
        assert_eq!(
            preconditions(sw, Some("b"), &two, Some(&p)),
            vec!["2 primaries: a, b"]
        );
        let mut down = nodes.clone();
        down[2].state = None;
        down[2].last_error = Some("connection refused".into());
        assert_eq!(
            preconditions(sw, Some("b"), &down, Some(&p)),
            vec!["c unreachable: connection refused"]
        );
        let paused = PatroniView {
            paused: Some(true),
            failover_candidates: Some(0),
            ..patroni()
        };
        assert_eq!(
            preconditions(sw, None, &nodes, Some(&paused)),
            vec![
                "maintenance mode on (paused): patronictl resume first",
                "no failover candidate (a: the leader; c: tag nofailover)"
            ]
        );
        let mut lagging = patroni();
        lagging.config = Some(crate::core::model::PatroniDynamicConfig {
            maximum_lag_on_failover_bytes: 100,
            ..Default::default()
        });
        lagging.members[1].failover_lag_bytes = Some(101);
        assert_eq!(
            preconditions(sw, Some("b"), &nodes, Some(&lagging)),
            vec!["target b lags 101 bytes, above maximum_lag_on_failover (100 bytes)"]
        );
        assert_eq!(
            preconditions(sw, None, &nodes, None),
            vec!["mode switchover needs [cluster.patroni]"]
        );
        assert_eq!(
            preconditions(DrillMode::Command, None, &nodes, None),
            Vec::<String>::new()
        );
    }

    fn recorded(log: Vec<Attempt>, found: Vec<i64>) -> Recorded {
        Recorded {
            cluster: "ha".into(),
            mode: DrillMode::Switchover,
            target: Some("b".into()),
            write_via: "the primary (direct)".into(),
            old_primary: "a".into(),
            new_primary: Some("b".into()),
            switch_at: Some(10.0),
            switch_result: Ok("POST /switchover: 200".into()),
            command: None,
            promoted_at: Some(10.5),
            endpoint_led_at: BTreeMap::from([(
                "vip".to_owned(),
                Followed {
                    led_at: Some(10.75),
                    must_lead: true,
                    last_answer: Some(10.75),
                },
            )]),
            old_primary_streaming_at: None,
            old_primary_not_returned: None,
            log,
            read_endpoints: Vec::new(),
            read_log: Vec::new(),
            found: Ok(found),
            last_old_primary_lsn: Some(Lsn(0x3000)),
            switch_lsn: Some(0x2000),
            before: vec![node("a", true), node("b", false)],
            after: vec![node("a", false), node("b", true)],
            events: vec![Event::new(10.0, "switch requested (switchover)")],
        }
    }

    #[test]
    fn report_judges_the_bounds_and_keeps_the_spec_keys() {
        let log = vec![
            ok(1, 9.9, 9.91),
            ok(2, 9.95, 9.96),
            failed(Some(3), 10.0),
            ok(4, 10.8, 10.81),
        ];
        let r = build_report(recorded(log.clone(), vec![1, 4]), Some(1.0), Some(0));
        assert_eq!(r.rto_seconds, Some(0.81));
        assert_eq!(r.promotion_seconds, Some(0.5));
        assert_eq!(r.acknowledged_writes, 3);
        assert_eq!(r.lost_write_numbers, vec![2]);
        assert_eq!(r.bytes_lost, Some(0x1000));
        assert_eq!(r.endpoints["vip"], Some(0.75));
        assert!(!r.passed);
        assert_eq!(
            r.failures,
            vec!["1 acknowledged writes lost, above --rpo-max 0"]
        );
        let json = serde_json::to_value(&r).unwrap();
        for key in [
            "cluster",
            "mode",
            "old_primary",
            "new_primary",
            "rto_seconds",
            "promotion_seconds",
            "acknowledged_writes",
            "acknowledged_writes_lost",
            "lost_write_numbers",
            "bytes_lost",
            "endpoints",
            "events",
            "passed",
        ] {
            assert!(json.get(key).is_some(), "{key} missing: {json:#}");
        }
        assert!(
            json.get("old_primary_streaming_seconds").is_none(),
            "absent when it did not rejoin"
        );
        assert_eq!(json["mode"], "switchover");
        let events: Vec<&str> = json["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            events,
            vec![
                "last acknowledged write before the outage (seq 2)",
                "switch requested (switchover)",
                "first failed write",
                "first acknowledged write after the outage (seq 4)",
            ]
        );
        assert_eq!(json["events"][1]["at"], "1970-01-01T00:00:10.000Z");
        let fine = build_report(recorded(log.clone(), vec![1, 2, 4]), Some(1.0), Some(0));
        assert!(fine.passed, "{:?}", fine.failures);
        let slow = build_report(recorded(log, vec![1, 2, 4]), Some(0.5), None);
        assert_eq!(slow.failures, vec!["RTO 0.810s above --rto-max 0.5s"]);
        let text = render_report(&slow);
        assert!(text.contains("client-visible RTO:        0.810s"), "{text}");
        assert!(
            text.contains("endpoint vip              0.750s  (until it led to the new primary)"),
            "{text}"
        );
        assert!(
            text.contains("FAILED: RTO 0.810s above --rto-max 0.5s"),
            "{text}"
        );
    }

    fn read(endpoint: &str, sent: f64, at: Option<f64>, seq: Option<i64>) -> read::Read {
        read::Read {
            endpoint: endpoint.into(),
            sent_at: sent,
            answered_at: at,
            in_recovery: at.map(|_| true),
            max_seq: seq,
            error: at.is_none().then(|| "connection refused".to_owned()),
        }
    }

    #[test]
    fn report_judges_the_read_endpoints_the_followers_and_the_old_primary() {
        let log = vec![
            ok(1, 9.9, 9.91),
            ok(2, 9.95, 9.96),
            failed(Some(3), 10.0),
            ok(4, 10.8, 10.81),
            ok(5, 10.85, 10.86),
        ];
        let mut r = recorded(log, vec![1, 2, 4, 5]);
        r.read_endpoints = vec!["ro".into(), "dead".into(), "stale".into()];
        r.read_log = vec![
            read("ro", 9.9, Some(9.901), Some(1)),
            read("dead", 9.9, Some(9.901), Some(1)),
            read("stale", 9.9, Some(9.901), Some(1)),
            read("ro", 10.0, None, None),
            read("dead", 10.0, None, None),
            read("stale", 10.0, Some(10.001), Some(2)),
            read("ro", 10.9, Some(10.902), Some(4)),
            read("dead", 10.9, None, None),
            read("stale", 10.9, Some(10.901), Some(2)),
        ];
        r.endpoint_led_at.insert(
            "haproxy".into(),
            Followed {
                led_at: None,
                must_lead: true,
                last_answer: Some(10.9),
            },
        );
        r.endpoint_led_at.insert("any".into(), Followed::default());
        r.old_primary_not_returned = Some("old primary a did not return".into());
        let rep = build_report(r, None, Some(0));
        assert_eq!(rep.read_endpoints["ro"].new_topology_seconds, Some(0.902));
        assert_eq!(rep.read_endpoints["ro"].longest_unreadable_seconds, 0.902);
        assert_eq!(
            rep.failures,
            vec![
                "read endpoint dead unreadable at the end (every read failed since 1970-01-01T00:00:10.000Z)",
                "read endpoint stale never answered with a write of the new primary",
                "endpoint haproxy did not lead to the new primary (last answer 1970-01-01T00:00:10.900Z)",
            ],
            "an endpoint expected anywhere need not lead to the new primary"
        );
        assert!(
            rep.events
                .iter()
                .any(|e| e.event
                    == "read endpoint ro answers from the new topology (seq 4, standby)"),
            "{:#?}",
            rep.events
        );
        let text = render_report(&rep);
        assert!(
            text.contains("read endpoint ro: new topology 0.902s (a standby), longest unreadable 0.902s, 1 of 3 reads failed"),
            "{text}"
        );
        assert!(
            text.contains("old primary streaming:     -  (old primary a did not return)"),
            "{text}"
        );
        let json = serde_json::to_value(&rep).unwrap();
        assert_eq!(
            json["old_primary_not_returned"],
            "old primary a did not return"
        );
        assert_eq!(json["read_endpoints"]["ro"]["readable_at_end"], true);
        assert_eq!(json["read_log"].as_array().unwrap().len(), 9);
    }
}
