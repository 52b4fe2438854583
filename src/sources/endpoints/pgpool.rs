//! pgpool-II: `SHOW POOL_NODES` (and `SHOW POOL_HEALTH_CHECK_STATS` where it exists, 4.1+)
//! through pgpool itself. The parsers read columns by name, so the column sets of 4.1 to 4.5 all
//! parse: `pg_status`/`pg_role` appeared in 4.3, and `replication_delay` is bytes, or seconds
//! ("0.000568 second") in 4.4+ when `delay_threshold_by_time` is set.

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

/// One row of `SHOW POOL_HEALTH_CHECK_STATS`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthCheck {
    pub hostname: String,
    pub port: u16,
    pub fail_count: Option<u64>,
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
                fail_count: r.parse("fail_count"),
            })
        })
        .collect()
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
    fn a_reply_that_is_not_pool_nodes_is_an_error_naming_the_column() {
        let t = table(&["node_id", "hostname"], &[]);
        let e = parse_pool_nodes(&t).unwrap_err();
        assert!(e.contains("\"port\""), "{e}");
    }
}
