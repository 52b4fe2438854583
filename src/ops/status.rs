//! `status`: the cluster at a glance, like `patronictl list` with lag per stage: under Patroni
//! each node's Patroni role and state, whether it is a failover candidate, and where it came
//! from (a static `[[cluster.node]]` or discovered from `GET /cluster`). A pure table builder
//! over one round, its cluster view and its Patroni view, rendered as text or JSON.

use std::io::IsTerminal;
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::core::cluster::{self, ClusterHistory};
use crate::core::model::{
    ClusterView, EndpointView, NodeReport, PatroniView, PgbouncerDatabaseView, PgpoolBackendView,
};

use super::*;
use crate::core::model::NodeState;
use crate::core::stage;

/// One row of `status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct StatusRow {
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
    /// "static" (a `[[cluster.node]]`) or "discovered" (from Patroni's `GET /cluster`).
    pub origin: &'static str,
    /// Patroni's role and state of the member (`/cluster`), without Patroni absent.
    pub patroni_role: Option<String>,
    pub patroni_state: Option<String>,
    /// Listed by `/cluster` now.
    pub patroni_member: Option<bool>,
    pub failover_candidate: Option<bool>,
    /// Lag by Patroni's measure for `maximum_lag_on_failover` (bytes).
    pub failover_lag_bytes: Option<u64>,
}

/// Patroni's word on the cluster, for `status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct PatroniSummary {
    pub reachable: bool,
    pub paused: Option<bool>,
    pub failover_candidates: Option<u32>,
    pub synchronous_mode: Option<String>,
    pub maximum_lag_on_failover_bytes: Option<u64>,
    pub leader_mismatch: Option<bool>,
}

/// One slot row of `status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct SlotRow {
    pub node: String,
    pub slot: String,
    pub slot_type: String,
    pub active: bool,
    pub retained_bytes: Option<u64>,
    pub wal_status: Option<String>,
}

/// One front-end row of `status`: where it leads and whether that is where it should.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct EndpointRow {
    pub endpoint: String,
    pub kind: String,
    /// host:port
    pub address: String,
    pub up: bool,
    /// The node it led to ("unknown": none of the polled nodes); pgbouncer: "db → node" pairs.
    pub leads_to: Option<String>,
    pub writable: Option<bool>,
    pub expect: Option<String>,
    pub expectation_met: Option<bool>,
    /// pgpool's and pgbouncer's wrong views, one phrase each ("pgpool calls standby1 primary").
    pub problems: Vec<String>,
    pub error: Option<String>,
}

/// `status` of one cluster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ClusterStatus {
    pub cluster: String,
    pub primaries: u32,
    pub nodes_up: u32,
    pub nodes_configured: u32,
    pub rpo_bytes: Option<u64>,
    pub nodes: Vec<StatusRow>,
    pub slots: Vec<SlotRow>,
    /// With `[cluster.patroni]`.
    pub patroni: Option<PatroniSummary>,
    pub endpoints: Vec<EndpointRow>,
}

/// The status table of one cluster from a round of reports, its cluster view and (under
/// Patroni) its Patroni view; `static_nodes` names the `[[cluster.node]]`s. Pure.
pub(crate) fn cluster_status(
    cluster: &str,
    nodes: &[NodeReport],
    view: &ClusterView,
    patroni: Option<&PatroniView>,
    static_nodes: &[String],
    endpoints: &[EndpointView],
) -> ClusterStatus {
    let rows = nodes
        .iter()
        .map(|n| {
            let member = patroni.and_then(|p| p.members.iter().find(|m| m.node == n.name));
            let state = n.state.as_ref();
            let standby = view.standbys.iter().find(|s| s.node == n.name);
            // The walsender that streams to this node on its upstream (the cluster view's
            // rule), with its per-stage lag by the same rule /metrics uses.
            let upstream = cluster::upstream(n, nodes).map(|(u, w)| {
                let upstream_lsn = u.state.as_ref().and_then(|s| s.wal_lsn);
                (stage::lag(upstream_lsn, w), w)
            });
            let lag = upstream.map(|(l, _)| l).unwrap_or_default();
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
                lag_sent_bytes: lag.sent,
                lag_write_bytes: lag.write,
                lag_flush_bytes: lag.flush,
                lag_replay_bytes: lag.replay,
                lag_bytes: standby.and_then(|s| s.lag_bytes),
                lag_seconds: standby.and_then(|s| s.lag_seconds),
                replay_paused: state.and_then(|s| s.replay_paused),
                design,
                error: n.last_error.clone(),
                origin: if static_nodes.contains(&n.name) {
                    "static"
                } else {
                    "discovered"
                },
                patroni_role: member.and_then(|m| m.role.clone()),
                patroni_state: member.and_then(|m| m.state.clone()),
                patroni_member: member.map(|m| m.member),
                failover_candidate: member.and_then(|m| m.failover_candidate),
                failover_lag_bytes: member.and_then(|m| m.failover_lag_bytes),
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
        patroni: patroni.map(|p| PatroniSummary {
            reachable: p.reachable,
            paused: p.paused,
            failover_candidates: p.failover_candidates,
            synchronous_mode: p.config.as_ref().map(|c| c.synchronous_mode.clone()),
            maximum_lag_on_failover_bytes: p
                .config
                .as_ref()
                .map(|c| c.maximum_lag_on_failover_bytes),
            leader_mismatch: p.leader_mismatch,
        }),
        endpoints: endpoints.iter().map(|e| endpoint_row(e, nodes)).collect(),
    }
}

/// A node's real role by its poll, for phrases: "primary", "standby", "down".
pub(super) fn real_role(nodes: &[NodeReport], name: &str) -> &'static str {
    match nodes
        .iter()
        .find(|n| n.name == name)
        .and_then(|n| n.state.as_ref())
    {
        Some(s) if s.in_recovery => "standby",
        Some(_) => "primary",
        None if nodes.iter().any(|n| n.name == name) => "down",
        None => "not polled",
    }
}

/// What is wrong in a pgpool or pgbouncer view, one phrase per problem. Pure; `check` says
/// the same with its fixes, and the landing page's topology draws each in red.
pub(super) fn endpoint_problems(e: &EndpointView, nodes: &[NodeReport]) -> Vec<String> {
    let backends = e
        .pgpool_backends
        .iter()
        .flat_map(|b| backend_problems(b, nodes));
    let databases = e
        .pgbouncer_databases
        .iter()
        .flat_map(|d| database_problems(d, nodes));
    backends.chain(databases).collect()
}

/// What is wrong with one pgpool backend: pgpool does not know the node, believes the wrong
/// role, or marked an up node down.
pub(crate) fn backend_problems(b: &PgpoolBackendView, nodes: &[NodeReport]) -> Vec<String> {
    let mut out = Vec::new();
    if !b.listed {
        out.push(format!("pgpool does not know {}", b.node));
        return out;
    }
    if b.role_correct == Some(false) {
        out.push(format!(
            "pgpool calls {} {}; it is a {}",
            b.node,
            b.role.as_deref().unwrap_or("-"),
            real_role(nodes, &b.node)
        ));
    }
    let up = nodes.iter().any(|n| n.name == b.node && n.up);
    if b.status.as_deref() == Some("down") && up {
        out.push(format!("pgpool marked {} down; it is up", b.node));
    }
    out
}

/// What is wrong with one pgbouncer database: it routes where `expect_databases` says it must
/// not (or is missing), or clients wait on it.
pub(crate) fn database_problems(d: &PgbouncerDatabaseView, nodes: &[NodeReport]) -> Vec<String> {
    let mut out = Vec::new();
    if d.expectation_met == Some(false) {
        out.push(match &d.node {
            Some(n) => format!(
                "database {} routes to {n} ({}), expected {}",
                d.database,
                real_role(nodes, n),
                d.expect.as_deref().unwrap_or("-")
            ),
            None => format!("pgbouncer serves no database {}", d.database),
        });
    }
    if d.clients_waiting > 0 {
        out.push(format!(
            "{} client(s) waiting on {} (longest {:.1}s)",
            d.clients_waiting, d.database, d.max_wait_seconds
        ));
    }
    out
}

fn endpoint_row(e: &EndpointView, nodes: &[NodeReport]) -> EndpointRow {
    let leads_to = if e.kind == "pgbouncer" {
        let pairs: Vec<String> = e
            .pgbouncer_databases
            .iter()
            .filter_map(|d| Some(format!("{} → {}", d.database, d.node.as_ref()?)))
            .collect();
        (e.up && !pairs.is_empty()).then(|| pairs.join(", "))
    } else {
        e.target.clone()
    };
    EndpointRow {
        endpoint: e.name.clone(),
        kind: e.kind.clone(),
        address: format!("{}:{}", e.host, e.port),
        up: e.up,
        leads_to,
        writable: e.is_primary,
        expect: e.expect.clone(),
        expectation_met: e.expectation_met,
        problems: endpoint_problems(e, nodes),
        error: e.last_error.clone(),
    }
}

fn yes_no(b: Option<bool>) -> String {
    match b {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "-".into(),
    }
}

pub(super) fn colored_bytes(b: Option<u64>, color: bool) -> String {
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
pub(crate) fn render_status(status: &ClusterStatus, color: bool) -> String {
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
    if let Some(p) = &status.patroni {
        if p.reachable {
            out.push_str(&format!(
                "patroni: synchronous_mode {}, maximum_lag_on_failover {}, paused {}, {} failover candidate(s){}\n",
                p.synchronous_mode.as_deref().unwrap_or("-"),
                p.maximum_lag_on_failover_bytes
                    .map(human_bytes)
                    .unwrap_or_else(|| "-".into()),
                yes_no(p.paused),
                p.failover_candidates
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                if p.leader_mismatch == Some(true) {
                    ", LEADER MISMATCH with SQL"
                } else {
                    ""
                }
            ));
        } else {
            out.push_str("patroni: REST API unreachable\n");
        }
    }
    let mut header = vec![
        "node", "role", "TL", "state", "sync", "sent", "write", "flush", "replay", "lag", "lag s",
        "paused",
    ];
    if status.patroni.is_some() {
        header.extend(["patroni role", "patroni state", "candidate", "from"]);
    }
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in &status.nodes {
        let mut row = vec![
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
            yes_no(r.replay_paused),
        ];
        if status.patroni.is_some() {
            let role = match (r.patroni_role.as_deref(), r.patroni_member) {
                (_, Some(false)) => "(gone from DCS)".to_string(),
                (Some(role), _) => role.to_string(),
                (None, _) => "-".into(),
            };
            row.extend([
                role,
                r.patroni_state.clone().unwrap_or_else(|| "-".into()),
                yes_no(r.failover_candidate),
                r.origin.to_string(),
            ]);
        }
        table.push(row);
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
    if !status.endpoints.is_empty() {
        out.push_str("\nendpoints\n");
        let mut t: Vec<Vec<String>> = vec![
            [
                "endpoint", "kind", "address", "leads to", "writable", "expect", "met", "notes",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ];
        for e in &status.endpoints {
            let met = match e.expectation_met {
                Some(false) if color => "\x1b[31mNO\x1b[0m".to_string(),
                Some(false) => "NO".into(),
                other => yes_no(other),
            };
            let notes = match &e.error {
                Some(err) if !e.up => format!("down: {err}"),
                _ => e.problems.join("; "),
            };
            t.push(vec![
                e.endpoint.clone(),
                e.kind.clone(),
                e.address.clone(),
                e.leads_to.clone().unwrap_or_else(|| "-".into()),
                yes_no(e.writable),
                e.expect.clone().unwrap_or_else(|| "-".into()),
                met,
                notes,
            ]);
        }
        push_table(&mut out, &t);
    }
    out
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
            let polled = poll_cluster(cluster, config, history).await;
            let static_names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
            all.push(cluster_status(
                &cluster.name,
                &polled.reports,
                &polled.view,
                polled.patroni.as_ref().map(|(_, v)| v),
                &static_names,
                &polled.endpoints,
            ));
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
            // 1 when a node or a front-end does not answer.
            return u8::from(
                all.iter()
                    .any(|s| s.nodes.iter().any(|n| !n.up) || s.endpoints.iter().any(|e| !e.up)),
            );
        }
        tokio::time::sleep(config.poll.interval.max(Duration::from_millis(500))).await;
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
