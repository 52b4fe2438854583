//! The operator commands `check` (a setup doctor) and `status` (the cluster at a glance).
//!
//! Both reuse the exporter's own pieces: the configuration, one [`NodePoller`] per node (the
//! same connection code and the same single SQL statement), and the pure cluster view. The
//! findings are computed by pure functions over the polled [`NodeReport`]s, so they are tested
//! without a server; this file only adds the printing.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use serde::Serialize;

use crate::cluster::{ClusterHistory, observe};
use crate::config::{ClusterConfig, Config};
use crate::lsn::Lsn;
use crate::model::{ClusterView, NodeReport, NodeState, RecoverySource};
use crate::poller::{NodePoller, poll_round, unix_now};
use crate::syncnames;

/// 512 MiB and 1 GiB: the warning and critical lag thresholds of the bundled alerts.
pub const WARN_BYTES: u64 = 512 << 20;
pub const CRIT_BYTES: u64 = 1 << 30;

/// How bad a finding is: a `Problem` makes `check` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Note,
    Problem,
}

/// One line of `check`'s report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The node it is about, or None for the cluster.
    pub node: Option<String>,
    pub what: String,
    /// The exact fix (SQL or a postgresql.conf line), for problems and notes.
    pub fix: Option<String>,
}

fn finding(severity: Severity, node: Option<&str>, what: String, fix: Option<String>) -> Finding {
    Finding {
        severity,
        node: node.map(str::to_string),
        what,
        fix,
    }
}

/// Polls every node of a cluster once (the same connection code as the exporter).
pub async fn poll_once(cluster: &ClusterConfig, config: &Config) -> Vec<NodeReport> {
    let mut pollers: Vec<NodePoller> = cluster
        .nodes
        .iter()
        .map(|n| NodePoller::new(&cluster.name, n.clone(), &config.poll))
        .collect();
    // A first connection includes TLS and authentication: allow more than one poll timeout.
    let timeout = cluster
        .nodes
        .iter()
        .map(|n| n.connect_timeout)
        .max()
        .unwrap_or_default()
        .max(config.poll.timeout)
        + config.poll.timeout;
    poll_round(&mut pollers, timeout).await
}

/// The checks of one cluster, from one round of reports. Pure.
pub fn check_cluster(nodes: &[NodeReport], users: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    let up: Vec<(&NodeReport, &NodeState)> = nodes
        .iter()
        .filter_map(|n| n.state.as_ref().map(|s| (n, s)))
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        let name = Some(node.name.as_str());
        let Some(state) = &node.state else {
            let error = node
                .last_error
                .clone()
                .unwrap_or_else(|| "not polled".into());
            out.push(finding(
                Severity::Problem,
                name,
                format!("unreachable: {error}"),
                Some(unreachable_fix(
                    &error,
                    users.get(i).map(String::as_str).unwrap_or(""),
                )),
            ));
            continue;
        };
        let role = if state.in_recovery {
            "standby"
        } else {
            "primary"
        };
        out.push(finding(
            Severity::Ok,
            name,
            format!("reachable: {role}, PostgreSQL {}", state.server_version),
            None,
        ));
        let user = users
            .get(i)
            .map(String::as_str)
            .unwrap_or("replication_exporter");
        if state.privilege_missing {
            out.push(finding(
                Severity::Problem,
                name,
                format!("role {user} lacks pg_monitor: lag, positions and states are hidden"),
                Some(format!("GRANT pg_monitor TO {user};")),
            ));
        } else {
            out.push(finding(
                Severity::Ok,
                name,
                "role can read replication statistics (pg_monitor)".into(),
                None,
            ));
        }
        let s = &state.settings;
        if s.wal_level == "minimal" {
            out.push(finding(
                Severity::Problem,
                name,
                "wal_level = minimal: no streaming replication is possible".into(),
                Some("ALTER SYSTEM SET wal_level = 'replica';  -- then restart PostgreSQL".into()),
            ));
        } else {
            out.push(finding(
                Severity::Ok,
                name,
                format!("wal_level = {}", s.wal_level),
                None,
            ));
        }
        let standbys = nodes.len().saturating_sub(1);
        for (setting, value) in [
            ("max_wal_senders", &s.max_wal_senders),
            ("max_replication_slots", &s.max_replication_slots),
        ] {
            match value.parse::<usize>() {
                Ok(v) if v < standbys => out.push(finding(
                    Severity::Problem,
                    name,
                    format!("{setting} = {v} is less than the {standbys} other nodes that may stream from this one"),
                    Some(format!("ALTER SYSTEM SET {setting} = {};  -- then restart PostgreSQL", standbys + 2)),
                )),
                _ => out.push(finding(Severity::Ok, name, format!("{setting} = {value}"), None)),
            }
        }
        if state.in_recovery {
            out.push(finding(
                Severity::Ok,
                name,
                format!("hot_standby = {}", s.hot_standby),
                None,
            ));
            if s.hot_standby_feedback != "on" {
                out.push(finding(
                    Severity::Note,
                    name,
                    "hot_standby_feedback = off: queries on this standby can be cancelled by vacuum on the primary".into(),
                    Some("ALTER SYSTEM SET hot_standby_feedback = on; SELECT pg_reload_conf();".into()),
                ));
            }
        }
        out.push(finding(
            Severity::Ok,
            name,
            format!(
                "wal_keep_size = {}, max_slot_wal_keep_size = {}",
                s.wal_keep_size, s.max_slot_wal_keep_size
            ),
            None,
        ));
        if s.max_slot_wal_keep_size == "-1" && !state.in_recovery {
            out.push(finding(
                Severity::Note,
                name,
                "max_slot_wal_keep_size = -1: a stuck slot can fill the disk with WAL".into(),
                Some("ALTER SYSTEM SET max_slot_wal_keep_size = '50GB'; SELECT pg_reload_conf();  -- size it to your disk".into()),
            ));
        }
        if !state.in_recovery {
            out.extend(check_sync(node, state, nodes));
            out.extend(check_slots(state, nodes));
            out.extend(check_archiving(node, state, nodes));
        } else {
            out.extend(check_design(node, state));
        }
        out.extend(check_subscriptions(node, state));
    }
    let primaries = up.iter().filter(|(_, s)| !s.in_recovery).count();
    let view = crate::cluster::observe(
        &mut crate::cluster::ClusterHistory::new(
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(1),
        ),
        0.0,
        nodes,
    );
    match primaries {
        1 => out.push(finding(Severity::Ok, None, "exactly one primary".into(), None)),
        0 if view.is_standby_cluster == Some(true) => out.push(finding(
            Severity::Ok,
            None,
            format!(
                "standby cluster: its standby leader {} replicates from {}",
                view.standby_leader.as_deref().unwrap_or("-"),
                view.source
                    .as_ref()
                    .map(|(h, p)| format!("{h}:{p}"))
                    .unwrap_or_else(|| "outside the cluster (link down)".into())
            ),
            None,
        )),
        0 => out.push(finding(
            Severity::Problem,
            None,
            "no reachable primary".into(),
            Some("promote a standby (pg_ctl promote, or patronictl failover) or bring the primary back".into()),
        )),
        n => out.push(finding(
            Severity::Problem,
            None,
            format!("{n} primaries: split brain"),
            Some("stop all but one primary, then pg_rewind the others and start them as standbys".into()),
        )),
    }
    let mut ids: Vec<&str> = up
        .iter()
        .filter_map(|(_, s)| s.system_identifier.as_deref())
        .collect();
    ids.sort();
    ids.dedup();
    if ids.len() > 1 {
        out.push(finding(
            Severity::Problem,
            None,
            format!("{} different system identifiers: a node belongs to another cluster", ids.len()),
            Some("check the hosts and ports in the configuration; rebuild a diverged node from the primary".into()),
        ));
    } else if ids.len() == 1 {
        out.push(finding(
            Severity::Ok,
            None,
            format!("one system identifier ({})", ids[0]),
            None,
        ));
    }
    out
}

/// "5min", "1h 30min", "15s": a delay as an operator writes it.
pub fn human_duration(seconds: f64) -> String {
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    let parts: Vec<String> = [(h, "h"), (m, "min"), (s, "s")]
        .into_iter()
        .filter(|(v, _)| *v > 0)
        .map(|(v, unit)| format!("{v}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// What a standby is meant to do when that is not "stream and keep up": "delayed by design,
/// 5min", "archive-fed by design". Pure; used by `status` and `check`.
pub fn design(node: &NodeReport, state: &NodeState) -> Option<String> {
    if !state.in_recovery {
        return None;
    }
    let mut parts = Vec::new();
    if let Some(d) = state.apply_delay_seconds().filter(|d| *d > 0.0) {
        parts.push(format!("delayed by design, {}", human_duration(d)));
    }
    if !node.expect_streaming {
        parts.push("archive-fed by design".into());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A standby's design (delay, archive feed) and whether it is fed as declared.
fn check_design(node: &NodeReport, state: &NodeState) -> Vec<Finding> {
    let name = Some(node.name.as_str());
    let mut out = Vec::new();
    if let Some(d) = design(node, state) {
        out.push(finding(
            Severity::Ok,
            name,
            format!("{d}: lag alerts judge it by its design (replay lag beyond the delay; not streaming is no fault when archive-fed)"),
            None,
        ));
    }
    if node.expect_streaming && state.recovery_source() == Some(RecoverySource::Archive) {
        out.push(finding(
            Severity::Problem,
            name,
            "replays from the WAL archive, not streaming: its stream broke".into(),
            Some("check primary_conninfo and the upstream; if it is archive-fed on purpose, set expect_streaming = false on this node".into()),
        ));
    }
    out
}

/// The primary's archiving: a failing archive_command, and archive-fed standbys on a primary
/// without archive_timeout (on a quiet primary they fall behind until a segment fills).
fn check_archiving(node: &NodeReport, primary: &NodeState, nodes: &[NodeReport]) -> Vec<Finding> {
    let name = Some(node.name.as_str());
    let mut out = Vec::new();
    if let Some(a) = &primary.archiver
        && let Some(failed) = a.last_failed_time
        && a.last_archived_time.is_none_or(|ok| failed > ok)
    {
        out.push(finding(
            Severity::Problem,
            name,
            format!(
                "archive_command fails ({} failures, last on {}): WAL piles up in pg_wal",
                a.failed_count.unwrap_or(0),
                a.last_failed_wal.as_deref().unwrap_or("?")
            ),
            Some("SELECT * FROM pg_stat_archiver;  -- and the server log: fix the command or its target".into()),
        ));
    }
    let timeout = primary
        .recovery
        .as_ref()
        .and_then(|r| r.archive_timeout_seconds());
    let archive_fed: Vec<&str> = nodes
        .iter()
        .filter(|n| n.name != node.name)
        .filter(|n| {
            !n.expect_streaming
                || n.state
                    .as_ref()
                    .and_then(|s| s.recovery_source())
                    .is_some_and(|src| src == RecoverySource::Archive)
        })
        .map(|n| n.name.as_str())
        .collect();
    if !archive_fed.is_empty() && timeout == Some(0.0) {
        out.push(finding(
            Severity::Note,
            name,
            format!(
                "archive_timeout = 0 while {} is fed from the archive: on a quiet primary it falls behind until a 16 MiB segment fills",
                archive_fed.join(", ")
            ),
            Some("ALTER SYSTEM SET archive_timeout = '60s'; SELECT pg_reload_conf();".into()),
        ));
    }
    out
}

/// Subscriptions of this node: enabled ones without an apply worker.
fn check_subscriptions(node: &NodeReport, state: &NodeState) -> Vec<Finding> {
    state
        .subscriptions
        .iter()
        .filter(|s| s.enabled == Some(true) && s.worker_running == Some(false))
        .map(|s| {
            finding(
                Severity::Problem,
                Some(&node.name),
                format!("subscription {} is enabled but its apply worker is not running", s.name),
                Some("read the server log for the apply error (duplicate key, missing table); ALTER SUBSCRIPTION ... SKIP (lsn = ...) on 15+".into()),
            )
        })
        .collect()
}

fn unreachable_fix(error: &str, user: &str) -> String {
    if error.contains("password") || error.contains("authentication") {
        format!(
            "check the password for role {user} and pg_hba.conf (host ... {user} <exporter address> scram-sha-256)"
        )
    } else if error.contains("pg_hba") {
        format!(
            "add to pg_hba.conf: host postgres {user} <exporter address>/32 scram-sha-256; SELECT pg_reload_conf();"
        )
    } else {
        "check host and port in the configuration, listen_addresses on the server, and firewalls"
            .into()
    }
}

/// The synchronous replication picture on a primary: who counts toward the quorum.
fn check_sync(node: &NodeReport, state: &NodeState, nodes: &[NodeReport]) -> Vec<Finding> {
    let name = Some(node.name.as_str());
    let s = &state.settings;
    let mut out = Vec::new();
    match syncnames::parse(&s.synchronous_standby_names) {
        Ok(None) => out.push(finding(
            Severity::Ok,
            name,
            format!("asynchronous replication (synchronous_standby_names empty, synchronous_commit = {})", s.synchronous_commit),
            None,
        )),
        Ok(Some(names)) => {
            let counted: Vec<&str> = nodes
                .iter()
                .filter(|n| n.name != node.name && names.lists(&n.application_name))
                .map(|n| n.name.as_str())
                .collect();
            out.push(finding(
                Severity::Ok,
                name,
                format!(
                    "synchronous_commit = {}, synchronous_standby_names = '{}': {} of [{}] must confirm",
                    s.synchronous_commit,
                    s.synchronous_standby_names,
                    names.required(),
                    counted.join(", ")
                ),
                None,
            ));
            if (counted.len() as u32) < names.required() {
                out.push(finding(
                    Severity::Problem,
                    name,
                    format!(
                        "only {} configured standbys match synchronous_standby_names but {} must confirm: commits will block",
                        counted.len(),
                        names.required()
                    ),
                    Some("set synchronous_standby_names to the standbys' application_name values, or lower N".into()),
                ));
            }
        }
        Err(e) => out.push(finding(
            Severity::Problem,
            name,
            format!("synchronous_standby_names '{}' does not parse: {e}", s.synchronous_standby_names),
            Some("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (standby1, standby2)'; SELECT pg_reload_conf();".into()),
        )),
    }
    out
}

/// A physical slot for each standby that streams from this primary.
fn check_slots(primary: &NodeState, nodes: &[NodeReport]) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in nodes {
        let Some(state) = &node.state else { continue };
        if !state.in_recovery {
            continue;
        }
        let receiver_slot = state
            .wal_receiver
            .as_ref()
            .and_then(|r| r.slot_name.clone());
        let streams_from_primary = primary.walsenders.iter().any(|w| {
            w.application_name
                .eq_ignore_ascii_case(&node.application_name)
        });
        if !streams_from_primary {
            continue; // a cascading standby's slot lives on its upstream
        }
        match receiver_slot {
            Some(slot) if primary.slots.iter().any(|s| s.slot_name == slot) => out.push(finding(
                Severity::Ok,
                Some(&node.name),
                format!("streams through replication slot {slot}"),
                None,
            )),
            Some(slot) => out.push(finding(
                Severity::Problem,
                Some(&node.name),
                format!("uses primary_slot_name = '{slot}' but the primary has no such slot"),
                Some(format!(
                    "SELECT pg_create_physical_replication_slot('{slot}');  -- on the primary"
                )),
            )),
            None => {
                let slot = node
                    .name
                    .to_ascii_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
                out.push(finding(
                    Severity::Problem,
                    Some(&node.name),
                    "streams without a replication slot: the primary may remove WAL it still needs".into(),
                    Some(format!(
                        "SELECT pg_create_physical_replication_slot('{slot}');  -- on the primary; then on {}: primary_slot_name = '{slot}' and reload",
                        node.name
                    )),
                ))
            }
        }
    }
    out
}

/// Renders `check`'s findings as text.
pub fn render_findings(cluster: &str, findings: &[Finding], color: bool) -> String {
    let mut out = format!("cluster {cluster}\n");
    for f in findings {
        let (mark, code) = match f.severity {
            Severity::Ok => ("ok     ", "32"),
            Severity::Note => ("note   ", "33"),
            Severity::Problem => ("PROBLEM", "31"),
        };
        let mark = if color {
            format!("\x1b[{code}m{mark}\x1b[0m")
        } else {
            mark.to_string()
        };
        let who = f.node.as_deref().unwrap_or("(cluster)");
        let _ = writeln!(out, "  {mark} {who:<12} {}", f.what);
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "          {:<12} fix: {fix}", "");
        }
    }
    out
}

/// One row of `status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusRow {
    pub node: String,
    pub up: bool,
    pub role: Option<&'static str>,
    pub timeline: Option<u32>,
    /// streaming / not streaming for standbys, as the cluster view sees them.
    pub state: String,
    pub sync_state: Option<String>,
    /// Lag per stage as the upstream sees it (bytes), and the standby-side replay lag.
    pub lag_sent_bytes: Option<u64>,
    pub lag_write_bytes: Option<u64>,
    pub lag_flush_bytes: Option<u64>,
    pub lag_replay_bytes: Option<u64>,
    pub lag_bytes: Option<u64>,
    pub lag_seconds: Option<f64>,
    pub replay_paused: Option<bool>,
    /// "delayed by design, 5min", "archive-fed by design".
    pub design: Option<String>,
    pub error: Option<String>,
}

/// One slot row of `status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlotRow {
    pub node: String,
    pub slot: String,
    pub slot_type: String,
    pub active: bool,
    pub retained_bytes: Option<u64>,
    pub wal_status: Option<String>,
}

/// `status` of one cluster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterStatus {
    pub cluster: String,
    pub primaries: u32,
    pub nodes_up: u32,
    pub nodes_configured: u32,
    pub rpo_bytes: Option<u64>,
    pub nodes: Vec<StatusRow>,
    pub slots: Vec<SlotRow>,
}

/// The status table of one cluster from a round of reports and its cluster view. Pure.
pub fn cluster_status(cluster: &str, nodes: &[NodeReport], view: &ClusterView) -> ClusterStatus {
    let rows = nodes
        .iter()
        .map(|n| {
            let state = n.state.as_ref();
            let standby = view.standbys.iter().find(|s| s.node == n.name);
            // The walsender that streams to this node, on whichever upstream lists it.
            let upstream = nodes
                .iter()
                .filter_map(|u| u.state.as_ref().map(|s| (u, s)))
                .find_map(|(_, s)| {
                    s.walsenders
                        .iter()
                        .filter(|w| !w.is_logical())
                        .find(|w| w.application_name.eq_ignore_ascii_case(&n.application_name))
                        .map(|w| (s.wal_lsn, w))
                });
            let stage = |f: fn(&crate::model::Walsender) -> Option<Lsn>| {
                upstream.and_then(|(pos, w)| Some(pos?.bytes_since(f(w)?)))
            };
            let design = state.and_then(|s| design(n, s));
            StatusRow {
                node: n.name.clone(),
                up: n.up,
                role: state.map(|s| if s.in_recovery { "standby" } else { "primary" }),
                timeline: state.and_then(|s| s.timeline_id),
                state: match (state, standby) {
                    (None, _) => "down".to_string(),
                    (Some(s), _) if !s.in_recovery => "running".into(),
                    (Some(_), Some(sb)) if sb.streaming == Some(true) => "streaming".into(),
                    (Some(_), _) => "not streaming".into(),
                } + &design
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                sync_state: upstream.and_then(|(_, w)| w.sync_state.clone()),
                lag_sent_bytes: stage(|w| w.sent_lsn),
                lag_write_bytes: stage(|w| w.write_lsn),
                lag_flush_bytes: stage(|w| w.flush_lsn),
                lag_replay_bytes: stage(|w| w.replay_lsn),
                lag_bytes: standby.and_then(|s| s.lag_bytes),
                lag_seconds: standby.and_then(|s| s.lag_seconds),
                replay_paused: state.and_then(|s| s.replay_paused),
                design,
                error: n.last_error.clone(),
            }
        })
        .collect();
    let slots = nodes
        .iter()
        .filter_map(|n| n.state.as_ref().map(|s| (n, s)))
        .flat_map(|(n, s)| {
            s.slots.iter().map(move |slot| SlotRow {
                node: n.name.clone(),
                slot: slot.slot_name.clone(),
                slot_type: slot.slot_type.clone(),
                active: slot.active,
                retained_bytes: s
                    .wal_lsn
                    .zip(slot.restart_lsn)
                    .map(|(pos, r)| pos.bytes_since(r)),
                wal_status: slot.wal_status.clone(),
            })
        })
        .collect();
    ClusterStatus {
        cluster: cluster.to_string(),
        primaries: view.primaries,
        nodes_up: view.nodes_up,
        nodes_configured: view.nodes_configured,
        rpo_bytes: view.rpo_bytes,
        nodes: rows,
        slots,
    }
}

/// Bytes as a short human figure (IEC units).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

fn colored_bytes(b: Option<u64>, color: bool) -> String {
    let Some(b) = b else { return "-".into() };
    let text = human_bytes(b);
    if !color {
        return text;
    }
    match b {
        b if b > CRIT_BYTES => format!("\x1b[31m{text}\x1b[0m"),
        b if b > WARN_BYTES => format!("\x1b[33m{text}\x1b[0m"),
        _ => text,
    }
}

/// Renders `status` as a table like `patronictl list`, plus lag and slots.
pub fn render_status(status: &ClusterStatus, color: bool) -> String {
    let mut out = format!(
        "cluster {}: {} primary, {}/{} nodes up, RPO {}\n",
        status.cluster,
        status.primaries,
        status.nodes_up,
        status.nodes_configured,
        status
            .rpo_bytes
            .map(human_bytes)
            .unwrap_or_else(|| "-".into())
    );
    let header = [
        "node", "role", "TL", "state", "sync", "sent", "write", "flush", "replay", "lag", "lag s",
        "paused",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in &status.nodes {
        table.push(vec![
            r.node.clone(),
            r.role.unwrap_or("-").into(),
            r.timeline
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            r.state.clone(),
            r.sync_state.clone().unwrap_or_else(|| "-".into()),
            colored_bytes(r.lag_sent_bytes, color),
            colored_bytes(r.lag_write_bytes, color),
            colored_bytes(r.lag_flush_bytes, color),
            colored_bytes(r.lag_replay_bytes, color),
            colored_bytes(r.lag_bytes, color),
            r.lag_seconds
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into()),
            match r.replay_paused {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "-".into(),
            },
        ]);
    }
    push_table(&mut out, &table);
    if !status.slots.is_empty() {
        out.push_str("\nslots\n");
        let mut t: Vec<Vec<String>> = vec![
            ["node", "slot", "type", "active", "retained", "wal_status"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ];
        for s in &status.slots {
            t.push(vec![
                s.node.clone(),
                s.slot.clone(),
                s.slot_type.clone(),
                if s.active { "yes".into() } else { "no".into() },
                colored_bytes(s.retained_bytes, color),
                s.wal_status.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        push_table(&mut out, &t);
    }
    out
}

fn visible_len(s: &str) -> usize {
    // Color escapes take no room on screen.
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

fn push_table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.first().map(Vec::len).unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| visible_len(&r[c])).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < cols {
                line.push_str(&" ".repeat(widths[c] - visible_len(cell) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `check`: returns the process exit code (0 healthy, 1 something to fix).
pub async fn run_check(config: &Config) -> u8 {
    let color = std::io::stdout().is_terminal();
    let mut problems = 0;
    for cluster in &config.clusters {
        let reports = poll_once(cluster, config).await;
        let users: Vec<String> = cluster.nodes.iter().map(|n| n.user.clone()).collect();
        let findings = check_cluster(&reports, &users);
        problems += findings
            .iter()
            .filter(|f| f.severity == Severity::Problem)
            .count();
        print!("{}", render_findings(&cluster.name, &findings, color));
    }
    if problems == 0 {
        println!("\nall checks passed");
        0
    } else {
        println!("\n{problems} problem(s) to fix");
        1
    }
}

/// Output format of `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

/// `status`: one round, or a refreshed view every poll interval with `watch`.
pub async fn run_status(config: &Config, output: Output, watch: bool) -> u8 {
    let color = output == Output::Table && std::io::stdout().is_terminal();
    let mut histories: Vec<ClusterHistory> = config
        .clusters
        .iter()
        .map(|_| ClusterHistory::new(config.poll.lag_history, config.poll.interval))
        .collect();
    loop {
        let mut all = Vec::new();
        for (cluster, history) in config.clusters.iter().zip(histories.iter_mut()) {
            let reports = poll_once(cluster, config).await;
            let view = observe(history, unix_now(), &reports);
            all.push(cluster_status(&cluster.name, &reports, &view));
        }
        let text = match output {
            Output::Json => serde_json::to_string_pretty(&all).unwrap_or_default() + "\n",
            Output::Table => all
                .iter()
                .map(|s| render_status(s, color))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        if watch && output == Output::Table && color {
            // Clear the screen and home the cursor: refresh in place.
            print!("\x1b[2J\x1b[H");
        }
        print!("{text}");
        if !watch {
            return u8::from(all.iter().any(|s| s.nodes.iter().any(|n| !n.up)));
        }
        tokio::time::sleep(config.poll.interval.max(Duration::from_millis(500))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RecoverySettings, Settings, Slot, WalReceiver, Walsender};

    fn settings() -> Settings {
        Settings {
            synchronous_commit: "on".into(),
            synchronous_standby_names: "ANY 1 (standby1, standby2)".into(),
            wal_level: "replica".into(),
            max_wal_senders: "10".into(),
            max_replication_slots: "10".into(),
            hot_standby: "on".into(),
            hot_standby_feedback: "on".into(),
            wal_keep_size: "0".into(),
            max_slot_wal_keep_size: "10GB".into(),
        }
    }

    fn node(name: &str, state: Option<NodeState>) -> NodeReport {
        let mut r = NodeReport::new(name, name);
        r.up = state.is_some();
        r.state = state;
        if !r.up {
            r.last_error = Some("connect to x: connection refused".into());
        }
        r
    }

    fn primary() -> NodeState {
        NodeState {
            server_version: "15.18".into(),
            system_identifier: Some("1".into()),
            wal_lsn: Some(Lsn(3000)),
            walsenders: ["standby1", "standby2"]
                .iter()
                .map(|n| Walsender {
                    application_name: n.to_string(),
                    state: Some("streaming".into()),
                    sent_lsn: Some(Lsn(3000)),
                    write_lsn: Some(Lsn(2000)),
                    flush_lsn: Some(Lsn(2000)),
                    replay_lsn: Some(Lsn(1000)),
                    sync_state: Some("quorum".into()),
                    ..Walsender::default()
                })
                .collect(),
            slots: vec![Slot {
                slot_name: "standby1".into(),
                slot_type: "physical".into(),
                active: true,
                restart_lsn: Some(Lsn(1000)),
                ..Slot::default()
            }],
            settings: settings(),
            ..NodeState::default()
        }
    }

    fn standby(slot: Option<&str>) -> NodeState {
        NodeState {
            server_version: "15.18".into(),
            system_identifier: Some("1".into()),
            in_recovery: true,
            wal_lsn: Some(Lsn(1000)),
            replay_lsn: Some(Lsn(1000)),
            replay_paused: Some(false),
            wal_receiver: Some(WalReceiver {
                status: Some("streaming".into()),
                slot_name: slot.map(str::to_string),
                ..WalReceiver::default()
            }),
            settings: settings(),
            ..NodeState::default()
        }
    }

    fn problems(f: &[Finding]) -> Vec<String> {
        f.iter()
            .filter(|f| f.severity == Severity::Problem)
            .map(|f| f.what.clone())
            .collect()
    }

    #[test]
    fn healthy_cluster_has_no_problem_but_a_slotless_standby_is_flagged() {
        let nodes = [
            node("primary", Some(primary())),
            node("standby1", Some(standby(Some("standby1")))),
            node("standby2", Some(standby(None))),
        ];
        let users = vec!["exporter".to_string(); 3];
        let p = problems(&check_cluster(&nodes, &users));
        assert_eq!(
            p,
            ["streams without a replication slot: the primary may remove WAL it still needs"]
        );
    }

    #[test]
    fn missing_pg_monitor_and_minimal_wal_level_come_with_their_fix() {
        let mut p = primary();
        p.privilege_missing = true;
        p.settings.wal_level = "minimal".into();
        let f = check_cluster(&[node("primary", Some(p))], &["mon".to_string()]);
        let fixes: Vec<_> = f
            .iter()
            .filter(|f| f.severity == Severity::Problem)
            .filter_map(|f| f.fix.clone())
            .collect();
        assert!(
            fixes.contains(&"GRANT pg_monitor TO mon;".to_string()),
            "{fixes:?}"
        );
        assert!(
            fixes.iter().any(|x| x.contains("wal_level = 'replica'")),
            "{fixes:?}"
        );
    }

    #[test]
    fn cluster_wide_checks_catch_split_brain_and_foreign_nodes() {
        let mut other = primary();
        other.system_identifier = Some("2".into());
        let nodes = [
            node("a", Some(primary())),
            node("b", Some(other)),
            node("c", None),
        ];
        let p = problems(&check_cluster(&nodes, &[]));
        assert!(p.iter().any(|x| x.contains("2 primaries")), "{p:?}");
        assert!(
            p.iter()
                .any(|x| x.contains("2 different system identifiers")),
            "{p:?}"
        );
        assert!(p.iter().any(|x| x.starts_with("unreachable")), "{p:?}");
    }

    #[test]
    fn a_quorum_that_cannot_be_met_is_a_problem() {
        let mut p = primary();
        p.settings.synchronous_standby_names = "ANY 2 (standby1, ghost)".into();
        let nodes = [
            node("primary", Some(p)),
            node("standby1", Some(standby(Some("standby1")))),
        ];
        let probs = problems(&check_cluster(&nodes, &[]));
        assert!(
            probs.iter().any(|x| x.contains("commits will block")),
            "{probs:?}"
        );
    }

    #[test]
    fn status_rows_show_lag_per_stage_from_the_upstream() {
        let nodes = [
            node("primary", Some(primary())),
            node("standby1", Some(standby(Some("standby1")))),
        ];
        let view = ClusterView {
            primaries: 1,
            ..ClusterView::default()
        };
        let s = cluster_status("pg", &nodes, &view);
        let row = &s.nodes[1];
        assert_eq!(
            (
                row.lag_sent_bytes,
                row.lag_write_bytes,
                row.lag_flush_bytes,
                row.lag_replay_bytes
            ),
            (Some(0), Some(1000), Some(1000), Some(2000))
        );
        assert_eq!(s.slots[0].retained_bytes, Some(2000));
        let text = render_status(&s, false);
        assert!(
            text.contains("standby1") && text.contains("1000 B"),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(json["nodes"][1]["lag_replay_bytes"], 2000);
    }

    #[test]
    fn human_bytes_uses_iec_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(WARN_BYTES), "512.0 MiB");
        assert_eq!(human_bytes(CRIT_BYTES + CRIT_BYTES / 2), "1.5 GiB");
    }

    fn recovery(delay_ms: &str, restore: &str, timeout: &str) -> Option<RecoverySettings> {
        Some(RecoverySettings {
            recovery_min_apply_delay: Some(delay_ms.into()),
            restore_command: Some(restore.into()),
            archive_mode: Some("on".into()),
            archive_timeout: Some(timeout.into()),
        })
    }

    #[test]
    fn delayed_and_archive_fed_standbys_are_said_to_be_so_by_design() {
        let mut p = primary();
        p.recovery = recovery("0", "", "0");
        let mut delayed = standby(Some("standby1"));
        delayed.recovery = recovery("300000", "", "0");
        let mut fed = standby(None);
        fed.wal_receiver = None;
        fed.recovery = recovery("0", "cp /a/%f %p", "0");
        let mut archive_node = node("archive1", Some(fed));
        archive_node.expect_streaming = false;
        let nodes = [
            node("primary", Some(p)),
            node("standby1", Some(delayed)),
            archive_node,
        ];
        let view = crate::cluster::observe(
            &mut crate::cluster::ClusterHistory::new(
                std::time::Duration::from_secs(60),
                std::time::Duration::from_secs(1),
            ),
            0.0,
            &nodes,
        );
        let status = cluster_status("pg", &nodes, &view);
        assert_eq!(status.nodes[1].state, "streaming (delayed by design, 5min)");
        assert_eq!(
            status.nodes[2].state,
            "not streaming (archive-fed by design)"
        );
        let f = check_cluster(&nodes, &[]);
        let said = |text: &str| f.iter().any(|x| x.what.contains(text));
        assert!(said("delayed by design, 5min"), "{f:?}");
        // The primary has archive_timeout = 0 while archive1 is fed from the archive: a note.
        let note = f
            .iter()
            .find(|x| x.what.starts_with("archive_timeout = 0 while archive1"))
            .unwrap_or_else(|| panic!("{f:?}"));
        assert_eq!(note.severity, Severity::Note);
        // Declared: no "fell back" problem.
        assert!(!said("not streaming: its stream broke"), "{f:?}");

        // The same standby undeclared: its fall-back to the archive is a problem.
        let mut nodes = nodes;
        nodes[2].expect_streaming = true;
        let f = check_cluster(&nodes, &[]);
        assert!(
            problems(&f)
                .iter()
                .any(|p| p.contains("replays from the WAL archive")),
            "{f:?}"
        );
    }

    #[test]
    fn human_durations_read_as_an_operator_writes_them() {
        assert_eq!(human_duration(300.0), "5min");
        assert_eq!(human_duration(5400.0), "1h 30min");
        assert_eq!(human_duration(15.0), "15s");
        assert_eq!(human_duration(0.0), "0s");
    }
}
