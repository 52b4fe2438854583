//! Would Patroni promote this member now? A pure function that applies Patroni's own automatic
//! failover rule, per version, to what the exporter knows (Patroni's REST replies plus the
//! exporter's exact WAL positions from SQL). It owns `pg_replication_patroni_failover_candidate`
//! and `_failover_candidates`; `check` and `status` use it too.
//!
//! # The rule, as read in Patroni's source (patroni/ha.py, tags v3.0.2 and v4.1.4)
//!
//! When the leader key expires, every replica runs `Ha.is_healthiest_node()`; it promotes itself
//! if that returns true and it then wins the leader-key race. That function, with
//! `_is_healthiest_node()`, `is_lagging()`, and the per-member test of `is_failover_possible()`
//! (`_MemberStatus.failover_limitation()`), disqualifies a member when:
//!
//! 1. **maintenance mode** — `is_paused()`: no automatic failover at all (both versions). Every
//!    member is [`Reason::Paused`].
//! 2. it **is the leader** (holds the lock; `standby_leader` in a standby cluster).
//! 3. **`nofailover`** — 3.0.x: `tags.get('nofailover')` is truthy (Python truthiness, so the
//!    string "false" counts as set). 3.2+ and 4.x (`Tags.nofailover`): the `nofailover` tag
//!    when present (truthy), else `failover_priority <= 0`.
//! 4. its REST API does not answer (`_MemberStatus.unknown` → "not reachable"), or it reports
//!    **`watchdog_failed`** ("not watchdog capable").
//! 5. PostgreSQL is **not running** (`state_handler.is_starting()`, and a member whose
//!    `/patroni` carries no `xlog` is unreachable to its peers): states other than running,
//!    streaming, in archive recovery.
//! 6. **synchronous mode** (`synchronous_mode: true`; 4.x also `"quorum"`, and off in a standby
//!    cluster) once active (the `/sync` key names a leader: `sync_mode_is_active()`): only the
//!    members of `/sync` may promote (3.0.2 `cluster.sync.matches(name)`, 4.x
//!    `sync.matches(name, True)`, case-insensitive). With no sync standby listed, nobody may:
//!    Patroni writes `/sync` with the leader and no standby when none qualifies, so an
//!    asynchronous replica is never promoted automatically. `synchronous_mode_strict` changes what
//!    the primary does without a sync standby (commits wait on `*`), not who may promote: the
//!    candidates are the same as in plain synchronous mode.
//! 7. **quorum commit** (4.x, `synchronous_mode: quorum`): any member may race, not only the
//!    voters, but `_is_healthiest_node()` wants votes: each voter (a `/sync` member other than
//!    itself that answers, is not `nofailover`, is in recovery and reports a position not ahead of
//!    it) is one vote; a voter needs `quorum` votes, a non-voter `quorum + 1`.
//! 8. **lag** — `is_lagging(wal)`: `last_lsn − wal > maximum_lag_on_failover` (default 1 MiB),
//!    where `wal` is the member's `max(received_location, replayed_location)`
//!    (`_MemberStatus.from_api_response`, `Postgresql._wal_position`: `pg_last_wal_receive_lsn()`
//!    and `pg_last_wal_replay_lsn()`), so **received WAL counts even if not replayed**, and
//!    `last_lsn` is the leader's position in the DCS (`/optime/leader`, written each HA loop:
//!    `pg_current_wal_lsn()` in 3.0.x, `pg_current_wal_flush_lsn()` in 4.x).
//! 9. **timeline** — only with `check_timeline: true` (off by default) and not in a standby
//!    cluster: a member whose timeline is unknown or below the cluster's (the last `/history`
//!    timeline + 1) is out.
//!
//! # What this module does with it
//!
//! - The positions are the exporter's exact ones: the member's receive and replay LSN from SQL
//!   (the larger one, as Patroni) against the leader's last position the exporter saw. Patroni's
//!   DCS optime trails the leader by up to one `loop_wait`, so this is stricter than Patroni by at
//!   most that much WAL; it is also right when the DCS value is stale.
//! - **Unknown position**: a member with neither a receive nor a replay LSN is not a candidate.
//!   That is what Patroni does: it reads the missing positions as 0 (4.x) or finds no
//!   `wal_position` (3.0.x), and 0 is lagging in any cluster that has written more than
//!   `maximum_lag_on_failover`.
//! - **Unknown leader position**: Patroni would read it as 0 and call nobody lagging; the
//!   exporter cannot tell, so a member that passes every other test is [`Verdict::Unknown`] (its
//!   series absent), not a candidate by default.
//! - Not modelled: the race among the qualified members (`_is_healthiest_node()` defers to a peer
//!   whose position is ahead, and in 4.x to an equal one with a higher `failover_priority`). It
//!   picks which candidate wins, not whether a failover can happen, and it is decided on the
//!   positions at the moment the leader is gone, when the survivors have received the same WAL;
//!   judged on live positions it would flap. For the same reason a quorum vote counts every
//!   qualifying voter regardless of which of the two is ahead. Nor the failsafe-mode membership
//!   test, nor the pre-promote backoff.

use super::api::{DynamicConfig, Role, State, SyncMode, Tags};

/// Which version's rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// 3.2+: the `failover_priority` tag (≤ 0 means never promote when `nofailover` is absent).
    pub failover_priority: bool,
    /// 4.0+: `synchronous_mode: quorum`; synchronous mode is off in a standby cluster.
    pub quorum: bool,
}

impl Rules {
    pub const V3_0: Rules = Rules {
        failover_priority: false,
        quorum: false,
    };
    pub const V4: Rules = Rules {
        failover_priority: true,
        quorum: true,
    };

    /// The rule of a Patroni version string ("3.0.2", "4.1.4"); an unreadable one gets the
    /// newest rule (4.x).
    pub fn for_version(version: &str) -> Rules {
        let mut it = version.trim().split('.').map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u32>()
                .ok()
        });
        match (it.next().flatten(), it.next().flatten()) {
            (Some(major), minor) if major < 4 => Rules {
                failover_priority: major > 3 || (major == 3 && minor.unwrap_or(0) >= 2),
                quorum: false,
            },
            _ => Rules::V4,
        }
    }
}

/// The `/sync` key as the exporter reconstructs it: the leader that wrote it and the members
/// Patroni lists as `sync_standby` or `quorum_standby` in `/cluster`. Pass the last one seen
/// while a leader held the lock: after the leader died, Patroni still races on that key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncState {
    pub leader: Option<String>,
    pub members: Vec<String>,
    /// Quorum commit: how many other `/sync` nodes a racing voter must see. In Patroni's steady
    /// state it is `len(voters) − k` for the leader's `ANY k (voters)` synchronous_standby_names.
    pub quorum: Option<u32>,
}

impl SyncState {
    fn is_active(&self) -> bool {
        self.leader.as_deref().is_some_and(|l| !l.is_empty())
    }

    /// `SyncState.matches(name, check_leader=True)`: 3.0.x compares exactly, 4.x ignores case.
    fn matches(&self, name: &str, rules: Rules) -> bool {
        let eq = |a: &str| {
            if rules.quorum {
                a.eq_ignore_ascii_case(name)
            } else {
                a == name
            }
        };
        self.members.iter().any(|m| eq(m)) || self.leader.as_deref().is_some_and(eq)
    }

    fn is_voter(&self, name: &str, rules: Rules) -> bool {
        self.matches(name, rules)
    }
}

/// Cluster-wide inputs.
#[derive(Clone, Debug)]
pub struct ClusterInput<'a> {
    pub rules: Rules,
    pub config: &'a DynamicConfig,
    /// Maintenance mode (from `/cluster` `pause` or `/config` `pause`).
    pub paused: bool,
    /// The leader's last WAL position the exporter saw (its pg_current_wal_lsn()).
    pub leader_lsn: Option<u64>,
    /// The cluster's timeline: the last `/history` timeline + 1 (only used with
    /// `check_timeline`).
    pub cluster_timeline: Option<u32>,
    /// None when `/sync` is empty (synchronous mode not active yet) or unknown.
    pub sync: Option<&'a SyncState>,
}

/// One member, as Patroni and the exporter see it.
#[derive(Clone, Debug)]
pub struct MemberInput<'a> {
    pub name: &'a str,
    pub role: Option<&'a Role>,
    pub state: Option<&'a State>,
    pub tags: &'a Tags,
    pub timeline: Option<u32>,
    /// pg_last_wal_receive_lsn() from the exporter's SQL.
    pub receive_lsn: Option<u64>,
    /// pg_last_wal_replay_lsn() from the exporter's SQL.
    pub replay_lsn: Option<u64>,
    /// Its Patroni REST API answered the last `GET /patroni`.
    pub reachable: bool,
    pub watchdog_failed: bool,
}

impl MemberInput<'_> {
    /// Patroni's wal position of a replica: max(receive, replay), None when neither is known.
    pub fn wal_position(&self) -> Option<u64> {
        self.receive_lsn.max(self.replay_lsn)
    }
}

/// Why a member is not a candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    Paused,
    IsLeader,
    NoFailoverTag,
    /// 3.2+/4.x: no `nofailover` tag and `failover_priority` ≤ 0.
    FailoverPriority(i64),
    Unreachable,
    WatchdogFailed,
    /// The state label, or None when Patroni reported none.
    NotRunning(Option<String>),
    /// Synchronous mode is active and the member is not in `/sync`.
    NotSynchronous,
    PositionUnknown,
    Lagging {
        lag: u64,
        maximum: u64,
    },
    TimelineBehind {
        member: u32,
        cluster: u32,
    },
    TimelineUnknown,
    /// Quorum commit: the member would not gather the votes it needs.
    NoQuorum {
        votes: u32,
        needed: u32,
    },
}

impl std::fmt::Display for Reason {
    /// The reason as `check` and `status` print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Paused => f.write_str("maintenance mode (paused): no automatic failover"),
            Reason::IsLeader => f.write_str("it is the leader"),
            Reason::NoFailoverTag => f.write_str("tagged nofailover"),
            Reason::FailoverPriority(p) => write!(f, "failover_priority {p}"),
            Reason::Unreachable => f.write_str("its REST API does not answer"),
            Reason::WatchdogFailed => f.write_str("its watchdog failed"),
            Reason::NotRunning(Some(s)) => write!(f, "state {s}, not running"),
            Reason::NotRunning(None) => f.write_str("no state reported"),
            Reason::NotSynchronous => {
                f.write_str("synchronous_mode is on and it is not a synchronous standby")
            }
            Reason::PositionUnknown => f.write_str("its WAL position is unknown"),
            Reason::Lagging { lag, maximum } => write!(
                f,
                "lag {lag} bytes exceeds maximum_lag_on_failover {maximum} bytes"
            ),
            Reason::TimelineBehind { member, cluster } => {
                write!(f, "timeline {member} behind the cluster's {cluster}")
            }
            Reason::TimelineUnknown => f.write_str("its timeline is unknown (check_timeline)"),
            Reason::NoQuorum { votes, needed } => {
                write!(f, "{votes} quorum votes of the {needed} it needs")
            }
        }
    }
}

/// Why the verdict cannot be given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unknown {
    LeaderPositionUnknown,
    ClusterTimelineUnknown,
    QuorumUnknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Candidate,
    Not(Reason),
    Unknown(Unknown),
}

impl Verdict {
    /// The sample of `pg_replication_patroni_failover_candidate`: 1, 0, or absent.
    pub fn sample(&self) -> Option<f64> {
        match self {
            Verdict::Candidate => Some(1.0),
            Verdict::Not(_) => Some(0.0),
            Verdict::Unknown(_) => None,
        }
    }
}

/// `pg_replication_patroni_failover_candidates`: the count, or None when there is no candidate
/// but some verdict is unknown (0 would claim that no failover is possible).
pub fn count(verdicts: &[Verdict]) -> Option<usize> {
    let n = verdicts
        .iter()
        .filter(|v| **v == Verdict::Candidate)
        .count();
    let unknown = verdicts.iter().any(|v| matches!(v, Verdict::Unknown(_)));
    (n > 0 || !unknown).then_some(n)
}

/// Tags.nofailover of the version: the `nofailover` tag when present, else (3.2+)
/// `failover_priority <= 0`.
fn no_failover(tags: &Tags, rules: Rules) -> Option<Reason> {
    match tags.nofailover {
        Some(true) => Some(Reason::NoFailoverTag),
        Some(false) => None,
        None => match tags.failover_priority {
            Some(p) if rules.failover_priority && p <= 0 => Some(Reason::FailoverPriority(p)),
            _ => None,
        },
    }
}

fn is_running(state: Option<&State>) -> bool {
    state.is_some_and(State::is_running)
}

/// What the member's own tests say, before quorum votes: the checks of `is_healthiest_node`,
/// `failover_limitation` and `is_failover_possible` in Patroni's order (definite reasons first,
/// then what cannot be judged).
fn own_verdict(c: &ClusterInput, sync_active: Option<&SyncState>, m: &MemberInput) -> Verdict {
    let rules = c.rules;
    if c.paused {
        return Verdict::Not(Reason::Paused);
    }
    if m.role.is_some_and(Role::is_leader) {
        return Verdict::Not(Reason::IsLeader);
    }
    if let Some(r) = no_failover(m.tags, rules) {
        return Verdict::Not(r);
    }
    if !m.reachable {
        return Verdict::Not(Reason::Unreachable);
    }
    if m.watchdog_failed {
        return Verdict::Not(Reason::WatchdogFailed);
    }
    if !is_running(m.state) {
        return Verdict::Not(Reason::NotRunning(m.state.map(|s| s.label().to_string())));
    }
    let quorum_mode = rules.quorum && c.config.synchronous_mode == Some(SyncMode::Quorum);
    if let Some(sync) = sync_active
        && !quorum_mode
        && !sync.matches(m.name, rules)
    {
        return Verdict::Not(Reason::NotSynchronous);
    }
    let Some(wal) = m.wal_position() else {
        return Verdict::Not(Reason::PositionUnknown);
    };
    let maximum = c.config.maximum_lag_on_failover_or_default();
    let lagging = c.leader_lsn.map(|l| l.saturating_sub(wal));
    if let Some(lag) = lagging
        && lag > maximum
    {
        return Verdict::Not(Reason::Lagging { lag, maximum });
    }
    if c.config.check_timeline == Some(true) && !c.config.standby_cluster {
        match (m.timeline.filter(|t| *t > 0), c.cluster_timeline) {
            (None, _) => return Verdict::Not(Reason::TimelineUnknown),
            (Some(member), Some(cluster)) if member < cluster => {
                return Verdict::Not(Reason::TimelineBehind { member, cluster });
            }
            (Some(_), None) => return Verdict::Unknown(Unknown::ClusterTimelineUnknown),
            _ => {}
        }
    }
    if lagging.is_none() {
        return Verdict::Unknown(Unknown::LeaderPositionUnknown);
    }
    Verdict::Candidate
}

/// Synchronous mode as Patroni reads the config: on or quorum (4.x only), and in 4.x never in a
/// standby cluster.
fn sync_mode_on(c: &ClusterInput) -> bool {
    match c.config.synchronous_mode {
        Some(SyncMode::On) => !(c.rules.quorum && c.config.standby_cluster),
        Some(SyncMode::Quorum) => c.rules.quorum && !c.config.standby_cluster,
        _ => false,
    }
}

/// The verdict for each member, in order.
pub fn judge(c: &ClusterInput, members: &[MemberInput]) -> Vec<Verdict> {
    let sync_active = c.sync.filter(|s| sync_mode_on(c) && s.is_active());
    let own: Vec<Verdict> = members
        .iter()
        .map(|m| own_verdict(c, sync_active, m))
        .collect();
    let quorum_mode = c.rules.quorum && c.config.synchronous_mode == Some(SyncMode::Quorum);
    let Some(sync) = sync_active.filter(|_| quorum_mode) else {
        return own;
    };
    // Quorum commit: count the votes each qualified member would get from the other voters.
    let Some(quorum) = sync.quorum else {
        return own
            .into_iter()
            .map(|v| match v {
                Verdict::Candidate => Verdict::Unknown(Unknown::QuorumUnknown),
                v => v,
            })
            .collect();
    };
    let can_vote = |v: &MemberInput| {
        sync.is_voter(v.name, c.rules)
            && !v.role.is_some_and(Role::is_leader)
            && v.reachable
            && !v.watchdog_failed
            && no_failover(v.tags, c.rules).is_none()
            && is_running(v.state)
            && v.wal_position().is_some_and(|w| w > 0)
    };
    own.into_iter()
        .zip(members)
        .map(|(v, m)| {
            if v != Verdict::Candidate {
                return v;
            }
            let votes = members
                .iter()
                .filter(|o| !o.name.eq_ignore_ascii_case(m.name) && can_vote(o))
                .count() as u32;
            let needed = if sync.is_voter(m.name, c.rules) {
                quorum
            } else {
                quorum + 1
            };
            if votes >= needed {
                Verdict::Candidate
            } else {
                Verdict::Not(Reason::NoQuorum { votes, needed })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
