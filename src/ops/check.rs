//! `check`: a setup doctor. Pure findings over one polled round of [`NodeReport`]s (and, under
//! Patroni, the judged [`PatroniView`]), each problem with its exact fix, and the printing.

use std::fmt::Write as _;
use std::io::IsTerminal;

use serde::Serialize;

use crate::config::Config;
use crate::core::model::{EndpointView, NodeReport, NodeState, PatroniView, UNKNOWN_NODE};
use crate::core::syncnames;

use super::status::{design, endpoint_problems, real_role};
use super::*;
use crate::core::model::RecoverySource;

/// How bad a finding is: a `Problem` makes `check` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Ok,
    Note,
    Problem,
}

/// One line of `check`'s report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Finding {
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

/// The checks of one cluster, from one round of reports. Pure.
pub(crate) fn check_cluster(nodes: &[NodeReport], users: &[String]) -> Vec<Finding> {
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
    let view = crate::core::cluster::observe(
        &mut crate::core::cluster::ClusterHistory::new(
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

/// The Patroni checks of one cluster, from one REST pass judged against one SQL round: the
/// REST API reachable from here, every DCS member reachable over SQL, `synchronous_mode`
/// against the leader's `synchronous_standby_names`, at least one failover candidate (with
/// every member's reason when there is none), and each replica's lag by Patroni's measure
/// beside `maximum_lag_on_failover`. `rest_error` is why no member answered. Pure.
pub(crate) fn check_patroni(
    view: &PatroniView,
    rest_error: Option<&str>,
    nodes: &[NodeReport],
) -> Vec<Finding> {
    let mut out = Vec::new();
    if !view.reachable {
        out.push(finding(
            Severity::Problem,
            None,
            format!(
                "Patroni REST API unreachable from the exporter: {}",
                rest_error.unwrap_or("no member answered GET /cluster")
            ),
            Some("check [cluster.patroni] urls against Patroni's restapi.connect_address, firewalls, and the REST credentials or certificates (restapi.authentication, verify_client)".into()),
        ));
        return out;
    }
    let listed: Vec<_> = view.members.iter().filter(|m| m.member).collect();
    out.push(finding(
        Severity::Ok,
        None,
        format!(
            "Patroni REST API answers: {} members in the DCS",
            listed.len()
        ),
        None,
    ));
    let report = |name: &str| nodes.iter().find(|n| n.name == name);
    for m in &listed {
        let role = m.role.as_deref().unwrap_or("-");
        let state = m.state.as_deref().unwrap_or("-");
        let origin = if m.discovered { "discovered" } else { "static" };
        if m.up {
            out.push(finding(
                Severity::Ok,
                Some(&m.node),
                format!("Patroni {role}, {state} ({origin})"),
                None,
            ));
        } else {
            out.push(finding(
                Severity::Problem,
                Some(&m.node),
                format!("Patroni {role}, {state} ({origin}): its GET /patroni does not answer"),
                Some("check that Patroni runs on this member and that its restapi.connect_address is reachable from the exporter".into()),
            ));
        }
    }
    let unreachable: Vec<String> = listed
        .iter()
        .filter(|m| report(&m.node).is_none_or(|r| r.state.is_none()))
        .map(|m| match report(&m.node) {
            None => format!(
                "{} (not polled: not a [[cluster.node]] and discover = false)",
                m.node
            ),
            Some(_) => m.node.clone(),
        })
        .collect();
    if unreachable.is_empty() {
        out.push(finding(
            Severity::Ok,
            None,
            format!("every DCS member reachable over SQL ({})", listed.len()),
            None,
        ));
    } else {
        out.push(finding(
            Severity::Problem,
            None,
            format!("DCS members unreachable over SQL: {}", unreachable.join(", ")),
            Some("each member's host and port come from GET /cluster (postgresql.connect_address): check pg_hba.conf and the exporter's role on it, or add a [[cluster.node]] of that name".into()),
        ));
    }
    // synchronous_mode against what the leader really has.
    let leader = listed
        .iter()
        .find(|m| m.role.as_deref() == Some("leader"))
        .and_then(|m| report(&m.node))
        .and_then(|r| r.state.as_ref().map(|s| (r, s)));
    if let (Some(config), Some((leader, state))) = (&view.config, leader) {
        let names = state.settings.synchronous_standby_names.trim();
        let mode = config.synchronous_mode.as_str();
        let who = Some(leader.name.as_str());
        match (mode, names.is_empty()) {
            ("off", false) => out.push(finding(
                Severity::Problem,
                who,
                format!("synchronous_mode is off but the leader has synchronous_standby_names = '{names}': Patroni neither manages it nor considers it at failover"),
                Some("patronictl edit-config: set synchronous_mode: on, or remove synchronous_standby_names from postgresql.parameters".into()),
            )),
            ("off", true) => out.push(finding(
                Severity::Ok,
                who,
                "synchronous_mode off, synchronous_standby_names empty".into(),
                None,
            )),
            (_, true) => out.push(finding(
                Severity::Problem,
                who,
                format!("synchronous_mode = {mode} but the leader's synchronous_standby_names is empty: commits do not wait for any standby"),
                Some("Patroni lists only healthy, streaming replicas without the nosync tag: bring one back (patronictl list), or set synchronous_mode_strict to refuse writes without one".into()),
            )),
            (_, false) => out.push(finding(
                Severity::Ok,
                who,
                format!("synchronous_mode = {mode}, synchronous_standby_names = '{names}'"),
                None,
            )),
        }
    }
    if view.paused == Some(true) {
        out.push(finding(
            Severity::Note,
            None,
            "maintenance mode on (paused): Patroni neither fails over nor restarts PostgreSQL"
                .into(),
            Some("patronictl resume, when the maintenance is over".into()),
        ));
    }
    match view.failover_candidates {
        Some(0) => {
            let reasons: Vec<String> = listed
                .iter()
                .filter_map(|m| {
                    Some(format!("{}: {}", m.node, m.not_candidate_because.as_deref()?))
                })
                .collect();
            out.push(finding(
                Severity::Problem,
                None,
                format!(
                    "no failover candidate: Patroni would promote nobody if the leader failed ({})",
                    reasons.join("; ")
                ),
                Some("resume maintenance mode (patronictl resume), bring a replica within maximum_lag_on_failover, or remove a nofailover tag".into()),
            ));
        }
        Some(n) => {
            let names: Vec<&str> = listed
                .iter()
                .filter(|m| m.failover_candidate == Some(true))
                .map(|m| m.node.as_str())
                .collect();
            out.push(finding(
                Severity::Ok,
                None,
                format!("{n} failover candidate(s): {}", names.join(", ")),
                None,
            ));
        }
        None => out.push(finding(
            Severity::Note,
            None,
            "failover candidates unknown: the leader's WAL position or the cluster's timeline is unknown".into(),
            None,
        )),
    }
    if let Some(config) = &view.config {
        let maximum = config.maximum_lag_on_failover_bytes;
        for m in &listed {
            let Some(lag) = m.failover_lag_bytes else {
                continue;
            };
            out.push(finding(
                if lag > maximum {
                    Severity::Note
                } else {
                    Severity::Ok
                },
                Some(&m.node),
                format!(
                    "lag {} ({lag} bytes, received or replayed) beside maximum_lag_on_failover {} ({maximum} bytes)",
                    human_bytes(lag),
                    human_bytes(maximum)
                ),
                None,
            ));
        }
    }
    out
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

/// Each front-end: where it leads against its expectation, and pgpool's and pgbouncer's views
/// against the nodes' real roles, each problem with its fix. Pure.
pub(crate) fn check_endpoints(endpoints: &[EndpointView], nodes: &[NodeReport]) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in endpoints {
        let who = Some(e.name.as_str());
        let at = format!("{} endpoint at {}:{}", e.kind, e.host, e.port);
        if !e.up {
            out.push(finding(
                Severity::Problem,
                who,
                format!(
                    "{at} does not answer: {}",
                    e.last_error.as_deref().unwrap_or("not checked")
                ),
                Some(match e.kind.as_str() {
                    "pgbouncer" => "check that pgbouncer runs and listens there, and that the user is in its stats_users (or admin_users) with a password in its auth_file".into(),
                    "pgpool" => "check that pgpool-II runs and listens there, and that the user may log in through it (pool_hba.conf, pool_passwd)".into(),
                    _ => "check that the address leads to a node (keepalived holds the VIP somewhere: ip addr on its hosts; haproxy's backends), and that the user may log in there".into(),
                }),
            ));
            continue;
        }
        if e.kind != "pgbouncer" {
            let leads = e.target.as_deref().unwrap_or("-");
            let role = if leads == UNKNOWN_NODE {
                "none of the polled nodes".to_owned()
            } else {
                format!("a {}", real_role(nodes, leads))
            };
            let expect = e.expect.as_deref().unwrap_or("any");
            match e.expectation_met {
                Some(false) => out.push(finding(
                    Severity::Problem,
                    who,
                    format!("{at} leads to {leads} ({role}), expected {expect}"),
                    Some(match (e.kind.as_str(), expect) {
                        ("pgpool", _) => "make pgpool's view true: pcp_promote_node for the real primary, pcp_attach_node for detached standbys (pcp_node_info shows its view); and give pgpool a failover_command or follow_primary_command".into(),
                        (_, "primary") => "move the write address to the primary: keepalived's vrrp_script must check pg_is_in_recovery() = false, not only that PostgreSQL answers; haproxy must check the role (e.g. Patroni's GET /primary)".into(),
                        (_, "standby") => "point the read address at standbys only: keepalived/haproxy checks must require pg_is_in_recovery() = true (Patroni: GET /replica)".into(),
                        _ => "point the address at a node of this cluster (its system identifier differs)".into(),
                    }),
                )),
                Some(true) => out.push(finding(
                    Severity::Ok,
                    who,
                    format!("{at} leads to {leads} ({role}), as expected ({expect})"),
                    None,
                )),
                None => out.push(finding(
                    Severity::Note,
                    who,
                    format!("{at} leads to {leads} ({role}); expected {expect}, not judged"),
                    Some("every node of the cluster should be polled (a [[cluster.node]] per server), so that the one behind the endpoint is known".into()),
                )),
            }
        }
        for problem in endpoint_problems(e, nodes) {
            let fix = if problem.starts_with("pgpool does not know") {
                "add the node as backend_hostnameN / backend_portN to pgpool.conf and reload pgpool (pcp_reload_config)"
            } else if problem.starts_with("pgpool marked") {
                "pcp_attach_node -n <its node_id> (SHOW POOL_NODES lists the ids)"
            } else if problem.starts_with("pgpool calls") {
                "pcp_promote_node -n <the real primary's node_id>, then pcp_attach_node for the standbys"
            } else if problem.contains("client(s) waiting") {
                "see where the database routes (SHOW DATABASES) and whether that server accepts connections; raise pool_size only if it does"
            } else {
                "edit [databases] in pgbouncer.ini to point the database at the right node and RELOAD (psql -p <port> -U <admin> pgbouncer -c RELOAD)"
            };
            let severity = if problem.contains("client(s) waiting") {
                Severity::Note
            } else {
                Severity::Problem
            };
            out.push(finding(
                severity,
                who,
                format!("{at}: {problem}"),
                Some(fix.into()),
            ));
        }
        if e.kind == "pgbouncer" {
            for d in e
                .pgbouncer_databases
                .iter()
                .filter(|d| d.expectation_met == Some(true))
            {
                out.push(finding(
                    Severity::Ok,
                    who,
                    format!(
                        "{at}: database {} routes to {} ({}), as expected ({})",
                        d.database,
                        d.node.as_deref().unwrap_or("-"),
                        real_role(nodes, d.node.as_deref().unwrap_or("-")),
                        d.expect.as_deref().unwrap_or("-")
                    ),
                    None,
                ));
            }
        }
    }
    out
}

/// Renders `check`'s findings as text.
pub(crate) fn render_findings(cluster: &str, findings: &[Finding], color: bool) -> String {
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

/// `check`: returns the process exit code (0 healthy, 1 something to fix).
pub async fn run_check(config: &Config) -> u8 {
    let color = std::io::stdout().is_terminal();
    let mut problems = 0;
    for cluster in &config.clusters {
        let mut history = ClusterHistory::new(config.poll.lag_history, config.poll.interval);
        let polled = poll_cluster(cluster, config, &mut history).await;
        let users: Vec<String> = polled.nodes.iter().map(|n| n.user.clone()).collect();
        let mut findings = check_cluster(&polled.reports, &users);
        if let Some((round, view)) = &polled.patroni {
            findings.extend(check_patroni(
                view,
                round.cluster_error.as_deref(),
                &polled.reports,
            ));
        }
        findings.extend(check_endpoints(&polled.endpoints, &polled.reports));
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
