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
use crate::config::{ClusterConfig, EndpointConfig, NodeConfig, PollConfig};
use crate::core::cluster::{ClusterHistory, observe};
use crate::core::model::{ClusterSnapshot, ClusterView};
use crate::pg::connect::AbortOnDrop;
use crate::pg::poller::{NodePoller, panic_message, poll_round};
use crate::sources::endpoints;
use crate::sources::patroni::{source, view};
use crate::store::{Generation, Store};

/// Runs [`run_cluster`] and restarts it (fresh sessions, fresh history) should it ever panic
/// outside a node's poll, so that a bug cannot freeze a cluster's data while `/metrics` keeps
/// serving the last round as if it were current. `config` carries the cluster's configuration
/// and every later version of it (a reload); a restart takes the latest.
pub(crate) async fn supervise_cluster(
    generation: Generation,
    config: watch::Receiver<ClusterConfig>,
    poll: PollConfig,
    store: Arc<Store>,
    start_offset: Duration,
) {
    loop {
        // Aborting the supervisor (shutdown, reload) aborts the task it watches.
        let mut task = AbortOnDrop(tokio::spawn(run_cluster(
            generation,
            config.clone(),
            poll.clone(),
            store.clone(),
            start_offset,
        )));
        match (&mut task.0).await {
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                error!(cluster = %config.borrow().name, panic = %panic_message(panic.as_ref()),
                       "the cluster's poll task panicked (a bug in the exporter; please report it); restarting it");
                tokio::time::sleep(poll.interval).await;
            }
            _ => return,
        }
    }
}

/// The Patroni source of a cluster, running beside its rounds and dying with them.
struct PatroniTask {
    rx: watch::Receiver<Option<Arc<source::PatroniRound>>>,
    _task: AbortOnDrop,
}

fn start_patroni(cluster: &ClusterConfig) -> Option<PatroniTask> {
    cluster.patroni.as_ref().map(|p| {
        let (tx, rx) = watch::channel(None);
        let task = tokio::spawn(source::run(cluster.name.clone(), p.clone(), tx));
        PatroniTask {
            rx,
            _task: AbortOnDrop(task),
        }
    })
}

/// One front-end's check task, beside the rounds and dying with them.
struct EndpointTask {
    config: EndpointConfig,
    rx: watch::Receiver<Option<Arc<endpoints::Probe>>>,
    _task: AbortOnDrop,
}

fn start_endpoint(cluster: &str, e: &EndpointConfig) -> EndpointTask {
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(endpoints::run(cluster.to_owned(), e.clone(), tx));
    EndpointTask {
        config: e.clone(),
        rx,
        _task: AbortOnDrop(task),
    }
}

/// Polls the nodes of one cluster forever: one round per interval. A new version of the
/// cluster's configuration (a reload) is taken between two rounds: pollers, the Patroni source
/// and endpoint checks that did not change keep running (their sessions, their counters), and
/// the cluster's LSN history is kept, so that time lag stays honest across a reload.
pub(crate) async fn run_cluster(
    generation: Generation,
    mut config: watch::Receiver<ClusterConfig>,
    poll: PollConfig,
    store: Arc<Store>,
    start_offset: Duration,
) {
    let mut cluster = config.borrow_and_update().clone();
    let mut pollers: Vec<NodePoller> = cluster
        .nodes
        .iter()
        .map(|n| NodePoller::new(&cluster.name, n.clone(), &poll).in_rounds())
        .collect();
    let mut static_names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    let mut patroni = start_patroni(&cluster);
    let mut checks: Vec<EndpointTask> = cluster
        .endpoints
        .iter()
        .map(|e| start_endpoint(&cluster.name, e))
        .collect();
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
        if config.has_changed().unwrap_or(false) {
            let next = config.borrow_and_update().clone();
            if next.patroni != cluster.patroni {
                info!(cluster = %next.name, "reload: the Patroni source changed; restarting it");
                patroni = start_patroni(&next);
                memory = view::Memory::default();
            }
            checks = reconcile_endpoints(checks, &next);
            static_names = next.nodes.iter().map(|n| n.name.clone()).collect();
            cluster = next;
            // Discovered members are added back from the Patroni memory just below.
            let wanted = match &cluster.patroni {
                Some(p) if p.discover => wanted_nodes(&cluster, &memory),
                _ => cluster.nodes.clone(),
            };
            reconcile(
                &mut pollers,
                wanted,
                &cluster.name,
                &poll,
                "the configuration lists",
            );
        }
        let pass = patroni.as_ref().and_then(|p| p.rx.borrow().clone());
        if let (Some(pass), Some(p)) = (&pass, &cluster.patroni)
            && memory.update_membership(pass, unix_now(), p.forget_after)
            && p.discover
        {
            let wanted = wanted_nodes(&cluster, &memory);
            reconcile(&mut pollers, wanted, &cluster.name, &poll, "Patroni lists");
        }
        let reports = poll_round(&mut pollers, poll.timeout).await;
        let now = unix_now();
        let view = observe(&mut history, now, &reports);
        let patroni_view = cluster.patroni.as_ref().map(|_| {
            view::judge(
                pass.as_deref(),
                &static_names,
                &reports,
                &view,
                now,
                &mut memory,
            )
        });
        let probes: Vec<_> = checks.iter().map(|c| c.rx.borrow().clone()).collect();
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
        store.publish(
            generation,
            ClusterSnapshot {
                name: cluster.name.clone(),
                nodes: reports,
                view,
                patroni: patroni_view,
                endpoints,
            },
        );
    }
}

/// The endpoint checks for `cluster.endpoints`, in their order: a check whose configuration did
/// not change keeps its task (and its last probe); others start afresh.
fn reconcile_endpoints(mut old: Vec<EndpointTask>, cluster: &ClusterConfig) -> Vec<EndpointTask> {
    let mut out = Vec::with_capacity(cluster.endpoints.len());
    for e in &cluster.endpoints {
        match old.iter().position(|t| &t.config == e) {
            Some(i) => out.push(old.swap_remove(i)),
            None => {
                info!(cluster = %cluster.name, endpoint = %e.name,
                      "reload: checking a new or changed endpoint");
                out.push(start_endpoint(&cluster.name, e));
            }
        }
    }
    for gone in old {
        info!(cluster = %cluster.name, endpoint = %gone.config.name,
              "reload: no longer checking an endpoint");
    }
    out
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
/// keeps its poller (its session, its counters); others are added or dropped. `why` says in
/// the log who asked for a new node.
fn reconcile(
    pollers: &mut Vec<NodePoller>,
    wanted: Vec<NodeConfig>,
    cluster: &str,
    poll: &PollConfig,
    why: &str,
) {
    let mut old: Vec<NodePoller> = std::mem::take(pollers);
    for cfg in wanted {
        match old.iter().position(|p| p.config().same_target(&cfg)) {
            Some(i) => pollers.push(old.swap_remove(i)),
            None => {
                info!(cluster = %cluster, node = %cfg.name, host = %cfg.host, port = cfg.port,
                      "polling a node {why}");
                pollers.push(NodePoller::new(cluster, cfg, poll).in_rounds());
            }
        }
    }
    for gone in old {
        info!(cluster = %cluster, node = %gone.config().name,
              "no longer polling a node (gone from the configuration, or from the DCS for longer than forget_after)");
    }
}
