//! End-to-end: the landing page's topology in a real headless Chromium against a live exporter
//! on a real primary with two standbys and a front-end that leads where it must not (the
//! primary's own port, configured `expect = "standby"`). The DOM the browser built names the
//! right nodes, roles and target, the screenshot shows red, and a reload after a standby
//! vanished draws it red.

mod harness;

use std::collections::BTreeMap;
use std::time::Instant;

use harness::{Chromium, Cluster, Exporter, Png, StopMode, WAIT};

/// The attributes of every `<g>` of the first `<svg>` in `dom` whose class list has `class`.
/// The browser's serialization of the inline SVG is parsed as XML: it must be well-formed.
fn groups(dom: &str, class: &str) -> Vec<BTreeMap<String, String>> {
    let start = dom
        .find("<svg")
        .unwrap_or_else(|| panic!("no <svg> in the DOM:\n{dom}"));
    let end = dom[start..].find("</svg>").expect("a closed <svg>") + start + "</svg>".len();
    let svg = &dom[start..end];
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("the browser's SVG is not well-formed XML: {e}\n{svg}"));
    assert_eq!(
        doc.root_element().attribute("data-cluster"),
        Some("pg"),
        "{svg}"
    );
    doc.descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split_whitespace().any(|x| x == class))
        })
        .map(|g| {
            g.attributes()
                .map(|a| (a.name().to_string(), a.value().to_string()))
                .collect()
        })
        .collect()
}

fn find<'a>(
    els: &'a [BTreeMap<String, String>],
    key: &str,
    value: &str,
) -> &'a BTreeMap<String, String> {
    els.iter()
        .find(|e| e.get(key).map(String::as_str) == Some(value))
        .unwrap_or_else(|| panic!("no element with {key}={value:?}: {els:#?}"))
}

fn attr<'a>(e: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    e.get(k)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no {k} in {e:?}"))
}

#[test]
fn landing_page_draws_the_live_topology_in_a_real_browser() {
    let chromium = Chromium::find();
    let c = Cluster::builder().standbys(2).start();
    for s in c.standbys() {
        c.wait_for_streaming(s);
    }
    let role = c.exporter_role();
    let mut toml = c.exporter_config("pg", role.user(), role.password_file());
    toml.push_str(&format!(
        "\n[[cluster.endpoint]]\nname = \"vip-ro\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\nexpect = \"standby\"\n",
        c.primary().port()
    ));
    let e = Exporter::start(&toml);
    e.wait_scrape(
        "both standbys streaming, vip-ro checked and judged",
        WAIT,
        |s| {
            ["standby1", "standby2"]
                .iter()
                .all(|n| s.get("pg_replication_standby_streaming", &[("node", n)]) == Some(1.0))
                && s.get("pg_replication_endpoint_up", &[("endpoint", "vip-ro")]) == Some(1.0)
                && s.get(
                    "pg_replication_endpoint_expectation_met",
                    &[("endpoint", "vip-ro")],
                ) == Some(0.0)
        },
    );

    let t = Instant::now();
    let dom = chromium.dump_dom(&e.url("/"));
    let dump_time = t.elapsed();
    assert!(
        dom.contains("<section class=\"cluster\"><h2>pg</h2>"),
        "{dom}"
    );
    let nodes = groups(&dom, "node");
    assert_eq!(nodes.len(), 3, "{nodes:#?}");
    for (name, role) in [
        ("primary", "primary"),
        ("standby1", "standby"),
        ("standby2", "standby"),
    ] {
        let n = find(&nodes, "data-node", name);
        assert_eq!(
            (attr(n, "data-role"), attr(n, "data-state")),
            (role, "ok"),
            "{name}"
        );
    }
    let edges = groups(&dom, "replication");
    for to in ["standby1", "standby2"] {
        let edge = find(&edges, "data-to", to);
        assert_eq!(
            (attr(edge, "data-from"), attr(edge, "data-state")),
            ("primary", "ok")
        );
    }
    let ep = find(&groups(&dom, "endpoint"), "data-endpoint", "vip-ro").clone();
    assert_eq!(
        (
            attr(&ep, "data-target"),
            attr(&ep, "data-state"),
            attr(&ep, "data-kind")
        ),
        ("primary", "bad", "postgres")
    );
    let route = find(&groups(&dom, "route"), "data-endpoint", "vip-ro").clone();
    assert_eq!(
        (attr(&route, "data-to"), attr(&route, "data-state")),
        ("primary", "bad")
    );

    // What it drew: a real PNG of the window's size, with red in it (the endpoint).
    let dir = tempfile::tempdir().unwrap();
    let png_path = dir.path().join("landing.png");
    let t = Instant::now();
    chromium.screenshot(&e.url("/"), &png_path, (1200, 800));
    let shot_time = t.elapsed();
    let bytes = std::fs::read(&png_path).unwrap();
    assert!(bytes.len() > 10_000, "a {} byte screenshot", bytes.len());
    let png = Png::decode(&bytes);
    assert_eq!((png.width, png.height), (1200, 800));
    let red = png.count(|r, g, b| r > 170 && g < 80 && b < 80);
    let white = png.count(|r, g, b| r > 240 && g > 240 && b > 240);
    assert!(red > 200, "{red} red pixels");
    assert!(
        white > png.rgba.len() / 3,
        "a page, not a blank or black window: {white} white pixels"
    );

    // standby2 vanishes: a reload draws it red, under the primary with a broken arrow.
    c.standby(2).stop(StopMode::Immediate);
    c.wait_for("the primary to stop listing standby2", WAIT, || {
        c.primary()
            .try_query_one(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby2'",
            )
            .is_some_and(|r| r.get::<_, i64>(0) == 0)
    });
    e.wait_scrape("standby2 down and not streaming", WAIT, |s| {
        s.get("pg_replication_up", &[("node", "standby2")]) == Some(0.0)
            && s.get("pg_replication_standby_streaming", &[("node", "standby2")]) == Some(0.0)
    });
    // A snapshot polled after the primary stopped listing it.
    e.fresh_scrape();
    let dom = chromium.dump_dom(&e.url("/"));
    let gone = find(&groups(&dom, "node"), "data-node", "standby2").clone();
    assert_eq!(
        (attr(&gone, "data-role"), attr(&gone, "data-state")),
        ("down", "bad")
    );
    let edge = find(&groups(&dom, "replication"), "data-to", "standby2").clone();
    assert_eq!(
        (
            attr(&edge, "class"),
            attr(&edge, "data-from"),
            attr(&edge, "data-state")
        ),
        ("edge replication missing", "primary", "bad")
    );
    let s1 = find(&groups(&dom, "node"), "data-node", "standby1").clone();
    assert_eq!(attr(&s1, "data-state"), "ok");
    eprintln!("chromium: --dump-dom {dump_time:?}, --screenshot {shot_time:?}");
}
