//! The drill's read probe (issue #14): one read every 100 ms through each read endpoint, and
//! the pure per-endpoint report over what it recorded.
//!
//! The read endpoints are every `[[cluster.endpoint]]` but the write endpoint that is not
//! expected to lead to the primary: `postgres` and `pgpool` kinds with `expect` standby or any
//! (the default), and each pgbouncer database of `expect_databases` expected on a standby or
//! anywhere. An endpoint expected on the primary is a write path: the drill times when it leads
//! to the new primary instead.
//!
//! Each read asks `pg_is_in_recovery()` and the highest probe sequence number the answering
//! node holds. An answer holding a write that only the new primary took (the first one
//! acknowledged after it was seen out of recovery) proves the node answering is part of the
//! new topology: the new primary itself, or a standby that streams from it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::clock::unix_now;
use crate::config::{ClusterConfig, DrillConfig, EndpointKind, Expect, SslMode};
use crate::core::model::UnixTime;
use crate::pg::connect::{AbortOnDrop, Target};

use super::{
    ATTEMPT_TIMEOUT, Latency, PROBE_SCHEMA, latency_ms, open_within, round3, tick_or_stop, ticker,
};

pub const READ_EVERY: Duration = Duration::from_millis(100);

/// A read endpoint as the drill's role connects to it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadTarget {
    /// The endpoint's name; `endpoint/database` for a pgbouncer database.
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The drill's dbname, or the pgbouncer database.
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
}

/// The read endpoints of `cluster` (see the module doc), in configuration order. Pure.
pub fn read_targets(
    cluster: &ClusterConfig,
    drill_dbname: &str,
    write_endpoint: Option<&str>,
) -> Vec<ReadTarget> {
    let reads = |e: Option<Expect>| e != Some(Expect::Primary);
    let mut out = Vec::new();
    for e in &cluster.endpoints {
        if Some(e.name.as_str()) == write_endpoint {
            continue;
        }
        let target = |name: String, dbname: &str| ReadTarget {
            name,
            host: e.host.clone(),
            port: e.port,
            dbname: dbname.to_owned(),
            sslmode: e.sslmode,
            sslrootcert: e.sslrootcert.clone(),
            connect_timeout: e.connect_timeout.min(ATTEMPT_TIMEOUT),
        };
        match e.kind {
            EndpointKind::Pgbouncer => out.extend(
                e.expect_databases
                    .iter()
                    .filter(|(_, x)| reads(Some(*x)))
                    .map(|(db, _)| target(format!("{}/{db}", e.name), db)),
            ),
            _ if reads(e.expect) => out.push(target(e.name.clone(), drill_dbname)),
            _ => {}
        }
    }
    out
}

/// One read through a read endpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Read {
    pub endpoint: String,
    pub sent_at: UnixTime,
    /// When the answer came; `None` when the read failed.
    pub answered_at: Option<UnixTime>,
    pub in_recovery: Option<bool>,
    /// The highest probe sequence number the answering node holds (`None`: none yet).
    pub max_seq: Option<i64>,
    pub error: Option<String>,
}

/// What one read endpoint's clients felt.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReadReport {
    pub reads: usize,
    pub failed_reads: usize,
    /// The longest run of failed reads: its first failed read sent → the next answer (→ the
    /// last read when none came).
    pub longest_unreadable_seconds: f64,
    pub readable_at_end: bool,
    /// Switch requested → the first answer holding a write of the new primary (`None`: none).
    pub new_topology_seconds: Option<f64>,
    /// The node of that answer: `standby` (in recovery) or `primary`.
    pub new_topology_answered_by: Option<String>,
    /// Read latency before / during / after the write outage.
    pub latency: BTreeMap<String, Option<Latency>>,
    /// When that first new-topology answer came and the sequence number it held.
    #[serde(skip)]
    pub new_topology_at: Option<(UnixTime, i64)>,
    /// The first failed read of the run still going at the end.
    #[serde(skip)]
    pub unreadable_since: Option<UnixTime>,
    #[serde(skip)]
    pub last_answer_at: Option<UnixTime>,
}

/// The report over one endpoint's reads (in send order). `first_new_seq`: the first write
/// acknowledged by the new primary; `phases`: the write outage (first failed write, first
/// acknowledgement after it) that splits the latency. Pure.
pub fn read_report(
    log: &[Read],
    switch_at: Option<UnixTime>,
    first_new_seq: Option<i64>,
    phases: (UnixTime, UnixTime),
) -> ReadReport {
    let mut longest: f64 = 0.0;
    let mut run: Option<UnixTime> = None;
    let mut new_topology = None;
    let mut last_answer_at = None;
    for r in log {
        match r.answered_at {
            None => {
                run.get_or_insert(r.sent_at);
            }
            Some(at) => {
                if let Some(start) = run.take() {
                    longest = longest.max(at - start);
                }
                last_answer_at = Some(at);
                if new_topology.is_none()
                    && let (Some(seq), Some(first)) = (r.max_seq, first_new_seq)
                    && seq >= first
                {
                    new_topology = Some((at, seq, r.in_recovery));
                }
            }
        }
    }
    if let (Some(start), Some(last)) = (run, log.last()) {
        longest = longest.max(last.sent_at - start);
    }
    let answered = || log.iter().filter_map(|r| Some((r.sent_at, r.answered_at?)));
    let (t0, t1) = phases;
    ReadReport {
        reads: log.len(),
        failed_reads: log.iter().filter(|r| r.answered_at.is_none()).count(),
        longest_unreadable_seconds: round3(longest),
        readable_at_end: run.is_none(),
        new_topology_seconds: new_topology
            .and_then(|(at, _, _)| Some(round3((at - switch_at?).max(0.0)))),
        new_topology_answered_by: new_topology
            .and_then(|(_, _, rec)| rec.map(|r| if r { "standby" } else { "primary" }.to_owned())),
        latency: BTreeMap::from([
            (
                "before".to_owned(),
                latency_ms(answered(), f64::NEG_INFINITY, t0),
            ),
            ("during".to_owned(), latency_ms(answered(), t0, t1)),
            (
                "after".to_owned(),
                latency_ms(answered(), t1, f64::INFINITY),
            ),
        ]),
        new_topology_at: new_topology.map(|(at, seq, _)| (at, seq)),
        unreadable_since: run,
        last_answer_at,
    }
}

/// One read every 100 ms through `t` until `stop`; a failed read drops the session, and the
/// next one opens a new session (as a client's reconnect would).
pub async fn run_read_probe(
    t: ReadTarget,
    d: DrillConfig,
    log: Arc<Mutex<Vec<Read>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = ticker(READ_EVERY);
    let mut session: Option<(tokio_postgres::Client, AbortOnDrop)> = None;
    let sql = format!("SELECT pg_is_in_recovery(), (SELECT max(seq) FROM {PROBE_SCHEMA}.probe)");
    let ctx = format!("drill read through endpoint {}", t.name);
    while tick_or_stop(&mut ticker, &mut stop).await {
        let sent_at = unix_now();
        let answer = async {
            if session.is_none() {
                let target = Target {
                    host: &t.host,
                    port: t.port,
                    user: &d.user,
                    password: d.password.as_ref(),
                    dbname: &t.dbname,
                    sslmode: t.sslmode,
                    sslrootcert: t.sslrootcert.as_deref(),
                    connect_timeout: t.connect_timeout,
                    options: None,
                };
                session = Some(open_within(&target, &ctx).await?);
            }
            let Some((client, _)) = &session else {
                return Err(format!("{ctx}: no session"));
            };
            match tokio::time::timeout(ATTEMPT_TIMEOUT, client.query_one(&sql, &[])).await {
                Ok(Ok(row)) => Ok((row.get::<_, bool>(0), row.get::<_, Option<i64>>(1))),
                Ok(Err(e)) => Err(super::sql_err(&ctx, &e)),
                Err(_) => Err(format!("{ctx}: no answer within {ATTEMPT_TIMEOUT:?}")),
            }
        }
        .await;
        let read = match answer {
            Ok((in_recovery, max_seq)) => Read {
                endpoint: t.name.clone(),
                sent_at,
                answered_at: Some(unix_now()),
                in_recovery: Some(in_recovery),
                max_seq,
                error: None,
            },
            Err(e) => {
                session = None;
                Read {
                    endpoint: t.name.clone(),
                    sent_at,
                    answered_at: None,
                    in_recovery: None,
                    max_seq: None,
                    error: Some(e),
                }
            }
        };
        log.lock().unwrap_or_else(|p| p.into_inner()).push(read);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sent: f64, at: f64, seq: Option<i64>, in_recovery: bool) -> Read {
        Read {
            endpoint: "ro".into(),
            sent_at: sent,
            answered_at: Some(at),
            in_recovery: Some(in_recovery),
            max_seq: seq,
            error: None,
        }
    }

    fn failed(sent: f64) -> Read {
        Read {
            endpoint: "ro".into(),
            sent_at: sent,
            answered_at: None,
            in_recovery: None,
            max_seq: None,
            error: Some("connection refused".into()),
        }
    }

    #[test]
    fn a_read_endpoint_is_unreadable_from_its_first_failed_read_to_the_next_answer() {
        let log = vec![
            ok(10.0, 10.001, Some(5), true),
            failed(10.1),
            failed(10.2),
            ok(10.3, 10.302, Some(6), true),
            failed(10.4),
            ok(11.5, 11.6, Some(9), true),
            ok(11.7, 11.701, Some(12), false),
        ];
        let r = read_report(&log, Some(10.05), Some(9), (10.1, 11.0));
        assert_eq!((r.reads, r.failed_reads), (7, 3));
        // 10.4 → 11.6 is longer than 10.1 → 10.302.
        assert_eq!(r.longest_unreadable_seconds, 1.2);
        assert!(r.readable_at_end);
        // The first answer holding seq 9 (the new primary's first write) came at 11.6.
        assert_eq!(r.new_topology_seconds, Some(1.55));
        assert_eq!(r.new_topology_answered_by.as_deref(), Some("standby"));
        assert_eq!(r.new_topology_at, Some((11.6, 9)));
        let before = r.latency["before"].clone().unwrap();
        assert_eq!((before.count, before.max_ms), (1, 1.0));
        let during = r.latency["during"].clone().unwrap();
        assert_eq!((during.count, during.max_ms), (1, 2.0));
        assert_eq!(r.latency["after"].clone().unwrap().count, 2);
    }

    #[test]
    fn reads_failing_until_the_end_are_not_readable_and_old_answers_are_not_the_new_topology() {
        let log = vec![ok(10.0, 10.001, Some(5), true), failed(10.1), failed(12.1)];
        let r = read_report(&log, Some(10.0), Some(9), (10.1, 11.0));
        assert!(!r.readable_at_end);
        assert_eq!(r.unreadable_since, Some(10.1));
        assert_eq!(r.longest_unreadable_seconds, 2.0);
        assert_eq!(r.new_topology_seconds, None);
        assert_eq!(r.last_answer_at, Some(10.001));
        // Without a write of the new primary nothing proves the new topology.
        let r = read_report(&[ok(1.0, 1.1, Some(50), true)], Some(0.0), None, (2.0, 3.0));
        assert_eq!(r.new_topology_at, None);
        let empty = read_report(&[], Some(0.0), Some(1), (2.0, 3.0));
        assert!(empty.readable_at_end && empty.reads == 0);
    }
}
