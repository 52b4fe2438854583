//! PURE: one cluster of a snapshot drawn as an SVG for the landing page — the nodes with their
//! roles, the replication arrows with their lag, the front-ends pointing at the nodes they lead
//! to, and whatever is wrong in red. No I/O, no clock, no JavaScript: the same snapshot always
//! draws the same picture, and a reload of the page draws the latest one.
//!
//! It lives in `web/` rather than `render/` because it is part of the landing page (HTML for
//! people), while `render/` is the metric families (text for Prometheus); it is pure all the
//! same, and it judges nothing itself: who streams from whom is [`cluster::upstream`],
//! streaming and lag are the cluster view's, the front-ends' verdicts are the judge's, and a
//! pgpool or pgbouncer problem is the one `check` and `status` phrase.
//!
//! # Layout
//! A tree from the top: the primary (or primaries: split brain; or a standby cluster's leader)
//! on the first row, each standby one row below the node that lists it in
//! `pg_stat_replication` (cascades further down), children centred under their parent in
//! configuration order. A standby nobody lists (vanished, or fed from the archive) hangs under
//! the single primary with a dashed arrow; without a single primary it sits on the second row
//! unattached. Targets of front-ends that are no polled node (`unknown`, a pgpool backend's or a
//! pgbouncer database's `host:port`) get a dashed box on a last row. The front-ends stand in a
//! column on the right; each of their arrows runs down a gutter of its own, along a lane in the
//! band above its target's row, and into the top of the target, so that no arrow crosses a box.
//!
//! # What the elements say (for people hovering, and for tests)
//! The root is `<svg class="topology" data-cluster=NAME>`; every element in it is a `<g>` with a
//! `<title>` (the hover text) and data attributes:
//! - `<g class="node" data-node=N data-role="primary|standby|down|unknown" data-state>`;
//! - `<g class="external" data-node="unknown|host:port">`: a front-end target that is not polled;
//! - `<g class="edge replication" data-from=UPSTREAM data-to=STANDBY data-state data-lag>`,
//!   `class="edge replication missing"` for the dashed arrow to a standby nobody lists;
//! - `<g class="endpoint" data-endpoint=E data-kind data-target=NODE data-state>` (no
//!   `data-target` while it is down, nor for pgbouncer, whose console leads to no node);
//! - `<g class="edge route" data-endpoint=E data-to=NODE data-state>`: where the session through
//!   the front-end landed; `class="edge backend"` per pgpool backend, `class="edge database"
//!   data-database=D` per pgbouncer database;
//! - `<g class="summary" data-state>`: the cluster's one line (primaries, nodes up, RPO).
//!
//! `data-state` is `ok`, `bad` (drawn red) or `unknown` (grey, dashed); `data-lag` is `ok`,
//! `warning` (past 512 MiB), `critical` (past 1 GiB, red) or `unknown`. Red: two primaries, a
//! node down, a standby not streaming that should, a front-end that is down or leads where
//! `expect` says it must not, a pgpool backend or pgbouncer database with a problem.
//!
//! Every text comes from configuration or from servers and is escaped for XML (control
//! characters, which XML cannot carry at all, become U+FFFD); long names are shortened on the
//! picture and given whole in the hover text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::core::cluster;
use crate::core::model::{ClusterSnapshot, EndpointView, NodeReport, StandbyView};
use crate::core::text::{CRIT_BYTES, WARN_BYTES, human_bytes};
use crate::ops::{backend_problems, database_problems};

const MARGIN: f64 = 20.0;
/// Room for the summary line above the first row.
const TOP: f64 = 44.0;
const NODE_W: f64 = 184.0;
const NODE_H: f64 = 62.0;
const H_GAP: f64 = 40.0;
/// Between a row's bottom and the lanes above the next row: the replication arrows and labels.
const REP_GAP: f64 = 64.0;
const LANE: f64 = 14.0;
const GUTTER: f64 = 12.0;
const EP_W: f64 = 220.0;
const EP_H: f64 = 62.0;
const EP_GAP: f64 = 14.0;
/// Characters of a name shown in a box (the title has it whole).
const NAME_CHARS: usize = 24;
const DETAIL_CHARS: usize = 30;

const RED: &str = "#c81e1e";
const RED_FILL: &str = "#fde8e8";
const GREY: &str = "#8a94a6";
const INK: &str = "#1a202c";
const EDGE: &str = "#4a5568";
const AMBER: &str = "#b7791f";
const ORANGE: &str = "#dd6b20";

/// What an element's colour says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    Ok,
    Bad,
    Unknown,
}

impl Health {
    fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Bad => "bad",
            Health::Unknown => "unknown",
        }
    }

    fn from_verdict(met: Option<bool>) -> Health {
        match met {
            Some(true) => Health::Ok,
            Some(false) => Health::Bad,
            None => Health::Unknown,
        }
    }
}

/// A box on the picture: a polled node or a front-end target outside them.
#[derive(Clone, Copy, Debug, Default)]
struct Rect {
    x: f64,
    y: f64,
}

impl Rect {
    fn centre_x(self) -> f64 {
        self.x + NODE_W / 2.0
    }
    fn bottom(self) -> f64 {
        self.y + NODE_H
    }
}

/// One arrow from a front-end.
struct EndpointEdge<'a> {
    class: &'static str,
    endpoint: usize,
    /// The target box: a node index, or `nodes.len() + i` for the i-th external.
    to: usize,
    to_name: &'a str,
    database: Option<&'a str>,
    health: Health,
    label: Option<String>,
    title: String,
}

/// The cluster `c` as an `<svg>` element, to be inlined in HTML (or saved as a file).
pub fn svg(c: &ClusterSnapshot) -> String {
    let nodes = &c.nodes;
    let n = nodes.len();
    let index = |name: &str| nodes.iter().position(|x| x.name == name);
    let role_of = |i: usize| role(&nodes[i]);
    let standby_view = |name: &str| c.view.standbys.iter().find(|s| s.node == name);

    // Who hangs under whom: the upstream that lists a standby, by the cluster view's rule.
    let mut parent: Vec<Option<usize>> = nodes
        .iter()
        .map(|node| cluster::upstream(node, nodes).and_then(|(u, _)| index(&u.name)))
        .collect();
    // A chain that never reaches a top (nodes listing each other) is cut where it loops.
    for i in 0..n {
        let mut at = i;
        for _ in 0..=n {
            match parent[at] {
                Some(p) => at = p,
                None => break,
            }
        }
        if parent[at].is_some() {
            parent[i] = None;
        }
    }
    let is_top = |i: usize| {
        role_of(i) == "primary" || c.view.standby_leader.as_deref() == Some(nodes[i].name.as_str())
    };
    let single_top = {
        let tops: Vec<usize> = (0..n).filter(|&i| is_top(i)).collect();
        match tops.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    };
    // A standby nobody lists hangs under the single top by a dashed arrow.
    let mut missing = vec![false; n];
    for i in 0..n {
        if parent[i].is_none()
            && !is_top(i)
            && let Some(top) = single_top
        {
            parent[i] = Some(top);
            missing[i] = true;
        }
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = *p {
            children[p].push(i);
        }
    }
    let any_top = (0..n).any(is_top);
    let roots: Vec<usize> = (0..n)
        .filter(|&i| parent[i].is_none() && is_top(i))
        .chain((0..n).filter(|&i| parent[i].is_none() && !is_top(i)))
        .collect();

    // Rows and slots: leaves take consecutive slots, a parent is centred over its children.
    let mut depth = vec![0usize; n];
    let mut slot = vec![0f64; n];
    let mut next = 0f64;
    for &r in &roots {
        let d = if is_top(r) || !any_top { 0 } else { 1 };
        place(r, d, &children, &mut depth, &mut slot, &mut next);
    }

    // Front-end targets that are no polled node, in order of first appearance.
    let mut externals: Vec<&str> = Vec::new();
    fn target_of<'a>(nodes: &[NodeReport], name: &'a str, externals: &mut Vec<&'a str>) -> usize {
        nodes
            .iter()
            .position(|x| x.name == name)
            .unwrap_or_else(|| {
                nodes.len()
                    + externals
                        .iter()
                        .position(|e| *e == name)
                        .unwrap_or_else(|| {
                            externals.push(name);
                            externals.len() - 1
                        })
            })
    }
    let mut edges: Vec<EndpointEdge> = Vec::new();
    for (k, e) in c.endpoints.iter().enumerate() {
        if let Some(t) = e.target.as_deref() {
            let to = target_of(nodes, t, &mut externals);
            let health = Health::from_verdict(e.expectation_met);
            edges.push(EndpointEdge {
                class: "edge route",
                endpoint: k,
                to,
                to_name: t,
                database: None,
                health,
                label: None,
                title: format!(
                    "{} leads to {t}{}",
                    e.name,
                    match (&e.expect, e.expectation_met) {
                        (Some(x), Some(false)) => format!(": expected {x}, it is not"),
                        (Some(x), _) => format!(" (expect {x})"),
                        (None, _) => String::new(),
                    }
                ),
            });
        }
        for b in &e.pgpool_backends {
            let problems = backend_problems(b, nodes);
            let to = target_of(nodes, &b.node, &mut externals);
            let label = if b.listed {
                [b.role.as_deref(), b.status.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · ")
            } else {
                "not in pgpool".into()
            };
            edges.push(EndpointEdge {
                class: "edge backend",
                endpoint: k,
                to,
                to_name: &b.node,
                database: None,
                health: if !problems.is_empty() {
                    Health::Bad
                } else if b.role_correct.is_none() {
                    Health::Unknown
                } else {
                    Health::Ok
                },
                title: std::iter::once(format!("{}: backend {} ({label})", e.name, b.node))
                    .chain(problems)
                    .collect::<Vec<_>>()
                    .join("\n"),
                label: Some(label),
            });
        }
        for d in &e.pgbouncer_databases {
            let Some(node) = d.node.as_deref() else {
                continue;
            };
            let problems = database_problems(d, nodes);
            let to = target_of(nodes, node, &mut externals);
            edges.push(EndpointEdge {
                class: "edge database",
                endpoint: k,
                to,
                to_name: node,
                database: Some(&d.database),
                health: if !problems.is_empty() {
                    Health::Bad
                } else {
                    Health::from_verdict(d.expectation_met)
                },
                title: std::iter::once(format!(
                    "{}: database {} routes to {node}{}",
                    e.name,
                    d.database,
                    d.expect
                        .as_ref()
                        .map(|x| format!(" (expect {x})"))
                        .unwrap_or_default()
                ))
                .chain(problems)
                .collect::<Vec<_>>()
                .join("\n"),
                label: Some(d.database.clone()),
            });
        }
    }

    // Rows, top to bottom: the nodes' rows, then one for the externals.
    let node_rows = depth.iter().max().map_or(0, |d| d + 1);
    let rows = node_rows + usize::from(!externals.is_empty());
    let row_of = |to: usize| if to < n { depth[to] } else { node_rows };
    let mut lanes_in = vec![0usize; rows];
    for e in &edges {
        lanes_in[row_of(e.to)] += 1;
    }
    let lane_band = |k: usize| if k == 0 { 0.0 } else { 10.0 + k as f64 * LANE };
    let mut row_top = vec![0f64; rows];
    for r in 0..rows {
        row_top[r] = if r == 0 {
            TOP
        } else {
            row_top[r - 1] + NODE_H + REP_GAP
        } + lane_band(lanes_in[r]);
    }
    let slots = (next as usize).max(externals.len()).max(1);
    let pitch = NODE_W + H_GAP;
    let mut boxes: Vec<Rect> = (0..n)
        .map(|i| Rect {
            x: MARGIN + slot[i] * pitch,
            y: row_top[depth[i]],
        })
        .collect();
    boxes.extend((0..externals.len()).map(|j| Rect {
        x: MARGIN + j as f64 * pitch,
        y: row_top[node_rows],
    }));
    let nodes_right = MARGIN + slots as f64 * pitch - H_GAP;
    let eps = c.endpoints.len();
    let col_x = nodes_right + 18.0 + eps as f64 * GUTTER + 10.0;
    let gutter_x = |k: usize| col_x - 14.0 - k as f64 * GUTTER;
    let ep_y = |k: usize| TOP + k as f64 * (EP_H + EP_GAP);
    let bottom = row_top.last().map_or(TOP, |t| t + NODE_H);
    let height = bottom.max(ep_y(eps) - EP_GAP) + MARGIN;
    let width = if eps > 0 {
        col_x + EP_W + MARGIN
    } else {
        nodes_right + MARGIN
    }
    .max(420.0);

    // Where each front-end arrow arrives (right half of the target's top), and its lane: in a
    // row's band, the arrow arriving furthest right takes the lane nearest the row, so that no
    // arrow's last leg crosses another's lane.
    let mut arrivals: BTreeMap<usize, usize> = BTreeMap::new();
    let arrive_x: Vec<f64> = edges
        .iter()
        .map(|e| {
            let j = arrivals.entry(e.to).or_insert(0);
            let room = ((NODE_W / 2.0 - 48.0) / 9.0) as usize + 1;
            let x = boxes[e.to].centre_x() + 40.0 + (*j % room) as f64 * 9.0;
            *j += 1;
            x
        })
        .collect();
    let mut lane_y = vec![0f64; edges.len()];
    for (r, top) in row_top.iter().enumerate() {
        let mut in_row: Vec<usize> = (0..edges.len())
            .filter(|&i| row_of(edges[i].to) == r)
            .collect();
        in_row.sort_by(|&a, &b| arrive_x[b].total_cmp(&arrive_x[a]).then(a.cmp(&b)));
        for (k, i) in in_row.into_iter().enumerate() {
            lane_y[i] = top - 10.0 - k as f64 * LANE;
        }
    }

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="topology" data-cluster="{name}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12" role="img" aria-label="topology of cluster {name}">"#,
        name = esc(&c.name),
    );
    let _ = write!(out, "<title>cluster {}</title>", esc(&c.name));
    summary(&mut out, c);

    // Replication arrows under everything else.
    for i in 0..n {
        if let Some(p) = parent[i] {
            replication_edge(
                &mut out,
                &nodes[p],
                &nodes[i],
                standby_view(&nodes[i].name),
                missing[i],
                (boxes[p], boxes[i]),
                row_top[depth[i]] - lane_band(lanes_in[depth[i]]),
            );
        }
    }
    // Front-end arrows: the ones that are wrong on top.
    let mut order: Vec<usize> = (0..edges.len()).collect();
    order.sort_by_key(|&i| (edges[i].health == Health::Bad, i));
    for i in order {
        let e = &edges[i];
        let ep = &c.endpoints[e.endpoint];
        let start = (col_x, ep_y(e.endpoint) + EP_H / 2.0);
        let g = gutter_x(e.endpoint);
        let (ax, top) = (arrive_x[i], boxes[e.to].y);
        let (colour, width, dash) = match (e.health, e.class) {
            (Health::Bad, _) => (RED, 2.5, ""),
            (Health::Unknown, _) => (GREY, 1.5, r#" stroke-dasharray="5 4""#),
            (Health::Ok, "edge route") => (AMBER, 2.0, ""),
            (Health::Ok, _) => (AMBER, 1.3, r#" stroke-dasharray="2 3""#),
        };
        let _ = write!(
            out,
            r#"<g class="{}" data-endpoint="{}" data-to="{}"{} data-state="{}"><title>{}</title>"#,
            e.class,
            esc(&ep.name),
            esc(e.to_name),
            e.database
                .map(|d| format!(r#" data-database="{}""#, esc(d)))
                .unwrap_or_default(),
            e.health.as_str(),
            esc(&e.title)
        );
        let _ = write!(
            out,
            r#"<path d="M{} {} H{g} V{ly} H{ax} V{end}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-linejoin="round"{dash}/>"#,
            start.0,
            start.1,
            ly = lane_y[i],
            end = top - 7.0,
        );
        arrowhead(&mut out, (ax, top - 9.0), (ax, top), colour);
        if let Some(label) = &e.label {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" text-anchor="end" font-size="10" fill="{}" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"#,
                g - 6.0,
                lane_y[i] - 3.0,
                if e.health == Health::Bad { RED } else { INK },
                esc(&short(label, DETAIL_CHARS))
            );
        }
        out.push_str("</g>");
    }
    for i in 0..n {
        node_box(
            &mut out,
            c,
            &nodes[i],
            standby_view(&nodes[i].name),
            boxes[i],
        );
    }
    for (j, name) in externals.iter().enumerate() {
        let b = boxes[n + j];
        let _ = write!(
            out,
            r#"<g class="external" data-node="{name}" data-role="unknown" data-state="unknown"><title>{title}</title><rect x="{}" y="{}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="white" stroke="{GREY}" stroke-width="1.5" stroke-dasharray="5 4"/>"#,
            b.x,
            b.y,
            name = esc(name),
            title = esc(&format!(
                "{name}: a front-end leads here, and it is none of the polled nodes"
            )),
        );
        text(
            &mut out,
            (b.centre_x(), b.y + 25.0),
            13,
            "bold",
            INK,
            &short(name, NAME_CHARS),
        );
        text(
            &mut out,
            (b.centre_x(), b.y + 44.0),
            11,
            "normal",
            GREY,
            "not a polled node",
        );
        out.push_str("</g>");
    }
    for (k, e) in c.endpoints.iter().enumerate() {
        endpoint_box(
            &mut out,
            e,
            nodes,
            Rect {
                x: col_x,
                y: ep_y(k),
            },
        );
    }
    out.push_str("</svg>");
    out
}

/// Lays out the subtree of `i` at row `d`: leaves take the next slot, a parent is centred over
/// its children.
fn place(
    i: usize,
    d: usize,
    children: &[Vec<usize>],
    depth: &mut [usize],
    slot: &mut [f64],
    next: &mut f64,
) {
    depth[i] = d;
    if children[i].is_empty() {
        slot[i] = *next;
        *next += 1.0;
        return;
    }
    for &ch in &children[i] {
        place(ch, d + 1, children, depth, slot, next);
    }
    let first = slot[children[i][0]];
    let last = slot[*children[i].last().expect("not empty")];
    slot[i] = (first + last) / 2.0;
}

/// primary, standby, down or unknown, by the node's own last poll.
fn role(n: &NodeReport) -> &'static str {
    match (&n.state, n.up) {
        (_, false) => "down",
        (None, true) => "unknown",
        (Some(s), true) if s.in_recovery => "standby",
        (Some(_), true) => "primary",
    }
}

/// The node's colour: red when it is down, one of two primaries, or a standby that should
/// stream and does not.
fn node_health(c: &ClusterSnapshot, n: &NodeReport, sv: Option<&StandbyView>) -> Health {
    match role(n) {
        "down" => Health::Bad,
        "unknown" => Health::Unknown,
        "primary" if c.view.primaries > 1 => Health::Bad,
        "primary" => Health::Ok,
        _ => match sv.and_then(|s| s.streaming) {
            Some(false) if n.expect_streaming => Health::Bad,
            None if n.expect_streaming => Health::Unknown,
            _ => Health::Ok,
        },
    }
}

fn summary(out: &mut String, c: &ClusterSnapshot) {
    let v = &c.view;
    let (head, health) = match (v.primaries, v.is_standby_cluster) {
        (2.., _) => (
            format!("SPLIT BRAIN: {} primaries", v.primaries),
            Health::Bad,
        ),
        (1, _) => ("1 primary".to_string(), Health::Ok),
        (0, Some(true)) => (
            format!(
                "standby cluster (leader {})",
                v.standby_leader.as_deref().unwrap_or("-")
            ),
            Health::Ok,
        ),
        (0, _) => ("no primary".to_string(), Health::Bad),
    };
    let health = if v.nodes_up < v.nodes_configured {
        Health::Bad
    } else {
        health
    };
    let mut line = format!("{head} · {}/{} nodes up", v.nodes_up, v.nodes_configured);
    if let Some(rpo) = v.rpo_bytes {
        line.push_str(&format!(" · RPO {}", human_bytes(rpo)));
    }
    let _ = write!(
        out,
        r#"<g class="summary" data-state="{}"><text x="{MARGIN}" y="24" font-size="14" font-weight="bold" fill="{}">{}</text></g>"#,
        health.as_str(),
        if health == Health::Bad { RED } else { INK },
        esc(&line)
    );
}

fn node_box(
    out: &mut String,
    c: &ClusterSnapshot,
    n: &NodeReport,
    sv: Option<&StandbyView>,
    b: Rect,
) {
    let role = role(n);
    let health = node_health(c, n, sv);
    let leader = c.view.standby_leader.as_deref() == Some(n.name.as_str());
    let (fill, stroke) = match (health, role) {
        (Health::Bad, _) => (RED_FILL, RED),
        (_, "primary") => ("#e3efff", "#2b6cb0"),
        (_, "standby") => ("#e6f6ea", "#2f855a"),
        _ => ("#f1f3f6", GREY),
    };
    let state = n.state.as_ref();
    let status = match role {
        "standby" => match sv.and_then(|s| s.streaming) {
            Some(true) => "streaming",
            Some(false) if !n.expect_streaming => "archive, by design",
            Some(false) => "not streaming",
            None => "streaming unknown",
        },
        "primary" if c.view.primaries > 1 => "split brain",
        "primary" => "writable",
        _ => "",
    };
    let role_text = match (role, leader) {
        ("standby", true) => "standby leader",
        _ => role,
    };
    let line2 = if status.is_empty() {
        role_text.to_string()
    } else {
        format!("{role_text} · {status}")
    };
    let detail = match state {
        _ if !n.up => n.last_error.clone().unwrap_or_default(),
        None => String::new(),
        Some(s) => {
            let tl = s.timeline_id.map(|t| format!("TL {t}")).unwrap_or_default();
            let lsn = s.wal_lsn.map(|l| l.to_string()).unwrap_or_default();
            [tl, lsn]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(" · ")
        }
    };
    let mut title = vec![format!("{}: {line2}", n.name)];
    if let Some(s) = state {
        title.push(format!("PostgreSQL {}", s.server_version));
        if let Some(t) = s.timeline_id {
            title.push(format!("timeline {t}"));
        }
        if let Some(l) = s.wal_lsn {
            title.push(format!("position {l}"));
        }
    }
    if let Some(s) = sv {
        if let Some(b) = s.lag_bytes {
            title.push(format!("{} behind the primary", human_bytes(b)));
        }
        if let Some(t) = s.lag_seconds {
            title.push(format!("{} of time lag", human_seconds(t)));
        }
    }
    if let Some(m) = c
        .patroni
        .as_ref()
        .and_then(|p| p.members.iter().find(|m| m.node == n.name))
    {
        title.push(format!(
            "Patroni: {} / {}",
            m.role.as_deref().unwrap_or("-"),
            m.state.as_deref().unwrap_or("-")
        ));
    }
    if let (false, Some(e)) = (n.up, &n.last_error) {
        title.push(format!("last error: {e}"));
    }
    let _ = write!(
        out,
        r#"<g class="node" data-node="{}" data-role="{role}" data-state="{}"><title>{}</title><rect x="{}" y="{}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="{}"/>"#,
        esc(&n.name),
        health.as_str(),
        esc(&title.join("\n")),
        b.x,
        b.y,
        if health == Health::Bad { 2.5 } else { 1.5 },
    );
    let ink = if health == Health::Bad { RED } else { INK };
    text(
        out,
        (b.centre_x(), b.y + 20.0),
        14,
        "bold",
        INK,
        &short(&n.name, NAME_CHARS),
    );
    text(out, (b.centre_x(), b.y + 38.0), 12, "normal", ink, &line2);
    text(
        out,
        (b.centre_x(), b.y + 54.0),
        10,
        "normal",
        GREY,
        &short(&detail, DETAIL_CHARS),
    );
    out.push_str("</g>");
}

fn replication_edge(
    out: &mut String,
    from: &NodeReport,
    to: &NodeReport,
    sv: Option<&StandbyView>,
    missing: bool,
    (a, b): (Rect, Rect),
    band_top: f64,
) {
    let walsender = (!missing)
        .then(|| cluster::upstream(to, std::slice::from_ref(from)))
        .flatten()
        .map(|(_, w)| w);
    let streaming = sv.and_then(|s| s.streaming);
    let health = match streaming {
        Some(false) if to.expect_streaming => Health::Bad,
        None if to.expect_streaming => Health::Unknown,
        _ => Health::Ok,
    };
    let lag_bytes = sv.and_then(|s| s.lag_bytes);
    let lag = match lag_bytes {
        None => "unknown",
        Some(b) if b >= CRIT_BYTES => "critical",
        Some(b) if b >= WARN_BYTES => "warning",
        Some(_) => "ok",
    };
    let class = if missing {
        "edge replication missing"
    } else {
        "edge replication"
    };
    let mut lines: Vec<String> = Vec::new();
    if missing {
        lines.push(if to.expect_streaming {
            "not streaming".into()
        } else {
            "archive".into()
        });
    } else if let Some(state) = walsender.and_then(|w| w.state.as_deref())
        && state != "streaming"
    {
        lines.push(state.to_string());
    } else if let Some(sync) = walsender.and_then(|w| w.sync_state.as_deref())
        && sync != "async"
    {
        // sync, potential, quorum: what a commit waits for is worth seeing.
        lines.push(sync.to_string());
    }
    if lines.is_empty() && health == Health::Bad {
        lines.push("not streaming".into());
    }
    if let Some(b) = lag_bytes {
        lines.push(human_bytes(b));
    }
    if let Some(t) = sv.and_then(|s| s.lag_seconds) {
        lines.push(human_seconds(t));
    }
    let mut title = format!(
        "{} → {}: {}",
        from.name,
        to.name,
        match streaming {
            Some(true) => "streaming",
            Some(false) if missing && !to.expect_streaming => "fed from the archive, by design",
            Some(false) if missing => "not streaming: no node lists it in pg_stat_replication",
            Some(false) => "not streaming",
            None => "streaming unknown (no pg_monitor)",
        }
    );
    if let Some(sync) = walsender.and_then(|w| w.sync_state.as_deref()) {
        title.push_str(&format!(" ({sync})"));
    }
    match (lag_bytes, sv.and_then(|s| s.lag_seconds)) {
        (Some(b), Some(t)) => title.push_str(&format!(
            "\nlag behind the primary: {}, {}",
            human_bytes(b),
            human_seconds(t)
        )),
        (Some(b), None) => title.push_str(&format!("\nlag behind the primary: {}", human_bytes(b))),
        _ => {}
    }
    let (colour, width, dash) = match health {
        Health::Bad => (RED, 2.5, r#" stroke-dasharray="7 5""#),
        Health::Unknown => (GREY, 1.5, r#" stroke-dasharray="5 4""#),
        Health::Ok if missing => (GREY, 1.5, r#" stroke-dasharray="7 5""#),
        Health::Ok => (EDGE, 2.0, ""),
    };
    let _ = write!(
        out,
        r#"<g class="{class}" data-from="{}" data-to="{}" data-state="{}" data-lag="{lag}"><title>{}</title>"#,
        esc(&from.name),
        esc(&to.name),
        health.as_str(),
        esc(&title)
    );
    let (x1, y1, x2, y2) = (a.centre_x(), a.bottom(), b.centre_x(), b.y);
    // Stop short of the box so the arrowhead's tip touches it.
    let len = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1.0);
    let (ux, uy) = ((x2 - x1) / len, (y2 - y1) / len);
    let _ = write!(
        out,
        r#"<path d="M{x1} {y1} L{} {}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>"#,
        round(x2 - ux * 8.0),
        round(y2 - uy * 8.0),
    );
    arrowhead(out, (x1, y1), (x2, y2), colour);
    // The label block low in the free band between the rows (where siblings' arrows are
    // furthest apart), beside the line on its outer side (left of an arrow going left, right
    // otherwise), touching it at the block's bottom, where a diagonal arrow is furthest out: so
    // no arrow crosses its own label, and siblings' labels part.
    let block = lines.len() as f64 * 13.0;
    let top = (band_top - 6.0 - block).max(y1 + 4.0);
    let at = |y: f64| x1 + (x2 - x1) * ((y - y1) / (y2 - y1).max(1.0));
    let (lx, anchor) = if x2 < x1 - 0.5 {
        (at(top + block) - 6.0, "end")
    } else {
        (at(top + block) + 6.0, "start")
    };
    let ly = top + 10.0;
    let label_colour = match (health, lag) {
        (Health::Bad, _) | (_, "critical") => RED,
        (_, "warning") => ORANGE,
        _ => INK,
    };
    for (k, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="{anchor}" font-size="11" fill="{label_colour}" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"#,
            round(lx),
            round(ly + k as f64 * 13.0),
            esc(line)
        );
    }
    out.push_str("</g>");
}

fn endpoint_box(out: &mut String, e: &EndpointView, nodes: &[NodeReport], b: Rect) {
    let problems: Vec<String> = e
        .pgpool_backends
        .iter()
        .flat_map(|x| backend_problems(x, nodes))
        .chain(
            e.pgbouncer_databases
                .iter()
                .flat_map(|d| database_problems(d, nodes)),
        )
        .collect();
    let health = if !e.up || e.expectation_met == Some(false) || !problems.is_empty() {
        Health::Bad
    } else {
        Health::Ok
    };
    let (fill, stroke) = if health == Health::Bad {
        (RED_FILL, RED)
    } else {
        ("#fff8e6", AMBER)
    };
    let address = format!("{}:{}", e.host, e.port);
    let line3 = if !e.up {
        format!(
            "down: {}",
            e.last_error.as_deref().unwrap_or("no answer yet")
        )
    } else {
        match (&e.expect, &e.target, e.expectation_met) {
            (Some(x), Some(t), Some(false)) => format!("→ {t}, expected {x}"),
            (Some(x), Some(t), _) => format!("→ {t} (expect {x})"),
            (_, Some(t), _) => format!("→ {t}"),
            _ => {
                let dbs = e.pgbouncer_databases.len();
                format!("{dbs} database{}", if dbs == 1 { "" } else { "s" })
            }
        }
    };
    let mut title = vec![format!("{} ({} at {address})", e.name, e.kind)];
    title.push(if e.up { "up".into() } else { "down".into() });
    if let Some(t) = &e.target {
        title.push(format!("leads to {t}"));
    }
    if let Some(p) = e.is_primary {
        title.push(if p { "writable" } else { "read-only" }.into());
    }
    if let Some(x) = &e.expect {
        title.push(format!(
            "expect {x}: {}",
            match e.expectation_met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "unknown",
            }
        ));
    }
    if let Some(d) = e.check_duration {
        title.push(format!("check took {:.0} ms", d * 1000.0));
    }
    title.extend(problems);
    if let (false, Some(err)) = (e.up, &e.last_error) {
        title.push(format!("last error: {err}"));
    }
    let _ = write!(
        out,
        r#"<g class="endpoint" data-endpoint="{}" data-kind="{}"{} data-state="{}"><title>{}</title><rect x="{}" y="{}" width="{EP_W}" height="{EP_H}" rx="20" fill="{fill}" stroke="{stroke}" stroke-width="{}"/>"#,
        esc(&e.name),
        esc(&e.kind),
        e.target
            .as_ref()
            .map(|t| format!(r#" data-target="{}""#, esc(t)))
            .unwrap_or_default(),
        health.as_str(),
        esc(&title.join("\n")),
        b.x,
        b.y,
        if health == Health::Bad { 2.5 } else { 1.5 },
    );
    let cx = b.x + EP_W / 2.0;
    let ink = if health == Health::Bad { RED } else { INK };
    text(
        out,
        (cx, b.y + 20.0),
        14,
        "bold",
        INK,
        &short(&e.name, NAME_CHARS),
    );
    text(
        out,
        (cx, b.y + 37.0),
        11,
        "normal",
        GREY,
        &short(&format!("{} {address}", e.kind), DETAIL_CHARS + 4),
    );
    text(
        out,
        (cx, b.y + 53.0),
        12,
        "normal",
        ink,
        &short(&line3, DETAIL_CHARS),
    );
    out.push_str("</g>");
}

/// A filled triangle at `tip`, pointing along `from → tip`.
fn arrowhead(out: &mut String, from: (f64, f64), tip: (f64, f64), colour: &str) {
    let (dx, dy) = (tip.0 - from.0, tip.1 - from.1);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (bx, by) = (tip.0 - ux * 10.0, tip.1 - uy * 10.0);
    let (px, py) = (-uy * 5.0, ux * 5.0);
    let _ = write!(
        out,
        r#"<polygon points="{},{} {},{} {},{}" fill="{colour}"/>"#,
        round(tip.0),
        round(tip.1),
        round(bx + px),
        round(by + py),
        round(bx - px),
        round(by - py),
    );
}

fn text(out: &mut String, (x, y): (f64, f64), size: u32, weight: &str, fill: &str, s: &str) {
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="{size}" font-weight="{weight}" fill="{fill}">{}</text>"#,
        round(x),
        round(y),
        esc(s)
    );
}

/// Coordinates to a tenth of a pixel, so that the same snapshot prints the same text.
fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// At most `max` characters, the cut marked with an ellipsis.
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).chain(['…']).collect()
    }
}

/// Seconds as "0.4 s", "42 s", "3min 20s", "2h 5min".
fn human_seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else {
        crate::ops::human_duration(s)
    }
}

/// `s` as XML character data or attribute value: the five special characters as entities, and
/// the control characters that XML 1.0 cannot carry at all (even as references) as U+FFFD.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
