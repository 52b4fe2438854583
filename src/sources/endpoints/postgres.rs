//! A `postgres` endpoint (a VIP, haproxy, a DNS name): one statement through it says which node
//! answered. `inet_server_addr()` would show the VIP, so the node is told by what is its own: the
//! system identifier (the cluster), `pg_postmaster_start_time()` (the server) and its position.
//! The statement is plain function calls on `pg_catalog`, with no startup options and no `SET`
//! (a pgbouncer in front refuses startup options, and a `SET` would outlive the check in its
//! pooled server session): read-only by construction, bounded by the endpoint's timeout.

use super::table::Table;
use crate::core::lsn::Lsn;

/// The statement run through the endpoint, in the simple query protocol (pgpool-II and
/// pgbouncer pass it on unchanged).
pub const CHECK: &str = "SELECT (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) AS system_identifier, \
     (extract(epoch FROM pg_catalog.pg_postmaster_start_time()) * 1000000)::bigint AS postmaster_start_us, \
     pg_catalog.pg_is_in_recovery() AS in_recovery, \
     CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() \
          ELSE pg_catalog.pg_current_wal_lsn() END AS lsn";

/// What the node behind the endpoint said about itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    pub system_identifier: Option<String>,
    pub postmaster_start_us: Option<i64>,
    pub in_recovery: bool,
    pub lsn: Option<Lsn>,
}

/// The one row of [`CHECK`].
pub fn parse(t: &Table) -> Result<Answer, String> {
    let r = t
        .records()
        .next()
        .ok_or_else(|| "the check returned no row".to_owned())?;
    let in_recovery = match r.get("in_recovery") {
        Some("t") | Some("true") => true,
        Some("f") | Some("false") => false,
        other => return Err(format!("the check returned in_recovery {other:?}")),
    };
    Ok(Answer {
        system_identifier: r.get("system_identifier").map(str::to_owned),
        postmaster_start_us: r.parse("postmaster_start_us"),
        in_recovery,
        lsn: r.parse("lsn"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_row_and_refuses_a_reply_without_one() {
        let t = Table {
            columns: [
                "system_identifier",
                "postmaster_start_us",
                "in_recovery",
                "lsn",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: vec![vec![
                Some("7310000000000000001".into()),
                Some("1796127897141766".into()),
                Some("f".into()),
                Some("0/3000060".into()),
            ]],
        };
        let a = parse(&t).unwrap();
        assert_eq!(a.postmaster_start_us, Some(1_796_127_897_141_766));
        assert!(!a.in_recovery);
        assert_eq!(a.lsn, Some(Lsn(0x3000060)));
        assert!(parse(&Table::default()).is_err());
    }
}
