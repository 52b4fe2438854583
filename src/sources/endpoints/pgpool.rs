//! pgpool-II, asked through pgpool itself. `SHOW POOL_NODES` is not free: since 4.3 pgpool
//! answers its `pg_status` and `pg_role` columns by pinging and logging in to every backend
//! (measured on 4.3.5: about two new sessions per backend per call), so it runs only every
//! `pool_nodes_interval` (for `replication_delay` and `load_balance_node`). Each check reads
//! pgpool's status and role from `SHOW POOL_HEALTH_CHECK_STATS` (4.1+) and `select_cnt` from
//! `SHOW POOL_BACKEND_STATS` (4.3+): shared memory, no backend touched. Before 4.1 every check
//! falls back to `SHOW POOL_NODES`. The parsers read columns by name, so the column sets of 4.1
//! to 4.5 all parse: `pg_status`/`pg_role` appeared in 4.3, and `replication_delay` is bytes, or
//! seconds ("0.000568 second") in 4.4+ when `delay_threshold_by_time` is set.

use super::table::Table;

/// One backend as pgpool sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolNode {
    pub node_id: Option<u32>,
    pub hostname: String,
    pub port: u16,
    /// pgpool's status: up, waiting, down, quarantine, unused.
    pub status: String,
    /// pgpool's belief: primary or standby (main/replica outside streaming replication mode).
    pub role: Option<String>,
    pub select_cnt: Option<u64>,
    pub load_balance_node: Option<bool>,
    pub delay_bytes: Option<u64>,
    pub delay_seconds: Option<f64>,
    /// 4.3+: the backend's state and role as pgpool last checked them itself.
    pub pg_status: Option<String>,
    pub pg_role: Option<String>,
}

/// One row of `SHOW POOL_HEALTH_CHECK_STATS`: pgpool's status and role now, and its health
/// check counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthCheck {
    pub hostname: String,
    pub port: u16,
    pub status: Option<String>,
    pub role: Option<String>,
    pub fail_count: Option<u64>,
}

/// One row of `SHOW POOL_BACKEND_STATS` (4.3+).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackendStats {
    pub hostname: String,
    pub port: u16,
    pub select_cnt: Option<u64>,
}

/// What one check of a pgpool endpoint read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    pub nodes: Vec<PoolNode>,
    /// `None` where the command does not exist (before 4.1) or failed.
    pub health: Option<Vec<HealthCheck>>,
}

/// `SHOW POOL_NODES`; a reply without hostname/port/status columns is not one.
pub fn parse_pool_nodes(t: &Table) -> Result<Vec<PoolNode>, String> {
    for c in ["hostname", "port", "status"] {
        if t.column(c).is_none() {
            return Err(format!(
                "SHOW POOL_NODES: no {c:?} column (columns: {})",
                t.columns.join(", ")
            ));
        }
    }
    let mut out = Vec::with_capacity(t.rows.len());
    for r in t.records() {
        let hostname = r.get("hostname").unwrap_or_default().to_owned();
        let port = r
            .parse::<u16>("port")
            .ok_or_else(|| format!("SHOW POOL_NODES: backend {hostname:?} has no valid port"))?;
        let (delay_bytes, delay_seconds) = parse_delay(r.get("replication_delay"));
        out.push(PoolNode {
            node_id: r.parse("node_id"),
            hostname,
            port,
            status: r.get("status").unwrap_or_default().to_owned(),
            role: r.get("role").map(str::to_owned),
            select_cnt: r.parse("select_cnt"),
            load_balance_node: r.get("load_balance_node").map(|v| v == "true"),
            delay_bytes,
            delay_seconds,
            pg_status: r.get("pg_status").map(str::to_owned),
            pg_role: r.get("pg_role").map(str::to_owned),
        });
    }
    Ok(out)
}

/// `replication_delay`: a byte count, or "<seconds> second(s)" (4.4+ with
/// `delay_threshold_by_time`); anything else is unknown.
pub fn parse_delay(v: Option<&str>) -> (Option<u64>, Option<f64>) {
    let Some(v) = v else { return (None, None) };
    if let Some(secs) = v
        .strip_suffix(" seconds")
        .or_else(|| v.strip_suffix(" second"))
    {
        return (
            None,
            secs.trim().parse::<f64>().ok().filter(|s| s.is_finite()),
        );
    }
    (v.parse::<u64>().ok(), None)
}

/// `SHOW POOL_HEALTH_CHECK_STATS`.
pub fn parse_health(t: &Table) -> Vec<HealthCheck> {
    t.records()
        .filter_map(|r| {
            Some(HealthCheck {
                hostname: r.get("hostname")?.to_owned(),
                port: r.parse("port")?,
                status: r.get("status").map(str::to_owned),
                role: r.get("role").map(str::to_owned),
                fail_count: r.parse("fail_count"),
            })
        })
        .collect()
}

/// `SHOW POOL_BACKEND_STATS`.
pub fn parse_backend_stats(t: &Table) -> Vec<BackendStats> {
    t.records()
        .filter_map(|r| {
            Some(BackendStats {
                hostname: r.get("hostname")?.to_owned(),
                port: r.parse("port")?,
                select_cnt: r.parse("select_cnt"),
            })
        })
        .collect()
}

/// The backends as of this check: the fresh status and role of `SHOW POOL_HEALTH_CHECK_STATS`
/// and `select_cnt` of `SHOW POOL_BACKEND_STATS` over the last `SHOW POOL_NODES` (its delay and
/// load-balance node, as old as `pool_nodes_interval`). With health stats the backend list is
/// theirs (a backend added by a reload shows at once, without a delay yet).
pub fn merge(
    nodes: &[PoolNode],
    health: Option<&[HealthCheck]>,
    stats: Option<&[BackendStats]>,
) -> Vec<PoolNode> {
    let same = |n: &PoolNode, host: &str, port: u16| n.hostname == host && n.port == port;
    let mut out: Vec<PoolNode> = match health {
        Some(h) => h
            .iter()
            .map(|x| {
                let old = nodes.iter().find(|n| same(n, &x.hostname, x.port));
                PoolNode {
                    hostname: x.hostname.clone(),
                    port: x.port,
                    status: x.status.clone().unwrap_or_default(),
                    role: x.role.clone(),
                    ..old.cloned().unwrap_or_default()
                }
            })
            .collect(),
        None => nodes.to_vec(),
    };
    if let Some(stats) = stats {
        for n in &mut out {
            if let Some(s) = stats.iter().find(|s| same(n, &s.hostname, s.port)) {
                n.select_cnt = s.select_cnt.or(n.select_cnt);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| Some((*v).to_owned())).collect())
                .collect(),
        }
    }

    #[test]
    fn delay_is_bytes_or_seconds() {
        assert_eq!(parse_delay(Some("0")), (Some(0), None));
        assert_eq!(parse_delay(Some("1048576")), (Some(1_048_576), None));
        assert_eq!(parse_delay(Some("0.000568 second")), (None, Some(0.000568)));
        assert_eq!(parse_delay(Some("2.5 seconds")), (None, Some(2.5)));
        assert_eq!(parse_delay(Some("n/a")), (None, None));
        assert_eq!(parse_delay(None), (None, None));
    }

    #[test]
    fn the_4_1_column_set_parses_without_pg_status() {
        // pgpool-II 4.1's columns (no pg_status / pg_role, which came in 4.3).
        let t = table(
            &[
                "node_id",
                "hostname",
                "port",
                "status",
                "lb_weight",
                "role",
                "select_cnt",
                "load_balance_node",
                "replication_delay",
                "replication_state",
                "replication_sync_state",
                "last_status_change",
            ],
            &[
                &[
                    "0",
                    "10.0.0.11",
                    "5432",
                    "up",
                    "0.5",
                    "primary",
                    "12",
                    "false",
                    "0",
                    "",
                    "",
                    "2026-12-01 10:00:00",
                ],
                &[
                    "1",
                    "10.0.0.12",
                    "5432",
                    "down",
                    "0.5",
                    "standby",
                    "0",
                    "true",
                    "4096",
                    "streaming",
                    "async",
                    "2026-12-01 10:00:00",
                ],
            ],
        );
        let nodes = parse_pool_nodes(&t).unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].role.as_deref(), Some("primary"));
        assert_eq!(nodes[0].pg_role, None);
        assert_eq!(nodes[1].status, "down");
        assert_eq!(nodes[1].delay_bytes, Some(4096));
        assert_eq!(nodes[1].load_balance_node, Some(true));
        assert_eq!(nodes[0].select_cnt, Some(12));
    }

    #[test]
    fn fresh_status_and_role_override_the_last_pool_nodes() {
        let old = vec![
            PoolNode {
                hostname: "h".into(),
                port: 1,
                status: "up".into(),
                role: Some("primary".into()),
                delay_bytes: Some(0),
                select_cnt: Some(3),
                load_balance_node: Some(false),
                ..PoolNode::default()
            },
            PoolNode {
                hostname: "h".into(),
                port: 2,
                status: "up".into(),
                role: Some("standby".into()),
                delay_bytes: Some(512),
                load_balance_node: Some(true),
                ..PoolNode::default()
            },
        ];
        let health = vec![
            HealthCheck {
                hostname: "h".into(),
                port: 1,
                status: Some("down".into()),
                role: Some("standby".into()),
                fail_count: Some(2),
            },
            HealthCheck {
                hostname: "h".into(),
                port: 2,
                status: Some("up".into()),
                role: Some("primary".into()),
                fail_count: Some(0),
            },
            // Added by a reload since the last SHOW POOL_NODES.
            HealthCheck {
                hostname: "h".into(),
                port: 3,
                status: Some("waiting".into()),
                role: Some("standby".into()),
                fail_count: Some(0),
            },
        ];
        let stats = vec![BackendStats {
            hostname: "h".into(),
            port: 1,
            select_cnt: Some(9),
        }];
        let m = merge(&old, Some(&health), Some(&stats));
        type Row<'a> = (
            u16,
            &'a str,
            Option<&'a str>,
            Option<u64>,
            Option<u64>,
            Option<bool>,
        );
        let got: Vec<Row> = m
            .iter()
            .map(|n| {
                (
                    n.port,
                    n.status.as_str(),
                    n.role.as_deref(),
                    n.select_cnt,
                    n.delay_bytes,
                    n.load_balance_node,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, "down", Some("standby"), Some(9), Some(0), Some(false)),
                (2, "up", Some("primary"), None, Some(512), Some(true)),
                (3, "waiting", Some("standby"), None, None, None),
            ]
        );
        // Without health stats (before 4.1) the last SHOW POOL_NODES is the answer.
        assert_eq!(merge(&old, None, None), old);
    }

    #[test]
    fn a_reply_that_is_not_pool_nodes_is_an_error_naming_the_column() {
        let t = table(&["node_id", "hostname"], &[]);
        let e = parse_pool_nodes(&t).unwrap_err();
        assert!(e.contains("\"port\""), "{e}");
    }
}
