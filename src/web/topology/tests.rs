//! Table tests of the topology picture: every SVG is parsed as XML (well-formed, and the
//! attributes read back are the names that went in), and the assertions read the data
//! attributes the module doc promises.

use std::collections::BTreeMap;

use super::*;
use crate::core::lsn::Lsn;
use crate::core::model::{
    ClusterView, NodeState, PgbouncerDatabaseView, PgpoolBackendView, Walsender,
};

const MIB: u64 = 1 << 20;

fn primary(name: &str, standbys: &[&str]) -> NodeReport {
    let mut n = NodeReport::new(name, name);
    n.up = true;
    n.state = Some(NodeState {
        in_recovery: false,
        timeline_id: Some(1),
        wal_lsn: Some(Lsn(0x3000060)),
        walsenders: standbys
            .iter()
            .map(|s| Walsender {
                application_name: s.to_string(),
                state: Some("streaming".into()),
                sync_state: Some("async".into()),
                ..Walsender::default()
            })
            .collect(),
        ..NodeState::default()
    });
    n
}

fn standby(name: &str, cascades: &[&str]) -> NodeReport {
    let mut n = primary(name, cascades);
    n.state.as_mut().unwrap().in_recovery = true;
    n
}

fn down(name: &str) -> NodeReport {
    let mut n = NodeReport::new(name, name);
    n.last_error = Some("connect to x (host=127.0.0.1 port=1): connection refused".into());
    n
}

fn streaming(node: &str, lag_bytes: u64, lag_seconds: f64) -> StandbyView {
    StandbyView {
        node: node.into(),
        streaming: Some(true),
        lag_bytes: Some(lag_bytes),
        lag_seconds: Some(lag_seconds),
    }
}

fn cluster(nodes: Vec<NodeReport>, standbys: Vec<StandbyView>) -> ClusterSnapshot {
    let primaries = nodes
        .iter()
        .filter(|n| n.up && n.state.as_ref().is_some_and(|s| !s.in_recovery))
        .count() as u32;
    ClusterSnapshot {
        name: "pg".into(),
        view: ClusterView {
            primaries,
            nodes_up: nodes.iter().filter(|n| n.up).count() as u32,
            nodes_configured: nodes.len() as u32,
            standbys,
            rpo_bytes: Some(0),
            is_standby_cluster: Some(false),
            ..ClusterView::default()
        },
        nodes,
        patroni: None,
        endpoints: Vec::new(),
    }
}

fn healthy() -> ClusterSnapshot {
    cluster(
        vec![
            primary("primary", &["standby1", "standby2"]),
            standby("standby1", &[]),
            standby("standby2", &[]),
        ],
        vec![
            streaming("standby1", 0, 0.0),
            streaming("standby2", 600 * MIB, 42.0),
        ],
    )
}

fn vip(name: &str, target: &str, expect: &str, met: bool) -> EndpointView {
    EndpointView {
        name: name.into(),
        kind: "postgres".into(),
        host: "10.0.0.100".into(),
        port: 5432,
        expect: Some(expect.into()),
        up: true,
        target: Some(target.into()),
        is_primary: Some(target == "primary"),
        expectation_met: Some(met),
        ..EndpointView::default()
    }
}

/// One drawn element: its tag's attributes, and the text of its `<title>`.
#[derive(Debug)]
struct El {
    attrs: BTreeMap<String, String>,
    title: String,
    /// The `d` of its path, the `points` of its polygons, the rect's box.
    path: Option<String>,
    rect: Option<(f64, f64, f64, f64)>,
    texts: Vec<String>,
    strokes: Vec<String>,
}

impl El {
    fn get(&self, k: &str) -> &str {
        self.attrs
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {k} in {self:?}"))
    }
}

/// Parses `svg` as XML (panicking with the text when it is not well-formed) and returns the
/// groups whose class list has `class`.
fn elements(svg: &str, class: &str) -> Vec<El> {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    root.descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split_whitespace().any(|x| x == class))
        })
        .map(|g| {
            let kids = || g.children().filter(|c| c.is_element());
            let attr_f =
                |n: roxmltree::Node, k: &str| -> f64 { n.attribute(k).unwrap().parse().unwrap() };
            El {
                attrs: g
                    .attributes()
                    .map(|a| (a.name().to_string(), a.value().to_string()))
                    .collect(),
                title: kids()
                    .find(|c| c.has_tag_name("title"))
                    .and_then(|t| t.text())
                    .unwrap_or_default()
                    .to_string(),
                path: kids()
                    .find(|c| c.has_tag_name("path"))
                    .and_then(|p| p.attribute("d"))
                    .map(str::to_string),
                rect: kids().find(|c| c.has_tag_name("rect")).map(|r| {
                    (
                        attr_f(r, "x"),
                        attr_f(r, "y"),
                        attr_f(r, "width"),
                        attr_f(r, "height"),
                    )
                }),
                texts: kids()
                    .filter(|c| c.has_tag_name("text"))
                    .map(|t| t.text().unwrap_or_default().to_string())
                    .collect(),
                strokes: kids()
                    .filter_map(|c| c.attribute("stroke").or(c.attribute("fill")))
                    .map(str::to_string)
                    .collect(),
            }
        })
        .collect()
}

fn by<'a>(els: &'a [El], key: &str, value: &str) -> &'a El {
    els.iter()
        .find(|e| e.attrs.get(key).map(String::as_str) == Some(value))
        .unwrap_or_else(|| panic!("no element with {key}={value:?} in {els:#?}"))
}

/// (node, role, state) of every node, in drawing order.
fn nodes(svg: &str) -> Vec<(String, String, String)> {
    elements(svg, "node")
        .iter()
        .map(|e| {
            (
                e.get("data-node").to_string(),
                e.get("data-role").to_string(),
                e.get("data-state").to_string(),
            )
        })
        .collect()
}

fn triple(n: &str, r: &str, s: &str) -> (String, String, String) {
    (n.into(), r.into(), s.into())
}

#[test]
fn healthy_three_nodes_primary_on_top_two_streaming_arrows_with_lag() {
    let c = healthy();
    let svg = svg(&c);
    assert_eq!(
        nodes(&svg),
        [
            triple("primary", "primary", "ok"),
            triple("standby1", "standby", "ok"),
            triple("standby2", "standby", "ok"),
        ]
    );
    let edges = elements(&svg, "replication");
    assert_eq!(edges.len(), 2, "{edges:#?}");
    for (to, lag, texts) in [
        ("standby1", "ok", vec!["0 B", "0.0 s"]),
        ("standby2", "warning", vec!["600.0 MiB", "42 s"]),
    ] {
        let e = by(&edges, "data-to", to);
        assert_eq!(e.get("class"), "edge replication");
        assert_eq!(e.get("data-from"), "primary");
        assert_eq!(e.get("data-state"), "ok");
        assert_eq!(e.get("data-lag"), lag);
        assert_eq!(e.texts, texts);
        assert!(
            e.title
                .starts_with(&format!("primary → {to}: streaming (async)")),
            "{}",
            e.title
        );
    }
    // The primary's row is above its standbys', centred over them.
    let boxes = elements(&svg, "node");
    let r = |name: &str| by(&boxes, "data-node", name).rect.unwrap();
    assert!(r("primary").1 + r("primary").3 < r("standby1").1);
    assert_eq!(r("standby1").1, r("standby2").1);
    assert_eq!(
        r("primary").0 + r("primary").2 / 2.0,
        (r("standby1").0 + r("standby2").0 + r("standby2").2) / 2.0
    );
    let summary = &elements(&svg, "summary")[0];
    assert_eq!(summary.get("data-state"), "ok");
    assert_eq!(summary.texts, ["1 primary · 3/3 nodes up · RPO 0 B"]);
    assert!(!svg.contains(RED), "nothing is red in a healthy cluster");
    assert_eq!(
        svg,
        super::svg(&c),
        "the same snapshot draws the same picture"
    );
}

#[test]
fn two_primaries_are_both_red() {
    let c = cluster(
        vec![primary("a", &["c"]), primary("b", &[]), standby("c", &[])],
        vec![streaming("c", 0, 0.0)],
    );
    let svg = svg(&c);
    assert_eq!(
        nodes(&svg),
        [
            triple("a", "primary", "bad"),
            triple("b", "primary", "bad"),
            triple("c", "standby", "ok"),
        ]
    );
    let els = elements(&svg, "node");
    for name in ["a", "b"] {
        let e = by(&els, "data-node", name);
        assert!(e.strokes.iter().any(|s| s == RED), "{e:?}");
        assert_eq!(e.texts[1], "primary · split brain");
    }
    // Both on the top row, c under the one that lists it.
    assert_eq!(
        by(&els, "data-node", "a").rect.unwrap().1,
        by(&els, "data-node", "b").rect.unwrap().1
    );
    let edges = elements(&svg, "replication");
    assert_eq!(edges.len(), 1);
    assert_eq!(
        (edges[0].get("data-from"), edges[0].get("data-to")),
        ("a", "c")
    );
    let summary = &elements(&svg, "summary")[0];
    assert_eq!(summary.get("data-state"), "bad");
    assert!(
        summary.texts[0].contains("SPLIT BRAIN: 2 primaries"),
        "{summary:?}"
    );
}

#[test]
fn a_vanished_standby_is_red_with_a_dashed_arrow_from_the_primary() {
    let mut c = cluster(
        vec![
            primary("primary", &["standby1"]),
            standby("standby1", &[]),
            down("standby2"),
        ],
        vec![
            streaming("standby1", 0, 0.0),
            StandbyView {
                node: "standby2".into(),
                streaming: Some(false),
                ..StandbyView::default()
            },
        ],
    );
    let svg = svg(&c);
    assert_eq!(nodes(&svg)[2], triple("standby2", "down", "bad"));
    let els = elements(&svg, "node");
    let gone = by(&els, "data-node", "standby2");
    assert!(gone.title.contains("connection refused"), "{}", gone.title);
    let edges = elements(&svg, "replication");
    let e = by(&edges, "data-to", "standby2");
    assert_eq!(e.get("class"), "edge replication missing");
    assert_eq!(
        (e.get("data-from"), e.get("data-state")),
        ("primary", "bad")
    );
    assert_eq!(e.texts, ["not streaming"]);
    assert_eq!(elements(&svg, "summary")[0].get("data-state"), "bad");

    // Up but not listed and not streaming: still red; fed from the archive by design: not.
    c.nodes[2] = standby("standby2", &[]);
    c.view.nodes_up = 3;
    let svg2 = super::svg(&c);
    assert_eq!(nodes(&svg2)[2], triple("standby2", "standby", "bad"));
    c.nodes[2].expect_streaming = false;
    let svg3 = super::svg(&c);
    assert_eq!(nodes(&svg3)[2], triple("standby2", "standby", "ok"));
    let e = by(&elements(&svg3, "replication"), "data-to", "standby2")
        .get("data-state")
        .to_string();
    assert_eq!(e, "ok");
}

#[test]
fn a_vip_that_leads_where_it_must_not_is_a_red_arrow_to_the_node_it_leads_to() {
    let mut c = healthy();
    c.endpoints = vec![
        vip("vip-rw", "primary", "primary", true),
        vip("vip-ro", "primary", "standby", false),
        EndpointView {
            name: "vip-gone".into(),
            kind: "postgres".into(),
            host: "10.0.0.102".into(),
            port: 5432,
            last_error: Some("connect: timeout".into()),
            ..EndpointView::default()
        },
    ];
    let svg = svg(&c);
    let eps = elements(&svg, "endpoint");
    let ro = by(&eps, "data-endpoint", "vip-ro");
    assert_eq!(
        (
            ro.get("data-target"),
            ro.get("data-state"),
            ro.get("data-kind")
        ),
        ("primary", "bad", "postgres")
    );
    assert_eq!(
        ro.texts,
        [
            "vip-ro",
            "postgres 10.0.0.100:5432",
            "→ primary, expected standby"
        ]
    );
    let rw = by(&eps, "data-endpoint", "vip-rw");
    assert_eq!(
        (rw.get("data-target"), rw.get("data-state")),
        ("primary", "ok")
    );
    let gone = by(&eps, "data-endpoint", "vip-gone");
    assert_eq!(
        gone.get("data-state"),
        "bad",
        "a front-end that does not answer is wrong"
    );
    assert!(!gone.attrs.contains_key("data-target"));

    let routes = elements(&svg, "route");
    assert_eq!(
        routes.len(),
        2,
        "no arrow from a front-end that leads nowhere"
    );
    let bad = by(&routes, "data-endpoint", "vip-ro");
    assert_eq!(
        (bad.get("data-to"), bad.get("data-state")),
        ("primary", "bad")
    );
    assert!(bad.strokes.iter().all(|s| s == RED), "{bad:?}");
    assert_eq!(
        bad.title,
        "vip-ro leads to primary: expected standby, it is not"
    );
    assert_eq!(
        by(&routes, "data-endpoint", "vip-rw").get("data-state"),
        "ok"
    );
    // The red arrow is drawn last, on top of the others.
    assert_eq!(routes.last().unwrap().get("data-endpoint"), "vip-ro");
    // The arrow ends on the top of the primary's box.
    let p = by(&elements(&svg, "node"), "data-node", "primary")
        .rect
        .unwrap();
    let d = bad.path.as_deref().unwrap();
    let (x, y) = last_point(d);
    assert!(
        p.0 < x && x < p.0 + p.2 && y < p.1 && y > p.1 - 10.0,
        "{d} vs {p:?}"
    );
}

#[test]
fn pgpool_backends_and_pgbouncer_databases_get_an_arrow_each() {
    let mut c = healthy();
    c.endpoints = vec![
        EndpointView {
            name: "pool".into(),
            kind: "pgpool".into(),
            host: "127.0.0.1".into(),
            port: 9999,
            expect: Some("primary".into()),
            up: true,
            target: Some("primary".into()),
            expectation_met: Some(true),
            pgpool_backends: vec![
                PgpoolBackendView {
                    node: "primary".into(),
                    listed: true,
                    status: Some("up".into()),
                    role: Some("primary".into()),
                    role_correct: Some(true),
                    ..PgpoolBackendView::default()
                },
                PgpoolBackendView {
                    node: "standby1".into(),
                    listed: true,
                    status: Some("up".into()),
                    role: Some("primary".into()),
                    role_correct: Some(false),
                    ..PgpoolBackendView::default()
                },
                PgpoolBackendView {
                    node: "10.0.0.9:5432".into(),
                    listed: true,
                    status: Some("down".into()),
                    role: Some("standby".into()),
                    ..PgpoolBackendView::default()
                },
            ],
            ..EndpointView::default()
        },
        EndpointView {
            name: "bouncer".into(),
            kind: "pgbouncer".into(),
            host: "127.0.0.1".into(),
            port: 6432,
            up: true,
            pgbouncer_databases: vec![
                PgbouncerDatabaseView {
                    database: "app_rw".into(),
                    node: Some("primary".into()),
                    expect: Some("primary".into()),
                    expectation_met: Some(true),
                    ..PgbouncerDatabaseView::default()
                },
                PgbouncerDatabaseView {
                    database: "app_ro".into(),
                    node: Some("primary".into()),
                    expect: Some("standby".into()),
                    expectation_met: Some(false),
                    ..PgbouncerDatabaseView::default()
                },
                PgbouncerDatabaseView {
                    database: "pgbouncer".into(),
                    node: None,
                    ..PgbouncerDatabaseView::default()
                },
            ],
            ..EndpointView::default()
        },
    ];
    let svg = svg(&c);
    let backends = elements(&svg, "backend");
    let state = |to: &str| by(&backends, "data-to", to).get("data-state").to_string();
    assert_eq!(backends.len(), 3);
    assert_eq!(state("primary"), "ok");
    assert_eq!(state("standby1"), "bad", "pgpool calls a standby primary");
    assert_eq!(state("10.0.0.9:5432"), "unknown");
    assert!(
        by(&backends, "data-to", "standby1")
            .title
            .contains("pgpool calls standby1 primary; it is a standby")
    );
    assert_eq!(by(&backends, "data-to", "standby1").texts, ["primary · up"]);
    let external = elements(&svg, "external");
    assert_eq!(external.len(), 1);
    assert_eq!(external[0].get("data-node"), "10.0.0.9:5432");

    let dbs = elements(&svg, "database");
    assert_eq!(
        dbs.len(),
        2,
        "no arrow for a database that routes to no host"
    );
    let ro = by(&dbs, "data-database", "app_ro");
    assert_eq!(
        (
            ro.get("data-to"),
            ro.get("data-state"),
            ro.get("data-endpoint")
        ),
        ("primary", "bad", "bouncer")
    );
    assert_eq!(by(&dbs, "data-database", "app_rw").get("data-state"), "ok");
    let eps = elements(&svg, "endpoint");
    assert_eq!(by(&eps, "data-endpoint", "pool").get("data-state"), "bad");
    assert_eq!(
        by(&eps, "data-endpoint", "bouncer").get("data-state"),
        "bad"
    );
    assert!(
        !by(&eps, "data-endpoint", "bouncer")
            .attrs
            .contains_key("data-target")
    );
    no_arrow_crosses_a_box(&svg);
}

#[test]
fn a_cascade_hangs_under_its_upstream_standby() {
    let c = cluster(
        vec![
            primary("a", &["b"]),
            standby("b", &["c"]),
            standby("c", &[]),
        ],
        vec![
            streaming("b", 0, 0.0),
            streaming("c", 2 * CRIT_BYTES, 4000.0),
        ],
    );
    let svg = svg(&c);
    let boxes = elements(&svg, "node");
    let y = |n: &str| by(&boxes, "data-node", n).rect.unwrap().1;
    assert!(y("a") < y("b") && y("b") < y("c"));
    let edges = elements(&svg, "replication");
    let e = by(&edges, "data-to", "c");
    assert_eq!((e.get("data-from"), e.get("data-lag")), ("b", "critical"));
    assert_eq!(e.texts, ["2.0 GiB", "1h 6min 40s"]);
}

#[test]
fn hostile_names_are_escaped_and_read_back_whole() {
    let evil = "<script>alert('x')</script>&\"";
    let mut c = cluster(
        vec![primary(evil, &["s\u{1}b"]), standby("s\u{1}b", &[])],
        vec![streaming("s\u{1}b", 0, 0.0)],
    );
    c.name = "pg\"><img src=x>".into();
    c.endpoints = vec![vip("ep&<>", evil, "standby", false)];
    c.nodes[0].last_error = Some("]]> <!-- --> &#0;".into());
    let svg = svg(&c);
    assert!(!svg.contains("<script"), "{svg}");
    assert!(!svg.contains("<img"), "{svg}");
    let names: Vec<String> = nodes(&svg).into_iter().map(|n| n.0).collect();
    assert_eq!(
        names,
        [evil.to_string(), "s\u{FFFD}b".to_string()],
        "control characters become U+FFFD"
    );
    let ep = &elements(&svg, "endpoint")[0];
    assert_eq!(
        (ep.get("data-endpoint"), ep.get("data-target")),
        ("ep&<>", evil)
    );
    let root = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(
        root.root_element().attribute("data-cluster"),
        Some("pg\"><img src=x>")
    );
    // A long name is shortened on the picture and whole in the hover text.
    let mut c = healthy();
    c.nodes[1].name = "a-very-long-node-name-from-discovery-0001".into();
    c.view.standbys[0].node = c.nodes[1].name.clone();
    let svg = super::svg(&c);
    let e = by(
        &elements(&svg, "node"),
        "data-node",
        "a-very-long-node-name-from-discovery-0001",
    )
    .texts[0]
        .clone();
    assert_eq!(e.chars().count(), NAME_CHARS);
    assert!(e.ends_with('…'));
}

#[test]
fn no_primary_and_every_node_down_draws_one_red_row() {
    let c = cluster(vec![down("a"), down("b")], Vec::new());
    let svg = svg(&c);
    assert_eq!(
        nodes(&svg),
        [triple("a", "down", "bad"), triple("b", "down", "bad")]
    );
    let boxes = elements(&svg, "node");
    assert_eq!(boxes[0].rect.unwrap().1, boxes[1].rect.unwrap().1);
    assert!(elements(&svg, "replication").is_empty());
    assert!(elements(&svg, "summary")[0].texts[0].contains("no primary"));
}

#[test]
fn many_front_ends_on_every_row_never_cross_a_box() {
    let mut c = cluster(
        vec![
            primary("a", &["b", "c", "d"]),
            standby("b", &["e"]),
            standby("c", &[]),
            standby("d", &[]),
            standby("e", &[]),
        ],
        ["b", "c", "d", "e"]
            .iter()
            .map(|n| streaming(n, 0, 0.0))
            .collect(),
    );
    c.endpoints = ["a", "b", "c", "d", "e", "e", "c", "a"]
        .iter()
        .enumerate()
        .map(|(i, t)| vip(&format!("ep{i}"), t, "any", i % 3 != 0))
        .collect();
    let svg = svg(&c);
    assert_eq!(elements(&svg, "route").len(), 8);
    no_arrow_crosses_a_box(&svg);
}

/// The module doc's promise: each front-end arrow (axis-parallel segments) stays out of every
/// node's and front-end's box, and ends just above its target.
fn no_arrow_crosses_a_box(svg: &str) {
    let boxes: Vec<(f64, f64, f64, f64)> = ["node", "external", "endpoint"]
        .iter()
        .flat_map(|c| elements(svg, c))
        .map(|e| e.rect.unwrap())
        .collect();
    for class in ["route", "backend", "database"] {
        for e in elements(svg, class) {
            let d = e.path.as_deref().unwrap();
            let points = path_points(d);
            for w in points.windows(2) {
                let (x0, x1) = (w[0].0.min(w[1].0), w[0].0.max(w[1].0));
                let (y0, y1) = (w[0].1.min(w[1].1), w[0].1.max(w[1].1));
                for b in &boxes {
                    let inside_x = x1 > b.0 + 0.5 && x0 < b.0 + b.2 - 0.5;
                    let inside_y = y1 > b.1 + 0.5 && y0 < b.1 + b.3 - 0.5;
                    assert!(
                        !(inside_x && inside_y),
                        "{class} {:?}: {d} crosses box {b:?}",
                        e.attrs
                    );
                }
            }
        }
    }
}

/// The corners of a path of the form `M x y H x V y H x V y`.
fn path_points(d: &str) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut at = (0.0, 0.0);
    let mut parts = d.split_whitespace();
    while let Some(p) = parts.next() {
        let (cmd, v) = p.split_at(1);
        let v: f64 = v.parse().unwrap_or_else(|_| panic!("{d}"));
        match cmd {
            "M" => at = (v, parts.next().unwrap().parse().unwrap()),
            "H" => at.0 = v,
            "V" => at.1 = v,
            _ => panic!("unexpected {cmd} in {d}"),
        }
        points.push(at);
    }
    points
}

fn last_point(d: &str) -> (f64, f64) {
    *path_points(d).last().unwrap()
}

#[test]
fn xml_escape_covers_the_special_and_the_control_characters() {
    assert_eq!(esc("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    assert_eq!(esc("x\u{0}y\u{1b}z\u{FFFF}"), "x\u{FFFD}y\u{FFFD}z\u{FFFD}");
    assert_eq!(esc("l1\nl2\tl3\r"), "l1&#10;l2 l3 ");
    assert_eq!(esc("é → ü"), "é → ü");
}

#[test]
fn lag_seconds_read_as_people_say_them() {
    assert_eq!(human_seconds(0.0), "0.0 s");
    assert_eq!(human_seconds(9.94), "9.9 s");
    assert_eq!(human_seconds(42.4), "42 s");
    assert_eq!(human_seconds(200.0), "3min 20s");
}

#[test]
fn a_synchronous_standby_says_so_on_its_arrow_and_a_catching_up_one_too() {
    let mut c = healthy();
    let ws = &mut c.nodes[0].state.as_mut().unwrap().walsenders;
    ws[0].sync_state = Some("quorum".into());
    ws[1].state = Some("catchup".into());
    c.view.standbys[1].streaming = Some(false);
    let svg = svg(&c);
    let edges = elements(&svg, "replication");
    assert_eq!(
        by(&edges, "data-to", "standby1").texts,
        ["quorum", "0 B", "0.0 s"]
    );
    let catchup = by(&edges, "data-to", "standby2");
    assert_eq!(catchup.texts, ["catchup", "600.0 MiB", "42 s"]);
    assert_eq!(
        (catchup.get("class"), catchup.get("data-state")),
        ("edge replication", "bad")
    );
}
