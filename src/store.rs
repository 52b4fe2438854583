//! The one thing the pollers and HTTP share: the latest immutable [`Snapshot`], swapped in
//! atomically after each poll round, and whether every cluster finished its first round.
//! Pollers write it, `web` reads it; neither imports the other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::config::ClusterConfig;
use crate::core::model::{ClusterSnapshot, ClusterView, ShardView, Snapshot};
use crate::pg::poller::report_for;

/// Identifies the exporter binary in `pg_replication_exporter_build_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
}

/// The snapshot every cluster task publishes into, and how many clusters finished a round.
pub(crate) struct Store {
    shared: RwLock<Arc<Snapshot>>,
    rounds_done: Vec<AtomicUsize>,
}

impl Store {
    /// A store with an empty entry (no node up yet) for every configured cluster.
    /// `clusters` are the ones this exporter's shard owns; `shard` says which shard and what it
    /// skipped.
    pub(crate) fn new(clusters: &[ClusterConfig], shard: ShardView) -> Arc<Store> {
        let snapshot = Snapshot {
            shard,
            clusters: clusters
                .iter()
                .map(|c| ClusterSnapshot {
                    name: c.name.clone(),
                    nodes: c.nodes.iter().map(report_for).collect(),
                    view: ClusterView {
                        nodes_configured: c.nodes.len() as u32,
                        ..ClusterView::default()
                    },
                    patroni: None,
                    endpoints: crate::sources::endpoints::judge::judge(
                        &c.endpoints,
                        &[],
                        &[],
                        &ClusterView::default(),
                    ),
                })
                .collect(),
        };
        Arc::new(Store {
            shared: RwLock::new(Arc::new(snapshot)),
            rounds_done: clusters.iter().map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    /// The latest snapshot (cheap: an `Arc` clone under a short read lock).
    pub(crate) fn current(&self) -> Arc<Snapshot> {
        self.shared
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True once every cluster has completed its first poll round.
    pub(crate) fn ready(&self) -> bool {
        self.rounds_done
            .iter()
            .all(|r| r.load(Ordering::Acquire) > 0)
    }

    /// Swaps in cluster `index`'s latest round; readers keep the snapshot they hold.
    pub(crate) fn publish(&self, index: usize, cluster: ClusterSnapshot) {
        {
            let mut guard = self.shared.write().unwrap_or_else(|e| e.into_inner());
            let mut next = Snapshot::clone(&guard);
            next.clusters[index] = cluster;
            *guard = Arc::new(next);
        }
        self.rounds_done[index].fetch_add(1, Ordering::AcqRel);
    }
}
