//! One task per cluster, supervised: every `poll.interval` a round polls the cluster's nodes
//! over SQL (`pg`), reads the latest pass of its Patroni source (`sources::patroni`, which
//! polls the REST API in a task of its own, at its own interval), computes the pure views
//! (`core::cluster`, `sources::patroni::view`) and publishes the cluster's snapshot into the
//! store. With Patroni discovery the nodes polled follow `GET /cluster`: a new member is polled
//! from the first round after the pass that listed it; a member gone from the DCS keeps being
//! polled (and reported down) until `forget_after`. Each front-end (`sources::endpoints`) is
//! checked by a task of its own; a round judges the latest check of each against its polls.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info};

use crate::clock::unix_now;
use crate::config::{ClusterConfig, NodeConfig, PollConfig};
use crate::core::cluster::{ClusterHistory, observe};
use crate::core::model::{ClusterSnapshot, ClusterView};
use crate::pg::connect::AbortOnDrop;
use crate::pg::poller::{NodePoller, panic_message, poll_round};
use crate::sources::endpoints;
use crate::sources::patroni::{source, view};
use crate::store::Store;

/// Runs [`run_cluster`] and restarts it (fresh sessions, fresh history) should it ever panic
/// outside a node's poll, so that a bug cannot freeze a cluster's data while `/metrics` keeps
/// serving the last round as if it were current.
pub(crate) async fn supervise_cluster(
    cluster: ClusterConfig,
    poll: PollConfig,
    store: Arc<Store>,
    start_offset: Duration,
) {
    loop {
        // Aborting the supervisor (shutdown) aborts the task it watches.
        let mut task = AbortOnDrop(tokio::spawn(run_cluster(
            cluster.clone(),
            poll.clone(),
            store.clone(),
            start_offset,
        )));
        match (&mut task.0).await {
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                error!(cluster = %cluster.name, panic = %panic_message(panic.as_ref()),
                       "the cluster's poll task panicked (a bug in the exporter; please report it); restarting it");
                tokio::time::sleep(poll.interval).await;
            }
            _ => return,
        }
    }
}

/// Polls the nodes of one cluster forever: one round per interval, the first after
/// `start_offset` (clusters started together are spread over one interval, so that hundreds of
/// nodes do not all log in, and then poll, in the same instant).
pub(crate) async fn run_cluster(
    cluster: ClusterConfig,
    poll: PollConfig,
    store: Arc<Store>,
    start_offset: Duration,
) {
    let mut pollers: Vec<NodePoller> = cluster
        .nodes
        .iter()
        .map(|n| NodePoller::new(&cluster.name, n.clone(), &poll))
        .collect();
    let static_names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    // The Patroni source runs beside the rounds and dies with them.
    let (patroni_rx, _patroni_task) = match &cluster.patroni {
        Some(p) => {
            let (tx, rx) = watch::channel(None);
            let task = tokio::spawn(source::run(cluster.name.clone(), p.clone(), tx));
            (Some(rx), Some(AbortOnDrop(task)))
        }
        None => (None, None),
    };
    // Each front-end is checked by a task of its own, beside the rounds, and dies with them.
    let (endpoint_rxs, _endpoint_tasks): (Vec<_>, Vec<_>) = cluster
        .endpoints
        .iter()
        .map(|e| {
            let (tx, rx) = watch::channel(None);
            let task = tokio::spawn(endpoints::run(cluster.name.clone(), e.clone(), tx));
            (rx, AbortOnDrop(task))
        })
        .unzip();
    let mut memory = view::Memory::default();
    let mut history = ClusterHistory::new(poll.lag_history, poll.interval);
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + start_offset.min(poll.interval),
        poll.interval,
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds_late = 0u64;
    loop {
        let started = ticker.tick().await;
        let pass = patroni_rx.as_ref().and_then(|rx| rx.borrow().clone());
        if let (Some(pass), Some(p)) = (&pass, &cluster.patroni)
            && memory.update_membership(pass, unix_now(), p.forget_after)
            && p.discover
        {
            let wanted = wanted_nodes(&cluster, &memory);
            reconcile(&mut pollers, wanted, &cluster.name, &poll);
        }
        let reports = poll_round(&mut pollers, poll.timeout).await;
        let now = unix_now();
        let view = observe(&mut history, now, &reports);
        let patroni = cluster.patroni.as_ref().map(|_| {
            view::judge(
                pass.as_deref(),
                &static_names,
                &reports,
                &view,
                now,
                &mut memory,
            )
        });
        let probes: Vec<_> = endpoint_rxs.iter().map(|rx| rx.borrow().clone()).collect();
        let endpoints = endpoints::judge::judge(&cluster.endpoints, &probes, &reports, &view);
        // Under overload the rounds stretch rather than pile up (the ticker delays the next
        // one): this says so.
        if started.elapsed() > poll.interval {
            rounds_late += 1;
        }
        let view = ClusterView {
            rounds_late,
            ..view
        };
        store.publish(ClusterSnapshot {
            name: cluster.name.clone(),
            nodes: reports,
            view,
            patroni,
            endpoints,
        });
    }
}

/// The nodes a discovering cluster polls: its static nodes, then every member Patroni lists or
/// listed within `forget_after` (a static node of the same name wins).
pub(crate) fn wanted_nodes(cluster: &ClusterConfig, memory: &view::Memory) -> Vec<NodeConfig> {
    let mut out: Vec<NodeConfig> = cluster.nodes.clone();
    for (name, host, port) in memory.polled() {
        if !out.iter().any(|n| n.name == name) {
            out.push(cluster.node_for_member(&name, &host, port));
        }
    }
    out
}

/// Makes `pollers` poll exactly `wanted`: a node whose address and settings did not change
/// keeps its poller (its session, its counters); others are added or dropped.
fn reconcile(
    pollers: &mut Vec<NodePoller>,
    wanted: Vec<NodeConfig>,
    cluster: &str,
    poll: &PollConfig,
) {
    let mut old: Vec<NodePoller> = std::mem::take(pollers);
    for cfg in wanted {
        match old.iter().position(|p| p.config().same_target(&cfg)) {
            Some(i) => pollers.push(old.swap_remove(i)),
            None => {
                info!(cluster = %cluster, node = %cfg.name, host = %cfg.host, port = cfg.port,
                      "polling a node Patroni lists");
                pollers.push(NodePoller::new(cluster, cfg, poll));
            }
        }
    }
    for gone in old {
        info!(cluster = %cluster, node = %gone.config().name,
              "no longer polling a node Patroni forgot (gone from the DCS for longer than forget_after)");
    }
}
