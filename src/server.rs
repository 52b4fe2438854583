//! HTTP: `/metrics` (rendered from the latest snapshot, gzip when asked), `/healthz`, `/ready`
//! and a landing page. Handlers never talk to PostgreSQL; a scrape costs one render. With basic
//! auth configured (see `webconfig`), every route but `/healthz` asks for credentials.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;

use crate::metrics::{self, BuildInfo};
use crate::poller::Store;
use crate::webconfig::{BasicAuth, require_basic_auth};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub build: Arc<BuildInfo>,
    pub telemetry_path: String,
    /// Basic auth users, when the web configuration file has any.
    pub basic_auth: Option<Arc<BasicAuth>>,
}

/// The exporter's routes.
pub fn app(state: AppState) -> Router {
    let path = state.telemetry_path.clone();
    let auth = state.basic_auth.clone();
    let router = Router::new()
        .route(&path, get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/", get(landing))
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .no_br()
                .no_deflate()
                .no_zstd(),
        );
    // Outermost, so that a request without credentials costs no handler and no compression,
    // and unknown paths answer 401 rather than telling which paths exist.
    let router = match auth {
        Some(auth) => router.layer(middleware::from_fn_with_state(auth, require_basic_auth)),
        None => router,
    };
    router.with_state(state)
}

/// The Prometheus text exposition format, version 0.0.4.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics_handler(State(state): State<AppState>) -> Response {
    let snapshot = state.store.current();
    let body = metrics::render(&snapshot, &state.build);
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.store.ready() {
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
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td><td>{role}</td><td>{}</td></tr>\n",
                escape(&cluster.name),
                escape(&node.name),
                escape(&detail)
            ));
        }
    }
    Html(format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>pg_replication_exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em 1em;text-align:left}}.up{{color:#080}}.down{{color:#b00}}</style></head>
<body><h1>pg_replication_exporter {version}</h1>
<p><a href="{path}">Metrics</a> · <a href="/healthz">/healthz</a> · <a href="/ready">/ready</a></p>
<table><tr><th>cluster</th><th>node</th><th>state</th><th>role</th><th>last error</th></tr>
{rows}</table></body></html>
"#,
        version = escape(state.build.version),
        path = escape(&state.telemetry_path),
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn landing_page_escapes_server_strings() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
