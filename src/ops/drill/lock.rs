//! The drill lock (issue #14): two drills of one cluster never overlap, whichever node each
//! starts from. A drill takes `pg_try_advisory_lock(LOCK_KEY)` on every node, the standbys
//! too (advisory locks work during recovery and are never WAL-logged), each in a session of
//! its own held until the report, whose `application_name` names the drill. The session on
//! the target survives its promotion, so after a failover the new primary is still locked; a
//! node that restarts (the demoted old primary) loses its lock, the others keep theirs.
//!
//! Before anything else a drill reads `pg_locks` on every node: a lock held there refuses it
//! with the holder's name (`--force` does not override that).

use tokio_postgres::Client;

use crate::config::{DrillConfig, NodeConfig};
use crate::pg::connect::AbortOnDrop;

use super::{node_target, open_within, sql_err};

/// The key of the advisory lock that keeps two drills of one cluster apart ("pgdril").
pub const LOCK_KEY: i64 = 0x7067_6472_696c;

/// A session holding the drill lock on one node.
pub struct Held {
    pub node: String,
    pub client: Client,
    _task: AbortOnDrop,
}

/// `pg_locks` keys a bigint advisory lock by its high and low halves (objsubid 1).
fn holder_sql() -> String {
    format!(
        "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks l \
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {} AND l.objid = {} \
         AND l.objsubid = 1",
        LOCK_KEY >> 32,
        LOCK_KEY & 0xffff_ffff
    )
}

/// Who holds the drill lock on the node of `client`: `"drill pid … since …" (backend pid P
/// on NODE)`, or `None`.
async fn holder(client: &Client, node: &str) -> Result<Option<String>, String> {
    let rows = client
        .query(&holder_sql(), &[])
        .await
        .map_err(|e| sql_err(&format!("drill session on {node}: read pg_locks"), &e))?;
    Ok(rows.first().map(|r| {
        let (pid, name): (i32, String) = (r.get(0), r.get(1));
        format!("{name:?} (backend pid {pid} on {node})")
    }))
}

/// What the read-only look at every node found: the running drill (its holder on the first
/// node that has one), and the nodes the drill's role could not reach.
#[derive(Debug, Default)]
pub struct Looked {
    pub running: Option<String>,
    pub unreachable: Vec<String>,
}

/// Read `pg_locks` on every node, concurrently, touching nothing.
pub async fn look(nodes: &[NodeConfig], d: &DrillConfig) -> Looked {
    let found = futures_util::future::join_all(nodes.iter().map(|n| async move {
        let ctx = format!("drill session on {}", n.name);
        let (client, _task) = open_within(&node_target(n, d), &ctx).await?;
        holder(&client, &n.name).await
    }))
    .await;
    let mut looked = Looked::default();
    for r in found {
        match r {
            Ok(Some(h)) if looked.running.is_none() => looked.running = Some(h),
            Ok(_) => {}
            Err(e) => looked.unreachable.push(e),
        }
    }
    looked
}

/// Take the lock on every node (in name order), each session named `label`. Another drill's
/// lock anywhere: every lock taken so far is released and Err names the holder. A node the
/// role cannot reach: Err, or skipped (listed in the second value) when `skip_unreachable`.
pub async fn take(
    nodes: &[NodeConfig],
    d: &DrillConfig,
    label: &str,
    skip_unreachable: bool,
) -> Result<(Vec<Held>, Vec<String>), String> {
    let mut sorted: Vec<&NodeConfig> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut held = Vec::new();
    let mut skipped = Vec::new();
    for n in sorted {
        let ctx = format!("drill session on {}", n.name);
        let (client, task) = match open_within(&node_target(n, d), &ctx).await {
            Ok(s) => s,
            Err(e) if skip_unreachable => {
                skipped.push(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let locked: bool = client
            .query_one(
                "SELECT set_config('application_name', $1, false) IS NOT NULL, \
                 pg_try_advisory_lock($2)",
                &[&label, &LOCK_KEY],
            )
            .await
            .map_err(|e| sql_err(&format!("{ctx}: take the drill lock"), &e))?
            .get(1);
        if !locked {
            let who = holder(&client, &n.name)
                .await?
                .unwrap_or_else(|| format!("another session on {}", n.name));
            return Err(format!(
                "another drill is running: the drill lock on {} is held by {who}",
                n.name
            ));
        }
        held.push(Held {
            node: n.name.clone(),
            client,
            _task: task,
        });
    }
    Ok((held, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_locks_shows_the_bigint_key_as_its_two_halves() {
        let sql = holder_sql();
        assert!(
            sql.contains("l.classid = 28775 AND l.objid = 1685219692"),
            "{sql}"
        );
        assert_eq!((28775_i64 << 32) | 1_685_219_692, LOCK_KEY);
    }
}
