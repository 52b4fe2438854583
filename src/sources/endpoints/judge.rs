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
//!   this round gives no judgment, except that a route to such a node does not meet `primary`
//!   while another node is the primary (the pooler left on a failed primary).

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
    let Some(in_recovery) = session_in_recovery.or(node.state.as_ref().map(|s| s.in_recovery))
    else {
        // A route to a node that does not answer its poll while another node is the primary
        // (after a failover, a pooler still pointing at the old primary) does not lead to the
        // primary; with no primary in sight nothing is known.
        return (expect == Expect::Primary && view.primaries >= 1).then_some(false);
    };
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::config::{EndpointKind, SslMode};
    use crate::core::lsn::Lsn;
    use crate::core::model::NodeState;

    const SYSID: &str = "7310000000000000001";

    fn node(name: &str, port: u16, in_recovery: bool, start: i64) -> NodeReport {
        NodeReport {
            up: true,
            address: Some(("10.0.0.11".into(), port)),
            state: Some(NodeState {
                system_identifier: Some(SYSID.into()),
                in_recovery,
                postmaster_start_us: Some(start),
                wal_lsn: Some(Lsn(0x3000000)),
                ..NodeState::default()
            }),
            ..NodeReport::new(name, name)
        }
    }

    fn nodes() -> Vec<NodeReport> {
        vec![
            node("a", 5432, false, 100),
            node("b", 5433, true, 200),
            node("c", 5434, true, 300),
        ]
    }

    fn view(primaries: u32) -> ClusterView {
        ClusterView {
            primaries,
            ..ClusterView::default()
        }
    }

    fn cfg(kind: EndpointKind, expect: Option<Expect>) -> EndpointConfig {
        EndpointConfig {
            name: "e".into(),
            kind,
            host: "10.0.0.100".into(),
            port: 5432,
            expect,
            expect_databases: Vec::new(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(800),
            pool_nodes_interval: Duration::from_secs(30),
            user: "u".into(),
            password: None,
            dbname: "postgres".into(),
            sslmode: SslMode::Disable,
            sslrootcert: None,
            connect_timeout: Duration::from_millis(800),
        }
    }

    fn probe(answer: Answer) -> Option<Arc<Probe>> {
        Some(Arc::new(Probe {
            at: 0.0,
            duration: 0.002,
            answer: Ok(answer),
            errors_total: BTreeMap::new(),
        }))
    }

    fn pg(start: i64, in_recovery: bool, sysid: &str) -> Answer {
        Answer::Postgres(postgres::Answer {
            system_identifier: Some(sysid.into()),
            postmaster_start_us: Some(start),
            in_recovery,
            lsn: Some(Lsn(0x3000000)),
        })
    }

    fn one_pg(expect: Expect, a: Answer, reports: &[NodeReport], v: &ClusterView) -> EndpointView {
        judge(
            &[cfg(EndpointKind::Postgres, Some(expect))],
            &[probe(a)],
            reports,
            v,
        )
        .remove(0)
    }

    #[test]
    fn a_postgres_endpoint_is_judged_by_the_node_that_answered() {
        let r = nodes();
        // (expect, answer, primaries) → (target, is_primary, met)
        let cases = [
            (
                "VIP on the primary",
                Expect::Primary,
                pg(100, false, SYSID),
                1,
                ("a", Some(true), Some(true)),
            ),
            (
                "VIP on a demoted primary",
                Expect::Primary,
                pg(100, true, SYSID),
                1,
                ("a", Some(false), Some(false)),
            ),
            (
                "write VIP on a standby",
                Expect::Primary,
                pg(200, true, SYSID),
                1,
                ("b", Some(false), Some(false)),
            ),
            (
                "write VIP during split brain",
                Expect::Primary,
                pg(100, false, SYSID),
                2,
                ("a", Some(true), Some(false)),
            ),
            (
                "read endpoint on a standby",
                Expect::Standby,
                pg(300, true, SYSID),
                1,
                ("c", Some(false), Some(true)),
            ),
            (
                "read endpoint on the primary",
                Expect::Standby,
                pg(100, false, SYSID),
                1,
                ("a", Some(true), Some(false)),
            ),
            (
                "any node",
                Expect::Any,
                pg(300, true, SYSID),
                1,
                ("c", Some(false), Some(true)),
            ),
            (
                "a server not polled",
                Expect::Primary,
                pg(999, false, SYSID),
                1,
                (UNKNOWN_NODE, Some(true), None),
            ),
            (
                "another cluster",
                Expect::Any,
                pg(100, false, "42"),
                1,
                (UNKNOWN_NODE, Some(true), Some(false)),
            ),
        ];
        for (what, expect, answer, primaries, (target, is_primary, met)) in cases {
            let v = one_pg(expect, answer, &r, &view(primaries));
            assert!(v.up, "{what}");
            assert_eq!(v.target.as_deref(), Some(target), "{what}");
            assert_eq!(v.is_primary, is_primary, "{what}");
            assert_eq!(v.expectation_met, met, "{what}");
        }
    }

    #[test]
    fn a_node_down_in_this_round_gives_no_target_and_no_judgment() {
        let mut r = nodes();
        r[1].up = false;
        r[1].state = None;
        let v = one_pg(Expect::Standby, pg(200, true, SYSID), &r, &view(1));
        assert_eq!(v.target.as_deref(), Some(UNKNOWN_NODE));
        assert_eq!(v.expectation_met, None);
    }

    #[test]
    fn a_failed_check_is_down_with_its_error_and_nothing_else() {
        let p = Some(Arc::new(Probe {
            at: 0.0,
            duration: 0.8,
            answer: Err("check endpoint e (host=h port=1): no answer within 800ms".into()),
            errors_total: [(ErrorKind::Timeout, 3)].into_iter().collect(),
        }));
        let v = judge(
            &[cfg(EndpointKind::Postgres, Some(Expect::Primary))],
            &[p],
            &nodes(),
            &view(1),
        )
        .remove(0);
        assert!(!v.up);
        assert_eq!(v.errors_total[&ErrorKind::Timeout], 3);
        assert_eq!(v.errors_total[&ErrorKind::Connect], 0);
        assert_eq!(
            (v.target, v.is_primary, v.expectation_met),
            (None, None, None)
        );
        assert!(v.last_error.unwrap().contains("no answer"));
        // Before the first check: down, every counter at 0.
        let v = judge(&[cfg(EndpointKind::Pgpool, None)], &[], &nodes(), &view(1)).remove(0);
        assert!(!v.up && v.check_duration.is_none());
    }

    fn pool_node(port: u16, status: &str, role: &str, lb: bool) -> pgpool::PoolNode {
        pgpool::PoolNode {
            hostname: "10.0.0.11".into(),
            port,
            status: status.into(),
            role: Some(role.into()),
            load_balance_node: Some(lb),
            select_cnt: Some(5),
            ..pgpool::PoolNode::default()
        }
    }

    #[test]
    fn pgpool_roles_are_judged_against_the_direct_polls() {
        let r = nodes();
        // pgpool still calls a (now a standby after a failover behind its back) primary, and has
        // never heard of c; a 4th backend at an address no node has.
        let mut r2 = r.clone();
        r2[0].state.as_mut().unwrap().in_recovery = true;
        r2[1].state.as_mut().unwrap().in_recovery = false;
        let a = pgpool::Answer {
            nodes: vec![
                pool_node(5432, "up", "primary", false),
                pool_node(5433, "down", "standby", true),
                pgpool::PoolNode {
                    hostname: "10.0.9.9".into(),
                    ..pool_node(5432, "up", "standby", false)
                },
            ],
            health: Some(vec![pgpool::HealthCheck {
                hostname: "10.0.0.11".into(),
                port: 5433,
                fail_count: Some(7),
                ..pgpool::HealthCheck::default()
            }]),
        };
        let v = judge(
            &[cfg(EndpointKind::Pgpool, Some(Expect::Primary))],
            &[probe(Answer::Pgpool(a))],
            &r2,
            &view(1),
        )
        .remove(0);
        type Row<'a> = (&'a str, bool, Option<&'a str>, Option<bool>, Option<u64>);
        let b: Vec<Row> = v
            .pgpool_backends
            .iter()
            .map(|b| {
                (
                    b.node.as_str(),
                    b.listed,
                    b.role.as_deref(),
                    b.role_correct,
                    b.health_check_failures_total,
                )
            })
            .collect();
        assert_eq!(
            b,
            [
                ("a", true, Some("primary"), Some(false), None),
                ("b", true, Some("standby"), Some(false), Some(7)),
                ("10.0.9.9:5432", true, Some("standby"), None, None),
                ("c", false, None, None, None),
            ]
        );
        assert_eq!(v.target.as_deref(), Some("a"));
        assert_eq!(v.is_primary, Some(false));
        assert_eq!(v.expectation_met, Some(false));
    }

    #[test]
    fn pgpool_without_a_serving_primary_does_not_meet_primary() {
        let a = pgpool::Answer {
            nodes: vec![
                pool_node(5432, "down", "primary", false),
                pool_node(5433, "up", "standby", true),
            ],
            health: None,
        };
        let v = judge(
            &[cfg(EndpointKind::Pgpool, Some(Expect::Primary))],
            &[probe(Answer::Pgpool(a.clone()))],
            &nodes(),
            &view(1),
        )
        .remove(0);
        assert_eq!(v.target.as_deref(), Some(UNKNOWN_NODE));
        assert_eq!(v.expectation_met, Some(false));
        // Its reads still go to a standby.
        let v = judge(
            &[cfg(EndpointKind::Pgpool, Some(Expect::Standby))],
            &[probe(Answer::Pgpool(a))],
            &nodes(),
            &view(1),
        )
        .remove(0);
        assert_eq!(v.expectation_met, Some(true));
    }

    #[test]
    fn pgbouncer_databases_route_to_nodes_by_address() {
        let mut c = cfg(EndpointKind::Pgbouncer, None);
        c.expect_databases = vec![
            ("app_ro".into(), Expect::Standby),
            ("app_rw".into(), Expect::Primary),
            ("gone".into(), Expect::Any),
        ];
        let db = |name: &str, host: &str, port| pgbouncer::Database {
            name: name.into(),
            host: Some(host.into()),
            port: Some(port),
        };
        let a = pgbouncer::Answer {
            databases: vec![
                db("app_rw", "10.0.0.11", 5433),
                db("app_ro", "10.0.0.11", 5434),
                db("elsewhere", "db.example", 5432),
            ],
            waiting: [(
                "app_rw".to_owned(),
                pgbouncer::Waiting {
                    clients: 2,
                    max_wait_seconds: 1.5,
                },
            )]
            .into_iter()
            .collect(),
        };
        let v = judge(
            &[c.clone()],
            &[probe(Answer::Pgbouncer(a.clone()))],
            &nodes(),
            &view(1),
        )
        .remove(0);
        let got: Vec<(&str, Option<&str>, Option<bool>, u64)> = v
            .pgbouncer_databases
            .iter()
            .map(|d| {
                (
                    d.database.as_str(),
                    d.node.as_deref(),
                    d.expectation_met,
                    d.clients_waiting,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("app_ro", Some("c"), Some(true), 0),
                // Routed to b, a standby: writes fail.
                ("app_rw", Some("b"), Some(false), 2),
                ("elsewhere", Some("db.example:5432"), None, 0),
                // Expected, but pgbouncer does not serve it.
                ("gone", None, Some(false), 0),
            ]
        );
        assert_eq!(v.target, None);
        assert_eq!(v.expectation_met, None);
        // After a failover to c, app_rw still routes to b, which is down: not the primary.
        let mut r = nodes();
        r[1].up = false;
        r[1].state = None;
        r[2].state.as_mut().unwrap().in_recovery = false;
        r[0].state.as_mut().unwrap().in_recovery = true;
        let v = judge(
            &[c.clone()],
            &[probe(Answer::Pgbouncer(a.clone()))],
            &r,
            &view(1),
        )
        .remove(0);
        let rw = v
            .pgbouncer_databases
            .iter()
            .find(|d| d.database == "app_rw")
            .unwrap();
        assert_eq!(rw.expectation_met, Some(false));
        // With no primary anywhere, nothing is known about it.
        let v = judge(&[c], &[probe(Answer::Pgbouncer(a))], &r, &view(0)).remove(0);
        let rw = v
            .pgbouncer_databases
            .iter()
            .find(|d| d.database == "app_rw")
            .unwrap();
        assert_eq!(rw.expectation_met, None);
    }
}
