//! The fleet's routes (SPEC §11): `GET /probe?cluster=NAME`, one owned cluster's families, and
//! `GET /sd`, Prometheus HTTP service discovery of the owned clusters pointing at `/probe`.
//! Both read the same snapshot as `/metrics` and sit behind the same basic auth.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::core::model::Snapshot;
use crate::fleet::sd::{PROBE_PATH, target_groups};
use crate::pages::gzip;
use crate::render;
use crate::web::server::{AppState, TEXT_FORMAT, accepts_gzip, escape};

/// `/probe` and `/sd` added to the exporter's routes (before its auth layer).
pub(crate) fn routes(router: Router<AppState>) -> Router<AppState> {
    router.route(PROBE_PATH, get(probe)).route("/sd", get(sd))
}

#[derive(Deserialize)]
struct ProbeParams {
    cluster: Option<String>,
}

async fn probe(
    State(state): State<AppState>,
    Query(params): Query<ProbeParams>,
    headers: HeaderMap,
) -> Response {
    let Some(name) = params.cluster.filter(|c| !c.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            "missing the cluster parameter: GET /probe?cluster=NAME\n",
        )
            .into_response();
    };
    let snapshot = state.store.current();
    let Some(text) = render::render_cluster(&snapshot, &state.build, &name) else {
        return (StatusCode::NOT_FOUND, not_polled(&snapshot, &name)).into_response();
    };
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
    if accepts_gzip(&headers) {
        let encoding = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        ([content_type, encoding, vary], gzip(text.as_bytes())).into_response()
    } else {
        ([content_type, vary], text).into_response()
    }
}

/// Why `/probe` has no page for `name`: another shard owns it, or no such cluster is configured.
fn not_polled(snapshot: &Snapshot, name: &str) -> String {
    let shard = &snapshot.exporter.shard;
    if shard.skipped.iter().any(|s| s == name) {
        format!(
            "cluster {name:?} belongs to another shard: this exporter is shard {} of {} (hashmod of the cluster name)\n",
            shard.index, shard.count
        )
    } else {
        format!("no cluster {name:?} in this exporter's configuration\n")
    }
}

async fn sd(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let snapshot = state.store.current();
    let address = request_authority(&headers, &uri).unwrap_or_else(|| state.address.to_string());
    let groups = target_groups(snapshot.clusters.iter().map(|c| c.name.as_str()), &address);
    let body = serde_json::to_string(&groups).expect("target groups serialize");
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The host[:port] the client addressed (Host, or the URI's authority for HTTP/2), when it is a
/// plain authority: Prometheus then scrapes `/probe` where it reached `/sd`.
fn request_authority(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))?;
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
    plain.then_some(host)
}

/// The landing page's pointer to `/probe`, with the first owned cluster as the example.
pub(crate) fn probe_links(snapshot: &Snapshot) -> String {
    match snapshot.clusters.first() {
        Some(c) => {
            let href = format!("{PROBE_PATH}?cluster={}", percent_encode(&c.name));
            format!(
                "; one cluster's metrics: <a href=\"{0}\">{0}</a>",
                escape(&href)
            )
        }
        None => String::new(),
    }
}

/// A query-string value: everything but RFC 3986's unreserved characters percent-encoded.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::ShardView;

    #[test]
    fn sd_targets_the_authority_the_client_used() {
        let uri: Uri = "/sd".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(request_authority(&h, &uri), None);
        h.insert(
            header::HOST,
            HeaderValue::from_static("exporter-1.pg:10187"),
        );
        assert_eq!(
            request_authority(&h, &uri).as_deref(),
            Some("exporter-1.pg:10187")
        );
        h.insert(header::HOST, HeaderValue::from_static("[::1]:9"));
        assert_eq!(request_authority(&h, &uri).as_deref(), Some("[::1]:9"));
        // Not an authority: the listen address is used instead.
        h.insert(header::HOST, HeaderValue::from_static("a b/<c>"));
        assert_eq!(request_authority(&h, &uri), None);
        let h2: Uri = "http://10.0.0.1:10187/sd".parse().unwrap();
        assert_eq!(
            request_authority(&HeaderMap::new(), &h2).as_deref(),
            Some("10.0.0.1:10187")
        );
    }

    #[test]
    fn probe_404_says_whether_another_shard_owns_the_cluster() {
        let mut snapshot = Snapshot::default();
        snapshot.exporter.shard = ShardView {
            index: 1,
            count: 3,
            skipped: vec!["theirs".into()],
        };
        assert_eq!(
            not_polled(&snapshot, "theirs"),
            "cluster \"theirs\" belongs to another shard: this exporter is shard 1 of 3 (hashmod of the cluster name)\n"
        );
        assert_eq!(
            not_polled(&snapshot, "x\"<"),
            "no cluster \"x\\\"<\" in this exporter's configuration\n"
        );
    }

    #[test]
    fn probe_link_is_encoded_and_escaped() {
        assert_eq!(percent_encode("a b&c/ü"), "a%20b%26c%2F%C3%BC");
        assert_eq!(probe_links(&Snapshot::default()), "");
    }
}
