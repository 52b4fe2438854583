//! PURE: the Patroni families of one cluster (SPEC §8) from its [`PatroniView`]. Unknown stays
//! absent: a member whose REST API did not answer has `patroni_up 0` and no role, state or
//! DCS age; a judgment that needs a side it lacks (leader agreement, failover readiness) is left
//! out rather than guessed.

use super::{Families, defs, flag};
use crate::core::model::{ClusterSnapshot, PatroniView};

/// Patroni's roles, in byte order (the order `/metrics` lists them).
const ROLES: &[&str] = &[
    "leader",
    "quorum_standby",
    "replica",
    "standby_leader",
    "sync_standby",
];

/// Patroni's PostgreSQL states (pinned from its source in `sources::patroni::api`), sorted.
fn states() -> Vec<&'static str> {
    let mut s: Vec<&'static str> = crate::sources::patroni::api::KNOWN_STATES.to_vec();
    s.sort_unstable();
    s
}

pub(super) fn cluster(out: &mut Families, cluster: &ClusterSnapshot, p: &PatroniView) {
    let c = [cluster.name.as_str()];
    let states = states();
    for m in &p.members {
        let n = [cluster.name.as_str(), m.node.as_str()];
        out.push(&defs::PATRONI_UP, &n, flag(m.up));
        out.push(&defs::PATRONI_MEMBER, &n, flag(m.member));
        if let (Some(version), Some(scope)) = (&m.version, &m.scope) {
            out.push(
                &defs::PATRONI_INFO,
                &[n[0], n[1], version.as_str(), scope.as_str()],
                1.0,
            );
        }
        if let Some(role) = &m.role {
            out.one_hot(&defs::PATRONI_ROLE, &n, ROLES, role);
        }
        if let Some(state) = &m.state {
            out.one_hot(&defs::PATRONI_STATE, &n, &states, state);
        }
        if let Some(age) = m.dcs_last_seen_age {
            out.push(&defs::PATRONI_DCS_LAST_SEEN_AGE_SECONDS, &n, age);
        }
        if let Some(b) = m.failsafe_active {
            out.push(&defs::PATRONI_FAILSAFE_ACTIVE, &n, flag(b));
        }
        if let Some(b) = m.pending_restart {
            out.push(&defs::PATRONI_PENDING_RESTART, &n, flag(b));
        }
        if let Some(b) = m.failover_candidate {
            out.push(&defs::PATRONI_FAILOVER_CANDIDATE, &n, flag(b));
        }
    }
    if let Some(b) = p.paused {
        out.push(&defs::PATRONI_PAUSED, &c, flag(b));
    }
    if let Some(b) = p.cluster_unlocked {
        out.push(&defs::PATRONI_CLUSTER_UNLOCKED, &c, flag(b));
    }
    if let Some(b) = p.leader_mismatch {
        out.push(&defs::PATRONI_LEADER_MISMATCH, &c, flag(b));
    }
    if let Some(n) = p.failover_candidates {
        out.push(&defs::PATRONI_FAILOVER_CANDIDATES, &c, f64::from(n));
    }
    if let Some(cfg) = &p.config {
        out.push(
            &defs::PATRONI_CONFIG_INFO,
            &[
                c[0],
                cfg.synchronous_mode.as_str(),
                if cfg.failsafe_mode { "true" } else { "false" },
            ],
            1.0,
        );
        out.push(
            &defs::PATRONI_MAXIMUM_LAG_ON_FAILOVER_BYTES,
            &c,
            cfg.maximum_lag_on_failover_bytes as f64,
        );
        if let Some(t) = cfg.ttl_seconds {
            out.push(&defs::PATRONI_TTL_SECONDS, &c, t as f64);
        }
        if let Some(t) = cfg.loop_wait_seconds {
            out.push(&defs::PATRONI_LOOP_WAIT_SECONDS, &c, t as f64);
        }
    }
    if let Some(n) = p.timeline_switches {
        out.push(&defs::PATRONI_TIMELINE_SWITCHES, &c, f64::from(n));
    }
    if let Some(last) = &p.last_promotion {
        if let Some(t) = last.timestamp {
            out.push(&defs::PATRONI_LAST_PROMOTION_TIMESTAMP_SECONDS, &c, t);
        }
        if let Some(node) = &last.node {
            out.push(
                &defs::PATRONI_LAST_PROMOTION_INFO,
                &[c[0], node.as_str(), &last.timeline.to_string()],
                1.0,
            );
        }
    }
    if let Some(t) = p.scheduled_switchover_timestamp {
        out.push(&defs::PATRONI_SCHEDULED_SWITCHOVER_TIMESTAMP_SECONDS, &c, t);
    }
    if let Some(b) = p.last_failover_lost_bytes {
        out.push(&defs::CLUSTER_LAST_FAILOVER_LOST_BYTES, &c, b as f64);
    }
}
