//! Prometheus HTTP service discovery (`http_sd_configs`): one target group per owned cluster,
//! all pointing at this exporter's `/probe` with the cluster as a URL parameter, so Prometheus
//! scrapes each cluster as a target of its own (its own `up`, scrape duration and timeout).

use std::collections::BTreeMap;

use serde::Serialize;

/// The path `/sd` targets are scraped under.
pub const PROBE_PATH: &str = "/probe";

/// One entry of the HTTP SD list: `{"targets": [...], "labels": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// One group per cluster in `clusters` (in that order), each with the one target `address`
/// (host:port this exporter is reached at), `__metrics_path__` = `/probe`,
/// `__param_cluster` = the name, and a `cluster` label.
pub fn target_groups<'a>(
    clusters: impl IntoIterator<Item = &'a str>,
    address: &str,
) -> Vec<TargetGroup> {
    clusters
        .into_iter()
        .map(|name| TargetGroup {
            targets: vec![address.to_owned()],
            labels: BTreeMap::from([
                ("__metrics_path__".to_owned(), PROBE_PATH.to_owned()),
                ("__param_cluster".to_owned(), name.to_owned()),
                ("cluster".to_owned(), name.to_owned()),
            ]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_group_per_cluster_in_prometheus_http_sd_shape() {
        let groups = target_groups(["a", "b \"c\""], "exporter-1:10187");
        let json = serde_json::to_string(&groups).unwrap();
        assert_eq!(
            json,
            r#"[{"targets":["exporter-1:10187"],"labels":{"__metrics_path__":"/probe","__param_cluster":"a","cluster":"a"}},{"targets":["exporter-1:10187"],"labels":{"__metrics_path__":"/probe","__param_cluster":"b \"c\"","cluster":"b \"c\""}}]"#
        );
        assert_eq!(
            serde_json::to_string(&target_groups([], "x:1")).unwrap(),
            "[]"
        );
    }
}
