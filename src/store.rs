//! The one thing the pollers and HTTP share: the latest immutable [`Snapshot`], swapped in
//! atomically after each poll round, and how many rounds each cluster finished. Pollers write
//! it, the page builder (`pages`) and `web` read it; neither imports the other.
//!
//! Clusters are kept by name, not by position, so that the set can change while the exporter
//! runs: [`Store::publish`] adds a cluster it does not know, [`Store::remove`] drops one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::config::ClusterConfig;
use crate::core::model::{ClusterSnapshot, ClusterView, Snapshot};
use crate::pg::poller::report_for;

/// Identifies the exporter binary in `pg_replication_exporter_build_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
}

/// The snapshot every cluster task publishes into, and how many rounds each cluster finished.
pub(crate) struct Store {
    inner: RwLock<Inner>,
    /// Woken by every publish and removal (the page builder waits on it).
    changed: Notify,
}

struct Inner {
    snapshot: Arc<Snapshot>,
    rounds: HashMap<String, u64>,
}

impl Store {
    /// A store with an empty entry (no node up yet) for every configured cluster.
    pub(crate) fn new(clusters: &[ClusterConfig]) -> Arc<Store> {
        let store = Arc::new(Store {
            inner: RwLock::new(Inner {
                snapshot: Arc::new(Snapshot::default()),
                rounds: HashMap::new(),
            }),
            changed: Notify::new(),
        });
        for c in clusters {
            store.add(c);
        }
        store
    }

    /// Adds `cluster` with an empty entry (no node up, no round yet), replacing any entry of
    /// that name.
    pub(crate) fn add(&self, c: &ClusterConfig) {
        let empty = ClusterSnapshot {
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
        };
        self.swap(&c.name, Some(empty), Some(0));
    }

    /// The latest snapshot (cheap: an `Arc` clone under a short read lock).
    pub(crate) fn current(&self) -> Arc<Snapshot> {
        self.read().snapshot.clone()
    }

    /// The latest snapshot and whether every cluster in it had completed a round, read at once.
    pub(crate) fn current_and_ready(&self) -> (Arc<Snapshot>, bool) {
        let inner = self.read();
        (inner.snapshot.clone(), ready(&inner))
    }

    /// True once every cluster has completed its first poll round.
    pub(crate) fn ready(&self) -> bool {
        ready(&self.read())
    }

    /// Swaps in a cluster's latest round (adding the cluster if the store does not have it);
    /// readers keep the snapshot they hold. Costs one pointer per cluster, whatever their size.
    pub(crate) fn publish(&self, cluster: ClusterSnapshot) {
        let name = cluster.name.clone();
        self.swap(&name, Some(cluster), None);
    }

    /// Drops a cluster (a reload removed it); unknown names are ignored.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn remove(&self, name: &str) {
        self.swap(name, None, None);
    }

    /// Completes after the next publish or removal (or at once if one happened since the last
    /// wait: the wake-up is kept).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Replaces (`Some`) or removes (`None`) cluster `name`; `rounds` resets its round count
    /// instead of counting one more round.
    fn swap(&self, name: &str, cluster: Option<ClusterSnapshot>, rounds: Option<u64>) {
        {
            let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
            let mut clusters = inner.snapshot.clusters.clone();
            let at = clusters.iter().position(|c| c.name == name);
            match (cluster, at) {
                (Some(c), at) => {
                    match at {
                        Some(i) => clusters[i] = Arc::new(c),
                        None => clusters.push(Arc::new(c)),
                    }
                    let count = inner.rounds.entry(name.to_owned()).or_default();
                    *count = rounds.unwrap_or(*count + 1);
                }
                (None, Some(i)) => {
                    clusters.remove(i);
                    inner.rounds.remove(name);
                }
                (None, None) => return,
            }
            inner.snapshot = Arc::new(Snapshot { clusters });
        }
        self.changed.notify_one();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn ready(inner: &Inner) -> bool {
    inner
        .snapshot
        .clusters
        .iter()
        .all(|c| inner.rounds.get(&c.name).is_some_and(|r| *r > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::NodeReport;

    fn cluster(name: &str, node: &str) -> ClusterSnapshot {
        ClusterSnapshot {
            name: name.into(),
            nodes: vec![NodeReport::new(node, node)],
            view: ClusterView::default(),
            patroni: None,
            endpoints: Vec::new(),
        }
    }

    #[test]
    fn clusters_come_and_go_by_name_and_keep_the_entries_of_the_others() {
        let store = Store::new(&[]);
        assert!(store.ready(), "no cluster: nothing to wait for");
        store.publish(cluster("a", "a1"));
        store.publish(cluster("b", "b1"));
        let before = store.current();
        store.publish(cluster("a", "a2"));
        let after = store.current();
        assert_eq!(after.clusters.len(), 2);
        assert_eq!(after.clusters[0].nodes[0].name, "a2");
        assert!(
            Arc::ptr_eq(&before.clusters[1], &after.clusters[1]),
            "b did not change: its entry is shared, not copied"
        );
        assert_eq!(
            before.clusters[0].nodes[0].name, "a1",
            "readers keep theirs"
        );
        store.remove("a");
        let names: Vec<_> = store
            .current()
            .clusters
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(names, ["b"]);
        store.remove("nope");
        assert!(store.ready());
    }

    #[test]
    fn ready_waits_for_a_round_of_every_cluster_including_added_ones() {
        let store = Store::new(&[]);
        store.publish(cluster("a", "a1"));
        assert!(store.ready());
        store.swap("b", Some(cluster("b", "b1")), Some(0));
        assert!(!store.ready(), "b was added but has not polled yet");
        store.publish(cluster("b", "b1"));
        let (snapshot, ready) = store.current_and_ready();
        assert!(ready);
        assert_eq!(snapshot.clusters.len(), 2);
        store.remove("b");
        store.swap("b", Some(cluster("b", "b1")), Some(0));
        assert!(!store.ready(), "a re-added cluster starts over");
    }
}
