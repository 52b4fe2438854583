//! The operator commands `check` (a setup doctor) and `status` (the cluster at a glance).
//!
//! Both reuse the exporter's own pieces: the configuration, one [`NodePoller`] per node (the
//! same connection code and the same single SQL statement), and the pure cluster view. The
//! findings are computed by pure functions over the polled [`NodeReport`]s, so they are tested
//! without a server; this file only adds the printing.

use crate::config::{ClusterConfig, Config};
use crate::core::model::NodeReport;
use crate::pg::poller::{NodePoller, poll_round};

mod check;
mod status;
mod table;
#[cfg(test)]
mod tests;

pub use check::run_check;
pub use status::{Output, run_status};
use table::*;

/// Polls every node of a cluster once (the same connection code as the exporter).
pub(crate) async fn poll_once(cluster: &ClusterConfig, config: &Config) -> Vec<NodeReport> {
    let mut pollers: Vec<NodePoller> = cluster
        .nodes
        .iter()
        .map(|n| NodePoller::new(&cluster.name, n.clone(), &config.poll))
        .collect();
    // A first connection includes TLS and authentication: allow more than one poll timeout.
    let timeout = cluster
        .nodes
        .iter()
        .map(|n| n.connect_timeout)
        .max()
        .unwrap_or_default()
        .max(config.poll.timeout)
        + config.poll.timeout;
    poll_round(&mut pollers, timeout).await
}
