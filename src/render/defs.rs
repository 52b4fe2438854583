//! The exported metric families: name, type, HELP text and label names of each (SPEC §4).
//!
//! This table is the single source for both the rendered families and the collector's
//! descriptors, so a name or label set can only be changed in one place. Renaming a metric or a
//! label is a breaking change for dashboards and alert rules (CHANGELOG.md says so).

/// Prometheus type of a family (only the two this exporter emits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// One metric family: everything about it except its series.
#[derive(Debug, PartialEq, Eq)]
pub struct Def {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Label names, in the order they are written.
    pub labels: &'static [&'static str],
}

const CLUSTER: &[&str] = &["cluster"];
const NODE: &[&str] = &["cluster", "node"];
const WALSENDER: &[&str] = &["cluster", "node", "standby"];
const WALSENDER_STAGE: &[&str] = &["cluster", "node", "standby", "stage"];
const SLOT: &[&str] = &["cluster", "node", "slot", "slot_type", "database"];
const LOGICAL_WALSENDER_STAGE: &[&str] = &["cluster", "node", "slot", "stage"];
const SUBSCRIPTION: &[&str] = &["cluster", "node", "subscription"];

const fn gauge(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Def {
    Def {
        name,
        help,
        kind: Kind::Gauge,
        labels,
    }
}

const fn counter(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Def {
    Def {
        name,
        help,
        kind: Kind::Counter,
        labels,
    }
}

// §4.1 Exporter and node health.

pub const UP: Def = gauge(
    "pg_replication_up",
    "1 if the exporter's last poll of the node succeeded, 0 if it failed.",
    NODE,
);
pub const POLL_DURATION_SECONDS: Def = gauge(
    "pg_replication_poll_duration_seconds",
    "Seconds the exporter's last poll of the node took, measured by the exporter.",
    NODE,
);
pub const POLL_ERRORS_TOTAL: Def = counter(
    "pg_replication_poll_errors_total",
    "Failed polls of the node since the exporter started, by kind of error (connect, auth, tls, timeout, query, privilege).",
    &["cluster", "node", "kind"],
);
pub const LAST_POLL_SUCCESS_TIMESTAMP_SECONDS: Def = gauge(
    "pg_replication_last_poll_success_timestamp_seconds",
    "Unix time in seconds of the exporter's last successful poll of the node.",
    NODE,
);
pub const PRIVILEGE_MISSING: Def = gauge(
    "pg_replication_privilege_missing",
    "1 when the exporter's role cannot see the replication columns (it needs pg_monitor or pg_read_all_stats), so their series are absent; 0 otherwise.",
    NODE,
);
pub const EXPORTER_BUILD_INFO: Def = gauge(
    "pg_replication_exporter_build_info",
    "Always 1; the labels give the exporter's version and source revision.",
    &["version", "revision"],
);
pub const EXPORTER_SHARD_INFO: Def = gauge(
    "pg_replication_exporter_shard_info",
    "Always 1; the labels give this exporter's shard index and the shard count of its fleet ([shard], SPEC §11; 0 of 1 without it).",
    &["index", "count"],
);
pub const EXPORTER_CLUSTERS: Def = gauge(
    "pg_replication_exporter_clusters",
    "Configured clusters by state: owned (this exporter's shard polls them) or skipped (another shard's, by hashmod of the cluster name).",
    &["state"],
);

pub const CONFIG_LAST_RELOAD_SUCCESSFUL: Def = gauge(
    "pg_replication_exporter_config_last_reload_successful",
    "1 if the last configuration load (the start, SIGHUP or POST /-/reload) was applied, 0 if the file was refused and the previous configuration keeps running.",
    &[],
);
pub const CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS: Def = gauge(
    "pg_replication_exporter_config_last_reload_success_timestamp_seconds",
    "Unix time in seconds of the last successful configuration load.",
    &[],
);

pub const EXPORTER_PAGES_BUILT_TOTAL: Def = counter(
    "pg_replication_exporter_pages_built_total",
    "/metrics pages built since the exporter started (a page is built after the clusters' rounds publish, never by a scrape; publishes that arrive while one is built go into the next); counts the pages before the one served.",
    &[],
);
pub const EXPORTER_PAGE_BUILD_SECONDS_TOTAL: Def = counter(
    "pg_replication_exporter_page_build_seconds_total",
    "Seconds spent building the pages counted in pg_replication_exporter_pages_built_total (rendering the clusters whose rounds changed, merging, gzip): rate() of this over rate() of that is the time per page.",
    &[],
);

pub const EXPORTER_ROUNDS_LATE_TOTAL: Def = counter(
    "pg_replication_exporter_rounds_late_total",
    "Poll rounds of the cluster that took longer than poll.interval since the exporter started, so that the next round started late (a node slower than the interval, or an overloaded exporter).",
    CLUSTER,
);

// §4.2 Node.

pub const NODE_IS_PRIMARY: Def = gauge(
    "pg_replication_node_is_primary",
    "1 if the node is not in recovery (pg_is_in_recovery() is false), 0 if it is a standby.",
    NODE,
);
pub const NODE_INFO: Def = gauge(
    "pg_replication_node_info",
    "Always 1; the labels give server_version and the system_identifier from pg_control_system() (empty when unknown).",
    &["cluster", "node", "server_version", "system_identifier"],
);
pub const NODE_TIMELINE_ID: Def = gauge(
    "pg_replication_node_timeline_id",
    "Timeline the node is on: the timeline of the current WAL on a primary, the WAL receiver's received_tli on a standby (absent while no receiver runs or it is hidden).",
    NODE,
);
pub const NODE_WAL_LSN_BYTES: Def = gauge(
    "pg_replication_node_wal_lsn_bytes",
    "The node's WAL position in bytes: pg_current_wal_lsn() on a primary, pg_last_wal_replay_lsn() on a standby (use rate() for WAL generation).",
    NODE,
);
pub const NODE_RECEIVE_LSN_BYTES: Def = gauge(
    "pg_replication_node_receive_lsn_bytes",
    "Standby: WAL position in bytes received and flushed by the WAL receiver, from pg_last_wal_receive_lsn().",
    NODE,
);
pub const NODE_REPLAY_PAUSED: Def = gauge(
    "pg_replication_node_replay_paused",
    "Standby: 1 if WAL replay is paused or a pause was requested, from pg_get_wal_replay_pause_state() (pg_is_wal_replay_paused() on PostgreSQL 13).",
    NODE,
);
pub const NODE_LAST_REPLAY_TIMESTAMP_SECONDS: Def = gauge(
    "pg_replication_node_last_replay_timestamp_seconds",
    "Standby: Unix time in seconds of the commit of the last transaction replayed, from pg_last_xact_replay_timestamp().",
    NODE,
);
pub const WAL_RECEIVER_STATUS: Def = gauge(
    "pg_replication_wal_receiver_status",
    "Standby: 1 for the current status of the WAL receiver from pg_stat_wal_receiver, 0 for the others; status \"none\" means no WAL receiver runs.",
    &["cluster", "node", "status"],
);
pub const WAL_RECEIVER_LAST_MESSAGE_AGE_SECONDS: Def = gauge(
    "pg_replication_wal_receiver_last_message_age_seconds",
    "Standby: seconds between the server's now() and the last message received from the upstream, from pg_stat_wal_receiver.last_msg_receipt_time.",
    NODE,
);
pub const UPSTREAM_INFO: Def = gauge(
    "pg_replication_upstream_info",
    "Standby: always 1; the labels give the upstream host, port and replication slot of the WAL receiver, from pg_stat_wal_receiver (empty when NULL).",
    &["cluster", "node", "upstream_host", "upstream_port", "slot"],
);
pub const SYNC_STANDBYS_REQUIRED: Def = gauge(
    "pg_replication_sync_standbys_required",
    "Primary: number of synchronous standbys a commit waits for, parsed from the synchronous_standby_names setting (a plain list is 1, empty is 0).",
    NODE,
);
pub const SYNC_CONFIG_INFO: Def = gauge(
    "pg_replication_sync_config_info",
    "Always 1; the labels give the node's synchronous_commit and synchronous_standby_names settings.",
    &[
        "cluster",
        "node",
        "synchronous_commit",
        "synchronous_standby_names",
    ],
);
pub const SYNC_STANDBYS_HEALTHY: Def = gauge(
    "pg_replication_sync_standbys_healthy",
    "Primary: number of walsenders streaming with sync_state sync or quorum, from pg_stat_replication.",
    NODE,
);

// §4.3 Per walsender.

pub const LAG_BYTES: Def = gauge(
    "pg_replication_lag_bytes",
    "Bytes between the sending node's position (current LSN on a primary, replay LSN on a cascading standby) and the standby's LSN at each stage, from pg_stat_replication.",
    WALSENDER_STAGE,
);
pub const LAG_SECONDS: Def = gauge(
    "pg_replication_lag_seconds",
    "Seconds of lag at each stage, from the write_lag, flush_lag and replay_lag columns of pg_stat_replication; 0 when NULL with no byte lag at that stage.",
    WALSENDER_STAGE,
);
pub const SYNC_STATE: Def = gauge(
    "pg_replication_sync_state",
    "1 for the walsender's current sync_state from pg_stat_replication, 0 for the others.",
    &["cluster", "node", "standby", "sync_state"],
);
pub const SYNC_PRIORITY: Def = gauge(
    "pg_replication_sync_priority",
    "Priority of the standby for being chosen as synchronous (0 for asynchronous), from pg_stat_replication.sync_priority.",
    WALSENDER,
);
pub const STANDBY_STATE: Def = gauge(
    "pg_replication_standby_state",
    "1 for the walsender's current state from pg_stat_replication, 0 for the others.",
    &["cluster", "node", "standby", "state"],
);
pub const STANDBY_REPLY_AGE_SECONDS: Def = gauge(
    "pg_replication_standby_reply_age_seconds",
    "Seconds between the sending node's now() and the standby's last reply, from pg_stat_replication.reply_time.",
    WALSENDER,
);

// §4.4 Replication slots.

pub const SLOT_RETAINED_BYTES: Def = gauge(
    "pg_replication_slot_retained_bytes",
    "Bytes of WAL the slot holds back: the node's position (every round) minus restart_lsn from pg_replication_slots (read every poll.slow_interval, default 30s; between two reads an idle slot's is unchanged, and a physical slot a walsender serves takes that walsender's flush_lsn of the round, which is what PostgreSQL sets restart_lsn to; a logical slot's is at most that old).",
    SLOT,
);
pub const SLOT_ACTIVE: Def = gauge(
    "pg_replication_slot_active",
    "1 if a process is using the slot, 0 if not, from pg_replication_slots.active (read every poll.slow_interval, default 30s, and in the round after a walsender came or went).",
    SLOT,
);
pub const SLOT_WAL_STATUS: Def = gauge(
    "pg_replication_slot_wal_status",
    "1 for the slot's current wal_status from pg_replication_slots (reserved, extended, unreserved, lost; read every poll.slow_interval, default 30s), 0 for the others.",
    &[
        "cluster",
        "node",
        "slot",
        "slot_type",
        "database",
        "wal_status",
    ],
);
pub const SLOT_SAFE_WAL_SIZE_BYTES: Def = gauge(
    "pg_replication_slot_safe_wal_size_bytes",
    "Bytes of WAL that can still be written before the slot's WAL is at risk, from pg_replication_slots.safe_wal_size (negative once past it; absent unless max_slot_wal_keep_size is set). Read every poll.slow_interval, default 30s; in the rounds between derived from that reading and how far the node's position moved since (exact for an idle slot: the settings it depends on change only with a reload, which triggers a new reading), and for a physical slot a walsender serves also how far its restart_lsn moved (to within one WAL segment).",
    SLOT,
);
pub const SLOT_CONFIRMED_FLUSH_LAG_BYTES: Def = gauge(
    "pg_replication_slot_confirmed_flush_lag_bytes",
    "Logical slots: bytes between the node's position (every round) and the slot's confirmed_flush_lsn from pg_replication_slots (read every poll.slow_interval, default 30s; between two reads a slot a walsender serves takes that walsender's flush_lsn of the round, which is what PostgreSQL sets confirmed_flush_lsn to).",
    SLOT,
);
pub const SLOT_XMIN_AGE: Def = gauge(
    "pg_replication_slot_xmin_age",
    "Age in transactions of the xmin horizon the slot holds back, age(xmin) from pg_replication_slots (read every poll.slow_interval, default 30s).",
    SLOT,
);
pub const SLOT_CATALOG_XMIN_AGE: Def = gauge(
    "pg_replication_slot_catalog_xmin_age",
    "Age in transactions of the catalog_xmin horizon the slot holds back, age(catalog_xmin) from pg_replication_slots (read every poll.slow_interval, default 30s).",
    SLOT,
);
pub const SLOT_INACTIVE_SINCE_TIMESTAMP_SECONDS: Def = gauge(
    "pg_replication_slot_inactive_since_timestamp_seconds",
    "Unix time in seconds since which the slot has been unused, from pg_replication_slots.inactive_since (PostgreSQL 17+; read every poll.slow_interval, default 30s).",
    SLOT,
);
pub const SLOT_CONFLICTING: Def = gauge(
    "pg_replication_slot_conflicting",
    "1 if the logical slot was invalidated by a recovery conflict, 0 if not, from pg_replication_slots.conflicting (PostgreSQL 16+; read every poll.slow_interval, default 30s).",
    SLOT,
);
pub const SLOT_INVALIDATED: Def = gauge(
    "pg_replication_slot_invalidated",
    "1 with the reason if the slot is invalidated, 0 with an empty reason if not, from pg_replication_slots.invalidation_reason (PostgreSQL 17+; read every poll.slow_interval, default 30s).",
    &["cluster", "node", "slot", "slot_type", "database", "reason"],
);

// §4.5 Cluster view.

pub const CLUSTER_PRIMARIES: Def = gauge(
    "pg_replication_cluster_primaries",
    "Reachable nodes of the cluster not in recovery, as seen by the exporter (anything but 1 means split brain or no primary).",
    CLUSTER,
);
pub const CLUSTER_NODES_UP: Def = gauge(
    "pg_replication_cluster_nodes_up",
    "Configured nodes of the cluster whose last poll by the exporter succeeded.",
    CLUSTER,
);
pub const CLUSTER_NODES_CONFIGURED: Def = gauge(
    "pg_replication_cluster_nodes_configured",
    "Nodes of the cluster in the exporter's configuration.",
    CLUSTER,
);
pub const CLUSTER_TIMELINES: Def = gauge(
    "pg_replication_cluster_timelines",
    "Distinct timeline IDs among the cluster's reachable nodes (more than 1 means divergence).",
    CLUSTER,
);
pub const CLUSTER_SYSTEM_IDENTIFIERS: Def = gauge(
    "pg_replication_cluster_system_identifiers",
    "Distinct system identifiers among the cluster's reachable nodes (more than 1 means a node of another cluster).",
    CLUSTER,
);
pub const STANDBY_STREAMING: Def = gauge(
    "pg_replication_standby_streaming",
    "1 if an upstream lists the standby as streaming in pg_stat_replication (or, when no reachable upstream shows its state, its own WAL receiver streams), else 0; absent when every witness is hidden for lack of pg_monitor.",
    NODE,
);
pub const STANDBY_LAG_BYTES: Def = gauge(
    "pg_replication_standby_lag_bytes",
    "Bytes between the primary's current LSN and the standby's replay LSN, each read from the node itself.",
    NODE,
);
pub const STANDBY_LAG_SECONDS: Def = gauge(
    "pg_replication_standby_lag_seconds",
    "Seconds since the primary's position was where the standby's replay LSN is now, interpolated from the exporter's history of the primary's LSN; 0 when caught up.",
    NODE,
);
pub const CLUSTER_RPO_BYTES: Def = gauge(
    "pg_replication_cluster_rpo_bytes",
    "Bytes of WAL on the primary not yet flushed by the most advanced standby: what a failover now would lose.",
    CLUSTER,
);
pub const CLUSTER_FAILOVERS_TOTAL: Def = counter(
    "pg_replication_cluster_failovers_total",
    "Times the exporter saw the primary change or its timeline rise since the exporter started.",
    CLUSTER,
);
pub const CLUSTER_LAST_FAILOVER_TIMESTAMP_SECONDS: Def = gauge(
    "pg_replication_cluster_last_failover_timestamp_seconds",
    "Unix time in seconds when the exporter last saw the primary change.",
    CLUSTER,
);
pub const CLUSTER_LAST_FAILOVER_DURATION_SECONDS: Def = gauge(
    "pg_replication_cluster_last_failover_duration_seconds",
    "Seconds the cluster had no writable primary during the last failover the exporter saw (observed RTO).",
    CLUSTER,
);

// §8 Patroni.

const PATRONI_INFO_LABELS: &[&str] = &["cluster", "node", "version", "scope"];
const PATRONI_ROLE_LABELS: &[&str] = &["cluster", "node", "role"];
const PATRONI_STATE_LABELS: &[&str] = &["cluster", "node", "state"];
const PATRONI_CONFIG_LABELS: &[&str] = &["cluster", "synchronous_mode", "failsafe_mode"];
const PATRONI_PROMOTION_LABELS: &[&str] = &["cluster", "node", "timeline"];

pub const PATRONI_UP: Def = gauge(
    "pg_replication_patroni_up",
    "1 if the exporter's last GET /patroni of the member's REST API succeeded, 0 if not.",
    NODE,
);
pub const PATRONI_INFO: Def = gauge(
    "pg_replication_patroni_info",
    "Always 1: the Patroni version and scope (cluster name in the DCS) the member reports in GET /patroni.",
    PATRONI_INFO_LABELS,
);
pub const PATRONI_MEMBER: Def = gauge(
    "pg_replication_patroni_member",
    "1 if Patroni's GET /cluster lists the member now, 0 if it was listed before and is gone from the DCS (kept until patroni.forget_after).",
    NODE,
);
pub const PATRONI_ROLE: Def = gauge(
    "pg_replication_patroni_role",
    "Patroni's role of the member from GET /cluster (master and primary read as leader), one series per role, 1 for the current one.",
    PATRONI_ROLE_LABELS,
);
pub const PATRONI_STATE: Def = gauge(
    "pg_replication_patroni_state",
    "Patroni's state of the member's PostgreSQL from GET /cluster, one series per known state (other: a state this exporter does not know), 1 for the current one.",
    PATRONI_STATE_LABELS,
);
pub const PATRONI_PAUSED: Def = gauge(
    "pg_replication_patroni_paused",
    "1 if Patroni is in maintenance mode (pause: no automatic failover), from GET /cluster and /config.",
    CLUSTER,
);
pub const PATRONI_CLUSTER_UNLOCKED: Def = gauge(
    "pg_replication_patroni_cluster_unlocked",
    "1 if no member holds Patroni's leader lock (GET /cluster lists no leader).",
    CLUSTER,
);
pub const PATRONI_LEADER_MISMATCH: Def = gauge(
    "pg_replication_patroni_leader_mismatch",
    "1 if Patroni's leader is not the single primary the exporter's SQL polls see (pg_is_in_recovery()), 0 if they agree; absent when either side is unknown.",
    CLUSTER,
);
pub const PATRONI_DCS_LAST_SEEN_AGE_SECONDS: Def = gauge(
    "pg_replication_patroni_dcs_last_seen_age_seconds",
    "Seconds since the member last reached the DCS (now - dcs_last_seen of GET /patroni).",
    NODE,
);
pub const PATRONI_FAILSAFE_ACTIVE: Def = gauge(
    "pg_replication_patroni_failsafe_active",
    "1 if the member runs in failsafe mode (the DCS is unreachable and the leader keeps its role by the members' consent), from GET /patroni.",
    NODE,
);
pub const PATRONI_PENDING_RESTART: Def = gauge(
    "pg_replication_patroni_pending_restart",
    "1 if a changed setting waits for a restart of the member's PostgreSQL, from GET /patroni.",
    NODE,
);
pub const PATRONI_FAILOVER_CANDIDATE: Def = gauge(
    "pg_replication_patroni_failover_candidate",
    "1 if Patroni would promote this member now by its own rule for its version (nofailover and failover_priority tags, synchronous and quorum mode, maximum_lag_on_failover against the exporter's exact receive and replay LSNs, check_timeline, maintenance mode), 0 if not; absent when it cannot be judged.",
    NODE,
);
pub const PATRONI_FAILOVER_CANDIDATES: Def = gauge(
    "pg_replication_patroni_failover_candidates",
    "Members Patroni would promote now (see pg_replication_patroni_failover_candidate); 0 means no automatic failover is possible.",
    CLUSTER,
);
pub const PATRONI_CONFIG_INFO: Def = gauge(
    "pg_replication_patroni_config_info",
    "Always 1: synchronous_mode (off, on, quorum) and failsafe_mode of Patroni's dynamic configuration (GET /config).",
    PATRONI_CONFIG_LABELS,
);
pub const PATRONI_MAXIMUM_LAG_ON_FAILOVER_BYTES: Def = gauge(
    "pg_replication_patroni_maximum_lag_on_failover_bytes",
    "maximum_lag_on_failover of Patroni's dynamic configuration in bytes (Patroni's default 1 MiB when unset).",
    CLUSTER,
);
pub const PATRONI_TTL_SECONDS: Def = gauge(
    "pg_replication_patroni_ttl_seconds",
    "ttl of Patroni's dynamic configuration: seconds the leader lock lives without renewal.",
    CLUSTER,
);
pub const PATRONI_LOOP_WAIT_SECONDS: Def = gauge(
    "pg_replication_patroni_loop_wait_seconds",
    "loop_wait of Patroni's dynamic configuration: seconds between Patroni's HA loops.",
    CLUSTER,
);
pub const PATRONI_TIMELINE_SWITCHES: Def = gauge(
    "pg_replication_patroni_timeline_switches",
    "Entries in Patroni's timeline history (GET /history): promotions over the cluster's life, kept in the DCS across exporter restarts.",
    CLUSTER,
);
pub const PATRONI_LAST_PROMOTION_TIMESTAMP_SECONDS: Def = gauge(
    "pg_replication_patroni_last_promotion_timestamp_seconds",
    "Unix time in seconds of the last entry of Patroni's timeline history (GET /history).",
    CLUSTER,
);
pub const PATRONI_LAST_PROMOTION_INFO: Def = gauge(
    "pg_replication_patroni_last_promotion_info",
    "Always 1: the member promoted by the last entry of Patroni's timeline history, and the timeline it started.",
    PATRONI_PROMOTION_LABELS,
);
pub const PATRONI_SCHEDULED_SWITCHOVER_TIMESTAMP_SECONDS: Def = gauge(
    "pg_replication_patroni_scheduled_switchover_timestamp_seconds",
    "Unix time in seconds of the switchover Patroni has scheduled (GET /cluster); present only while one is scheduled.",
    CLUSTER,
);
pub const CLUSTER_LAST_FAILOVER_LOST_BYTES: Def = gauge(
    "pg_replication_cluster_last_failover_lost_bytes",
    "Bytes the last failover lost: the last WAL position the exporter saw the old primary write on the old timeline minus the switch LSN of the new timeline (Patroni's GET /history); a lower bound, absent when the exporter did not see the old timeline.",
    CLUSTER,
);

// §12 Replicas behind or not streaming on purpose, archiving, logical subscribers, standby
// clusters.

pub const NODE_APPLY_DELAY_SECONDS: Def = gauge(
    "pg_replication_node_apply_delay_seconds",
    "Standby: recovery_min_apply_delay in seconds (0 when none): replay is held back this long on purpose.",
    NODE,
);
pub const NODE_RECOVERY_SOURCE: Def = gauge(
    "pg_replication_node_recovery_source",
    "Standby: how it is fed WAL, 1 for the current source: stream (a WAL receiver streams), archive (no streaming receiver, restore_command set), none; absent when hidden (no pg_monitor).",
    &["cluster", "node", "source"],
);
pub const NODE_EXPECT_STREAMING: Def = gauge(
    "pg_replication_node_expect_streaming",
    "From the exporter's configuration (expect_streaming): 0 for a node declared fed from the WAL archive by design, 1 otherwise.",
    NODE,
);
pub const ARCHIVER_ARCHIVED_TOTAL: Def = counter(
    "pg_replication_archiver_archived_total",
    "WAL files archived successfully, from pg_stat_archiver.archived_count (since its last reset; read every poll.slow_interval, default 30s).",
    NODE,
);
pub const ARCHIVER_FAILED_TOTAL: Def = counter(
    "pg_replication_archiver_failed_total",
    "Failed attempts to archive a WAL file, from pg_stat_archiver.failed_count (since its last reset; read every poll.slow_interval, default 30s).",
    NODE,
);
pub const ARCHIVER_LAST_ARCHIVED_TIMESTAMP_SECONDS: Def = gauge(
    "pg_replication_archiver_last_archived_timestamp_seconds",
    "Unix time in seconds of the last successful archive_command, from pg_stat_archiver.last_archived_time (read every poll.slow_interval, default 30s).",
    NODE,
);
pub const ARCHIVER_LAST_ARCHIVED_AGE_SECONDS: Def = gauge(
    "pg_replication_archiver_last_archived_age_seconds",
    "Seconds since the last successful archive_command (server now() - pg_stat_archiver.last_archived_time, which is read every poll.slow_interval, default 30s).",
    NODE,
);
pub const ARCHIVER_LAST_FAILED_TIMESTAMP_SECONDS: Def = gauge(
    "pg_replication_archiver_last_failed_timestamp_seconds",
    "Unix time in seconds of the last failed archive_command, from pg_stat_archiver.last_failed_time (read every poll.slow_interval, default 30s).",
    NODE,
);
pub const ARCHIVER_MODE: Def = gauge(
    "pg_replication_archiver_mode",
    "The archive_mode setting, 1 for the current value: off, on, always.",
    &["cluster", "node", "mode"],
);
pub const ARCHIVER_TIMEOUT_SECONDS: Def = gauge(
    "pg_replication_archiver_timeout_seconds",
    "The archive_timeout setting in seconds (0 = off: a quiet primary archives a segment only once it is full).",
    NODE,
);
pub const LOGICAL_WALSENDER_LAG_BYTES: Def = gauge(
    "pg_replication_logical_walsender_lag_bytes",
    "A walsender on a logical slot (a subscriber or decoding client, not a standby): bytes between the node's position and the stage's LSN in pg_stat_replication (sent, write, flush, replay).",
    LOGICAL_WALSENDER_STAGE,
);
pub const LOGICAL_WALSENDER_STATE: Def = gauge(
    "pg_replication_logical_walsender_state",
    "A walsender on a logical slot: pg_stat_replication.state, 1 for the current one.",
    &["cluster", "node", "slot", "state"],
);
pub const SUBSCRIPTION_ENABLED: Def = gauge(
    "pg_replication_subscription_enabled",
    "1 if the subscription is enabled (pg_subscription.subenabled), 0 if disabled.",
    SUBSCRIPTION,
);
pub const SUBSCRIPTION_WORKER_RUNNING: Def = gauge(
    "pg_replication_subscription_worker_running",
    "1 if the subscription's apply worker runs (pg_stat_subscription.pid), 0 if not.",
    SUBSCRIPTION,
);
pub const SUBSCRIPTION_RECEIVED_LSN_BYTES: Def = gauge(
    "pg_replication_subscription_received_lsn_bytes",
    "pg_stat_subscription.received_lsn of the apply worker, in bytes: the last publisher WAL position received.",
    SUBSCRIPTION,
);
pub const SUBSCRIPTION_LATEST_END_LSN_BYTES: Def = gauge(
    "pg_replication_subscription_latest_end_lsn_bytes",
    "pg_stat_subscription.latest_end_lsn of the apply worker, in bytes: the last publisher position reported back.",
    SUBSCRIPTION,
);
pub const SUBSCRIPTION_LAG_BYTES: Def = gauge(
    "pg_replication_subscription_lag_bytes",
    "Bytes between the publisher's current LSN and the subscription's latest_end_lsn (the publisher's slot confirmed_flush_lsn while no worker runs); only when the publisher is a polled node holding the subscription's slot.",
    SUBSCRIPTION,
);
pub const SUBSCRIPTION_LAST_MESSAGE_AGE_SECONDS: Def = gauge(
    "pg_replication_subscription_last_message_age_seconds",
    "Seconds since the apply worker last heard from the publisher (now() - pg_stat_subscription.last_msg_receipt_time).",
    SUBSCRIPTION,
);
pub const SUBSCRIPTION_APPLY_ERRORS_TOTAL: Def = counter(
    "pg_replication_subscription_apply_errors_total",
    "Errors of the subscription's apply worker, from pg_stat_subscription_stats.apply_error_count (PostgreSQL 15+).",
    SUBSCRIPTION,
);
pub const SUBSCRIPTION_SYNC_ERRORS_TOTAL: Def = counter(
    "pg_replication_subscription_sync_errors_total",
    "Errors of the subscription's table synchronization workers, from pg_stat_subscription_stats.sync_error_count (PostgreSQL 15+).",
    SUBSCRIPTION,
);
pub const SUBSCRIPTION_TABLES: Def = gauge(
    "pg_replication_subscription_tables",
    "Tables of the subscription by pg_subscription_rel.srsubstate: init, data_copy, finished_copy, sync, ready.",
    &["cluster", "node", "subscription", "state"],
);
pub const SUBSCRIPTION_PUBLISHER_INFO: Def = gauge(
    "pg_replication_subscription_publisher_info",
    "Always 1: the polled node holding the subscription's slot (its pg_replication_slot_* series describe the same link from the publisher's side).",
    &[
        "cluster",
        "node",
        "subscription",
        "publisher_cluster",
        "publisher_node",
        "slot",
    ],
);
pub const CLUSTER_IS_STANDBY_CLUSTER: Def = gauge(
    "pg_replication_cluster_is_standby_cluster",
    "1 when the cluster has no writable node and its top node is in recovery replicating from outside the cluster (a standby cluster), else 0.",
    CLUSTER,
);
pub const CLUSTER_SOURCE_INFO: Def = gauge(
    "pg_replication_cluster_source_info",
    "Standby cluster: always 1; the labels give where its standby leader streams from (pg_stat_wal_receiver sender_host and sender_port).",
    &["cluster", "source_host", "source_port"],
);
pub const CLUSTER_SOURCE_LAG_BYTES: Def = gauge(
    "pg_replication_cluster_source_lag_bytes",
    "Standby cluster: bytes between the source's current LSN and the standby leader's replay LSN, when the source is a polled primary of another configured cluster.",
    CLUSTER,
);

// §9 Front-ends: the VIP (postgres kind), pgpool-II, pgbouncer.

const ENDPOINT: &[&str] = &["cluster", "endpoint"];
const ENDPOINT_KIND: &[&str] = &["cluster", "endpoint", "kind"];
const ENDPOINT_NODE: &[&str] = &["cluster", "endpoint", "node"];
const ENDPOINT_DATABASE: &[&str] = &["cluster", "endpoint", "database"];

pub const ENDPOINT_UP: Def = gauge(
    "pg_replication_endpoint_up",
    "1 if the exporter's last check through the front-end (kind postgres: a session through it; pgpool: SHOW POOL_NODES; pgbouncer: its admin console) succeeded, 0 if not.",
    ENDPOINT_KIND,
);
pub const ENDPOINT_CHECK_DURATION_SECONDS: Def = gauge(
    "pg_replication_endpoint_check_duration_seconds",
    "Seconds the last check through the front-end took, connect (when a new session was needed) included: as a client feels it.",
    ENDPOINT,
);
pub const ENDPOINT_ERRORS_TOTAL: Def = counter(
    "pg_replication_endpoint_errors_total",
    "Failed checks through the front-end by kind: connect, auth, tls, timeout (no answer within the endpoint's timeout: a hung front-end), query.",
    &["cluster", "endpoint", "kind"],
);
pub const ENDPOINT_TARGET: Def = gauge(
    "pg_replication_endpoint_target",
    "1 for the node the front-end led to (kind postgres: the node that answered, by system identifier and pg_postmaster_start_time(); pgpool: the backend it writes to), 0 for the other polled nodes; node=\"unknown\" when none of them; absent while the front-end is down.",
    ENDPOINT_NODE,
);
pub const ENDPOINT_IS_PRIMARY: Def = gauge(
    "pg_replication_endpoint_is_primary",
    "1 if the session through the front-end is writable (pg_is_in_recovery() false); pgpool: 1 if the backend it writes to is a primary by its direct poll.",
    ENDPOINT,
);
pub const ENDPOINT_EXPECTATION_MET: Def = gauge(
    "pg_replication_endpoint_expectation_met",
    "1 if the front-end leads where its expect says (primary: the cluster's one primary; standby: a node in recovery; any: a node of the cluster), 0 if not (a VIP on a demoted primary); absent when unknown.",
    ENDPOINT,
);
pub const PGPOOL_BACKEND_STATUS: Def = gauge(
    "pg_replication_pgpool_backend_status",
    "pgpool-II's status of the backend (SHOW POOL_HEALTH_CHECK_STATS status each check; SHOW POOL_NODES before 4.1), 1 for the current one: up, waiting, down, quarantine, unused.",
    &["cluster", "endpoint", "node", "status"],
);
pub const PGPOOL_BACKEND_ROLE: Def = gauge(
    "pg_replication_pgpool_backend_role",
    "pgpool-II's belief about the backend's role (SHOW POOL_HEALTH_CHECK_STATS role each check; SHOW POOL_NODES before 4.1), 1 for the current one: primary, standby.",
    &["cluster", "endpoint", "node", "role"],
);
pub const PGPOOL_BACKEND_ROLE_CORRECT: Def = gauge(
    "pg_replication_pgpool_backend_role_correct",
    "1 if pgpool-II's role for the backend is the node's real role by the exporter's direct poll, 0 if not; absent while the node is not polled successfully.",
    ENDPOINT_NODE,
);
pub const PGPOOL_BACKEND_LISTED: Def = gauge(
    "pg_replication_pgpool_backend_listed",
    "1 if pgpool-II lists the node as a backend (SHOW POOL_NODES), 0 for a polled node of the cluster it does not know.",
    ENDPOINT_NODE,
);
pub const PGPOOL_BACKEND_REPLICATION_DELAY_BYTES: Def = gauge(
    "pg_replication_pgpool_backend_replication_delay_bytes",
    "Standby backend: the replication delay in bytes as pgpool-II reports it (SHOW POOL_NODES replication_delay: its sr_check, not the exporter's measure), read every pool_nodes_interval (default 30s).",
    ENDPOINT_NODE,
);
pub const PGPOOL_BACKEND_REPLICATION_DELAY_SECONDS: Def = gauge(
    "pg_replication_pgpool_backend_replication_delay_seconds",
    "Standby backend: the replication delay in seconds as pgpool-II 4.4+ reports it when delay_threshold_by_time is set (\"0.000568 second\"), read every pool_nodes_interval (default 30s).",
    ENDPOINT_NODE,
);
pub const PGPOOL_BACKEND_SELECTS_TOTAL: Def = counter(
    "pg_replication_pgpool_backend_selects_total",
    "SELECT statements pgpool-II sent to the backend (select_cnt of SHOW POOL_BACKEND_STATS, 4.3+, else of SHOW POOL_NODES), since pgpool started.",
    ENDPOINT_NODE,
);
pub const PGPOOL_BACKEND_HEALTH_CHECK_FAILURES_TOTAL: Def = counter(
    "pg_replication_pgpool_backend_health_check_failures_total",
    "Failed health checks of the backend (SHOW POOL_HEALTH_CHECK_STATS fail_count, pgpool-II 4.1+).",
    ENDPOINT_NODE,
);
pub const PGBOUNCER_DATABASE_TARGET: Def = gauge(
    "pg_replication_pgbouncer_database_target",
    "1 for the node the pgbouncer database routes to (SHOW DATABASES host and port; node=\"host:port\" when no polled node has that address).",
    &["cluster", "endpoint", "database", "node"],
);
pub const PGBOUNCER_DATABASE_EXPECTATION_MET: Def = gauge(
    "pg_replication_pgbouncer_database_expectation_met",
    "1 if the pgbouncer database routes where expect_databases says (primary: the cluster's one primary; standby: a node in recovery; any: a polled node), 0 if not; absent when unknown.",
    ENDPOINT_DATABASE,
);
pub const PGBOUNCER_CLIENTS_WAITING: Def = gauge(
    "pg_replication_pgbouncer_clients_waiting",
    "Clients of the pgbouncer database waiting for a server connection (SHOW POOLS cl_waiting, summed over its pools).",
    ENDPOINT_DATABASE,
);
pub const PGBOUNCER_MAX_WAIT_SECONDS: Def = gauge(
    "pg_replication_pgbouncer_max_wait_seconds",
    "Seconds the oldest waiting client of the pgbouncer database has waited (SHOW POOLS maxwait and maxwait_us, the longest over its pools).",
    ENDPOINT_DATABASE,
);

/// Every family, sorted by name (the order they are rendered in).
pub const ALL: &[&Def] = &[
    &ARCHIVER_ARCHIVED_TOTAL,
    &ARCHIVER_FAILED_TOTAL,
    &ARCHIVER_LAST_ARCHIVED_AGE_SECONDS,
    &ARCHIVER_LAST_ARCHIVED_TIMESTAMP_SECONDS,
    &ARCHIVER_LAST_FAILED_TIMESTAMP_SECONDS,
    &ARCHIVER_MODE,
    &ARCHIVER_TIMEOUT_SECONDS,
    &CLUSTER_FAILOVERS_TOTAL,
    &CLUSTER_IS_STANDBY_CLUSTER,
    &CLUSTER_LAST_FAILOVER_DURATION_SECONDS,
    &CLUSTER_LAST_FAILOVER_LOST_BYTES,
    &CLUSTER_LAST_FAILOVER_TIMESTAMP_SECONDS,
    &CLUSTER_NODES_CONFIGURED,
    &CLUSTER_NODES_UP,
    &CLUSTER_PRIMARIES,
    &CLUSTER_RPO_BYTES,
    &CLUSTER_SOURCE_INFO,
    &CLUSTER_SOURCE_LAG_BYTES,
    &CLUSTER_SYSTEM_IDENTIFIERS,
    &CLUSTER_TIMELINES,
    &ENDPOINT_CHECK_DURATION_SECONDS,
    &ENDPOINT_ERRORS_TOTAL,
    &ENDPOINT_EXPECTATION_MET,
    &ENDPOINT_IS_PRIMARY,
    &ENDPOINT_TARGET,
    &ENDPOINT_UP,
    &EXPORTER_BUILD_INFO,
    &EXPORTER_CLUSTERS,
    &CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
    &CONFIG_LAST_RELOAD_SUCCESSFUL,
    &EXPORTER_PAGE_BUILD_SECONDS_TOTAL,
    &EXPORTER_PAGES_BUILT_TOTAL,
    &EXPORTER_ROUNDS_LATE_TOTAL,
    &EXPORTER_SHARD_INFO,
    &LAG_BYTES,
    &LAG_SECONDS,
    &LAST_POLL_SUCCESS_TIMESTAMP_SECONDS,
    &LOGICAL_WALSENDER_LAG_BYTES,
    &LOGICAL_WALSENDER_STATE,
    &NODE_APPLY_DELAY_SECONDS,
    &NODE_EXPECT_STREAMING,
    &NODE_INFO,
    &NODE_IS_PRIMARY,
    &NODE_LAST_REPLAY_TIMESTAMP_SECONDS,
    &NODE_RECEIVE_LSN_BYTES,
    &NODE_RECOVERY_SOURCE,
    &NODE_REPLAY_PAUSED,
    &NODE_TIMELINE_ID,
    &NODE_WAL_LSN_BYTES,
    &PATRONI_CLUSTER_UNLOCKED,
    &PATRONI_CONFIG_INFO,
    &PATRONI_DCS_LAST_SEEN_AGE_SECONDS,
    &PATRONI_FAILOVER_CANDIDATE,
    &PATRONI_FAILOVER_CANDIDATES,
    &PATRONI_FAILSAFE_ACTIVE,
    &PATRONI_INFO,
    &PATRONI_LAST_PROMOTION_INFO,
    &PATRONI_LAST_PROMOTION_TIMESTAMP_SECONDS,
    &PATRONI_LEADER_MISMATCH,
    &PATRONI_LOOP_WAIT_SECONDS,
    &PATRONI_MAXIMUM_LAG_ON_FAILOVER_BYTES,
    &PATRONI_MEMBER,
    &PATRONI_PAUSED,
    &PATRONI_PENDING_RESTART,
    &PATRONI_ROLE,
    &PATRONI_SCHEDULED_SWITCHOVER_TIMESTAMP_SECONDS,
    &PATRONI_STATE,
    &PATRONI_TIMELINE_SWITCHES,
    &PATRONI_TTL_SECONDS,
    &PATRONI_UP,
    &PGBOUNCER_CLIENTS_WAITING,
    &PGBOUNCER_DATABASE_EXPECTATION_MET,
    &PGBOUNCER_DATABASE_TARGET,
    &PGBOUNCER_MAX_WAIT_SECONDS,
    &PGPOOL_BACKEND_HEALTH_CHECK_FAILURES_TOTAL,
    &PGPOOL_BACKEND_LISTED,
    &PGPOOL_BACKEND_REPLICATION_DELAY_BYTES,
    &PGPOOL_BACKEND_REPLICATION_DELAY_SECONDS,
    &PGPOOL_BACKEND_ROLE,
    &PGPOOL_BACKEND_ROLE_CORRECT,
    &PGPOOL_BACKEND_SELECTS_TOTAL,
    &PGPOOL_BACKEND_STATUS,
    &POLL_DURATION_SECONDS,
    &POLL_ERRORS_TOTAL,
    &PRIVILEGE_MISSING,
    &SLOT_ACTIVE,
    &SLOT_CATALOG_XMIN_AGE,
    &SLOT_CONFIRMED_FLUSH_LAG_BYTES,
    &SLOT_CONFLICTING,
    &SLOT_INACTIVE_SINCE_TIMESTAMP_SECONDS,
    &SLOT_INVALIDATED,
    &SLOT_RETAINED_BYTES,
    &SLOT_SAFE_WAL_SIZE_BYTES,
    &SLOT_WAL_STATUS,
    &SLOT_XMIN_AGE,
    &STANDBY_LAG_BYTES,
    &STANDBY_LAG_SECONDS,
    &STANDBY_REPLY_AGE_SECONDS,
    &STANDBY_STATE,
    &STANDBY_STREAMING,
    &SUBSCRIPTION_APPLY_ERRORS_TOTAL,
    &SUBSCRIPTION_ENABLED,
    &SUBSCRIPTION_LAG_BYTES,
    &SUBSCRIPTION_LAST_MESSAGE_AGE_SECONDS,
    &SUBSCRIPTION_LATEST_END_LSN_BYTES,
    &SUBSCRIPTION_PUBLISHER_INFO,
    &SUBSCRIPTION_RECEIVED_LSN_BYTES,
    &SUBSCRIPTION_SYNC_ERRORS_TOTAL,
    &SUBSCRIPTION_TABLES,
    &SUBSCRIPTION_WORKER_RUNNING,
    &SYNC_CONFIG_INFO,
    &SYNC_PRIORITY,
    &SYNC_STANDBYS_HEALTHY,
    &SYNC_STANDBYS_REQUIRED,
    &SYNC_STATE,
    &UP,
    &UPSTREAM_INFO,
    &WAL_RECEIVER_LAST_MESSAGE_AGE_SECONDS,
    &WAL_RECEIVER_STATUS,
];
