//! PURE: each front-end's last [`Probe`] judged against the direct polls of the same round.
//!
//! - A `postgres` endpoint led to the polled node with the same system identifier and
//!   `pg_postmaster_start_time()` (the position breaks a tie); to `unknown` when none matches.
//!   A different system identifier is another cluster: its expectation is not met.
//! - A pgpool backend or pgbouncer database is the polled node at its host:port, else
//!   "host:port"; pgpool's role is compared with the node's real role.
//! - `expect = primary` is met by a writable node while the cluster has at most one primary
//!   (during a split brain no front-end leads to *the* primary); `standby` by a node in
//!   recovery; `any` by any polled node. Unknown stays unknown: a node not polled successfully
//!   this round gives no judgment.

use std::net::IpAddr;
use std::sync::Arc;

use super::{Answer, Probe, pgbouncer, pgpool, postgres};
use crate::config::{EndpointConfig, Expect};
use crate::core::model::{
    ClusterView, EndpointView, ErrorKind, NodeReport, PgbouncerDatabaseView, PgpoolBackendView,
    UNKNOWN_NODE,
};

/// One view per configured endpoint, in configuration order; `probes[i]` is endpoint `i`'s last
/// check (`None` before its first).
pub fn judge(
    endpoints: &[EndpointConfig],
    probes: &[Option<Arc<Probe>>],
    reports: &[NodeReport],
    view: &ClusterView,
) -> Vec<EndpointView> {
    endpoints
        .iter()
        .enumerate()
        .map(|(i, cfg)| one(cfg, probes.get(i).and_then(|p| p.as_deref()), reports, view))
        .collect()
}

fn one(
    cfg: &EndpointConfig,
    probe: Option<&Probe>,
    reports: &[NodeReport],
    view: &ClusterView,
) -> EndpointView {
    let mut v = EndpointView {
        name: cfg.name.clone(),
        kind: cfg.kind.as_str().to_owned(),
        host: cfg.host.clone(),
        port: cfg.port,
        expect: cfg.expect.map(|e| e.as_str().to_owned()),
        errors_total: ErrorKind::ALL.iter().map(|k| (*k, 0)).collect(),
        ..EndpointView::default()
    };
    let Some(probe) = probe else { return v };
    v.check_duration = Some(probe.duration);
    v.errors_total
        .extend(probe.errors_total.iter().map(|(k, n)| (*k, *n)));
    match &probe.answer {
        Err(e) => v.last_error = Some(e.clone()),
        Ok(answer) => {
            v.up = true;
            match answer {
                Answer::Postgres(a) => judge_postgres(&mut v, cfg, a, reports, view),
                Answer::Pgpool(a) => judge_pgpool(&mut v, cfg, a, reports, view),
                Answer::Pgbouncer(a) => judge_pgbouncer(&mut v, cfg, a, reports, view),
            }
        }
    }
    v
}

fn judge_postgres(
    v: &mut EndpointView,
    cfg: &EndpointConfig,
    a: &postgres::Answer,
    reports: &[NodeReport],
    view: &ClusterView,
) {
    v.is_primary = Some(!a.in_recovery);
    match identify(a, reports) {
        Some(node) => {
            v.target = Some(node.name.clone());
            v.expectation_met = cfg
                .expect
                .and_then(|e| met(e, Some(a.in_recovery), Some(node), view));
        }
        None => {
            v.target = Some(UNKNOWN_NODE.to_owned());
            let other_cluster = a.system_identifier.as_ref().is_some_and(|id| {
                let ours: Vec<&str> = reports
                    .iter()
                    .filter_map(|r| r.state.as_ref()?.system_identifier.as_deref())
                    .collect();
                !ours.is_empty() && !ours.contains(&id.as_str())
            });
            v.expectation_met = other_cluster.then_some(false);
        }
    }
}

/// The polled node that answered through the endpoint.
fn identify<'a>(a: &postgres::Answer, reports: &'a [NodeReport]) -> Option<&'a NodeReport> {
    let start = a.postmaster_start_us?;
    let mut found: Vec<&NodeReport> = reports
        .iter()
        .filter(|r| {
            r.state.as_ref().is_some_and(|s| {
                s.postmaster_start_us == Some(start)
                    && match (&s.system_identifier, &a.system_identifier) {
                        (Some(x), Some(y)) => x == y,
                        _ => true,
                    }
            })
        })
        .collect();
    if found.len() > 1 {
        // Two servers started in the same microsecond: the role and the nearest position tell.
        found.sort_by_key(|r| {
            let s = r.state.as_ref().expect("filtered on state");
            let distance = match (s.wal_lsn, a.lsn) {
                (Some(x), Some(y)) => x.0.abs_diff(y.0),
                _ => u64::MAX,
            };
            (s.in_recovery != a.in_recovery, distance)
        });
    }
    found.first().copied()
}

/// Whether a node meets `expect`; `session_in_recovery` is the answer through the endpoint when
/// there is one (fresher than the round's poll of that node).
fn met(
    expect: Expect,
    session_in_recovery: Option<bool>,
    node: Option<&NodeReport>,
    view: &ClusterView,
) -> Option<bool> {
    let node = node?;
    let in_recovery = session_in_recovery.or(node.state.as_ref().map(|s| s.in_recovery))?;
    Some(match expect {
        Expect::Primary => !in_recovery && view.primaries <= 1,
        Expect::Standby => in_recovery,
        Expect::Any => true,
    })
}

/// The polled node at `host:port`: the same host text (case-insensitive), or the same IP.
fn node_at<'a>(reports: &'a [NodeReport], host: &str, port: u16) -> Option<&'a NodeReport> {
    let ip = host.parse::<IpAddr>().ok();
    reports.iter().find(|r| {
        r.address.as_ref().is_some_and(|(h, p)| {
            *p == port
                && (h.eq_ignore_ascii_case(host)
                    || (ip.is_some() && h.parse::<IpAddr>().ok() == ip))
        })
    })
}

fn label_for(reports: &[NodeReport], host: &str, port: u16) -> (String, Option<usize>) {
    match node_at(reports, host, port) {
        Some(r) => (
            r.name.clone(),
            reports.iter().position(|x| std::ptr::eq(x, r)),
        ),
        None => (format!("{host}:{port}"), None),
    }
}

/// pgpool's role names outside streaming replication mode mean the same.
fn pgpool_role(role: &str) -> &str {
    match role {
        "main" | "master" => "primary",
        "replica" | "slave" => "standby",
        r => r,
    }
}

fn judge_pgpool(
    v: &mut EndpointView,
    cfg: &EndpointConfig,
    a: &pgpool::Answer,
    reports: &[NodeReport],
    view: &ClusterView,
) {
    let mut seen = vec![false; reports.len()];
    let mut primary: Option<usize> = None;
    let mut balanced: Option<usize> = None;
    for b in &a.nodes {
        let (node, index) = label_for(reports, &b.hostname, b.port);
        if let Some(i) = index {
            seen[i] = true;
        }
        let role = b.role.as_deref().map(pgpool_role);
        let serving = matches!(b.status.as_str(), "up" | "waiting");
        if role == Some("primary") && serving && primary.is_none() {
            primary = index;
        }
        if b.load_balance_node == Some(true) && balanced.is_none() {
            balanced = index;
        }
        let real = index.and_then(|i| reports[i].state.as_ref().map(|s| s.in_recovery));
        let role_correct = match (role, real) {
            (Some(r @ ("primary" | "standby")), Some(in_recovery)) => {
                Some((r == "standby") == in_recovery)
            }
            _ => None,
        };
        let health = a.health.as_ref().map(|h| {
            h.iter()
                .find(|x| x.hostname == b.hostname && x.port == b.port)
                .and_then(|x| x.fail_count)
        });
        v.pgpool_backends.push(PgpoolBackendView {
            node,
            listed: true,
            status: (!b.status.is_empty()).then(|| b.status.clone()),
            role: role.map(str::to_owned),
            role_correct,
            delay_bytes: b.delay_bytes,
            delay_seconds: b.delay_seconds,
            selects_total: b.select_cnt,
            load_balance_node: b.load_balance_node,
            health_check_failures_total: health.flatten(),
        });
    }
    for (i, r) in reports.iter().enumerate() {
        if !seen[i] {
            v.pgpool_backends.push(PgpoolBackendView {
                node: r.name.clone(),
                listed: false,
                ..PgpoolBackendView::default()
            });
        }
    }
    let writer = primary.map(|i| &reports[i]);
    v.target = Some(writer.map_or_else(|| UNKNOWN_NODE.to_owned(), |r| r.name.clone()));
    v.is_primary = writer.and_then(|r| r.state.as_ref().map(|s| !s.in_recovery));
    v.expectation_met = match cfg.expect {
        // pgpool writes to the backend it calls primary: with none up, writes fail.
        Some(Expect::Primary)
            if primary.is_none()
                && a.nodes.iter().all(|b| {
                    b.role.as_deref().map(pgpool_role) != Some("primary")
                        || !matches!(b.status.as_str(), "up" | "waiting")
                }) =>
        {
            Some(false)
        }
        Some(Expect::Primary) => met(Expect::Primary, None, writer, view),
        Some(Expect::Standby) => met(Expect::Standby, None, balanced.map(|i| &reports[i]), view),
        Some(Expect::Any) => Some(true),
        None => None,
    };
}

fn judge_pgbouncer(
    v: &mut EndpointView,
    cfg: &EndpointConfig,
    a: &pgbouncer::Answer,
    reports: &[NodeReport],
    view: &ClusterView,
) {
    let expect_of = |db: &str| {
        cfg.expect_databases
            .iter()
            .find(|(name, _)| name == db)
            .map(|(_, e)| *e)
    };
    for d in &a.databases {
        let (node, index) = match (&d.host, d.port) {
            (Some(h), Some(p)) => {
                let (label, index) = label_for(reports, h, p);
                (Some(label), index)
            }
            _ => (None, None),
        };
        let expect = expect_of(&d.name);
        let waiting = a.waiting.get(&d.name).cloned().unwrap_or_default();
        v.pgbouncer_databases.push(PgbouncerDatabaseView {
            database: d.name.clone(),
            node,
            expect: expect.map(|e| e.as_str().to_owned()),
            expectation_met: expect.and_then(|e| met(e, None, index.map(|i| &reports[i]), view)),
            clients_waiting: waiting.clients,
            max_wait_seconds: waiting.max_wait_seconds,
        });
    }
    // A database the configuration expects but pgbouncer does not serve: clients fail.
    for (db, e) in &cfg.expect_databases {
        if !a.databases.iter().any(|d| &d.name == db) {
            v.pgbouncer_databases.push(PgbouncerDatabaseView {
                database: db.clone(),
                node: None,
                expect: Some(e.as_str().to_owned()),
                expectation_met: Some(false),
                ..PgbouncerDatabaseView::default()
            });
        }
    }
    v.pgbouncer_databases
        .sort_by(|x, y| x.database.cmp(&y.database));
}
