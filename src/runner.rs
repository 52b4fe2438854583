//! The running cluster tasks, keyed by cluster name, and how a new configuration (a reload) is
//! applied to them by difference: a cluster whose configuration did not change keeps its task
//! untouched; a changed one gets the new version between two of its rounds (its unchanged
//! pollers, Patroni source, endpoint checks and LSN history carry on, see
//! [`crate::rounds::run_cluster`]); a removed one is stopped and leaves the store; a new one
//! starts. A change of `[poll]` restarts every cluster, since it sets their rhythm and the size
//! of their history.
//!
//! The cluster tasks run on a thread of their own ([`PollThread`]), apart from the runtime that
//! serves HTTP and builds pages.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};
use tracing::info;

use crate::config::{ClusterConfig, PollConfig};
use crate::pg::connect::AbortOnDrop;
use crate::rounds::supervise_cluster;
use crate::store::{Generation, Store};

/// One cluster's task and the channel its later configurations travel on.
struct Running {
    config: ClusterConfig,
    tx: watch::Sender<ClusterConfig>,
    task: AbortOnDrop,
}

/// What applying a configuration did, cluster by cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Given their new configuration in place.
    pub changed: Vec<String>,
    pub unchanged: usize,
    /// `[poll]` changed: every cluster was restarted (history starts again).
    pub restarted_all: bool,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "added: {}; removed: {}; changed: {}; unchanged: {}{}",
            list(&self.added),
            list(&self.removed),
            list(&self.changed),
            self.unchanged,
            if self.restarted_all {
                " ([poll] changed: every cluster restarted)"
            } else {
                ""
            }
        )
    }
}

/// The thread every cluster task runs on: a single-threaded runtime of its own. A poll and its
/// session's connection task (and its Patroni and endpoint sources) then wake each other on one
/// thread, without a switch between threads each time a reply arrives or a query is sent (at
/// 1002 nodes the exporter's CPU per node poll fell by 12 % against two shared worker
/// threads, BENCHMARKS.md run 11); and scrapes, served by the main runtime, never queue behind a
/// step of polls (which they did when everything shared one thread: spaced p99 5–6 ms).
///
/// Dropping it stops the runtime, and with it every task still on it (sessions closed).
struct PollThread {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl PollThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("poll".to_owned())
            .spawn(move || {
                // Until the sender is dropped; the runtime then drops the tasks left on it.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(PollThread {
            handle,
            _stop: stop,
        })
    }
}

/// The cluster tasks of a running exporter.
pub(crate) struct Runner {
    poll: PollConfig,
    store: Arc<Store>,
    running: Vec<Running>,
    next_generation: u64,
    // Last, so that the tasks are aborted before their runtime stops.
    thread: PollThread,
}

impl Runner {
    /// Starts one task per cluster on a new poll thread; the store must be [`Store::new`] of the
    /// same clusters (their generations are their positions).
    pub(crate) fn start(
        clusters: &[ClusterConfig],
        poll: &PollConfig,
        store: Arc<Store>,
    ) -> std::io::Result<Self> {
        let mut runner = Runner {
            poll: poll.clone(),
            store,
            running: Vec::with_capacity(clusters.len()),
            next_generation: clusters.len() as u64,
            thread: PollThread::start()?,
        };
        for (i, c) in clusters.iter().enumerate() {
            let offset = spread(poll.interval, i, clusters.len());
            let running = runner.spawn(c.clone(), Generation(i as u64), offset);
            runner.running.push(running);
        }
        Ok(runner)
    }

    fn spawn(&self, config: ClusterConfig, generation: Generation, offset: Duration) -> Running {
        let (tx, rx) = watch::channel(config.clone());
        let task = self.thread.handle.spawn(supervise_cluster(
            generation,
            rx,
            self.poll.clone(),
            self.store.clone(),
            offset,
        ));
        Running {
            config,
            tx,
            task: AbortOnDrop(task),
        }
    }

    fn generation(&mut self) -> Generation {
        let g = Generation(self.next_generation);
        self.next_generation += 1;
        g
    }

    /// Stops a cluster's task and waits until it is gone, so that it publishes nothing more.
    async fn stop(running: Running) {
        let mut task = running.task;
        task.0.abort();
        let _ = (&mut task.0).await;
    }

    /// Makes the running tasks those of `clusters` under `poll`.
    pub(crate) async fn apply(&mut self, clusters: &[ClusterConfig], poll: &PollConfig) -> Applied {
        let mut applied = Applied {
            restarted_all: *poll != self.poll,
            ..Applied::default()
        };
        let mut old = std::mem::take(&mut self.running);
        if applied.restarted_all {
            info!(
                "reload: [poll] changed; restarting every cluster (their lag history starts again)"
            );
            self.poll = poll.clone();
        }
        for (position, c) in clusters.iter().enumerate() {
            let kept = old.iter().position(|r| r.config.name == c.name);
            let previous = kept.map(|i| old.swap_remove(i));
            match &previous {
                None => applied.added.push(c.name.clone()),
                Some(r) if r.config == *c => applied.unchanged += 1,
                Some(_) => applied.changed.push(c.name.clone()),
            }
            let running = match previous {
                Some(r) if !applied.restarted_all => {
                    if r.config != *c {
                        info!(cluster = %c.name, "reload: the cluster's configuration changed; applying it in place");
                        // The task takes it before its next round.
                        let _ = r.tx.send(c.clone());
                    }
                    Running {
                        config: c.clone(),
                        ..r
                    }
                }
                previous => {
                    if let Some(r) = previous {
                        Self::stop(r).await;
                    } else {
                        info!(cluster = %c.name, "reload: polling a new cluster");
                    }
                    let generation = self.generation();
                    self.store.assign(c, generation);
                    let offset = spread(self.poll.interval, position, clusters.len());
                    self.spawn(c.clone(), generation, offset)
                }
            };
            self.running.push(running);
        }
        for r in old {
            info!(cluster = %r.config.name, "reload: no longer polling a cluster gone from the configuration");
            let name = r.config.name.clone();
            Self::stop(r).await;
            self.store.remove(&name);
            applied.removed.push(name);
        }
        applied
    }

    /// The clusters running now, in order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.running.iter().map(|r| r.config.name.clone()).collect()
    }
}

/// Cluster `i` of `n` started together begins its rounds `i/n` of an interval in, so that
/// hundreds of nodes do not all log in, and then poll, in the same instant, but the offsets
/// are rounded to steps of [`SPREAD_STEP`], so that clusters of one step poll together: one
/// wakeup of the process serves all of them (at 1002 nodes the kernel's task switching was a
/// quarter of the exporter's CPU when every cluster had an instant of its own).
fn spread(interval: Duration, i: usize, n: usize) -> Duration {
    let steps = (interval.as_nanos() / SPREAD_STEP.as_nanos()).max(1) as usize;
    let steps = steps.min(n.max(1));
    interval / steps as u32 * (i * steps / n.max(1)) as u32
}

/// The granularity of the clusters' start offsets (see [`spread`]).
const SPREAD_STEP: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_clusters_start_evenly_apart_many_in_steps_of_twenty_milliseconds() {
        let second = Duration::from_secs(1);
        let three: Vec<_> = (0..3).map(|i| spread(second, i, 3)).collect();
        assert_eq!(
            three,
            [0, 333_333_333, 666_666_666].map(Duration::from_nanos)
        );
        let many: Vec<_> = (0..501).map(|i| spread(second, i, 501)).collect();
        assert!(many.windows(2).all(|w| w[0] <= w[1]), "in order");
        assert!(many.iter().all(|d| d.as_millis() % 20 == 0 && *d < second));
        let mut steps = many.clone();
        steps.dedup();
        assert_eq!(steps.len(), 50, "every step of the interval is used");
        assert_eq!(spread(second, 0, 0), Duration::ZERO);
    }
}
