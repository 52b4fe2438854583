//! PURE: the front-end families of one cluster (SPEC §9) from its [`EndpointView`]s. A front-end
//! that did not answer has `endpoint_up 0`, its error counters and nothing else: where it leads
//! is unknown then, not "nowhere".

use super::{Families, defs, flag};
use crate::core::model::{ClusterSnapshot, EndpointView, ErrorKind, UNKNOWN_NODE};

/// pgpool-II's backend statuses (`SHOW POOL_NODES` status), sorted.
const PGPOOL_STATUSES: &[&str] = &["down", "quarantine", "unused", "up", "waiting"];
/// pgpool-II's roles in streaming replication mode.
const PGPOOL_ROLES: &[&str] = &["primary", "standby"];

pub(super) fn cluster(out: &mut Families, cluster: &ClusterSnapshot) {
    for e in &cluster.endpoints {
        endpoint(out, cluster, e);
    }
}

fn endpoint(out: &mut Families, cluster: &ClusterSnapshot, e: &EndpointView) {
    let c = cluster.name.as_str();
    let base = [c, e.name.as_str()];
    out.push(&defs::ENDPOINT_UP, &[c, &e.name, &e.kind], flag(e.up));
    // A front-end check needs no privilege the role could lack: no `privilege` kind.
    for kind in ErrorKind::ALL
        .into_iter()
        .filter(|k| *k != ErrorKind::Privilege)
    {
        let n = e.errors_total.get(&kind).copied().unwrap_or(0);
        out.push(
            &defs::ENDPOINT_ERRORS_TOTAL,
            &[c, &e.name, kind.as_str()],
            n as f64,
        );
    }
    if let Some(d) = e.check_duration {
        out.push(&defs::ENDPOINT_CHECK_DURATION_SECONDS, &base, d);
    }
    if let Some(target) = &e.target {
        // The enum runs over the nodes polled now, plus "unknown".
        for node in &cluster.nodes {
            out.push(
                &defs::ENDPOINT_TARGET,
                &[c, &e.name, &node.name],
                flag(*target == node.name),
            );
        }
        if !cluster.nodes.iter().any(|n| n.name == UNKNOWN_NODE) {
            out.push(
                &defs::ENDPOINT_TARGET,
                &[c, &e.name, UNKNOWN_NODE],
                flag(target == UNKNOWN_NODE),
            );
        }
    }
    if let Some(b) = e.is_primary {
        out.push(&defs::ENDPOINT_IS_PRIMARY, &base, flag(b));
    }
    if let Some(b) = e.expectation_met {
        out.push(&defs::ENDPOINT_EXPECTATION_MET, &base, flag(b));
    }
    for b in &e.pgpool_backends {
        let n = [c, e.name.as_str(), b.node.as_str()];
        out.push(&defs::PGPOOL_BACKEND_LISTED, &n, flag(b.listed));
        if let Some(status) = &b.status {
            out.one_hot(&defs::PGPOOL_BACKEND_STATUS, &n, PGPOOL_STATUSES, status);
        }
        if let Some(role) = &b.role {
            out.one_hot(&defs::PGPOOL_BACKEND_ROLE, &n, PGPOOL_ROLES, role);
        }
        if let Some(ok) = b.role_correct {
            out.push(&defs::PGPOOL_BACKEND_ROLE_CORRECT, &n, flag(ok));
        }
        if let Some(v) = b.delay_bytes {
            out.push(&defs::PGPOOL_BACKEND_REPLICATION_DELAY_BYTES, &n, v as f64);
        }
        if let Some(v) = b.delay_seconds {
            out.push(&defs::PGPOOL_BACKEND_REPLICATION_DELAY_SECONDS, &n, v);
        }
        if let Some(v) = b.selects_total {
            out.push(&defs::PGPOOL_BACKEND_SELECTS_TOTAL, &n, v as f64);
        }
        if let Some(v) = b.health_check_failures_total {
            out.push(
                &defs::PGPOOL_BACKEND_HEALTH_CHECK_FAILURES_TOTAL,
                &n,
                v as f64,
            );
        }
    }
    for d in &e.pgbouncer_databases {
        let n = [c, e.name.as_str(), d.database.as_str()];
        if let Some(node) = &d.node {
            out.push(
                &defs::PGBOUNCER_DATABASE_TARGET,
                &[c, &e.name, &d.database, node],
                1.0,
            );
        }
        if let Some(ok) = d.expectation_met {
            out.push(&defs::PGBOUNCER_DATABASE_EXPECTATION_MET, &n, flag(ok));
        }
        out.push(
            &defs::PGBOUNCER_CLIENTS_WAITING,
            &n,
            d.clients_waiting as f64,
        );
        out.push(&defs::PGBOUNCER_MAX_WAIT_SECONDS, &n, d.max_wait_seconds);
    }
}
