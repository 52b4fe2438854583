//! The operator commands `check` (a setup doctor), `status` (the cluster at a glance) and
//! `drill` (a measured failover drill, [`drill`]).
//!
//! Both reuse the exporter's own pieces: the configuration, one [`NodePoller`] per node (the
//! same connection code and the same single SQL statement), the pure cluster view, and for a
//! cluster with `[cluster.patroni]` one pass of the Patroni source ([`source::pass_once`]),
//! its discovery (the members it lists are polled too) and its pure judgment ([`view::judge`]).
//! The findings are computed by pure functions over the polled [`NodeReport`]s and the
//! [`PatroniView`], so they are tested without a server; this file only adds the printing.
//! Front-ends (`[[cluster.endpoint]]`) are checked once, beside the nodes, and judged by the
//! same pure function as in the exporter (`sources::endpoints::judge`).

use crate::clock::unix_now;
use crate::config::{ClusterConfig, Config, NodeConfig};
use crate::core::cluster::{ClusterHistory, observe};
use crate::core::model::{ClusterView, EndpointView, NodeReport, PatroniView};
use crate::pg::poller::{NodePoller, poll_round};
use crate::sources::endpoints;
use crate::sources::patroni::source::{self, PatroniRound};
use crate::sources::patroni::view;

mod check;
mod drill;
mod status;
mod table;
#[cfg(test)]
mod tests;

pub use check::run_check;
pub use drill::{DrillArgs, DrillMode, DrillOutput, run_drill};
pub use status::{Output, run_status};
// Pure judgments and figures the landing page's topology shows as `status` does.
pub(crate) use status::{backend_problems, database_problems};
pub(crate) use table::human_duration;
use table::*;

/// One poll of a cluster: the nodes polled (static, then discovered), their reports, the
/// cluster view, and with `[cluster.patroni]` the REST pass and its judgment.
pub(crate) struct Polled {
    pub nodes: Vec<NodeConfig>,
    pub reports: Vec<NodeReport>,
    pub view: ClusterView,
    pub patroni: Option<(PatroniRound, PatroniView)>,
    /// Each `[[cluster.endpoint]]`, checked once beside the nodes' polls and judged.
    pub endpoints: Vec<EndpointView>,
}

/// Polls a cluster once: with Patroni, one REST pass first (its members are the nodes when
/// `discover` is on), then every node over SQL, then the views.
pub(crate) async fn poll_cluster(
    cluster: &ClusterConfig,
    config: &Config,
    history: &mut ClusterHistory,
) -> Polled {
    let mut memory = view::Memory::default();
    let round = match &cluster.patroni {
        Some(p) => {
            let round = source::pass_once(p).await;
            memory.update_membership(&round, unix_now(), p.forget_after);
            Some(round)
        }
        None => None,
    };
    let nodes = match &cluster.patroni {
        Some(p) if p.discover => crate::rounds::wanted_nodes(cluster, &memory),
        _ => cluster.nodes.clone(),
    };
    let checks = futures_util::future::join_all(
        cluster
            .endpoints
            .iter()
            .map(|e| endpoints::check_once(&cluster.name, e)),
    );
    let (reports, probes) = tokio::join!(poll_nodes(cluster, &nodes, config), checks);
    let now = unix_now();
    let sql = observe(history, now, &reports);
    let static_names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    let patroni = round.map(|r| {
        let v = view::judge(Some(&r), &static_names, &reports, &sql, now, &mut memory);
        (r, v)
    });
    let probes: Vec<_> = probes
        .into_iter()
        .map(|p| Some(std::sync::Arc::new(p)))
        .collect();
    let endpoints = endpoints::judge::judge(&cluster.endpoints, &probes, &reports, &sql);
    Polled {
        nodes,
        reports,
        view: sql,
        patroni,
        endpoints,
    }
}

/// Polls `nodes` once (the same connection code as the exporter).
async fn poll_nodes(
    cluster: &ClusterConfig,
    nodes: &[NodeConfig],
    config: &Config,
) -> Vec<NodeReport> {
    let mut pollers: Vec<NodePoller> = nodes
        .iter()
        .map(|n| NodePoller::new(&cluster.name, n.clone(), &config.poll))
        .collect();
    // A first connection includes TLS and authentication: allow more than one poll timeout.
    let timeout = nodes
        .iter()
        .map(|n| n.connect_timeout)
        .max()
        .unwrap_or_default()
        .max(config.poll.timeout)
        + config.poll.timeout;
    poll_round(&mut pollers, timeout).await
}
