//! PURE renderer: an immutable [`Snapshot`] → Prometheus metric families (SPEC §4) → the text
//! page. [`render`] is the one render path: `/metrics`, the benches and the golden file all go
//! through it.
//!
//! Families are built afresh from each snapshot, so a walsender, slot or node that is
//! gone from the snapshot leaves no stale series behind. A NULL from PostgreSQL (`None` in the
//! model) leaves its series out; it never becomes 0. Label values are arbitrary server strings,
//! escaped as the text format requires: the sample lines are written directly, byte for byte
//! what `prometheus::TextEncoder` writes (tests compare), without its protobuf tree. Names,
//! types, HELP texts and label names live in [`defs`].

pub mod defs;
mod endpoints;
mod patroni;

use std::collections::HashMap;

use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};

use crate::core::model::{
    ClusterSnapshot, ErrorKind, NodeReport, NodeState, Slot, Snapshot, Subscription, Walsender,
};
use crate::core::{stage, syncnames};
use crate::store::BuildInfo;
use defs::{Def, Kind};

// The enum values below are listed in byte order, the order `/metrics` sorts them into: a node's
// one-hot series are then pushed already sorted, and `Families::finish` can skip the sort (a
// fifth of a render with 500 slots).

/// `pg_stat_wal_receiver.status` values, plus `none` for "no receiver runs".
const WAL_RECEIVER_STATUSES: &[&str] = &[
    "none",
    "restarting",
    "starting",
    "stopped",
    "stopping",
    "streaming",
    "waiting",
];
const SYNC_STATES: &[&str] = &["async", "potential", "quorum", "sync"];
const STANDBY_STATES: &[&str] = &["backup", "catchup", "startup", "stopping", "streaming"];
const SLOT_WAL_STATUSES: &[&str] = &["extended", "lost", "reserved", "unreserved"];
const RECOVERY_SOURCES: &[&str] = &["archive", "none", "stream"];
const ARCHIVE_MODES: &[&str] = &["always", "off", "on"];
/// `pg_subscription_rel.srsubstate` codes and their names, in byte order of the names.
const SUBSCRIPTION_TABLE_STATES: &[(&str, &str)] = &[
    ("d", "data_copy"),
    ("f", "finished_copy"),
    ("i", "init"),
    ("r", "ready"),
    ("s", "sync"),
];

/// `pg_replication_slots.invalidation_reason` exists from this `server_version_num` on; before
/// it, "not invalidated" cannot be told from "not reported".
const INVALIDATION_REASON_SINCE: u32 = 170_000;

/// All families for one snapshot, sorted by name, each family's series sorted by label values
/// (the order `prometheus::Registry::gather` uses), families without series left out.
pub fn families(snapshot: &Snapshot, build: &BuildInfo) -> Vec<MetricFamily> {
    let mut out = Families::default();
    exporter_families(&mut out, snapshot, build, PagesBuilt::default());
    for cluster in &snapshot.clusters {
        cluster_families(&mut out, snapshot, cluster);
    }
    out.into_proto()
}

fn build_info(out: &mut Families, build: &BuildInfo) {
    out.push(
        &defs::EXPORTER_BUILD_INFO,
        &[build.version, build.revision],
        1.0,
    );
}

/// What the exporter spent on its `/metrics` pages before the one being built: a page cannot
/// count its own build, so each shows the pages before it (the first shows zeros).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PagesBuilt {
    /// Pages built since the exporter started.
    pub pages: u64,
    /// Seconds those pages took: rendering the clusters that changed, merging, gzip.
    pub seconds: f64,
}

/// The exporter's own series (no cluster label): its build, its shard, the last reload, its
/// pages.
fn exporter_families(
    out: &mut Families,
    snapshot: &Snapshot,
    build: &BuildInfo,
    built: PagesBuilt,
) {
    build_info(out, build);
    out.push(&defs::EXPORTER_PAGES_BUILT_TOTAL, &[], built.pages as f64);
    out.push(&defs::EXPORTER_PAGE_BUILD_SECONDS_TOTAL, &[], built.seconds);
    let shard = &snapshot.exporter.shard;
    out.push(
        &defs::EXPORTER_SHARD_INFO,
        &[&shard.index.to_string(), &shard.count.to_string()],
        1.0,
    );
    out.push(
        &defs::EXPORTER_CLUSTERS,
        &["owned"],
        snapshot.clusters.len() as f64,
    );
    out.push(
        &defs::EXPORTER_CLUSTERS,
        &["skipped"],
        shard.skipped.len() as f64,
    );
    if let Some(reload) = &snapshot.exporter.reload {
        out.push(
            &defs::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
            &[],
            reload.last_success,
        );
        out.push(
            &defs::CONFIG_LAST_RELOAD_SUCCESSFUL,
            &[],
            flag(reload.successful),
        );
    }
}

/// `GET /probe?cluster=NAME`: the page of that one cluster of `snapshot` (its series exactly
/// as on `/metrics`; cross-cluster links such as a standby cluster's source are still resolved
/// against the whole snapshot) plus `pg_replication_exporter_build_info`; the shard and reload
/// families are the exporter's, on `/metrics` only. `None` when the snapshot has no such cluster.
pub fn render_cluster(snapshot: &Snapshot, build: &BuildInfo, name: &str) -> Option<String> {
    let cluster = snapshot.clusters.iter().find(|c| c.name == name)?;
    let head = head_chunk(|out| build_info(out, build));
    let chunk = cluster_chunk(snapshot, cluster);
    let mut text = String::with_capacity(merged_len(&head, &[&chunk]));
    merge_into(&head, &[&chunk], &mut text, usize::MAX, |_| {});
    Some(text)
}

/// The exporter-level part of a page (no cluster label), as a chunk that sorts first.
fn head_chunk(fill: impl FnOnce(&mut Families)) -> Chunk {
    let mut head = Families::default();
    fill(&mut head);
    Chunk {
        cluster: String::new(),
        ..head.encode_bodies()
    }
}

/// The series of one cluster; `snapshot` is read for what crosses clusters (a standby
/// cluster's source, a subscription's publisher).
fn cluster_families(out: &mut Families, snapshot: &Snapshot, cluster: &ClusterSnapshot) {
    for node in &cluster.nodes {
        node_health(out, &cluster.name, node);
        if let Some(state) = &node.state {
            node_state(out, &cluster.name, &node.name, state);
            for ws in &state.walsenders {
                if ws.is_logical() {
                    logical_walsender(out, &cluster.name, &node.name, state, ws);
                } else {
                    walsender(out, cluster, &node.name, state, ws);
                }
            }
            for slot in &state.slots {
                replication_slot(out, &cluster.name, &node.name, state, slot);
            }
            for sub in &state.subscriptions {
                subscription(out, snapshot, &cluster.name, node, state, sub);
            }
        }
    }
    cluster_view(out, snapshot, cluster);
    if let Some(p) = &cluster.patroni {
        patroni::cluster(out, cluster, p);
    }
    endpoints::cluster(out, cluster);
}

/// Text format 0.0.4: the page of `snapshot`, assembled from one [`Chunk`] per cluster, as
/// the exporter's first page (no page built before it).
pub fn render(snapshot: &Snapshot, build: &BuildInfo) -> String {
    render_page(snapshot, build, PagesBuilt::default())
}

/// [`render`] for a page that had `built` before it.
pub fn render_page(snapshot: &Snapshot, build: &BuildInfo, built: PagesBuilt) -> String {
    let mut scratch = Scratch::default();
    let chunks: Vec<Chunk> = snapshot
        .clusters
        .iter()
        .map(|c| scratch.cluster_chunk(snapshot, c))
        .collect();
    assemble_after(build, snapshot, built, chunks.iter())
}

/// One cluster's part of the page: for each family it has series in (by index into
/// [`defs::ALL`]), its sample lines in text format, without the HELP and TYPE lines. Every
/// family but the build info has `cluster` as its first label, so a family's series sorted by
/// label values are the clusters' lines of that family in cluster-name order: a page is the
/// concatenation, family by family, of its clusters' chunks (see [`merge_into`]), and a
/// cluster whose snapshot did not change keeps its chunk from one page to the next.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chunk {
    cluster: String,
    /// Every family's lines, one family after the other (one allocation a chunk, not one a
    /// family), allocated to its length: the chunks of the clusters are what a page keeps.
    text: String,
    /// Per family with series, in [`defs::ALL`] order: where its lines are in `text`.
    spans: Vec<Span>,
}

/// Where one family's lines of one cluster are in a chunk's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    /// The family's index in [`defs::ALL`].
    family: u32,
    start: u32,
    end: u32,
}

impl Chunk {
    /// The cluster this chunk renders.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Bytes of sample text.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// True when the chunk has no series.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// The chunk of `cluster`, one of `snapshot`'s clusters.
pub fn cluster_chunk(snapshot: &Snapshot, cluster: &ClusterSnapshot) -> Chunk {
    Scratch::default().cluster_chunk(snapshot, cluster)
}

/// What rendering one cluster after another reuses: the families' buffers, emptied after each
/// chunk. A page of 501 clusters otherwise allocated and grew a buffer pair for each family of
/// each cluster (heaptrack at 1002 nodes: over half of the process's allocations).
#[derive(Default)]
pub struct Scratch(Families);

impl Scratch {
    /// [`cluster_chunk`], in the buffers of the chunks before.
    pub fn cluster_chunk(&mut self, snapshot: &Snapshot, cluster: &ClusterSnapshot) -> Chunk {
        cluster_families(&mut self.0, snapshot, cluster);
        Chunk {
            cluster: cluster.name.clone(),
            ..self.0.encode_bodies()
        }
    }
}

/// Whether a cluster's chunk depends on other clusters' snapshots (a standby cluster's source
/// lag, a subscription's publisher): such a chunk is rendered anew with every page.
pub fn reads_other_clusters(cluster: &ClusterSnapshot) -> bool {
    cluster.view.source.is_some()
        || cluster.nodes.iter().any(|n| {
            n.state
                .as_ref()
                .is_some_and(|s| s.subscriptions.iter().any(|x| x.slot_name.is_some()))
        })
}

/// A page from per-cluster chunks (any order): one HELP and TYPE per family, then the
/// family's lines of every cluster in cluster-name order. Equal to [`render`] of the snapshot
/// the chunks came from.
pub fn assemble<'a>(
    build: &BuildInfo,
    snapshot: &Snapshot,
    chunks: impl IntoIterator<Item = &'a Chunk>,
) -> String {
    assemble_after(build, snapshot, PagesBuilt::default(), chunks)
}

/// [`assemble`] for a page that had `built` before it.
fn assemble_after<'a>(
    build: &BuildInfo,
    snapshot: &Snapshot,
    built: PagesBuilt,
    chunks: impl IntoIterator<Item = &'a Chunk>,
) -> String {
    let head = exporter_chunk(build, snapshot, built);
    let chunks: Vec<&Chunk> = chunks.into_iter().collect();
    let mut text = String::with_capacity(merged_len(&head, &chunks));
    merge_into(&head, &chunks, &mut text, usize::MAX, |_| {});
    text
}

/// The exporter's own families of `snapshot`'s page (no cluster label), as the chunk that
/// sorts first in [`merge_into`]; `built` is what the pages before this one cost.
pub fn exporter_chunk(build: &BuildInfo, snapshot: &Snapshot, built: PagesBuilt) -> Chunk {
    head_chunk(|out| exporter_families(out, snapshot, build, built))
}

/// The bytes [`merge_into`] writes for `head` and `chunks` (HELP and TYPE lines estimated).
pub fn merged_len(head: &Chunk, chunks: &[&Chunk]) -> usize {
    let lines: usize = std::iter::once(head)
        .chain(chunks.iter().copied())
        .map(Chunk::len)
        .sum();
    lines + defs::ALL.len() * 160
}

/// The page of `head` (the exporter's own families) and the clusters' chunks (any order),
/// appended to `text`: every family's HELP and TYPE once, then its lines of every cluster in
/// cluster-name order. Whenever `text` has reached `piece` bytes it is handed to `flush`
/// (which empties it), so that a page can be gzipped as it is assembled without ever being
/// whole in memory; what is left at the end stays in `text`.
pub fn merge_into(
    head: &Chunk,
    chunks: &[&Chunk],
    text: &mut String,
    piece: usize,
    mut flush: impl FnMut(&mut String),
) {
    let mut sorted: Vec<&Chunk> = chunks.to_vec();
    sorted.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    // One cursor per chunk (its next span): spans are in family order, so a page is one merge
    // pass. The head goes first (its families have no cluster label).
    sorted.insert(0, head);
    let mut cursors = vec![0usize; sorted.len()];
    for (index, def) in defs::ALL.iter().enumerate() {
        let mut header = false;
        for (chunk, next) in sorted.iter().zip(&mut cursors) {
            let Some(span) = chunk
                .spans
                .get(*next)
                .filter(|s| s.family as usize == index)
            else {
                continue;
            };
            if !header {
                write_header(text, def);
                header = true;
            }
            text.push_str(&chunk.text[span.start as usize..span.end as usize]);
            *next += 1;
            if text.len() >= piece {
                flush(text);
            }
        }
    }
}

/// A position in a chunk or a page as stored in a [`Span`].
fn offset(at: usize) -> u32 {
    u32::try_from(at).expect("a page is under 4 GiB")
}

/// `# HELP` and `# TYPE` as `prometheus::TextEncoder` writes them (HELP escapes `\` and
/// newlines).
fn write_header(text: &mut String, def: &Def) {
    text.push_str("# HELP ");
    text.push_str(def.name);
    text.push(' ');
    for c in def.help.chars() {
        match c {
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            c => text.push(c),
        }
    }
    text.push_str("\n# TYPE ");
    text.push_str(def.name);
    text.push_str(match def.kind {
        Kind::Gauge => " gauge\n",
        Kind::Counter => " counter\n",
    });
}

/// §4.1: health of every configured node, known or not.
fn node_health(out: &mut Families, cluster: &str, node: &NodeReport) {
    let n = [cluster, node.name.as_str()];
    out.push(&defs::UP, &n, flag(node.up));
    if let Some(d) = node.poll_duration {
        out.push(&defs::POLL_DURATION_SECONDS, &n, d);
    }
    for kind in ErrorKind::ALL {
        // Counters start at 0 for every kind when the exporter starts, so a missing entry is a
        // count of zero, not an unknown.
        let count = node.errors_total.get(&kind).copied().unwrap_or(0);
        out.push(
            &defs::POLL_ERRORS_TOTAL,
            &[cluster, &node.name, kind.as_str()],
            count as f64,
        );
    }
    if let Some(t) = node.last_success {
        out.push(&defs::LAST_POLL_SUCCESS_TIMESTAMP_SECONDS, &n, t);
    }
    if let Some(state) = &node.state {
        out.push(&defs::PRIVILEGE_MISSING, &n, flag(state.privilege_missing));
    }
    // Configuration, known whether the node is up or not.
    out.push(
        &defs::NODE_EXPECT_STREAMING,
        &n,
        flag(node.expect_streaming),
    );
}

/// §4.2: what the node says about itself.
fn node_state(out: &mut Families, cluster: &str, node: &str, state: &NodeState) {
    let n = [cluster, node];
    let standby = state.in_recovery;
    out.push(&defs::NODE_IS_PRIMARY, &n, flag(!standby));
    out.push(
        &defs::NODE_INFO,
        &[
            cluster,
            node,
            &state.server_version,
            state.system_identifier.as_deref().unwrap_or(""),
        ],
        1.0,
    );
    if let Some(tli) = state.timeline_id {
        out.push(&defs::NODE_TIMELINE_ID, &n, f64::from(tli));
    }
    if let Some(lsn) = state.wal_lsn {
        out.push(&defs::NODE_WAL_LSN_BYTES, &n, lsn.as_f64());
    }
    out.push(
        &defs::SYNC_CONFIG_INFO,
        &[
            cluster,
            node,
            &state.settings.synchronous_commit,
            &state.settings.synchronous_standby_names,
        ],
        1.0,
    );

    archiving(out, &n, state);
    if standby {
        if let Some(delay) = state.apply_delay_seconds() {
            out.push(&defs::NODE_APPLY_DELAY_SECONDS, &n, delay);
        }
        if let Some(source) = state.recovery_source() {
            out.one_hot(
                &defs::NODE_RECOVERY_SOURCE,
                &n,
                RECOVERY_SOURCES,
                source.as_str(),
            );
        }
        // Gated on recovery, not only on NULL: after a promotion PostgreSQL keeps returning the
        // last receive LSN and replay timestamp until restart, which would be stale on a primary.
        if let Some(lsn) = state.receive_lsn {
            out.push(&defs::NODE_RECEIVE_LSN_BYTES, &n, lsn.as_f64());
        }
        if let Some(paused) = state.replay_paused {
            out.push(&defs::NODE_REPLAY_PAUSED, &n, flag(paused));
        }
        if let Some(t) = state.last_replay_timestamp {
            out.push(&defs::NODE_LAST_REPLAY_TIMESTAMP_SECONDS, &n, t);
        }
        match &state.wal_receiver {
            None => out.one_hot(
                &defs::WAL_RECEIVER_STATUS,
                &n,
                WAL_RECEIVER_STATUSES,
                "none",
            ),
            // A receiver row whose status is NULL means the role may not see it: nothing about
            // the receiver is known, so neither its status nor its upstream is exported.
            Some(wr) => {
                if let Some(status) = &wr.status {
                    out.one_hot(
                        &defs::WAL_RECEIVER_STATUS,
                        &n,
                        WAL_RECEIVER_STATUSES,
                        status,
                    );
                    let port = wr.sender_port.map(|p| p.to_string()).unwrap_or_default();
                    out.push(
                        &defs::UPSTREAM_INFO,
                        &[
                            cluster,
                            node,
                            wr.sender_host.as_deref().unwrap_or(""),
                            &port,
                            wr.slot_name.as_deref().unwrap_or(""),
                        ],
                        1.0,
                    );
                }
                if let Some(t) = wr.last_msg_receipt_time {
                    out.push(
                        &defs::WAL_RECEIVER_LAST_MESSAGE_AGE_SECONDS,
                        &n,
                        age(state.server_now, t),
                    );
                }
            }
        }
    } else {
        if let Some(required) = syncnames::required(&state.settings.synchronous_standby_names) {
            out.push(&defs::SYNC_STANDBYS_REQUIRED, &n, f64::from(required));
        }
        // Hidden rows have NULL state and sync_state: counting them would report "0 healthy"
        // when the truth is unknown.
        if !state.privilege_missing {
            let healthy = state
                .walsenders
                .iter()
                .filter(|ws| {
                    ws.state.as_deref() == Some("streaming")
                        && matches!(ws.sync_state.as_deref(), Some("sync" | "quorum"))
                })
                .count();
            out.push(&defs::SYNC_STANDBYS_HEALTHY, &n, healthy as f64);
        }
    }
}

/// §4.3: one row of `pg_stat_replication` on `node` (a primary or a cascading standby).
fn walsender(
    out: &mut Families,
    cluster: &ClusterSnapshot,
    node: &str,
    state: &NodeState,
    ws: &Walsender,
) {
    let standby = standby_label(cluster, &ws.application_name);
    let labels = [cluster.name.as_str(), node, standby];
    // Compared with the sender's own position, held cumulative: the one rule in core::stage.
    let lag = stage::lag(state.wal_lsn, ws);
    // In byte order of the stage label, the order /metrics lists them (see the enums above).
    let stages = [
        ("flush", lag.flush, Some(ws.flush_lag)),
        ("replay", lag.replay, Some(ws.replay_lag)),
        ("sent", lag.sent, None),
        ("write", lag.write, Some(ws.write_lag)),
    ];
    for (stage, lag_bytes, interval) in stages {
        let stage_labels = [labels[0], labels[1], labels[2], stage];
        if let Some(b) = lag_bytes {
            out.push(&defs::LAG_BYTES, &stage_labels, b as f64);
        }
        if let Some(s) = interval.and_then(|i| stage::seconds(i, lag_bytes)) {
            out.push(&defs::LAG_SECONDS, &stage_labels, s);
        }
    }
    if let Some(s) = &ws.sync_state {
        out.one_hot(&defs::SYNC_STATE, &labels, SYNC_STATES, s);
    }
    if let Some(p) = ws.sync_priority {
        out.push(&defs::SYNC_PRIORITY, &labels, f64::from(p));
    }
    if let Some(s) = &ws.state {
        out.one_hot(&defs::STANDBY_STATE, &labels, STANDBY_STATES, s);
    }
    if let Some(t) = ws.reply_time {
        out.push(
            &defs::STANDBY_REPLY_AGE_SECONDS,
            &labels,
            age(state.server_now, t),
        );
    }
}

/// `pg_stat_archiver` and the archiving settings of any node (a standby counts only with
/// archive_mode = always, and says so with its zeros).
fn archiving(out: &mut Families, n: &[&str; 2], state: &NodeState) {
    if let Some(a) = &state.archiver {
        if let Some(c) = a.archived_count {
            out.push(&defs::ARCHIVER_ARCHIVED_TOTAL, n, c as f64);
        }
        if let Some(c) = a.failed_count {
            out.push(&defs::ARCHIVER_FAILED_TOTAL, n, c as f64);
        }
        if let Some(t) = a.last_archived_time {
            out.push(&defs::ARCHIVER_LAST_ARCHIVED_TIMESTAMP_SECONDS, n, t);
            out.push(
                &defs::ARCHIVER_LAST_ARCHIVED_AGE_SECONDS,
                n,
                age(state.server_now, t),
            );
        }
        if let Some(t) = a.last_failed_time {
            out.push(&defs::ARCHIVER_LAST_FAILED_TIMESTAMP_SECONDS, n, t);
        }
    }
    if let Some(r) = &state.recovery {
        if let Some(mode) = &r.archive_mode {
            out.one_hot(&defs::ARCHIVER_MODE, n, ARCHIVE_MODES, mode);
        }
        if let Some(t) = r.archive_timeout_seconds() {
            out.push(&defs::ARCHIVER_TIMEOUT_SECONDS, n, t);
        }
    }
}

/// A walsender on a logical slot: a subscriber or a decoding client, reported apart from the
/// standbys so that no standby rule applies to it; keyed by its slot (stable across reconnects).
fn logical_walsender(
    out: &mut Families,
    cluster: &str,
    node: &str,
    state: &NodeState,
    ws: &Walsender,
) {
    // A logical walsender whose slot is not known yet (it does not hold one yet, or it made it
    // since the last slow round): its series come once the slot is, a round or so later.
    let Some(slot) = ws.slot_name.as_deref() else {
        return;
    };
    // The same cumulative stage rule as a standby's (core::stage).
    let lag = stage::lag(state.wal_lsn, ws);
    let stages = [
        ("flush", lag.flush),
        ("replay", lag.replay),
        ("sent", lag.sent),
        ("write", lag.write),
    ];
    for (stage, bytes) in stages {
        if let Some(b) = bytes {
            out.push(
                &defs::LOGICAL_WALSENDER_LAG_BYTES,
                &[cluster, node, slot, stage],
                b as f64,
            );
        }
    }
    if let Some(s) = &ws.state {
        out.one_hot(
            &defs::LOGICAL_WALSENDER_STATE,
            &[cluster, node, slot],
            STANDBY_STATES,
            s,
        );
    }
}

/// §12: one subscription of `node`. Its publisher is the one polled node (of any cluster, other
/// than the subscriber) holding a logical slot of the subscription's slot name; with none, or
/// more than one, the lag is unknown and absent.
fn subscription(
    out: &mut Families,
    snapshot: &Snapshot,
    cluster: &str,
    node: &NodeReport,
    state: &NodeState,
    sub: &Subscription,
) {
    let l = [cluster, node.name.as_str(), sub.name.as_str()];
    if let Some(e) = sub.enabled {
        out.push(&defs::SUBSCRIPTION_ENABLED, &l, flag(e));
    }
    if let Some(r) = sub.worker_running {
        out.push(&defs::SUBSCRIPTION_WORKER_RUNNING, &l, flag(r));
    }
    if let Some(lsn) = sub.received_lsn {
        out.push(&defs::SUBSCRIPTION_RECEIVED_LSN_BYTES, &l, lsn.as_f64());
    }
    if let Some(lsn) = sub.latest_end_lsn {
        out.push(&defs::SUBSCRIPTION_LATEST_END_LSN_BYTES, &l, lsn.as_f64());
    }
    if let Some(t) = sub.last_msg_receipt_time {
        out.push(
            &defs::SUBSCRIPTION_LAST_MESSAGE_AGE_SECONDS,
            &l,
            age(state.server_now, t),
        );
    }
    if let Some(c) = sub.apply_error_count {
        out.push(&defs::SUBSCRIPTION_APPLY_ERRORS_TOTAL, &l, c as f64);
    }
    if let Some(c) = sub.sync_error_count {
        out.push(&defs::SUBSCRIPTION_SYNC_ERRORS_TOTAL, &l, c as f64);
    }
    // No pg_subscription_rel row is no table (the catalog is readable by every role).
    let tables = sub.tables.clone().unwrap_or_default();
    for (code, name) in SUBSCRIPTION_TABLE_STATES {
        let n = tables.get(*code).copied().unwrap_or(0);
        out.push(
            &defs::SUBSCRIPTION_TABLES,
            &[l[0], l[1], l[2], name],
            n as f64,
        );
    }
    let Some(slot_name) = sub.slot_name.as_deref() else {
        return;
    };
    let mut publishers = snapshot.clusters.iter().flat_map(|c| {
        c.nodes.iter().filter_map(move |n| {
            let s = n.state.as_ref()?;
            let same = c.name == cluster && n.name == node.name;
            let slot = s
                .slots
                .iter()
                .find(|x| x.slot_type == "logical" && x.slot_name == slot_name)?;
            (!same).then_some((c.name.as_str(), n.name.as_str(), s, slot))
        })
    });
    let (Some((pub_cluster, pub_node, pub_state, slot)), None) =
        (publishers.next(), publishers.next())
    else {
        return;
    };
    out.push(
        &defs::SUBSCRIPTION_PUBLISHER_INFO,
        &[l[0], l[1], l[2], pub_cluster, pub_node, slot_name],
        1.0,
    );
    let reported = sub.latest_end_lsn.or(slot.confirmed_flush_lsn);
    if let (Some(current), Some(reported)) = (pub_state.wal_lsn, reported) {
        out.push(
            &defs::SUBSCRIPTION_LAG_BYTES,
            &l,
            current.bytes_since(reported) as f64,
        );
    }
}

/// The `standby` label: the configured node of this cluster whose `application_name` matches,
/// else the raw `application_name`. Case-insensitive (ASCII) because PostgreSQL matches
/// `synchronous_standby_names` against `application_name` that way.
fn standby_label<'a>(cluster: &'a ClusterSnapshot, application_name: &'a str) -> &'a str {
    cluster
        .nodes
        .iter()
        .find(|n| n.application_name.eq_ignore_ascii_case(application_name))
        .map_or(application_name, |n| n.name.as_str())
}

/// §4.4: one row of `pg_replication_slots`.
fn replication_slot(out: &mut Families, cluster: &str, node: &str, state: &NodeState, slot: &Slot) {
    let l = [
        cluster,
        node,
        slot.slot_name.as_str(),
        slot.slot_type.as_str(),
        slot.database.as_deref().unwrap_or(""),
    ];
    let pos = state.wal_lsn;
    if let (Some(pos), Some(restart)) = (pos, slot.restart_lsn) {
        out.push(
            &defs::SLOT_RETAINED_BYTES,
            &l,
            pos.bytes_since(restart) as f64,
        );
    }
    out.push(&defs::SLOT_ACTIVE, &l, flag(slot.active));
    if let Some(ws) = &slot.wal_status {
        out.one_hot(&defs::SLOT_WAL_STATUS, &l, SLOT_WAL_STATUSES, ws);
    }
    if let Some(size) = slot.safe_wal_size {
        // Negative once the slot's restart_lsn is already past the limit: keep the sign.
        out.push(&defs::SLOT_SAFE_WAL_SIZE_BYTES, &l, size as f64);
    }
    if slot.slot_type == "logical"
        && let (Some(pos), Some(confirmed)) = (pos, slot.confirmed_flush_lsn)
    {
        out.push(
            &defs::SLOT_CONFIRMED_FLUSH_LAG_BYTES,
            &l,
            pos.bytes_since(confirmed) as f64,
        );
    }
    if let Some(a) = slot.xmin_age {
        out.push(&defs::SLOT_XMIN_AGE, &l, a as f64);
    }
    if let Some(a) = slot.catalog_xmin_age {
        out.push(&defs::SLOT_CATALOG_XMIN_AGE, &l, a as f64);
    }
    if let Some(t) = slot.inactive_since {
        out.push(&defs::SLOT_INACTIVE_SINCE_TIMESTAMP_SECONDS, &l, t);
    }
    if let Some(c) = slot.conflicting {
        out.push(&defs::SLOT_CONFLICTING, &l, flag(c));
    }
    let with_reason = |reason: &'_ str| [l[0], l[1], l[2], l[3], l[4], reason].map(str::to_owned);
    match slot
        .invalidation_reason
        .as_deref()
        .filter(|r| !r.is_empty())
    {
        Some(reason) => out.push_owned(&defs::SLOT_INVALIDATED, with_reason(reason), 1.0),
        None if state.server_version_num >= INVALIDATION_REASON_SINCE => {
            out.push_owned(&defs::SLOT_INVALIDATED, with_reason(""), 0.0)
        }
        // Before PostgreSQL 17 the server does not say: unknown, so absent.
        None => {}
    }
}

/// §4.5: the cross-node view.
fn cluster_view(out: &mut Families, snapshot: &Snapshot, cluster: &ClusterSnapshot) {
    let c = [cluster.name.as_str()];
    let v = &cluster.view;
    if let Some(sc) = v.is_standby_cluster {
        out.push(&defs::CLUSTER_IS_STANDBY_CLUSTER, &c, flag(sc));
    }
    if let Some((host, port)) = &v.source {
        out.push(
            &defs::CLUSTER_SOURCE_INFO,
            &[&cluster.name, host, port],
            1.0,
        );
        if let Some(lag) = source_lag(snapshot, cluster, host, port) {
            out.push(&defs::CLUSTER_SOURCE_LAG_BYTES, &c, lag as f64);
        }
    }
    out.push(&defs::CLUSTER_PRIMARIES, &c, f64::from(v.primaries));
    out.push(&defs::EXPORTER_ROUNDS_LATE_TOTAL, &c, v.rounds_late as f64);
    out.push(&defs::CLUSTER_NODES_UP, &c, f64::from(v.nodes_up));
    out.push(
        &defs::CLUSTER_NODES_CONFIGURED,
        &c,
        f64::from(v.nodes_configured),
    );
    out.push(&defs::CLUSTER_TIMELINES, &c, f64::from(v.timelines));
    out.push(
        &defs::CLUSTER_SYSTEM_IDENTIFIERS,
        &c,
        f64::from(v.system_identifiers),
    );
    for s in &v.standbys {
        let n = [cluster.name.as_str(), s.node.as_str()];
        if let Some(streaming) = s.streaming {
            out.push(&defs::STANDBY_STREAMING, &n, flag(streaming));
        }
        if let Some(b) = s.lag_bytes {
            out.push(&defs::STANDBY_LAG_BYTES, &n, b as f64);
        }
        if let Some(secs) = s.lag_seconds {
            out.push(&defs::STANDBY_LAG_SECONDS, &n, secs);
        }
    }
    if let Some(b) = v.rpo_bytes {
        out.push(&defs::CLUSTER_RPO_BYTES, &c, b as f64);
    }
    out.push(&defs::CLUSTER_FAILOVERS_TOTAL, &c, v.failovers_total as f64);
    if let Some(t) = v.last_failover_timestamp {
        out.push(&defs::CLUSTER_LAST_FAILOVER_TIMESTAMP_SECONDS, &c, t);
    }
    if let Some(d) = v.last_failover_duration {
        out.push(&defs::CLUSTER_LAST_FAILOVER_DURATION_SECONDS, &c, d);
    }
}

/// The link of a standby cluster: the source's current LSN − the leader's replay LSN, when the
/// source (matched by configured host and port) is a reachable primary of another cluster.
fn source_lag(
    snapshot: &Snapshot,
    cluster: &ClusterSnapshot,
    host: &str,
    port: &str,
) -> Option<u64> {
    let leader = cluster.view.standby_leader.as_deref()?;
    let replay = cluster
        .nodes
        .iter()
        .find(|n| n.name == leader)?
        .state
        .as_ref()?
        .replay_lsn?;
    let source = snapshot
        .clusters
        .iter()
        .filter(|c| c.name != cluster.name)
        .flat_map(|c| &c.nodes)
        .find(|n| {
            n.address
                .as_ref()
                .is_some_and(|(h, p)| h.eq_ignore_ascii_case(host) && p.to_string() == port)
        })?;
    let state = source.state.as_ref().filter(|s| !s.in_recovery)?;
    Some(state.wal_lsn?.bytes_since(replay))
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// `now − then` in seconds, never negative: `now()` is the statement's start, so a message
/// received during the statement, or a standby clock slightly ahead (reply_time is stamped by the
/// standby), would otherwise read as a negative age.
fn age(now: f64, then: f64) -> f64 {
    (now - then).max(0.0)
}

/// Most labels a family has (the slot families' five, plus one for a one-hot value, with room).
const MAX_LABELS: usize = 8;

/// One series: its label values, in the order of its family's label names, and its value. The
/// values are kept in their family's buffer ([`Family::values`]), not in a string of each
/// series: a 1000-node page has tens of thousands of series, and one allocation each was most
/// of the page builder's allocations.
struct Series {
    /// Where the first label value starts in the family's buffer; value `i` ends at `ends[i]`.
    start: u32,
    ends: [u32; MAX_LABELS],
    count: u8,
    value: f64,
}

impl Series {
    /// The label values, in order (compared as tuples of strings when sorting a family), out
    /// of `buffer`, the family's [`Family::values`].
    fn label_values<'a>(&self, buffer: &'a str) -> impl Iterator<Item = &'a str> + use<'a> {
        let ends = self.ends;
        let start = self.start;
        (0..usize::from(self.count)).map(move |i| {
            let from = if i == 0 { start } else { ends[i - 1] } as usize;
            &buffer[from..ends[i] as usize]
        })
    }

    /// The bytes of its label values.
    fn values_len(&self) -> usize {
        match self.count {
            0 => 0,
            n => (self.ends[usize::from(n) - 1] - self.start) as usize,
        }
    }

    /// `name{label="value",…} value` and a newline, as `prometheus::TextEncoder` writes a
    /// sample (label values escaped, the value as Rust's `Display` of an `f64`).
    fn write(&self, text: &mut String, def: &Def, buffer: &str) {
        use std::fmt::Write as _;
        text.push_str(def.name);
        let mut separator = '{';
        for (name, value) in def.labels.iter().zip(self.label_values(buffer)) {
            text.push(separator);
            text.push_str(name);
            text.push_str("=\"");
            push_escaped(text, value);
            text.push('"');
            separator = ',';
        }
        if separator == ',' {
            text.push('}');
        }
        text.push(' ');
        let _ = write!(text, "{}", self.value);
        text.push('\n');
    }
}

/// A label value as the text format escapes it: `\\`, `\"` and `\n`.
fn push_escaped(text: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        text.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => text.push_str("\\\\"),
            '"' => text.push_str("\\\""),
            '\n' => text.push_str("\\n"),
            c => text.push(c),
        }
    }
}

/// One family's series during a render, their label values one after the other in `values`.
#[derive(Default)]
struct Family {
    values: String,
    series: Vec<Series>,
}

impl Family {
    fn push<S: AsRef<str>>(&mut self, def: &Def, values: impl IntoIterator<Item = S>, value: f64) {
        let mut series = Series {
            start: self.values.len() as u32,
            ends: [0; MAX_LABELS],
            count: 0,
            value,
        };
        for v in values {
            let i = usize::from(series.count);
            assert!(i < MAX_LABELS, "more than {MAX_LABELS} labels");
            self.values.push_str(v.as_ref());
            series.ends[i] = self.values.len() as u32;
            series.count += 1;
        }
        debug_assert_eq!(
            usize::from(series.count),
            def.labels.len(),
            "label values of {}",
            def.name
        );
        self.series.push(series);
    }

    /// Sorts the series by label values and drops duplicate label sets.
    fn settle(&mut self) {
        let Family { values, series } = self;
        let values = values.as_str();
        // Series mostly arrive in order already (slots and walsenders come sorted from SQL,
        // enum values are listed sorted); checking is linear, sorting is not.
        if !series.is_sorted_by(|a, b| a.label_values(values).le(b.label_values(values))) {
            series.sort_by(|a, b| a.label_values(values).cmp(b.label_values(values)));
        }
        // Two series with one label set make Prometheus reject the whole scrape; that can
        // happen when two walsenders share an application_name. Keep the first.
        series.dedup_by(|a, b| a.label_values(values).eq(b.label_values(values)));
    }
}

/// Series collected per family during one render.
#[derive(Default)]
struct Families {
    series: HashMap<&'static str, Family, rustc_hash::FxBuildHasher>,
}

impl Families {
    /// One series; `values` are the label values in the order of `def.labels`.
    fn push(&mut self, def: &'static Def, values: &[&str], value: f64) {
        self.family(def).push(def, values, value);
    }

    fn push_owned(
        &mut self,
        def: &'static Def,
        values: impl IntoIterator<Item = String>,
        value: f64,
    ) {
        self.family(def).push(def, values, value);
    }

    fn family(&mut self, def: &'static Def) -> &mut Family {
        self.series.entry(def.name).or_default()
    }

    /// node_exporter-style enum: one series per known value, 1 for `current`. A value this
    /// exporter does not know (a newer PostgreSQL) gets a series of its own rather than making
    /// every known value read 0 with no hint why.
    fn one_hot(&mut self, def: &'static Def, base: &[&str], known: &[&str], current: &str) {
        let family = self.family(def);
        let labels = |value| base.iter().copied().chain(std::iter::once(value));
        for value in known {
            family.push(def, labels(*value), flag(*value == current));
        }
        if !known.contains(&current) {
            family.push(def, labels(current), 1.0);
        }
    }

    /// The chunk of these families (its cluster left empty): each family's sample lines, in
    /// text format without HELP and TYPE, in [`defs::ALL`] order, written directly, byte for
    /// byte what `prometheus::TextEncoder` writes (the golden test compares), without building
    /// its protobuf tree first. The families are left empty with their buffers, for the next
    /// cluster (see [`Scratch`]).
    fn encode_bodies(&mut self) -> Chunk {
        let mut size = 0;
        let mut count = 0;
        for def in defs::ALL {
            if let Some(family) = self.series.get_mut(def.name)
                && !family.series.is_empty()
            {
                family.settle();
                size += family
                    .series
                    .iter()
                    .map(|s| def.name.len() + s.values_len() + 16 * def.labels.len() + 24)
                    .sum::<usize>();
                count += 1;
            }
        }
        let mut text = String::with_capacity(size);
        let mut spans = Vec::with_capacity(count);
        for (index, def) in defs::ALL.iter().enumerate() {
            let Some(family) = self.series.get_mut(def.name) else {
                continue;
            };
            if family.series.is_empty() {
                continue;
            }
            let start = text.len();
            for s in &family.series {
                s.write(&mut text, def, &family.values);
            }
            spans.push(Span {
                family: index as u32,
                start: offset(start),
                end: offset(text.len()),
            });
            family.values.clear();
            family.series.clear();
        }
        // A family rendered but missing from defs::ALL would vanish silently.
        debug_assert!(
            self.series.values().all(|f| f.series.is_empty()),
            "families missing from defs::ALL"
        );
        // A page keeps its clusters' chunks (and the next page those that did not change):
        // the estimate's spare room would stay resident with them.
        text.shrink_to_fit();
        Chunk {
            cluster: String::new(),
            text,
            spans,
        }
    }

    /// The families with series, in [`defs::ALL`] order, each settled (see [`Family::settle`]).
    fn finish(mut self) -> Vec<(usize, &'static Def, Family)> {
        let mut families = Vec::new();
        for (index, def) in defs::ALL.iter().enumerate() {
            let Some(mut family) = self.series.remove(def.name) else {
                continue;
            };
            family.settle();
            families.push((index, *def, family));
        }
        debug_assert!(
            self.series.is_empty(),
            "families missing from defs::ALL: {:?}",
            self.series.keys().collect::<Vec<_>>()
        );
        families
    }

    /// The families as the `prometheus` crate's protobuf tree (what a `Registry` gathers).
    fn into_proto(self) -> Vec<MetricFamily> {
        self.finish()
            .into_iter()
            .map(|(_, def, family)| {
                let metrics = family
                    .series
                    .iter()
                    .map(|s| {
                        let labels: Vec<LabelPair> = def
                            .labels
                            .iter()
                            .zip(s.label_values(&family.values))
                            .map(|(name, value)| {
                                let mut pair = LabelPair::default();
                                pair.set_name((*name).to_owned());
                                pair.set_value(value.to_owned());
                                pair
                            })
                            .collect();
                        let mut metric = proto::Metric::from_label(labels);
                        match def.kind {
                            Kind::Gauge => {
                                let mut g = proto::Gauge::default();
                                g.set_value(s.value);
                                metric.set_gauge(g);
                            }
                            Kind::Counter => {
                                let mut c = proto::Counter::default();
                                c.set_value(s.value);
                                metric.set_counter(c);
                            }
                        }
                        metric
                    })
                    .collect();
                let mut family = MetricFamily::default();
                family.set_name(def.name.to_owned());
                family.set_help(def.help.to_owned());
                family.set_field_type(match def.kind {
                    Kind::Gauge => MetricType::GAUGE,
                    Kind::Counter => MetricType::COUNTER,
                });
                family.set_metric(metrics);
                family
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
