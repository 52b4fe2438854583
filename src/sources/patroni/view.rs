//! PURE: Patroni's word judged against the SQL truth, after each poll round (SPEC §8). From the
//! latest [`PatroniRound`], the round's node reports and a small [`Memory`] kept by the
//! cluster's task, it builds the [`PatroniView`] that `/metrics`, `status` and `check` show:
//! which members to poll (discovery, with `forget_after`), whether Patroni's leader is the
//! single SQL primary, whom Patroni would promote now (by [`candidate::judge`], with the
//! exporter's exact positions), and the data the last failover lost.

use std::collections::BTreeMap;
use std::time::Duration;

use super::api::{ClusterStatus, PatroniStatus, Role};
use super::candidate::{self, ClusterInput, MemberInput, Rules, SyncState, Verdict};
use super::source::PatroniRound;
use crate::core::model::{
    ClusterView, NodeReport, PatroniDynamicConfig, PatroniMemberView, PatroniPromotion,
    PatroniView, UnixTime,
};
use crate::core::syncnames;

/// How many timelines' last primary positions are kept (a failover adds one).
const TIMELINES_KEPT: usize = 16;

/// A member Patroni listed, and when it last did.
#[derive(Clone, Debug, PartialEq)]
pub struct KnownMember {
    pub host: String,
    pub port: u16,
    pub last_listed: UnixTime,
    pub listed_now: bool,
}

/// What the view remembers between rounds.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    /// Members by name: the ones `/cluster` lists now, and the ones it listed before, until
    /// `forget_after`.
    pub members: BTreeMap<String, KnownMember>,
    /// Per timeline, the highest WAL position a primary was seen to have written on it.
    primary_max_lsn: BTreeMap<u32, u64>,
    /// The last position the single SQL primary had (the leader's position for the lag rule
    /// while no primary answers, as Patroni races on the last DCS optime).
    last_primary_lsn: Option<u64>,
    /// The last `/sync` reconstruction made while a leader held the lock.
    sync: Option<SyncState>,
    /// The round the membership was last updated from.
    membership_from: Option<UnixTime>,
}

impl Memory {
    /// Updates the membership from `round` (once per pass) and forgets members gone from the
    /// DCS for longer than `forget_after`. Returns whether the member set changed.
    pub fn update_membership(
        &mut self,
        round: &PatroniRound,
        now: UnixTime,
        forget_after: Duration,
    ) -> bool {
        let before: Vec<(String, String, u16)> = self.polled();
        if self.membership_from != Some(round.at) {
            self.membership_from = Some(round.at);
            // Without an answer from /cluster the listing is unknown: keep it as it was.
            if let Some(status) = &round.cluster {
                for m in self.members.values_mut() {
                    m.listed_now = false;
                }
                for m in &status.members {
                    let (Some(name), Some(host), Some(port)) = (&m.name, &m.host, m.port) else {
                        continue;
                    };
                    self.members.insert(
                        name.clone(),
                        KnownMember {
                            host: host.clone(),
                            port,
                            last_listed: round.at,
                            listed_now: true,
                        },
                    );
                }
            }
        }
        let horizon = forget_after.as_secs_f64();
        self.members
            .retain(|_, m| m.listed_now || now - m.last_listed <= horizon);
        before != self.polled()
    }

    /// The members to poll: (name, host, port), in name order.
    pub fn polled(&self) -> Vec<(String, String, u16)> {
        self.members
            .iter()
            .map(|(n, m)| (n.clone(), m.host.clone(), m.port))
            .collect()
    }

    /// Remembers the single SQL primary's position, per timeline.
    fn observe_primary(&mut self, nodes: &[NodeReport]) {
        let primaries: Vec<_> = nodes
            .iter()
            .filter_map(|n| n.state.as_ref())
            .filter(|s| !s.in_recovery)
            .collect();
        for p in &primaries {
            if let (Some(tl), Some(lsn)) = (p.timeline_id, p.wal_lsn) {
                let e = self.primary_max_lsn.entry(tl).or_insert(lsn.0);
                *e = (*e).max(lsn.0);
            }
        }
        while self.primary_max_lsn.len() > TIMELINES_KEPT {
            let oldest = *self.primary_max_lsn.keys().next().expect("not empty");
            self.primary_max_lsn.remove(&oldest);
        }
        if let [one] = primaries.as_slice()
            && let Some(lsn) = one.wal_lsn
        {
            self.last_primary_lsn = Some(lsn.0);
        }
    }
}

/// The view of one round. `round` is the latest REST pass (`None` before the first one);
/// `static_nodes` names the `[[cluster.node]]`s; `nodes` are this round's reports.
pub fn judge(
    round: Option<&PatroniRound>,
    static_nodes: &[String],
    nodes: &[NodeReport],
    sql: &ClusterView,
    now: UnixTime,
    memory: &mut Memory,
) -> PatroniView {
    memory.observe_primary(nodes);
    let Some(round) = round else {
        return PatroniView::default();
    };
    let status = round.cluster.as_ref();
    let node = |name: &str| nodes.iter().find(|n| n.name == name);
    let reply = |name: &str| round.members.get(name).and_then(|r| r.as_ref().ok());

    let config = round.config.clone().unwrap_or_default();
    let paused = status.map(|s| s.paused() || config.pause == Some(true));
    let unlocked = status.map(ClusterStatus::is_unlocked);
    let leader = status.and_then(ClusterStatus::leader);
    if let (Some(status), Some(l)) = (status, leader) {
        memory.sync = Some(sync_state(status, l.name.as_deref(), nodes));
    }

    // Leader agreement: known when Patroni names a leader and its node answered SQL.
    let leader_mismatch = leader.and_then(|l| {
        let state = node(l.name.as_deref()?)?.state.as_ref()?;
        let agree = if l.role == Some(Role::StandbyLeader) {
            state.in_recovery && sql.primaries == 0
        } else {
            !state.in_recovery && sql.primaries == 1
        };
        Some(!agree)
    });

    // Failover readiness, by Patroni's own rule for its version.
    let version = leader
        .and_then(|l| l.name.as_deref())
        .and_then(reply)
        .and_then(|r| r.version.clone())
        .or_else(|| {
            round
                .members
                .values()
                .flatten()
                .find_map(|r| r.version.clone())
        });
    let rules = version.as_deref().map_or(Rules::V4, Rules::for_version);
    let history_timeline = round
        .history
        .as_ref()
        .and_then(|h| h.entries.last())
        .map(|e| e.timeline + 1);
    let leader_lsn = leader
        .and_then(|l| node(l.name.as_deref()?))
        .and_then(|n| n.state.as_ref())
        .filter(|s| !s.in_recovery)
        .and_then(|s| s.wal_lsn)
        .map(|l| l.0)
        .or(memory.last_primary_lsn);
    let verdicts: Option<Vec<(String, Verdict)>> = status.map(|status| {
        let inputs: Vec<MemberInput> = status
            .members
            .iter()
            .filter_map(|m| {
                let name = m.name.as_deref()?;
                let sql = node(name).and_then(|n| n.state.as_ref());
                let r = reply(name);
                Some(MemberInput {
                    name,
                    role: m.role.as_ref(),
                    state: m.state.as_ref(),
                    tags: &m.tags,
                    timeline: m.timeline,
                    receive_lsn: sql.and_then(|s| s.receive_lsn).map(|l| l.0),
                    replay_lsn: sql.and_then(|s| s.replay_lsn).map(|l| l.0),
                    reachable: r.is_some(),
                    watchdog_failed: r.and_then(|r| r.watchdog_failed) == Some(true),
                })
            })
            .collect();
        let input = ClusterInput {
            rules,
            config: &config,
            paused: paused == Some(true),
            leader_lsn,
            cluster_timeline: history_timeline,
            sync: memory.sync.as_ref(),
        };
        let v = candidate::judge(&input, &inputs);
        inputs.iter().map(|m| m.name.to_owned()).zip(v).collect()
    });
    let failover_candidates = verdicts.as_ref().and_then(|v| {
        let only: Vec<Verdict> = v.iter().map(|(_, v)| v.clone()).collect();
        candidate::count(&only).map(|n| n as u32)
    });

    // Patroni's measure for maximum_lag_on_failover: the leader's position − max(receive,
    // replay) of the replica, on the exporter's positions.
    let failover_lag = |name: &str| {
        let is_leader = leader.and_then(|l| l.name.as_deref()) == Some(name);
        let s = node(name)?
            .state
            .as_ref()
            .filter(|s| s.in_recovery && !is_leader)?;
        let wal = s.receive_lsn.map(|l| l.0).max(s.replay_lsn.map(|l| l.0))?;
        Some(leader_lsn?.saturating_sub(wal))
    };
    let members = memory
        .members
        .iter()
        .map(|(name, known)| {
            let listed = status.and_then(|s| {
                s.members
                    .iter()
                    .find(|m| m.name.as_deref() == Some(name.as_str()))
            });
            let r: Option<&PatroniStatus> = reply(name);
            let verdict = verdicts
                .as_ref()
                .and_then(|v| v.iter().find(|(n, _)| n == name))
                .map(|(_, v)| v);
            PatroniMemberView {
                node: name.clone(),
                discovered: !static_nodes.contains(name),
                up: r.is_some(),
                version: r.and_then(|r| r.version.clone()),
                scope: r
                    .and_then(|r| r.scope.clone())
                    .or_else(|| status?.scope.clone()),
                member: known.listed_now,
                role: listed
                    .and_then(|m| m.role.as_ref())
                    .map(|r| r.label().to_owned()),
                state: listed
                    .and_then(|m| m.state.as_ref())
                    .map(|s| s.label().to_owned()),
                dcs_last_seen_age: r
                    .and_then(|r| r.dcs_last_seen)
                    .map(|t| (now - t as f64).max(0.0)),
                // Patroni writes these keys only when true: absent in an answer is false, and
                // without an answer they stay unknown.
                failsafe_active: r.map(|r| r.failsafe_mode_is_active == Some(true)),
                pending_restart: r
                    .map(|r| r.pending_restart == Some(true))
                    .or_else(|| listed.map(|m| m.pending_restart == Some(true))),
                failover_candidate: verdict.and_then(|v| v.sample()).map(|s| s == 1.0),
                not_candidate_because: match verdict {
                    Some(Verdict::Not(reason)) => Some(reason.to_string()),
                    _ => None,
                },
                failover_lag_bytes: failover_lag(name),
            }
        })
        .collect();

    let history = round.history.as_ref();
    let last = history.and_then(|h| h.entries.last());
    PatroniView {
        members,
        reachable: status.is_some(),
        paused,
        cluster_unlocked: unlocked,
        leader_mismatch: leader_mismatch.filter(|_| unlocked == Some(false)),
        failover_candidates,
        config: round.config.as_ref().map(|c| PatroniDynamicConfig {
            synchronous_mode: c
                .synchronous_mode
                .as_ref()
                .map_or("off", |m| m.label())
                .to_owned(),
            synchronous_mode_strict: c.synchronous_mode_strict == Some(true),
            failsafe_mode: c.failsafe_mode == Some(true),
            maximum_lag_on_failover_bytes: c.maximum_lag_on_failover_or_default(),
            ttl_seconds: c.ttl,
            loop_wait_seconds: c.loop_wait,
        }),
        timeline_switches: history.map(|h| h.entries.len() as u32),
        last_promotion: last.map(|e| PatroniPromotion {
            timestamp: e.timestamp_seconds(),
            node: e.new_leader.clone(),
            timeline: e.timeline + 1,
        }),
        scheduled_switchover_timestamp: status
            .and_then(|s| s.scheduled_switchover.as_ref())
            .and_then(|s| s.at.as_deref())
            .and_then(super::api::parse_timestamp),
        last_failover_lost_bytes: last.and_then(|e| {
            let seen = memory.primary_max_lsn.get(&e.timeline)?;
            Some(seen.saturating_sub(e.switch_lsn))
        }),
    }
}

/// `/sync` as Patroni keeps it: the leader and the members it marks synchronous (or quorum)
/// standbys; in quorum mode the quorum is `len(voters) − k` of the leader's `ANY k (voters)`.
fn sync_state(status: &ClusterStatus, leader: Option<&str>, nodes: &[NodeReport]) -> SyncState {
    let members: Vec<String> = status
        .members
        .iter()
        .filter(|m| matches!(m.role, Some(Role::SyncStandby | Role::QuorumStandby)))
        .filter_map(|m| m.name.clone())
        .collect();
    let quorum = leader
        .and_then(|l| nodes.iter().find(|n| n.name == l))
        .and_then(|n| n.state.as_ref())
        .and_then(|s| {
            syncnames::parse(&s.settings.synchronous_standby_names)
                .ok()
                .flatten()
        })
        .filter(|s| s.method == syncnames::SyncMethod::Any)
        .map(|s| (s.names.len() as u32).saturating_sub(s.num_sync));
    SyncState {
        leader: leader.map(str::to_owned),
        members,
        quorum,
    }
}

#[cfg(test)]
mod tests;
