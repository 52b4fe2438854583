//! HTTP: `/metrics` (the latest page, gzip when asked), `/healthz`, `/ready` and a landing page.
//! Handlers never talk to PostgreSQL and never render `/metrics`: the page (its clusters'
//! chunks and their gzip) is built when snapshots are published (`pages`), and a scrape copies
//! bytes: the gzip, or without gzip the chunks merged into one text. With basic auth configured
//! (see `webconfig`), every route but `/healthz` asks for credentials.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::core::model::Snapshot;
use crate::pages::Pages;
use crate::store::{BuildInfo, Store};
use crate::web::auth::{BasicAuth, require_basic_auth};
use crate::web::topology;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Arc<Store>,
    pub build: Arc<BuildInfo>,
    pub telemetry_path: String,
    /// Basic auth users, when the web configuration file has any.
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// The latest page, built when snapshots are published (see `pages`).
    pub pages: Arc<Pages>,
    /// Where `POST /-/reload` sends its request; `None` unless `--web.enable-lifecycle`.
    pub lifecycle: Option<tokio::sync::mpsc::Sender<crate::web::lifecycle::ReloadRequest>>,
    /// The address the listener is bound to: `/sd`'s target when a request has no Host.
    pub address: std::net::SocketAddr,
}

/// Whether an Accept-Encoding header admits gzip (`gzip` or `*`, without `q=0`).
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// The exporter's routes.
pub(crate) fn app(state: AppState) -> Router {
    let path = state.telemetry_path.clone();
    let auth = state.basic_auth.clone();
    let router = Router::new()
        .route(&path, get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route(
            "/-/reload",
            axum::routing::post(crate::web::lifecycle::reload),
        )
        .route("/", get(landing));
    let router = crate::web::fleet::routes(router);
    // gzip happens in one place, the /metrics handler, once per snapshot (the other pages are a
    // few hundred bytes). Outermost, so that a request without credentials costs no handler,
    // and unknown paths answer 401 rather than telling which paths exist.
    let router = match auth {
        Some(auth) => router.layer(middleware::from_fn_with_state(auth, require_basic_auth)),
        None => router,
    };
    router.with_state(state)
}

/// The Prometheus text exposition format, version 0.0.4.
pub(crate) const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics_handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Built ahead by the page builder: a scrape copies bytes, it never renders (without gzip
    // it copies the page's chunks into one text).
    let page = state.pages.current();
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
    if accepts_gzip(&headers) {
        let body = page.gzip.clone();
        let encoding = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        ([content_type, encoding, vary], body).into_response()
    } else {
        ([content_type, vary], page.plain()).into_response()
    }
}

async fn ready(State(state): State<AppState>) -> Response {
    // The page's flag, not the store's: once ready, /metrics serves every cluster's first round.
    if state.pages.current().ready {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first poll round\n",
        )
            .into_response()
    }
}

async fn landing(State(state): State<AppState>) -> Html<String> {
    let snapshot = state.store.current();
    Html(landing_page(&snapshot, &state.build, &state.telemetry_path))
}

/// The landing page: per cluster its topology (an inline SVG, no script: a reload draws the
/// latest snapshot), then one table of every node.
fn landing_page(snapshot: &Snapshot, build: &BuildInfo, telemetry_path: &str) -> String {
    let rows = landing_rows(snapshot);
    let pictures: String = snapshot
        .clusters
        .iter()
        .map(|c| {
            format!(
                "<section class=\"cluster\"><h2>{}</h2>\n{}\n</section>\n",
                escape(&c.name),
                topology::svg(c)
            )
        })
        .collect();
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>pg_replication_exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em 1em;text-align:left}}.up{{color:#080}}.down{{color:#b00}}svg.topology{{max-width:100%;height:auto}}.legend{{color:#555;font-size:.9em}}</style></head>
<body><h1>pg_replication_exporter {version}</h1>
<p><a href="{path}">Metrics</a> · <a href="/healthz">/healthz</a> · <a href="/ready">/ready</a> · <a href="/sd">/sd</a> (service discovery{probe})</p>
{pictures}<p class="legend">Arrows: replication (lag behind the primary, bytes and time), front-ends to the node they lead to. Red: something is wrong (two primaries, a node down, a standby not streaming, a front-end leading where it must not). Hover for details; reload for the latest round.</p>
<table><tr><th>cluster</th><th>node</th><th>state</th><th>role</th><th>patroni</th><th>from</th><th>last error</th></tr>
{rows}</table></body></html>
"#,
        version = escape(build.version),
        path = escape(telemetry_path),
        probe = crate::web::fleet::probe_links(snapshot),
    )
}

/// One table row per node: its SQL state and role, Patroni's role and state of the member
/// (under `[cluster.patroni]`), and where the node came from (a static `[[cluster.node]]` or
/// discovered from Patroni's `GET /cluster`).
fn landing_rows(snapshot: &Snapshot) -> String {
    let mut rows = String::new();
    for cluster in &snapshot.clusters {
        for node in &cluster.nodes {
            let role = match &node.state {
                Some(s) if s.in_recovery => "standby",
                Some(_) => "primary",
                None => "unknown",
            };
            let (status, detail) = if node.up {
                ("up", String::new())
            } else {
                ("down", node.last_error.clone().unwrap_or_default())
            };
            let member = cluster
                .patroni
                .as_ref()
                .and_then(|p| p.members.iter().find(|m| m.node == node.name));
            let patroni = match member {
                None if cluster.patroni.is_some() => "not listed".to_string(),
                None => "-".to_string(),
                Some(m) if !m.member => "gone from the DCS".to_string(),
                Some(m) => format!(
                    "{} / {}",
                    m.role.as_deref().unwrap_or("-"),
                    m.state.as_deref().unwrap_or("-")
                ),
            };
            let from = if member.is_some_and(|m| m.discovered) {
                "discovered"
            } else {
                "static"
            };
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td><td>{role}</td><td>{}</td><td>{from}</td><td>{}</td></tr>\n",
                escape(&cluster.name),
                escape(&node.name),
                escape(&patroni),
                escape(&detail)
            ));
        }
    }
    rows
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_served_when_accepted_and_not_refused() {
        let cases = [
            ("gzip", true),
            ("gzip, deflate, br", true),
            ("deflate, GZIP;q=0.5", true),
            ("*", true),
            ("identity", false),
            ("gzip;q=0", false),
            ("gzip; q=0.0, identity", false),
            ("", false),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
            assert_eq!(accepts_gzip(&headers), want, "{value:?}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn landing_rows_show_patroni_role_state_and_origin() {
        use crate::core::model::{ClusterSnapshot, NodeReport, PatroniMemberView, PatroniView};
        let member = |node: &str, discovered: bool, member: bool| PatroniMemberView {
            node: node.into(),
            discovered,
            member,
            role: Some("replica".into()),
            state: Some("streaming".into()),
            ..PatroniMemberView::default()
        };
        let snapshot = Snapshot::new(vec![
            ClusterSnapshot {
                name: "ha".into(),
                nodes: ["m1", "m2", "m3"]
                    .iter()
                    .map(|n| NodeReport::new(*n, *n))
                    .collect(),
                patroni: Some(PatroniView {
                    members: vec![member("m1", false, true), member("m2", true, false)],
                    ..PatroniView::default()
                }),
                endpoints: Vec::new(),
                view: Default::default(),
            },
            ClusterSnapshot {
                name: "plain".into(),
                nodes: vec![NodeReport::new("a", "a")],
                view: Default::default(),
                patroni: None,
                endpoints: Vec::new(),
            },
        ]);
        let rows = landing_rows(&snapshot);
        let lines: Vec<&str> = rows.lines().collect();
        assert!(
            lines[0].contains("<td>replica / streaming</td><td>static</td>"),
            "{rows}"
        );
        assert!(
            lines[1].contains("<td>gone from the DCS</td><td>discovered</td>"),
            "{rows}"
        );
        assert!(
            lines[2].contains("<td>not listed</td><td>static</td>"),
            "{rows}"
        );
        assert!(lines[3].contains("<td>-</td><td>static</td>"), "{rows}");
    }

    #[test]
    fn landing_page_escapes_server_strings() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
