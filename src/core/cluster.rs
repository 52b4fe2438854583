//! The cluster view (SPEC §4.5): what the nodes of one cluster say about each other, computed by a
//! pure function after every poll round from that round's node reports plus a short history kept
//! in [`ClusterHistory`]. Time is a parameter (`now`); nothing here reads a clock or does I/O.
//!
//! # Counting
//! - **primaries**: reachable nodes (last poll succeeded) that are not in recovery. `1` is
//!   healthy; `0` means no writable node; `2+` is split brain.
//! - **nodes_up / nodes_configured**; **timelines / system_identifiers**: distinct known values
//!   among reachable nodes (`> 1`: a node diverged after a promotion, or belongs to another
//!   cluster).
//!
//! # Which nodes are standbys
//! With exactly one reachable primary, every other configured node gets a standby entry, down or
//! not, so that a vanished standby stays visible (streaming 0) instead of its series
//! disappearing. With two or more primaries, every node except the reachable primaries is
//! listed. With none, every configured node is listed (the down former primary included: it is
//! not streaming from anything the exporter can see).
//!
//! # Standby clusters
//! A cluster with no writable node whose one top node is in recovery and replicates from outside
//! the cluster (its WAL receiver's sender matches no configured node's host and port, and no other
//! node of the cluster lists it in `pg_stat_replication`) is a standby cluster (Patroni's
//! `standby_cluster`, its `standby_leader`). The leader is then the top: the other nodes' lag,
//! time lag and the RPO are measured against its replay position, as they would be against a
//! primary; the leader itself keeps its standby entry (streaming from the source, no in-cluster
//! lag). A leader whose link is down stays the leader while no other node lists it.
//! `is_standby_cluster` is absent while no node is reachable.
//!
//! # Logical walsenders
//! A walsender on a logical slot (a subscriber, a decoding client) is no standby: it never
//! makes a standby streaming, never counts for the RPO, and never lists a node as inside the
//! cluster.
//!
//! # Streaming
//! A standby streams when a reachable upstream (the primary, or a cascading standby) lists it
//! (by `application_name`, ASCII case-insensitive) in `pg_stat_replication` with state
//! `streaming`. The upstream's walsender is the direct witness, so its word wins: a standby the
//! exporter cannot reach but that its upstream lists as streaming counts as streaming, and a
//! standby whose receiver claims `streaming` while its upstream lists it in `catchup` does not.
//! Only when no reachable upstream lists the standby with a visible state (no row, or the state is
//! hidden for lack of `pg_monitor`) does the standby's own `pg_stat_wal_receiver.status` decide;
//! a down standby with no upstream row is not streaming.
//!
//! # Byte lag and RPO
//! Only with exactly one reachable primary; otherwise absent (there is no "the primary" to
//! measure against). A node whose system identifier differs from the primary's is another
//! cluster: its LSNs are not comparable, so its lags are absent and it never counts for the RPO.
//! The same holds for a standby on another timeline whose position is past the primary's (an
//! old primary restarted in recovery without pg_rewind): it is diverged, not caught up.
//! - **lag_bytes** = primary's `pg_current_wal_lsn()` − the standby's own replay LSN, read from
//!   the standby (so it works when the primary no longer lists it); 0 when the standby's
//!   (slightly later) reading is ahead; absent when the standby is down or the value is NULL.
//! - **rpo_bytes** = primary's current LSN − the most advanced durable position among the
//!   configured non-primary nodes, i.e. what a failover now would lose. A standby's durable
//!   position is the highest of: the primary's `pg_stat_replication.flush_lsn` for it, its own
//!   `pg_last_wal_receive_lsn()` (received *and flushed*), and its own replay LSN. Walsenders
//!   that map to no configured node are ignored: logical subscribers appear in the same view but
//!   cannot be promoted, and an unknown standby is not a failover target the exporter can vouch
//!   for. When no standby position is known, the RPO is absent (unknown is not zero).
//!
//! # Time lag (honest)
//! The history holds `(now, primary LSN)` pairs, one per round that had exactly one reachable
//! primary. For a standby at replay LSN `R` behind the primary's current LSN, the time lag is
//! `now − T`, where `T` is the moment the primary's position passed `R` (the last moment the
//! primary was at or below `R`), linearly interpolated between the two samples that bracket it.
//! That is how old the primary state the standby reflects is:
//! - replay ≥ primary's current LSN → 0 (a standby read a little after the primary is not
//!   negatively lagged);
//! - an idle primary with a cut stream reads 0 while nothing is missing, and grows with `now` from
//!   the moment the primary writes again;
//! - `R` older than the oldest sample → the window's age (`now −` oldest sample), a lower bound
//!   that is capped by `poll.lag_history`;
//! - no earlier sample at all (the first round after start or after a failover) → absent: a
//!   standby is behind but there is no time reference yet.
//!
//! The history is emptied when the primary changes (another node, a new timeline, another
//! system identifier) or its LSN goes backwards: positions of another WAL history must not date
//! the new one. Samples older than the window are dropped; to bound memory even when rounds run
//! faster than `poll.interval`, the newest sample is replaced rather than appended while it is
//! closer than half an interval to the one before. Every pair of neighbours but the newest is then
//! at least half an interval apart, so the length never exceeds `2 × lag_history / interval + 2`
//! (and never 100 000) by construction; interpolation error stays below half an interval.
//!
//! Samples the line between their neighbours already tells are not kept (16 bytes a round is
//! 56 KB an hour per cluster, a thousand clusters' worth of memory being mostly straight lines):
//! - a run of rounds at one LSN keeps its first and its last sample, which is lossless (the
//!   interpolation only ever reads the last sample at or below `R` and the first above it);
//! - at a steady write rate, the newest sample replaces the one before it while the line from
//!   the last kept sample to the newest passes within a quarter of an interval of every sample
//!   it replaced (the bounds on that line's slope are kept, so the check covers them all): the
//!   time lag read from the kept samples is within a quarter of an interval of the one every
//!   sample would give, and a primary writing at a steady pace costs a few samples an hour.
//! - the oldest sample, once older than the window, moves to the window's edge on the line to
//!   the next one, so that the window's age stays the window (not the next kept sample's age).
//!
//! # Failovers
//! The history remembers the last single primary (node and timeline). When a different node
//! becomes the single primary, or the single primary's timeline rises, that is a failover:
//! `failovers_total` rises, `last_failover_timestamp = now`, and `last_failover_duration` is the
//! observed RTO: how long no writable primary was there. Rounds only bracket it: the outage
//! began between the last round that saw a writable primary and the first that saw none, and
//! ended between the last round that saw none and this one. The estimate is the distance between
//! the middles of those brackets, so it is off by at most one poll interval (half at each end):
//! an outage of `k` empty rounds between rounds `r` apart reads as `k · r`; a switchover seen in
//! consecutive rounds (no empty round) reads as half an interval. The first primary seen after the exporter starts is not a
//! failover; a restart of the same primary on the same timeline is not one either. Split brain
//! (two primaries) is not by itself a failover; it counts when it resolves to the other node.
//! A primary whose timeline cannot be read keeps its last known timeline.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use crate::core::lsn::Lsn;
use crate::core::model::{ClusterView, NodeReport, NodeState, StandbyView, UnixTime, Walsender};

/// No line may replace the newest sample (see [`ClusterHistory::replaces_newest`]).
const NO_SLOPE: (f64, f64) = (f64::INFINITY, f64::NEG_INFINITY);
/// Any line may: nothing was replaced since the last kept sample.
const ANY_SLOPE: (f64, f64) = (f64::NEG_INFINITY, f64::INFINITY);

/// Hard cap on the LSN history, whatever `lag_history` / `interval` say (16 bytes a sample).
const MAX_SAMPLES: usize = 100_000;

/// Who the single primary is: a change of any part means a different WAL history.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PrimaryId {
    name: String,
    timeline: Option<u32>,
    system_identifier: Option<String>,
}

/// State carried from round to round for one cluster: the primary's LSN history (for time lag)
/// and failover tracking.
#[derive(Clone, Debug)]
pub struct ClusterHistory {
    /// `poll.lag_history` in seconds.
    window: f64,
    /// Minimum distance between stored samples (but the newest), in seconds.
    min_spacing: f64,
    capacity: usize,
    /// `(time, primary LSN)`, oldest first; time and LSN both non-decreasing.
    samples: VecDeque<(UnixTime, Lsn)>,
    /// The slopes (seconds per byte) a line from the last kept sample (the one before the
    /// newest) may take and still pass within `tolerance` of every sample the newest replaced;
    /// empty (`lo > hi`) when the newest may not be replaced (see the module doc).
    slope: (f64, f64),
    /// A quarter of an interval: how far from a dropped sample the kept line may pass.
    tolerance: f64,
    /// The last single primary seen; the samples belong to it.
    primary: Option<PrimaryId>,
    /// The last round that saw at least one writable primary.
    last_writable_seen: Option<UnixTime>,
    /// Since then, the first and the last round that saw none.
    empty_since: Option<(UnixTime, UnixTime)>,
    failovers_total: u64,
    last_failover_timestamp: Option<UnixTime>,
    last_failover_duration: Option<f64>,
    /// The last standby leader seen (standby cluster), kept while its link is down.
    standby_leader: Option<String>,
}

impl ClusterHistory {
    pub fn new(lag_history: Duration, interval: Duration) -> Self {
        let window = lag_history.as_secs_f64();
        let min_spacing = (interval.as_secs_f64() / 2.0).max(window / (MAX_SAMPLES - 2) as f64);
        let capacity = if min_spacing > 0.0 {
            (window / min_spacing).ceil() as usize + 2
        } else {
            2
        };
        ClusterHistory {
            window,
            min_spacing,
            capacity,
            samples: VecDeque::new(),
            slope: NO_SLOPE,
            tolerance: min_spacing / 2.0,
            primary: None,
            last_writable_seen: None,
            empty_since: None,
            failovers_total: 0,
            last_failover_timestamp: None,
            last_failover_duration: None,
            standby_leader: None,
        }
    }

    /// Samples currently held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The most samples the history will ever hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records this round's single primary; counts a failover and empties the LSN history when it
    /// is not the primary seen before.
    fn track_primary(&mut self, now: UnixTime, seen: PrimaryId) {
        let Some(old) = &self.primary else {
            self.samples.clear();
            self.primary = Some(seen);
            return;
        };
        let moved = old.name != seen.name;
        let timeline_rose = matches!((old.timeline, seen.timeline), (Some(a), Some(b)) if b > a);
        if moved || timeline_rose {
            self.failovers_total += 1;
            self.last_failover_timestamp = Some(now);
            self.last_failover_duration = self.last_writable_seen.map(|lw| {
                let (began, ended) = match self.empty_since {
                    Some((first, last)) => ((lw + first) / 2.0, (last + now) / 2.0),
                    None => (lw, lw + (now - lw) / 2.0),
                };
                (ended - began).max(0.0)
            });
        }
        let current = if moved {
            seen
        } else {
            // A value that could not be read this round is not a change.
            PrimaryId {
                name: seen.name,
                timeline: seen.timeline.or(old.timeline),
                system_identifier: seen
                    .system_identifier
                    .or_else(|| old.system_identifier.clone()),
            }
        };
        if self.primary.as_ref() != Some(&current) {
            self.samples.clear();
        }
        self.primary = Some(current);
    }

    fn push(&mut self, now: UnixTime, lsn: Lsn) {
        // A clock that stepped back: keep the history sorted by time.
        while self.samples.back().is_some_and(|&(t, _)| t > now) {
            self.samples.pop_back();
            self.slope = NO_SLOPE;
        }
        // The same primary's position went backwards: it is not the same WAL history.
        if self.samples.back().is_some_and(|&(_, l)| l > lsn) {
            self.samples.clear();
        }
        self.expire(now - self.window);
        // Keep every pair of neighbours but the newest at least `min_spacing` apart: that is
        // what bounds the length, however fast the rounds come.
        let n = self.samples.len();
        if n >= 2 && self.samples[n - 1].0 - self.samples[n - 2].0 < self.min_spacing {
            self.samples.pop_back();
            self.slope = NO_SLOPE;
        } else if self.replaces_newest(now, lsn) {
            self.samples.pop_back();
        } else {
            self.slope = ANY_SLOPE;
        }
        // Unreachable by the spacing argument; kept so the bound never depends on float rounding.
        while self.samples.len() >= self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back((now, lsn));
    }

    /// Drops the samples older than `cut`; the last of them moves to `cut` on the line to the
    /// next sample instead, when there is one (see the module doc).
    fn expire(&mut self, cut: UnixTime) {
        while let Some(&(t0, l0)) = self.samples.front().filter(|&&(t, _)| t < cut) {
            match self.samples.get(1) {
                Some(&(t1, l1)) if t1 > cut => {
                    let moved = l0.0 + ((l1.0 - l0.0) as f64 * (cut - t0) / (t1 - t0)) as u64;
                    self.samples[0] = (cut, Lsn(moved.clamp(l0.0, l1.0)));
                    if self.samples.len() == 2 {
                        // The last kept sample moved: the slopes were from where it was.
                        self.slope = NO_SLOPE;
                    }
                    return;
                }
                _ => {
                    self.samples.pop_front();
                }
            }
        }
    }

    /// Whether `(now, lsn)` may replace the newest sample: the newest and the one before hold one
    /// LSN (a run: keep its first and last), or the line from the one before to `(now, lsn)`
    /// passes within `tolerance` of the newest and of every sample it replaced. Narrows
    /// `slope` to the lines that still do.
    fn replaces_newest(&mut self, now: UnixTime, lsn: Lsn) -> bool {
        let n = self.samples.len();
        if n < 2 {
            return false;
        }
        let (ta, la) = self.samples[n - 2];
        let (tp, lp) = self.samples[n - 1];
        if la == lp {
            return lp == lsn;
        }
        if lsn <= lp {
            return false;
        }
        let (dl, dq) = (lp.bytes_since(la) as f64, lsn.bytes_since(la) as f64);
        let lo = self.slope.0.max((tp - self.tolerance - ta) / dl);
        let hi = self.slope.1.min((tp + self.tolerance - ta) / dl);
        let s = (now - ta) / dq;
        if lo <= s && s <= hi {
            self.slope = (lo, hi);
            true
        } else {
            false
        }
    }

    /// Seconds since the primary passed `replay`; see the module doc.
    fn time_lag(&self, now: UnixTime, current: Lsn, replay: Lsn) -> Option<f64> {
        if replay >= current {
            return Some(0.0);
        }
        // Samples are sorted by LSN too (the history is reset when the LSN goes back).
        let j = self.samples.partition_point(|&(_, l)| l <= replay);
        if j == self.samples.len() {
            // Cannot happen when `current` was pushed this round; unknown rather than a guess.
            return None;
        }
        if j == 0 {
            let (oldest, _) = self.samples[0];
            return (oldest < now).then_some(now - oldest);
        }
        let (t0, l0) = self.samples[j - 1];
        let (t1, l1) = self.samples[j];
        let fraction = replay.bytes_since(l0) as f64 / l1.bytes_since(l0) as f64;
        let passed = t0 + (t1 - t0) * fraction;
        Some((now - passed).max(0.0))
    }
}

/// Computes the cluster view of one round and updates the history. `nodes` holds every configured
/// node of the cluster, up or not.
pub fn observe(history: &mut ClusterHistory, now: UnixTime, nodes: &[NodeReport]) -> ClusterView {
    let reachable: Vec<(&NodeReport, &NodeState)> = nodes
        .iter()
        .filter(|n| n.up)
        .filter_map(|n| n.state.as_ref().map(|s| (n, s)))
        .collect();
    let primaries: Vec<(&NodeReport, &NodeState)> = reachable
        .iter()
        .filter(|(_, s)| !s.in_recovery)
        .copied()
        .collect();
    let single = match primaries.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    // A standby cluster: no writable node, and its top node replicates from outside the
    // cluster. Its standby leader is then the top the other nodes are measured against.
    let leader = if primaries.is_empty() {
        standby_leader(history, nodes, &reachable)
    } else {
        None
    };
    history.standby_leader = match (&leader, primaries.is_empty()) {
        (Some((n, _)), _) => Some(n.name.clone()),
        (None, true) => history.standby_leader.take(),
        (None, false) => None,
    };
    let is_standby_cluster = if !primaries.is_empty() {
        Some(false)
    } else if leader.is_some() {
        Some(true)
    } else if reachable.is_empty() {
        None
    } else {
        Some(false)
    };
    let source = leader
        .and_then(|(_, s)| s.wal_receiver.as_ref())
        .and_then(|r| Some((r.sender_host.clone()?, r.sender_port?.to_string())));
    let top = single.or(leader);

    if let Some((node, state)) = top {
        history.track_primary(
            now,
            PrimaryId {
                name: node.name.clone(),
                timeline: state.timeline_id,
                system_identifier: state.system_identifier.clone(),
            },
        );
        if let Some(lsn) = state.wal_lsn {
            history.push(now, lsn);
        }
    }
    if primaries.is_empty() {
        let first = history.empty_since.map_or(now, |(first, _)| first);
        history.empty_since = Some((first, now));
    } else {
        history.last_writable_seen = Some(now);
        history.empty_since = None;
    }

    let is_primary = |n: &NodeReport| primaries.iter().any(|(p, _)| p.name == n.name);
    let mut standbys = Vec::new();
    let mut best_durable: Option<Lsn> = None;
    for node in nodes.iter().filter(|n| !is_primary(n)) {
        let own = if node.up { node.state.as_ref() } else { None };
        let mut view = StandbyView {
            node: node.name.clone(),
            streaming: streaming(node, own, &reachable),
            lag_bytes: None,
            lag_seconds: None,
        };
        if let Some((top_node, primary)) = top
            && top_node.name != node.name
            && same_system(primary, own)
            && let Some(current) = primary.wal_lsn
            && !diverged(primary, own, current)
        {
            if let Some(replay) = own.and_then(|s| s.replay_lsn) {
                view.lag_bytes = Some(current.bytes_since(replay));
                view.lag_seconds = history.time_lag(now, current, replay);
            }
            let listed = primary
                .walsenders
                .iter()
                .filter(|w| streams_to(w, node))
                .filter_map(|w| w.flush_lsn);
            let own_positions = own
                .into_iter()
                .flat_map(|s| [s.receive_lsn, s.replay_lsn])
                .flatten();
            best_durable = best_durable.max(listed.chain(own_positions).max());
        }
        standbys.push(view);
    }

    let rpo_bytes = top
        .and_then(|(_, p)| p.wal_lsn)
        .zip(best_durable)
        .map(|(current, durable)| current.bytes_since(durable));

    let distinct = |f: fn(&NodeState) -> Option<String>| {
        reachable
            .iter()
            .filter_map(|(_, s)| f(s))
            .collect::<BTreeSet<_>>()
            .len() as u32
    };
    ClusterView {
        primaries: primaries.len() as u32,
        nodes_up: nodes.iter().filter(|n| n.up).count() as u32,
        nodes_configured: nodes.len() as u32,
        timelines: distinct(|s| s.timeline_id.map(|t| t.to_string())),
        system_identifiers: distinct(|s| s.system_identifier.clone()),
        standbys,
        rpo_bytes,
        failovers_total: history.failovers_total,
        last_failover_timestamp: history.last_failover_timestamp,
        last_failover_duration: history.last_failover_duration,
        is_standby_cluster,
        source,
        standby_leader: leader.map(|(n, _)| n.name.clone()),
        rounds_late: 0,
    }
}

/// The standby leader of a cluster without a writable node: the one reachable node in
/// recovery that replicates from outside the cluster (its WAL receiver's sender is no configured
/// node of the cluster, and no other node lists it as a walsender). While its link is down (no
/// receiver, or a hidden one), the leader seen before stays the leader as long as no other node
/// lists it. None when there is none or more than one (ambiguous).
fn standby_leader<'a>(
    history: &ClusterHistory,
    nodes: &[NodeReport],
    reachable: &[(&'a NodeReport, &'a NodeState)],
) -> Option<(&'a NodeReport, &'a NodeState)> {
    let listed_inside = |node: &NodeReport| {
        reachable
            .iter()
            .filter(|(upstream, _)| upstream.name != node.name)
            .flat_map(|(_, s)| &s.walsenders)
            .any(|w| streams_to(w, node))
    };
    let from_outside = |state: &NodeState| {
        let Some(r) = &state.wal_receiver else {
            return false;
        };
        let (Some(host), Some(port)) = (&r.sender_host, r.sender_port) else {
            return false;
        };
        !nodes.iter().any(|n| {
            n.address
                .as_ref()
                .is_some_and(|(h, p)| h.eq_ignore_ascii_case(host) && i32::from(*p) == port)
        })
    };
    let candidates: Vec<_> = reachable
        .iter()
        .filter(|(n, s)| s.in_recovery && !listed_inside(n) && from_outside(s))
        .copied()
        .collect();
    match candidates.as_slice() {
        [one] => Some(*one),
        [] => {
            let name = history.standby_leader.as_deref()?;
            reachable
                .iter()
                .find(|(n, s)| n.name == name && s.in_recovery && !listed_inside(n))
                .copied()
        }
        _ => None,
    }
}

/// False only when both system identifiers are known and differ.
fn same_system(primary: &NodeState, standby: Option<&NodeState>) -> bool {
    match (
        &primary.system_identifier,
        standby.map(|s| &s.system_identifier),
    ) {
        (Some(a), Some(Some(b))) => a == b,
        _ => true,
    }
}

/// A standby on another (older) timeline that holds WAL past the primary's current position:
/// an old primary restarted in recovery without pg_rewind. Its positions are from another WAL
/// history, so reading them as "caught up" (lag 0, RPO 0) would be a lie; its lag and RPO share
/// are left unknown. A sibling still replaying the old timeline below the switch point is an
/// honest ancestor and is measured as usual; so is a standby whose timeline is unknown.
fn diverged(primary: &NodeState, standby: Option<&NodeState>, current: Lsn) -> bool {
    let Some(s) = standby else { return false };
    let other_timeline =
        matches!((primary.timeline_id, s.timeline_id), (Some(a), Some(b)) if a != b);
    let ahead = [s.receive_lsn, s.replay_lsn]
        .into_iter()
        .flatten()
        .any(|p| p > current);
    other_timeline && ahead
}

/// Whether walsender `w` (a row of some node's `pg_stat_replication`) is the stream to `node`:
/// its `application_name` is the node's, ASCII case-insensitive, and it is physical (a subscriber
/// named like a standby is not the standby's stream). The one rule that ties a walsender to a
/// configured node, for the cluster view, `status` and the landing page's topology.
pub fn streams_to(w: &Walsender, node: &NodeReport) -> bool {
    !w.is_logical()
        && w.application_name
            .eq_ignore_ascii_case(&node.application_name)
}

/// The upstream of `node`, as its direct witness tells: the first reachable node of `nodes`
/// (its last poll succeeded) other than `node` that lists `node` in its
/// `pg_stat_replication` ([`streams_to`]), preferring one that lists it `streaming` (during a
/// switchover two may list it); with that walsender row. `None` when no polled node lists it: a
/// vanished standby, or one fed from the archive.
pub fn upstream<'a>(
    node: &NodeReport,
    nodes: &'a [NodeReport],
) -> Option<(&'a NodeReport, &'a Walsender)> {
    let rows = || {
        nodes
            .iter()
            .filter(|u| u.up && u.name != node.name)
            .filter_map(|u| u.state.as_ref().map(|s| (u, s)))
            .flat_map(|(u, s)| s.walsenders.iter().map(move |w| (u, w)))
            .filter(|(_, w)| streams_to(w, node))
    };
    rows()
        .find(|(_, w)| w.state.as_deref() == Some("streaming"))
        .or_else(|| rows().next())
}

/// See "Streaming" in the module doc.
fn streaming(
    node: &NodeReport,
    own: Option<&NodeState>,
    reachable: &[(&NodeReport, &NodeState)],
) -> Option<bool> {
    let rows: Vec<Option<&str>> = reachable
        .iter()
        .filter(|(upstream, _)| upstream.name != node.name)
        .flat_map(|(_, s)| &s.walsenders)
        .filter(|w| streams_to(w, node))
        .map(|w| w.state.as_deref())
        .collect();
    let visible: Vec<&str> = rows.iter().flatten().copied().collect();
    if !visible.is_empty() {
        return Some(visible.contains(&"streaming"));
    }
    let receiver = own.and_then(|s| s.wal_receiver.as_ref());
    match receiver.map(|r| r.status.as_deref()) {
        Some(Some(status)) => Some(status == "streaming"),
        // Every witness is hidden (no pg_monitor): an upstream lists the standby, or its own
        // receiver runs, but neither may say in which state. Unknown, not "not streaming".
        Some(None) => None,
        None if !rows.is_empty() => None,
        // Nobody lists it and no receiver runs (or the node is down): not streaming.
        None => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{WalReceiver, Walsender};

    const SYSID: &str = "7300000000000000001";

    fn node(name: &str, state: Option<NodeState>) -> NodeReport {
        let mut n = NodeReport::new(name, name);
        n.up = state.is_some();
        n.state = state;
        n
    }

    fn primary(name: &str, timeline: u32, lsn: u64, walsenders: Vec<Walsender>) -> NodeReport {
        node(
            name,
            Some(NodeState {
                system_identifier: Some(SYSID.into()),
                in_recovery: false,
                timeline_id: Some(timeline),
                wal_lsn: Some(Lsn(lsn)),
                walsenders,
                ..Default::default()
            }),
        )
    }

    /// A standby whose receiver streams and which has flushed what it replayed.
    fn standby(name: &str, timeline: u32, replay: u64) -> NodeReport {
        node(
            name,
            Some(NodeState {
                system_identifier: Some(SYSID.into()),
                in_recovery: true,
                timeline_id: Some(timeline),
                wal_lsn: Some(Lsn(replay)),
                receive_lsn: Some(Lsn(replay)),
                replay_lsn: Some(Lsn(replay)),
                wal_receiver: Some(WalReceiver {
                    status: Some("streaming".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        )
    }

    fn down(name: &str) -> NodeReport {
        node(name, None)
    }

    fn with_state(mut n: NodeReport, f: impl FnOnce(&mut NodeState)) -> NodeReport {
        f(n.state.as_mut().expect("node is up"));
        n
    }

    fn receiver(n: NodeReport, status: &str) -> NodeReport {
        with_state(n, |s| {
            s.wal_receiver.as_mut().unwrap().status = Some(status.into())
        })
    }

    fn ws(app: &str, state: &str, flush: u64) -> Walsender {
        Walsender {
            application_name: app.into(),
            state: Some(state.into()),
            flush_lsn: Some(Lsn(flush)),
            ..Default::default()
        }
    }

    fn history() -> ClusterHistory {
        ClusterHistory::new(Duration::from_secs(3600), Duration::from_secs(1))
    }

    fn sb<'a>(view: &'a ClusterView, name: &str) -> &'a StandbyView {
        view.standbys
            .iter()
            .find(|s| s.node == name)
            .unwrap_or_else(|| panic!("no standby entry for {name}: {view:?}"))
    }

    fn names(view: &ClusterView) -> Vec<&str> {
        view.standbys.iter().map(|s| s.node.as_str()).collect()
    }

    /// Feeds rounds `(now, primary LSN)` of a primary `a` with one standby `b` at `replay`.
    fn rounds(h: &mut ClusterHistory, rounds: &[(f64, u64)], replay: u64) -> ClusterView {
        let mut view = ClusterView::default();
        for &(now, lsn) in rounds {
            view = observe(
                h,
                now,
                &[primary("a", 1, lsn, vec![]), standby("b", 1, replay)],
            );
        }
        view
    }

    #[test]
    fn caught_up_cluster() {
        let mut h = history();
        let nodes = [
            primary(
                "a",
                1,
                5000,
                vec![ws("b", "streaming", 5000), ws("c", "streaming", 5000)],
            ),
            standby("b", 1, 5000),
            standby("c", 1, 5000),
        ];
        observe(&mut h, 99.0, &nodes);
        let v = observe(&mut h, 100.0, &nodes);
        assert_eq!(
            (
                v.primaries,
                v.nodes_up,
                v.nodes_configured,
                v.timelines,
                v.system_identifiers
            ),
            (1, 3, 3, 1, 1)
        );
        assert_eq!(names(&v), ["b", "c"]);
        for name in ["b", "c"] {
            let s = sb(&v, name);
            assert_eq!(s.streaming, Some(true));
            assert_eq!((s.lag_bytes, s.lag_seconds), (Some(0), Some(0.0)));
        }
        assert_eq!(v.rpo_bytes, Some(0));
        assert_eq!((v.failovers_total, v.last_failover_timestamp), (0, None));
    }

    #[test]
    fn behind_standby_interpolates_between_the_bracketing_samples() {
        let mut h = history();
        // The primary wrote 1000 bytes per 10 s; the standby stopped at 1500, i.e. at t = 105.
        let v = rounds(&mut h, &[(100.0, 1000), (110.0, 2000), (120.0, 3000)], 1500);
        let b = sb(&v, "b");
        assert_eq!(b.lag_bytes, Some(1500));
        assert_eq!(b.lag_seconds, Some(15.0));
        // Exactly on a sample: the primary passed 2000 at t = 110.
        let v = rounds(&mut h, &[(121.0, 3000)], 2000);
        assert_eq!(sb(&v, "b").lag_seconds, Some(11.0));
    }

    #[test]
    fn a_standby_on_another_timeline_is_not_measured_against_the_primary() {
        // The old primary, back in recovery on timeline 1 without pg_rewind, holds WAL the new
        // primary (timeline 2) never had: its position past the primary's is not "caught up".
        let mut h = history();
        let nodes = [
            primary("b", 2, 5000, vec![]),
            standby("a", 1, 6000),
            standby("c", 2, 4000),
        ];
        observe(&mut h, 1.0, &nodes);
        let v = observe(&mut h, 2.0, &nodes);
        assert_eq!(sb(&v, "a").lag_bytes, None);
        assert_eq!(sb(&v, "a").lag_seconds, None);
        assert_eq!(sb(&v, "c").lag_bytes, Some(1000));
        // Only c's position counts toward the RPO, not a's (ahead on a foreign history).
        assert_eq!(v.rpo_bytes, Some(1000));
        assert_eq!(v.timelines, 2);
        // A standby whose timeline is unknown (no receiver running) is still compared.
        let nodes = [
            primary("b", 2, 5000, vec![]),
            with_state(standby("c", 2, 4500), |s| s.timeline_id = None),
        ];
        let v = observe(&mut h, 3.0, &nodes);
        assert_eq!(sb(&v, "c").lag_bytes, Some(500));
    }

    #[test]
    fn streaming_is_unknown_when_every_witness_is_hidden() {
        // No pg_monitor anywhere: the primary lists b but hides its state, and b's receiver row
        // hides its status. That is unknown, not "not streaming".
        let mut h = history();
        let mut hidden = ws("b", "streaming", 0);
        hidden.state = None;
        let b = with_state(standby("b", 1, 1000), |s| {
            s.wal_receiver.as_mut().unwrap().status = None
        });
        let v = observe(
            &mut h,
            1.0,
            &[primary("a", 1, 1000, vec![hidden.clone()]), b],
        );
        assert_eq!(sb(&v, "b").streaming, None);
        // Listed with a hidden state while b itself is down: still unknown.
        let v = observe(
            &mut h,
            2.0,
            &[primary("a", 1, 1000, vec![hidden]), down("b")],
        );
        assert_eq!(sb(&v, "b").streaming, None);
        // Nobody lists b and it is down: not streaming (a vanished standby stays visible).
        let v = observe(&mut h, 3.0, &[primary("a", 1, 1000, vec![]), down("b")]);
        assert_eq!(sb(&v, "b").streaming, Some(false));
    }

    #[test]
    fn standby_read_after_a_stale_primary_sample_is_not_negative() {
        let mut h = history();
        let v = rounds(&mut h, &[(10.0, 900), (11.0, 1000)], 1040);
        assert_eq!(sb(&v, "b").lag_bytes, Some(0));
        assert_eq!(sb(&v, "b").lag_seconds, Some(0.0));
    }

    #[test]
    fn idle_primary_with_cut_stream_reads_zero_until_the_primary_writes() {
        let mut h = history();
        let mut v = ClusterView::default();
        // The stream is cut from t = 3 on; the primary is idle at 1000 until t = 10.
        for t in 0..=10 {
            let b = receiver(
                standby("b", 1, 1000),
                if t < 3 { "streaming" } else { "waiting" },
            );
            v = observe(&mut h, f64::from(t), &[primary("a", 1, 1000, vec![]), b]);
            assert_eq!(sb(&v, "b").lag_seconds, Some(0.0), "t={t}");
        }
        assert_eq!(sb(&v, "b").streaming, Some(false));
        for (t, lsn, want) in [(11.0, 2000, 1.0), (12.0, 2500, 2.0), (20.0, 2600, 10.0)] {
            let b = receiver(standby("b", 1, 1000), "waiting");
            v = observe(&mut h, t, &[primary("a", 1, lsn, vec![]), b]);
            assert_eq!(sb(&v, "b").lag_seconds, Some(want), "t={t}");
            assert_eq!(sb(&v, "b").lag_bytes, Some(lsn - 1000));
        }
    }

    #[test]
    fn older_than_the_window_reports_the_window_age() {
        let mut h = ClusterHistory::new(Duration::from_secs(60), Duration::from_secs(1));
        let samples: Vec<(f64, u64)> = (0..=200)
            .map(|t| (f64::from(t), 10_000 + t as u64))
            .collect();
        // The standby stopped at t = 5, long before the window [140, 200].
        let v = rounds(&mut h, &samples, 10_005);
        assert_eq!(sb(&v, "b").lag_seconds, Some(60.0));
        // Inside the window, interpolation still applies.
        let v = rounds(&mut h, &[(201.0, 10_201)], 10_150);
        assert_eq!(sb(&v, "b").lag_seconds, Some(51.0));
    }

    #[test]
    fn behind_with_no_earlier_sample_is_unknown_not_zero() {
        let mut h = history();
        let v = rounds(&mut h, &[(100.0, 2000)], 1000);
        assert_eq!(sb(&v, "b").lag_bytes, Some(1000));
        assert_eq!(sb(&v, "b").lag_seconds, None);
        // One round later, the lower bound is the age of the first sample.
        let v = rounds(&mut h, &[(101.0, 2000)], 1000);
        assert_eq!(sb(&v, "b").lag_seconds, Some(1.0));
    }

    #[test]
    fn history_stays_bounded_even_when_rounds_run_faster_than_the_interval() {
        let mut h = ClusterHistory::new(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(h.capacity(), 22);
        let mut lsn = 0;
        for i in 0..10 * h.capacity() * 10 {
            lsn += 100;
            // Rounds every 0.1 s: ten times faster than configured.
            let now = i as f64 / 10.0;
            rounds(&mut h, &[(now, lsn)], 0);
            assert!(h.len() <= h.capacity(), "round {i}: {} samples", h.len());
        }
        // The window is still covered: a standby stuck 9 s back is dated within half an interval.
        let now = (10 * h.capacity() * 10) as f64 / 10.0;
        lsn += 100;
        let stuck = lsn - 90 * 100;
        let v = rounds(&mut h, &[(now, lsn)], stuck);
        let lag = sb(&v, "b").lag_seconds.unwrap();
        assert!((lag - 9.0).abs() <= 0.5, "{lag}");
    }

    /// The time lag every sample would give (the interpolation of [`ClusterHistory::time_lag`]
    /// over an uncompressed history): the oracle of the compression tests.
    fn lag_from_every_sample(samples: &[(f64, u64)], now: f64, current: u64, replay: u64) -> f64 {
        if replay >= current {
            return 0.0;
        }
        let j = samples.partition_point(|&(_, l)| l <= replay);
        if j == 0 {
            return now - samples[0].0;
        }
        let ((t0, l0), (t1, l1)) = (samples[j - 1], samples[j]);
        now - (t0 + (t1 - t0) * (replay - l0) as f64 / (l1 - l0) as f64)
    }

    /// A primary's LSN per 1 s round: steady writing, bursts, idle stretches, a slow drift.
    fn workload(rounds: u64) -> Vec<(f64, u64)> {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut lsn = 1 << 24;
        (0..rounds)
            .map(|t| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                lsn += match (t / 300) % 4 {
                    0 => 16_384,             // steady
                    1 => 16_384 + x % 2_000, // steady with jitter
                    2 if t % 60 < 40 => 0,   // idle, then a burst
                    2 => 1 + x % 5_000_000,  // bursts
                    _ => 1_000 + t * 3,      // a rate that drifts
                };
                (t as f64, lsn)
            })
            .collect()
    }

    #[test]
    fn the_kept_samples_date_every_position_within_a_quarter_interval_of_all_samples() {
        let mut h = history();
        let all = workload(1_200);
        for &(t, l) in &all {
            h.push(t, Lsn(l));
        }
        assert!(h.len() < all.len() / 2, "{} of {}", h.len(), all.len());
        let now = 1_200.0;
        let current = all.last().unwrap().1;
        // Every position the primary passed, and the ones between (every 997th byte).
        let (first, last) = (all[0].1, current);
        let mut checked = 0;
        for replay in (first..last)
            .step_by(997)
            .chain(all.iter().map(|&(_, l)| l))
        {
            let want = lag_from_every_sample(&all, now, current, replay);
            let got = h.time_lag(now, Lsn(current), Lsn(replay)).unwrap();
            assert!(
                (got - want).abs() <= 0.25 + 1e-9,
                "replay {replay}: {got} vs {want}"
            );
            checked += 1;
        }
        assert!(checked > 1_200);
    }

    #[test]
    fn a_steady_or_idle_primary_costs_a_few_samples_an_hour() {
        let mut h = history();
        for t in 0..3_600u64 {
            h.push(t as f64, Lsn(1_000 + t * 8_192));
        }
        assert!(h.len() <= 3, "{}", h.len());
        // The line is exact: a standby stopped at t = 1000 reads 2600 s at t = 3600.
        let lag = h.time_lag(
            3_600.0,
            Lsn(1_000 + 3_600 * 8_192),
            Lsn(1_000 + 1_000 * 8_192),
        );
        assert_eq!(lag, Some(2_600.0));
        let mut h = history();
        for t in 0..3_600u64 {
            // Idle but for a write every 15 minutes.
            h.push(t as f64, Lsn(1_000 + (t / 900) * 100));
        }
        assert!(h.len() <= 8, "{}", h.len());
        // A run keeps its last sample: the primary was last at 1100 at t = 1799.
        assert_eq!(h.time_lag(3_600.0, Lsn(1_300), Lsn(1_100)), Some(1_801.0));
    }

    #[test]
    fn history_bound_holds_at_the_configured_pace_and_with_a_huge_window() {
        let mut h = ClusterHistory::new(Duration::from_secs(30), Duration::from_secs(1));
        for t in 0..600u64 {
            rounds(&mut h, &[(t as f64, t * 10)], 0);
        }
        assert!(h.len() <= 32, "{}", h.len());
        let h = ClusterHistory::new(Duration::from_secs(365 * 86_400), Duration::from_millis(1));
        assert!(h.capacity() <= MAX_SAMPLES);
        let h = ClusterHistory::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(h.capacity(), 2);
    }

    #[test]
    fn two_primaries_split_brain() {
        let mut h = history();
        observe(
            &mut h,
            1.0,
            &[
                primary("a", 1, 1000, vec![]),
                standby("b", 1, 1000),
                standby("c", 1, 1000),
            ],
        );
        let nodes = [
            primary("a", 1, 1100, vec![ws("c", "streaming", 1100)]),
            primary("b", 2, 1050, vec![]),
            standby("c", 1, 1100),
        ];
        let v = observe(&mut h, 2.0, &nodes);
        assert_eq!((v.primaries, v.timelines), (2, 2));
        assert_eq!(names(&v), ["c"], "neither primary is listed as a standby");
        let c = sb(&v, "c");
        assert_eq!(c.streaming, Some(true));
        assert_eq!((c.lag_bytes, c.lag_seconds), (None, None));
        assert_eq!(v.rpo_bytes, None);
        assert_eq!(
            v.failovers_total, 0,
            "split brain is not by itself a failover"
        );
        // Resolving back to the old primary is not a failover either.
        let v = observe(
            &mut h,
            3.0,
            &[
                primary("a", 1, 1200, vec![]),
                down("b"),
                standby("c", 1, 1200),
            ],
        );
        assert_eq!(v.failovers_total, 0);
        // Resolving to the other node is.
        let v = observe(
            &mut h,
            4.0,
            &[
                primary("a", 1, 1200, vec![]),
                primary("b", 2, 1300, vec![]),
                standby("c", 1, 1200),
            ],
        );
        assert_eq!(v.failovers_total, 0);
        let v = observe(
            &mut h,
            5.0,
            &[
                down("a"),
                primary("b", 2, 1300, vec![]),
                standby("c", 1, 1200),
            ],
        );
        assert_eq!(v.failovers_total, 1);
        assert_eq!(v.last_failover_timestamp, Some(5.0));
        assert_eq!(
            v.last_failover_duration,
            Some(0.5),
            "a writable primary was seen at t=4, none missing in between: half an interval"
        );
        assert_eq!(names(&v), ["a", "c"]);
    }

    #[test]
    fn no_primary_lists_every_node_and_measures_nothing() {
        let mut h = history();
        observe(
            &mut h,
            1.0,
            &[primary("a", 1, 1000, vec![]), standby("b", 1, 1000)],
        );
        let v = observe(&mut h, 2.0, &[down("a"), standby("b", 1, 1000)]);
        assert_eq!((v.primaries, v.nodes_up, v.nodes_configured), (0, 1, 2));
        assert_eq!(names(&v), ["a", "b"]);
        assert_eq!(sb(&v, "a").streaming, Some(false));
        // Nobody upstream lists b, so its own receiver decides.
        assert_eq!(sb(&v, "b").streaming, Some(true));
        assert_eq!(
            (sb(&v, "b").lag_bytes, sb(&v, "b").lag_seconds),
            (None, None)
        );
        assert_eq!(v.rpo_bytes, None);
        // The same primary coming back on its timeline is a restart, not a failover.
        let v = observe(
            &mut h,
            9.0,
            &[primary("a", 1, 1000, vec![]), standby("b", 1, 1000)],
        );
        assert_eq!((v.failovers_total, v.last_failover_duration), (0, None));
    }

    #[test]
    fn node_of_another_cluster_is_counted_but_never_compared() {
        let mut h = history();
        let stranger = with_state(standby("x", 1, 9_000_000), |s| {
            s.system_identifier = Some("6999999999999999999".into())
        });
        let nodes = [
            primary("a", 1, 5000, vec![ws("b", "streaming", 4000)]),
            standby("b", 1, 4000),
            stranger,
        ];
        observe(&mut h, 1.0, &nodes);
        let v = observe(&mut h, 2.0, &nodes);
        assert_eq!(v.system_identifiers, 2);
        let x = sb(&v, "x");
        assert_eq!((x.lag_bytes, x.lag_seconds), (None, None));
        assert_eq!(
            x.streaming,
            Some(true),
            "its own receiver streams, from somewhere else"
        );
        assert_eq!(
            v.rpo_bytes,
            Some(1000),
            "the stranger's far-ahead LSN must not hide the RPO"
        );
    }

    #[test]
    fn promotion_resets_the_history_and_counts_one_failover() {
        let mut h = history();
        // a is primary on timeline 1 for 100 s, idle at 1000 for the last 50.
        for t in 0..=100u64 {
            let lsn = 500 + 10 * t.min(50);
            observe(
                &mut h,
                t as f64,
                &[
                    primary("a", 1, lsn, vec![]),
                    standby("b", 1, lsn),
                    standby("c", 1, lsn),
                ],
            );
        }
        // a vanishes; b is promoted at t = 103 onto timeline 2; c still replays timeline 1 at 990.
        for t in [101.0, 102.0] {
            let v = observe(
                &mut h,
                t,
                &[down("a"), standby("b", 1, 1000), standby("c", 1, 990)],
            );
            assert_eq!(v.primaries, 0);
        }
        let v = observe(
            &mut h,
            103.0,
            &[
                down("a"),
                primary("b", 2, 1200, vec![]),
                standby("c", 1, 990),
            ],
        );
        assert_eq!(v.failovers_total, 1);
        assert_eq!(v.last_failover_timestamp, Some(103.0));
        assert_eq!(
            v.last_failover_duration,
            Some(2.0),
            "last writable primary seen at t=100, none at 101 and 102: (102+103)/2 - (100+101)/2"
        );
        assert_eq!(v.timelines, 2, "c has not followed the new timeline yet");
        assert_eq!(names(&v), ["a", "c"]);
        let c = sb(&v, "c");
        assert_eq!(c.lag_bytes, Some(210));
        assert_eq!(
            c.lag_seconds, None,
            "a's history (990 passed at t=49) must not date b's WAL"
        );
        let v = observe(
            &mut h,
            104.0,
            &[
                down("a"),
                primary("b", 2, 1300, vec![]),
                standby("c", 2, 1300),
            ],
        );
        assert_eq!((v.timelines, sb(&v, "c").lag_seconds), (1, Some(0.0)));
        // The old primary comes back, unaware: split brain on two timelines, no new failover.
        let v = observe(
            &mut h,
            105.0,
            &[
                primary("a", 1, 1000, vec![]),
                primary("b", 2, 1400, vec![]),
                standby("c", 2, 1400),
            ],
        );
        assert_eq!((v.primaries, v.timelines, v.failovers_total), (2, 2, 1));
        // a is rewound and follows b: still one failover.
        let v = observe(
            &mut h,
            106.0,
            &[
                standby("a", 2, 1400),
                primary("b", 2, 1400, vec![]),
                standby("c", 2, 1400),
            ],
        );
        assert_eq!((v.primaries, v.timelines, v.failovers_total), (1, 1, 1));
    }

    #[test]
    fn timeline_rise_on_the_same_node_is_a_failover() {
        let mut h = history();
        for t in 0..5 {
            observe(
                &mut h,
                f64::from(t),
                &[
                    primary("a", 3, 1000 + t as u64, vec![]),
                    standby("b", 3, 1000),
                ],
            );
        }
        let v = observe(
            &mut h,
            5.0,
            &[primary("a", 4, 2000, vec![]), standby("b", 3, 1000)],
        );
        assert_eq!(v.failovers_total, 1);
        assert_eq!(v.last_failover_timestamp, Some(5.0));
        assert_eq!(v.last_failover_duration, Some(0.5), "no gap: half a round");
        assert_eq!(
            sb(&v, "b").lag_seconds,
            None,
            "history restarted with the new timeline"
        );
        // An unreadable timeline is not a change.
        let v = observe(
            &mut h,
            6.0,
            &[
                with_state(primary("a", 4, 2100, vec![]), |s| s.timeline_id = None),
                standby("b", 4, 2000),
            ],
        );
        assert_eq!(v.failovers_total, 1);
        assert_eq!(sb(&v, "b").lag_seconds, Some(1.0));
        let v = observe(
            &mut h,
            7.0,
            &[primary("a", 4, 2200, vec![]), standby("b", 4, 2000)],
        );
        assert_eq!(v.failovers_total, 1);
    }

    #[test]
    fn first_primary_after_start_is_not_a_failover() {
        let mut h = history();
        observe(&mut h, 0.0, &[down("a"), standby("b", 1, 100)]);
        let v = observe(
            &mut h,
            1.0,
            &[primary("a", 7, 100, vec![]), standby("b", 1, 100)],
        );
        assert_eq!(
            (
                v.failovers_total,
                v.last_failover_timestamp,
                v.last_failover_duration
            ),
            (0, None, None)
        );
    }

    #[test]
    fn failover_after_a_gap_reports_the_gap() {
        let mut h = history();
        for t in 0..=10 {
            observe(
                &mut h,
                f64::from(t),
                &[primary("a", 1, 1000, vec![]), standby("b", 1, 1000)],
            );
        }
        for t in 11..15 {
            observe(&mut h, f64::from(t), &[down("a"), standby("b", 1, 1000)]);
        }
        let v = observe(&mut h, 15.0, &[down("a"), primary("b", 2, 1000, vec![])]);
        assert_eq!(v.failovers_total, 1);
        assert_eq!(v.last_failover_timestamp, Some(15.0));
        // Empty rounds 11..=14: the outage began in (10, 11) and ended in (14, 15).
        assert_eq!(v.last_failover_duration, Some(4.0));
        // Later rounds keep reporting the last failover.
        let v = observe(&mut h, 16.0, &[down("a"), primary("b", 2, 1000, vec![])]);
        assert_eq!(
            (v.failovers_total, v.last_failover_duration),
            (1, Some(4.0))
        );
    }

    #[test]
    fn vanished_standby_stays_visible_as_not_streaming() {
        let mut h = history();
        observe(
            &mut h,
            1.0,
            &[
                primary("a", 1, 1000, vec![ws("b", "streaming", 1000)]),
                standby("b", 1, 1000),
            ],
        );
        let v = observe(&mut h, 2.0, &[primary("a", 1, 1100, vec![]), down("b")]);
        assert_eq!(names(&v), ["b"]);
        let b = sb(&v, "b");
        assert_eq!(b.streaming, Some(false));
        assert_eq!((b.lag_bytes, b.lag_seconds), (None, None));
        assert_eq!(
            v.rpo_bytes, None,
            "no standby position is known: unknown, not 0"
        );
    }

    #[test]
    fn upstream_view_wins_over_the_standby_and_over_its_reachability() {
        let mut h = history();
        // b cannot be polled, but the primary's walsender for it streams: b streams.
        let v = observe(
            &mut h,
            1.0,
            &[
                primary("a", 1, 1000, vec![ws("B", "streaming", 900)]),
                down("b"),
            ],
        );
        assert_eq!(
            sb(&v, "b").streaming,
            Some(true),
            "application_name matched case-insensitively"
        );
        assert_eq!(
            v.rpo_bytes,
            Some(100),
            "the primary's flush_lsn for b counts"
        );
        // b's receiver says streaming but the primary has it in catchup: not streaming yet.
        let v = observe(
            &mut h,
            2.0,
            &[
                primary("a", 1, 1000, vec![ws("b", "catchup", 500)]),
                standby("b", 1, 500),
            ],
        );
        assert_eq!(sb(&v, "b").streaming, Some(false));
        // A row whose state is hidden (no pg_monitor) is no evidence: b's own receiver decides.
        let mut hidden = ws("b", "streaming", 0);
        hidden.state = None;
        hidden.flush_lsn = None;
        let v = observe(
            &mut h,
            3.0,
            &[primary("a", 1, 1000, vec![hidden]), standby("b", 1, 1000)],
        );
        assert_eq!(sb(&v, "b").streaming, Some(true));
        assert_eq!(
            v.rpo_bytes,
            Some(0),
            "b's own positions stand in for the hidden flush_lsn"
        );
    }

    #[test]
    fn cascading_standby_listed_by_its_upstream_standby() {
        let mut h = history();
        let nodes = |c: NodeReport| {
            [
                primary("a", 1, 3000, vec![ws("b", "streaming", 2900)]),
                with_state(standby("b", 1, 2800), |s| {
                    s.walsenders = vec![ws("c", "streaming", 2700)]
                }),
                c,
            ]
        };
        let v = observe(&mut h, 1.0, &nodes(standby("c", 1, 2600)));
        let c = sb(&v, "c");
        assert_eq!(c.streaming, Some(true));
        assert_eq!(
            c.lag_bytes,
            Some(400),
            "measured against the primary, from c's own replay LSN"
        );
        assert_eq!(
            v.rpo_bytes,
            Some(100),
            "b's flush as seen by the primary is the most advanced"
        );
        // c down: its upstream b still lists it streaming.
        let v = observe(&mut h, 2.0, &nodes(down("c")));
        assert_eq!(sb(&v, "c").streaming, Some(true));
        // b lists c in catchup while c's receiver claims streaming: the upstream wins.
        let nodes2 = [
            primary("a", 1, 3000, vec![ws("b", "streaming", 2900)]),
            with_state(standby("b", 1, 2800), |s| {
                s.walsenders = vec![ws("c", "catchup", 2000)]
            }),
            standby("c", 1, 2000),
        ];
        let v = observe(&mut h, 3.0, &nodes2);
        assert_eq!(sb(&v, "c").streaming, Some(false));
    }

    #[test]
    fn upstream_is_the_reachable_node_whose_walsender_lists_the_standby() {
        let mut logical = ws("C", "streaming", 0);
        logical.slot_type = Some("logical".into());
        let nodes = [
            primary("a", 1, 3000, vec![ws("B", "streaming", 2900), logical]),
            with_state(standby("b", 1, 2800), |s| {
                s.walsenders = vec![ws("c", "streaming", 2700)]
            }),
            standby("c", 1, 2600),
            down("d"),
        ];
        let up = |name: &str| {
            let n = nodes.iter().find(|n| n.name == name).unwrap();
            upstream(n, &nodes).map(|(u, w)| (u.name.as_str(), w.application_name.as_str()))
        };
        assert_eq!(
            up("b"),
            Some(("a", "B")),
            "application_name is case-insensitive"
        );
        assert_eq!(
            up("c"),
            Some(("b", "c")),
            "a cascade; a's logical walsender named C is not it"
        );
        assert_eq!(up("a"), None);
        assert_eq!(up("d"), None, "nobody lists a vanished standby");

        // Two nodes list it (a switchover in progress): the one that streams wins, and a node
        // that is down is no witness whatever its last state said.
        let mut old = primary("old", 1, 3000, vec![ws("b", "streaming", 2900)]);
        old.up = false;
        let nodes = [
            primary("x", 2, 3000, vec![ws("b", "catchup", 100)]),
            primary("y", 2, 3000, vec![ws("b", "streaming", 2900)]),
            old,
            standby("b", 2, 2900),
        ];
        assert_eq!(
            upstream(&nodes[3], &nodes).map(|(u, _)| u.name.as_str()),
            Some("y")
        );
        assert_eq!(
            upstream(&nodes[3], &nodes[..1]).map(|(u, w)| (u.name.as_str(), w.state.as_deref())),
            Some(("x", Some("catchup")))
        );
        assert_eq!(
            upstream(&nodes[3], &nodes[2..]).map(|(u, _)| u.name.clone()),
            None
        );
    }

    #[test]
    fn rpo_uses_the_most_advanced_durable_position() {
        let mut h = history();
        // The primary lists b at 4000; c is not listed but has received (and flushed) 4500,
        // though it has replayed only 4200; a logical subscriber "sub" has confirmed 5000.
        let c = with_state(standby("c", 1, 4200), |s| s.receive_lsn = Some(Lsn(4500)));
        let nodes = [
            primary(
                "a",
                1,
                5000,
                vec![ws("b", "streaming", 4000), ws("sub", "streaming", 5000)],
            ),
            standby("b", 1, 3900),
            c,
        ];
        let v = observe(&mut h, 1.0, &nodes);
        assert_eq!(v.rpo_bytes, Some(500));
        assert_eq!(
            sb(&v, "c").lag_bytes,
            Some(800),
            "lag is about replay, not receipt"
        );
    }

    #[test]
    fn clock_stepping_back_keeps_the_history_usable() {
        let mut h = history();
        rounds(&mut h, &[(100.0, 1000), (101.0, 2000), (102.0, 3000)], 0);
        // The clock jumps back 50 s: later samples are dropped, nothing panics, times stay sane.
        let v = rounds(&mut h, &[(52.0, 3100), (53.0, 3200)], 3150);
        assert_eq!(sb(&v, "b").lag_seconds, Some(0.5));
        assert!(h.len() <= h.capacity());
    }

    /// A node streaming from `host:port`, with its configured address.
    fn fed_from(n: NodeReport, port: u16, host: &str, upstream_port: i32) -> NodeReport {
        let mut n = with_state(n, |s| {
            let r = s.wal_receiver.as_mut().unwrap();
            r.sender_host = Some(host.into());
            r.sender_port = Some(upstream_port);
        });
        n.address = Some(("127.0.0.1".into(), port));
        n
    }

    #[test]
    fn standby_cluster_has_its_standby_leader_as_top_and_no_split_brain() {
        let mut h = history();
        // dr_a streams from the source cluster (10.0.0.1:5432); dr_b cascades from dr_a.
        let round = |lsn_a: u64, lsn_b: u64| {
            let mut a = fed_from(standby("dr_a", 1, lsn_a), 6001, "10.0.0.1", 5432);
            a = with_state(a, |s| s.walsenders = vec![ws("dr_b", "streaming", lsn_b)]);
            let b = fed_from(standby("dr_b", 1, lsn_b), 6002, "127.0.0.1", 6001);
            [a, b]
        };
        observe(&mut h, 99.0, &round(1000, 1000));
        let v = observe(&mut h, 100.0, &round(5000, 1000));
        assert_eq!(v.primaries, 0);
        assert_eq!(v.is_standby_cluster, Some(true));
        assert_eq!(v.source, Some(("10.0.0.1".into(), "5432".into())));
        assert_eq!(names(&v), ["dr_a", "dr_b"]);
        // The leader streams from the source and has no lag inside the cluster.
        assert_eq!(sb(&v, "dr_a").streaming, Some(true));
        assert_eq!(sb(&v, "dr_a").lag_bytes, None);
        // dr_b is measured against the leader's replay position, with a time lag.
        assert_eq!(sb(&v, "dr_b").lag_bytes, Some(4000));
        assert_eq!(sb(&v, "dr_b").lag_seconds, Some(1.0));
        assert_eq!(v.rpo_bytes, Some(4000));
        assert_eq!(v.failovers_total, 0);

        // The link to the source drops: the leader stays the leader (nobody inside lists it).
        let [mut a, b] = round(5000, 5000);
        a = with_state(a, |s| s.wal_receiver = None);
        let v = observe(&mut h, 101.0, &[a, b]);
        assert_eq!(v.is_standby_cluster, Some(true));
        assert_eq!(sb(&v, "dr_a").streaming, Some(false));
        assert_eq!(v.source, None);
    }

    #[test]
    fn a_cluster_that_lost_its_primary_is_not_a_standby_cluster() {
        let mut h = history();
        // b streams from a, which is down: its sender is a configured node.
        let mut a = down("a");
        a.address = Some(("127.0.0.1".into(), 6001));
        let b = fed_from(standby("b", 1, 1000), 6002, "127.0.0.1", 6001);
        let v = observe(&mut h, 100.0, &[a.clone(), b]);
        assert_eq!((v.primaries, v.is_standby_cluster), (0, Some(false)));
        assert_eq!(v.source, None);
        // Two nodes streaming from outside: ambiguous, not a standby cluster.
        let c = fed_from(standby("c", 1, 1000), 6003, "10.0.0.9", 5432);
        let d = fed_from(standby("d", 1, 1000), 6004, "10.0.0.8", 5432);
        let v = observe(&mut h, 101.0, &[c, d]);
        assert_eq!(v.is_standby_cluster, Some(false));
        // Nothing reachable: unknown.
        let v = observe(&mut h, 102.0, &[a]);
        assert_eq!(v.is_standby_cluster, None);
        // A primary: never a standby cluster.
        let v = observe(&mut h, 103.0, &[primary("p", 1, 10, vec![])]);
        assert_eq!(v.is_standby_cluster, Some(false));
    }

    #[test]
    fn a_logical_walsender_named_like_a_standby_is_not_its_stream() {
        let mut h = history();
        let mut logical = ws("b", "streaming", 9000);
        logical.slot_type = Some("logical".into());
        let nodes = [
            primary("a", 1, 9000, vec![logical]),
            receiver(standby("b", 1, 1000), "waiting"),
        ];
        let v = observe(&mut h, 100.0, &nodes);
        // Not streaming (the logical row does not vouch for it), and its flush LSN is no
        // durable position of b: the RPO comes from b's own positions.
        assert_eq!(sb(&v, "b").streaming, Some(false));
        assert_eq!(v.rpo_bytes, Some(8000));
    }
}
