//! The one thing the pollers and HTTP share: the latest immutable [`Snapshot`], swapped in
//! atomically after each poll round, and whether every cluster finished its first round.
//! Pollers write it, the page builder (`pages`) and `web` read it; neither imports the other.
//! A publish replaces one cluster's entry (an `Arc`) in place; the snapshot readers get is
//! assembled from the entries when they ask after a change (a few times a second for the page
//! builder), not by every publish: with 500 clusters publishing every second, copying every
//! entry's pointer per publish was a quarter of a million reference counts a second.
//!
//! The set of clusters can change while the exporter runs (a configuration reload adds and
//! removes clusters): each cluster holds a slot, found by name, with the generation of the task
//! that may publish into it, so that a task being stopped cannot overwrite its successor's data
//! nor bring a removed cluster back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::config::ClusterConfig;
use crate::core::model::{ClusterSnapshot, ClusterView, ExporterState, Snapshot};
use crate::pg::poller::report_for;

/// Identifies the exporter binary in `pg_replication_exporter_build_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
}

/// Which task may publish a cluster's rounds: a new one is taken whenever a cluster's task is
/// (re)started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Generation(pub u64);

/// One cluster's bookkeeping beside its entry in the snapshot (same position).
struct Slot {
    generation: Generation,
    rounds_done: u64,
}

struct Inner {
    /// The entries, in order (`slots` beside them).
    clusters: Vec<Arc<ClusterSnapshot>>,
    exporter: ExporterState,
    slots: Vec<Slot>,
    /// The snapshot of `clusters` and `exporter` last handed out; `None` after a change.
    snapshot: Option<Arc<Snapshot>>,
}

impl Inner {
    fn position(&self, name: &str) -> Option<usize> {
        self.clusters.iter().position(|c| c.name == name)
    }

    fn snapshot(&mut self) -> Arc<Snapshot> {
        self.snapshot
            .get_or_insert_with(|| {
                Arc::new(Snapshot {
                    clusters: self.clusters.clone(),
                    exporter: self.exporter.clone(),
                })
            })
            .clone()
    }
}

/// The snapshot every cluster task publishes into, and how many rounds each cluster finished.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    /// Set once every cluster configured at the time finished a round; it stays set, so that a
    /// reload adding a cluster does not take a serving exporter out of its load balancer.
    ready: AtomicBool,
    /// Woken by every change of the snapshot (the page builder waits on it).
    changed: Notify,
}

/// A cluster's entry before its first round: every configured node, none up yet.
pub(crate) fn initial(c: &ClusterConfig) -> ClusterSnapshot {
    ClusterSnapshot {
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
    }
}

impl Store {
    /// A store with an empty entry (no node up yet) for every configured cluster, each to be
    /// published by the task of generation `Generation(position)`.
    pub(crate) fn new(clusters: &[ClusterConfig]) -> Arc<Store> {
        let snapshot = Snapshot::new(clusters.iter().map(initial).collect());
        let slots = (0..clusters.len())
            .map(|i| Slot {
                generation: Generation(i as u64),
                rounds_done: 0,
            })
            .collect();
        Arc::new(Store {
            inner: Mutex::new(Inner {
                clusters: snapshot.clusters,
                exporter: snapshot.exporter,
                slots,
                snapshot: None,
            }),
            ready: AtomicBool::new(clusters.is_empty()),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest snapshot (an `Arc` clone under a short lock; after a change, one pointer per
    /// cluster is copied first).
    pub(crate) fn current(&self) -> Arc<Snapshot> {
        self.lock().snapshot()
    }

    /// True once every cluster has completed its first poll round (and from then on).
    #[cfg(test)]
    pub(crate) fn ready(&self) -> bool {
        self.current_and_ready().1
    }

    /// The latest snapshot and whether the exporter is ready, read at once.
    pub(crate) fn current_and_ready(&self) -> (Arc<Snapshot>, bool) {
        let mut inner = self.lock();
        if self.ready.load(Ordering::Acquire) {
            return (inner.snapshot(), true);
        }
        let all = inner.slots.iter().all(|s| s.rounds_done > 0);
        if all {
            self.ready.store(true, Ordering::Release);
        }
        (inner.snapshot(), all)
    }

    /// Completes after the next change of the snapshot (or at once if one happened since the
    /// last wait: the wake-up is kept).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Swaps in the latest round of the cluster named like `cluster`, when `generation` is still
    /// the task allowed to publish it; readers keep the snapshot they hold. Returns whether it
    /// was taken.
    pub(crate) fn publish(&self, generation: Generation, cluster: ClusterSnapshot) -> bool {
        let cluster = Arc::new(cluster);
        let mut guard = self.lock();
        // The slot of this task, if it still has one: the generations are compared first (a
        // number, not the names of hundreds of clusters).
        let Some(i) = guard
            .slots
            .iter()
            .zip(&guard.clusters)
            .position(|(s, c)| s.generation == generation && c.name == cluster.name)
        else {
            return false;
        };
        let old = std::mem::replace(&mut guard.clusters[i], cluster);
        guard.snapshot = None;
        guard.slots[i].rounds_done += 1;
        drop(guard);
        // Freed (when no reader holds it any more) outside the lock.
        drop(old);
        self.changed.notify_one();
        true
    }

    /// Gives cluster `config.name` to the task of `generation`: a new cluster gets a fresh entry
    /// (appended; no node up yet), a known one keeps its last round until the new task publishes.
    pub(crate) fn assign(&self, config: &ClusterConfig, generation: Generation) {
        let mut guard = self.lock();
        match guard.position(&config.name) {
            Some(i) => guard.slots[i].generation = generation,
            None => {
                guard.clusters.push(Arc::new(initial(config)));
                guard.snapshot = None;
                guard.slots.push(Slot {
                    generation,
                    rounds_done: 0,
                });
                drop(guard);
                self.changed.notify_one();
            }
        }
    }

    /// Drops cluster `name` from the snapshot: its series leave `/metrics` with the next scrape.
    pub(crate) fn remove(&self, name: &str) {
        let mut guard = self.lock();
        if let Some(i) = guard.position(name) {
            guard.clusters.remove(i);
            guard.snapshot = None;
            guard.slots.remove(i);
            drop(guard);
            self.changed.notify_one();
        }
    }

    /// Replaces the exporter-level state (the last reload's outcome).
    pub(crate) fn set_exporter(&self, exporter: ExporterState) {
        let mut guard = self.lock();
        guard.exporter = exporter;
        guard.snapshot = None;
        drop(guard);
        self.changed.notify_one();
    }

    /// Tests: publishes `cluster` whatever task it comes from, adding it when unknown.
    #[cfg(test)]
    pub(crate) fn put(&self, cluster: ClusterSnapshot) {
        let generation = {
            let guard = self.lock();
            guard
                .position(&cluster.name)
                .map(|i| guard.slots[i].generation)
        };
        let generation = generation.unwrap_or_else(|| {
            let g = Generation(u64::MAX);
            let mut guard = self.lock();
            guard.clusters.push(Arc::new(cluster.clone()));
            guard.snapshot = None;
            guard.slots.push(Slot {
                generation: g,
                rounds_done: 0,
            });
            g
        });
        self.publish(generation, cluster);
    }

    /// The names of the clusters in the snapshot, in its order.
    #[cfg(test)]
    pub(crate) fn cluster_names(&self) -> Vec<String> {
        self.lock()
            .clusters
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClusterConfig, NodeDefaults, SslMode};
    use std::time::Duration;

    fn cluster(name: &str) -> ClusterConfig {
        ClusterConfig {
            name: name.into(),
            nodes: vec![],
            defaults: NodeDefaults {
                user: "u".into(),
                password: None,
                dbname: "postgres".into(),
                sslmode: SslMode::Disable,
                sslrootcert: None,
                connect_timeout: Duration::from_secs(1),
            },
            patroni: None,
            endpoints: vec![],
            drill: None,
        }
    }

    fn round(name: &str, nodes_configured: u32) -> ClusterSnapshot {
        let mut c = initial(&cluster(name));
        c.view.nodes_configured = nodes_configured;
        c
    }

    #[test]
    fn a_stopped_task_cannot_publish_over_its_successor() {
        let store = Store::new(&[cluster("a"), cluster("b")]);
        assert!(store.publish(Generation(0), round("a", 7)));
        store.assign(&cluster("a"), Generation(9));
        assert!(!store.publish(Generation(0), round("a", 8)), "old task");
        assert_eq!(store.current().clusters[0].view.nodes_configured, 7);
        assert!(store.publish(Generation(9), round("a", 9)));
        assert_eq!(store.current().clusters[0].view.nodes_configured, 9);
    }

    #[test]
    fn a_removed_cluster_stays_removed_and_a_new_one_is_appended() {
        let store = Store::new(&[cluster("a"), cluster("b")]);
        store.remove("a");
        assert!(!store.publish(Generation(0), round("a", 1)));
        assert_eq!(store.cluster_names(), ["b"]);
        store.assign(&cluster("c"), Generation(5));
        assert_eq!(store.cluster_names(), ["b", "c"]);
        assert!(store.publish(Generation(5), round("c", 3)));
        assert_eq!(store.current().clusters[1].view.nodes_configured, 3);
    }

    #[test]
    fn ready_once_every_cluster_finished_a_round_and_stays_ready() {
        let store = Store::new(&[cluster("a"), cluster("b")]);
        assert!(!store.ready());
        store.publish(Generation(0), round("a", 0));
        assert!(!store.ready());
        store.publish(Generation(1), round("b", 0));
        assert!(store.ready());
        store.assign(&cluster("c"), Generation(2));
        assert!(
            store.ready(),
            "a reload adding a cluster keeps the exporter ready"
        );
    }
}
