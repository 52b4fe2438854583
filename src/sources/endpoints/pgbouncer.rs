//! pgbouncer's admin console (the `pgbouncer` database; simple query protocol only):
//! `SHOW DATABASES` says where each database routes, `SHOW POOLS` how many clients wait.
//! Columns are read by name (1.18 to 1.23 add columns but keep these).

use std::collections::BTreeMap;

use super::table::Table;

/// One database of `SHOW DATABASES`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Database {
    /// pgbouncer's name for it (what clients connect to).
    pub name: String,
    /// Where it routes; `None` for a Unix socket or the console itself.
    pub host: Option<String>,
    pub port: Option<u16>,
}

/// The clients waiting on one database, over its pools (one pool per user).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Waiting {
    pub clients: u64,
    pub max_wait_seconds: f64,
}

/// What one check of a pgbouncer endpoint read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    pub databases: Vec<Database>,
    pub waiting: BTreeMap<String, Waiting>,
}

/// `SHOW DATABASES`, without the admin console's own `pgbouncer` entry.
pub fn parse_databases(t: &Table) -> Result<Vec<Database>, String> {
    for c in ["name", "host", "port"] {
        if t.column(c).is_none() {
            return Err(format!(
                "SHOW DATABASES: no {c:?} column (columns: {})",
                t.columns.join(", ")
            ));
        }
    }
    Ok(t.records()
        .filter_map(|r| {
            let name = r.get("name")?.to_owned();
            if name == crate::config::PGBOUNCER_ADMIN_DBNAME {
                return None;
            }
            // A host starting with "/" is a Unix socket directory: no node address.
            let host = r
                .get("host")
                .filter(|h| !h.starts_with('/'))
                .map(str::to_owned);
            Some(Database {
                name,
                port: r.parse("port"),
                host,
            })
        })
        .collect())
}

/// `SHOW POOLS`, summed per database: `cl_waiting`, and the longest `maxwait` + `maxwait_us`.
pub fn parse_pools(t: &Table) -> Result<BTreeMap<String, Waiting>, String> {
    for c in ["database", "cl_waiting"] {
        if t.column(c).is_none() {
            return Err(format!(
                "SHOW POOLS: no {c:?} column (columns: {})",
                t.columns.join(", ")
            ));
        }
    }
    let mut out: BTreeMap<String, Waiting> = BTreeMap::new();
    for r in t.records() {
        let Some(db) = r.get("database") else {
            continue;
        };
        if db == crate::config::PGBOUNCER_ADMIN_DBNAME {
            continue;
        }
        let w = out.entry(db.to_owned()).or_default();
        w.clients += r.parse::<u64>("cl_waiting").unwrap_or(0);
        let wait = r.parse::<f64>("maxwait").unwrap_or(0.0)
            + r.parse::<f64>("maxwait_us").unwrap_or(0.0) / 1e6;
        w.max_wait_seconds = w.max_wait_seconds.max(wait);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[&str], rows: &[&[Option<&str>]]) -> Table {
        Table {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_owned)).collect())
                .collect(),
        }
    }

    #[test]
    fn pools_sum_waiting_clients_and_keep_the_longest_wait() {
        let t = table(
            &[
                "database",
                "user",
                "cl_active",
                "cl_waiting",
                "maxwait",
                "maxwait_us",
            ],
            &[
                &[
                    Some("app_rw"),
                    Some("a"),
                    Some("1"),
                    Some("2"),
                    Some("3"),
                    Some("500000"),
                ],
                &[
                    Some("app_rw"),
                    Some("b"),
                    Some("0"),
                    Some("1"),
                    Some("1"),
                    Some("0"),
                ],
                &[
                    Some("pgbouncer"),
                    Some("pgbouncer"),
                    Some("1"),
                    Some("0"),
                    Some("0"),
                    Some("0"),
                ],
            ],
        );
        let w = parse_pools(&t).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w["app_rw"].clients, 3);
        assert_eq!(w["app_rw"].max_wait_seconds, 3.5);
    }

    #[test]
    fn a_unix_socket_database_has_no_host() {
        let t = table(
            &["name", "host", "port", "database"],
            &[
                &[
                    Some("local"),
                    Some("/var/run/postgresql"),
                    Some("5432"),
                    Some("x"),
                ],
                &[Some("app"), Some("10.0.0.11"), Some("5432"), Some("app")],
                &[Some("pgbouncer"), None, Some("6432"), Some("pgbouncer")],
            ],
        );
        let d = parse_databases(&t).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].host, None);
        assert_eq!(d[1].host.as_deref(), Some("10.0.0.11"));
        assert_eq!(d[1].port, Some(5432));
    }
}
