//! The one statement the exporter runs on every poll, chosen once per connection for the
//! server's major version.
//!
//! Everything a node knows (role, positions, walsenders, slots, WAL receiver, settings) comes
//! back in ONE row, so a poll is one round trip however many walsenders or slots the node has:
//! the node's values as typed columns and the walsenders as arrays (binary), the slots and
//! settings as a JSON document in the rounds that read them (see [`Read`]); [`decode`] puts
//! them together into a [`crate::core::model::NodeState`].
//! The SQL is data: each version band differs only in the fragments below, and every divergence
//! carries a comment naming the PostgreSQL release that introduced it.

use std::sync::Arc;

use crate::core::lsn::Lsn;
use crate::core::model::{
    Archiver, NodeState, RecoverySettings, Settings, Slot, Subscription, WalReceiver, Walsender,
};

/// The oldest supported major (`wal_status` and `safe_wal_size` appeared in PostgreSQL 13).
pub(crate) const MIN_SUPPORTED: u32 = 130000;
/// The newest major whose query was tested against a real server; newer ones use it too.
pub(crate) const NEWEST_KNOWN: u32 = 180000;

/// Which query a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Band {
    /// 13: no `pg_get_wal_replay_pause_state()`, no slot `conflicting` / `inactive_since`.
    Pg13,
    /// 14: `pg_get_wal_replay_pause_state()` (14+).
    Pg14,
    /// 15: `pg_stat_subscription_stats` (15+).
    Pg15,
    /// 16: slot `conflicting` (16+).
    Pg16,
    /// 17 and newer: slot `inactive_since` and `invalidation_reason` (17+).
    Pg17,
}

/// The longest a full read's idle slots and settings are reused by the fast reads after it. It
/// is a safety net only: a slow round's fast read already runs the full one at once when the
/// idle slots' fingerprint changes (created, dropped, advanced, activated, a `wal_status` step),
/// and every fast read when `pg_conf_load_time()` moves (every setting read changes only on a
/// reload or a restart). An idle slot's retained bytes are exact every round: its
/// `restart_lsn` does not move by itself (what moves it, an advance or a consumer, shows in the
/// next slow round) and the node position is read anew; its `safe_wal_size` is derived from
/// the position at the scan and the position since (see `poller::derive_safe_wal_size`).
pub(crate) const FULL_READ_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

/// What a session reads once, when it opens: the values that cannot change while it lasts
/// (a restart, a pg_upgrade or a restored backup behind the same address ends the session).
/// Reading them in every poll cost ≈ 0.05 ms a poll (`pg_control_system()` reads the control
/// file from disk).
pub(crate) const SESSION: &str = "SELECT current_setting('server_version_num')::int, \
     current_setting('server_encoding'), current_setting('server_version'), \
     (SELECT system_identifier::text FROM pg_control_system()), \
     (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint";

/// What a poll reads: the gates of the band's one statement (its parameters `$2`–`$4`).
///
/// Every poll reads the node's role and positions, the WAL receiver, the walsenders and
/// `pg_conf_load_time()`. The **full** read (on connect, on a change, at the latest every
/// [`FULL_READ_INTERVAL`]) reads everything: every slot and the settings (`current_setting()`
/// and the `pg_settings` rows). The others, **fast** reads, read behind two gates:
/// - `slow`, the slowly-changing parts, in one round of every `poll.slow_interval` (see
///   `poller`): the slots whose values move between rounds (active, or holding a horizon), a
///   fingerprint of the idle ones, `pg_stat_archiver` and the privilege check;
/// - `subscriptions`: in those rounds, and in every round while the node has any.
///
/// A gate on a parameter is a one-time filter of the generic plan (sessions run with
/// `plan_cache_mode = force_generic_plan`): what it closes is not executed at all. One statement
/// rather than one per kind of read: a session keeps each prepared statement's column
/// descriptions (here ≈ 2 KB) and the server its plan.
///
/// The slot scan is O(slots) whatever it returns (`pg_get_replication_slots()` builds every
/// slot's row): 0.34 of the 0.59 ms a primary with 531 slots spent per poll. Measured on
/// PostgreSQL 15 with 530 slots and 30 walsenders: see BENCHMARKS.md ("Where the server time
/// went").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Read {
    pub slow: bool,
    pub subscriptions: bool,
    pub full: bool,
}

impl Read {
    /// The full read: every gate open.
    pub(crate) const FULL: Read = Read {
        slow: true,
        subscriptions: true,
        full: true,
    };
}

/// Why no query fits a server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported PostgreSQL version {major} (server_version_num {version_num}): pg_replication_exporter supports 13 and newer"
)]
pub(crate) struct Unsupported {
    pub version_num: u32,
    pub major: u32,
}

impl Band {
    /// The band for a `server_version_num`; newer-than-known majors get the newest band.
    pub(crate) fn for_version(version_num: u32) -> Result<Band, Unsupported> {
        match version_num {
            v if v < MIN_SUPPORTED => Err(Unsupported {
                version_num: v,
                major: v / 10000,
            }),
            v if v < 140000 => Ok(Band::Pg13),
            v if v < 150000 => Ok(Band::Pg14),
            v if v < 160000 => Ok(Band::Pg15),
            v if v < 170000 => Ok(Band::Pg16),
            _ => Ok(Band::Pg17),
        }
    }

    /// The full poll statement for this band: every slot, and the `pg_settings` rows.
    #[cfg(test)]
    pub(crate) fn statement(self) -> String {
        self.build("UTF8")
    }

    /// The statement a session prepares on a server of `server_encoding` (compacted, see
    /// [`compact`]); its parameters are the pids the session knows and the gates of [`Read`].
    pub(crate) fn prepared(self, server_encoding: &str) -> String {
        compact(&self.build(server_encoding))
    }

    fn build(self, server_encoding: &str) -> String {
        // The document as bytes, so that bytes that are not UTF-8 (a database renamed from a
        // SQL_ASCII database, say) are replaced by the exporter instead of failing the whole
        // poll. Text output and convert_to(…, 'UTF8') both validate and raise "invalid byte
        // sequence"; textsend passes a UTF8 server's bytes as stored, and on a SQL_ASCII
        // server only convert_to(…, 'SQL_ASCII') passes them unchecked. The same for the
        // WAL receiver's sender_host (from a conninfo). The other text columns hold no such
        // text: application_name is ASCII by PostgreSQL's own rule, slot names are
        // [a-z0-9_], states are keywords.
        let (doc_open, doc_close, sender_host) =
            if server_encoding.eq_ignore_ascii_case("SQL_ASCII") {
                (
                    "convert_to(",
                    ", 'SQL_ASCII')",
                    "convert_to(wr.sender_host, 'SQL_ASCII')",
                )
            } else {
                ("textsend(", ")", "textsend(wr.sender_host)")
            };
        let pause = match self {
            // pg_get_wal_replay_pause_state() is 14+. On 13 pg_is_wal_replay_paused() reads the
            // flag pg_wal_replay_pause() sets, so it is true from the request on: "paused or
            // pause requested" there too (14 kept that and documented it as "pause is
            // requested").
            Band::Pg13 => "pg_is_wal_replay_paused()",
            _ => "pg_get_wal_replay_pause_state() <> 'not paused'",
        };
        let slot_extra = match self {
            Band::Pg13 | Band::Pg14 | Band::Pg15 => "",
            // conflicting: 16+ (logical slots invalidated by recovery conflicts).
            Band::Pg16 => ", s.conflicting",
            // inactive_since and invalidation_reason: 17+.
            Band::Pg17 => {
                ", s.conflicting, extract(epoch FROM s.inactive_since) AS inactive_since, \
                 s.invalidation_reason"
            }
        };
        // What else tells an idle slot changed: `conflicting` (16+), `invalidation_reason` and
        // `inactive_since` (17+: set anew whenever the slot is released, e.g. after
        // pg_replication_slot_advance()).
        let fingerprint_extra = match self {
            Band::Pg13 | Band::Pg14 | Band::Pg15 => "",
            Band::Pg16 => " # coalesce(conflicting::int, 3)",
            Band::Pg17 => {
                " # coalesce(conflicting::int, 3) # hashtext(coalesce(invalidation_reason, '')) \
                 # coalesce(hashint8((inactive_since * 1000000)::bigint), 4)"
            }
        };
        // The gates (see [`Read`]).
        let (slow, subscriptions) = ("$2::bool", "$3::bool");
        let (slot_filter, full_only) = (
            "moving OR $4::bool",
            // Read from pg_settings, not current_setting(): current_setting() fails the
            // whole poll on a setting the role may not see, pg_settings leaves its row out
            // (NULL, never "unset"). The four are readable by every role today (tested
            // without pg_monitor); this keeps a packager's or a future release's
            // GUC_SUPERUSER_ONLY from breaking the poll. pg_settings builds every setting's
            // row (≈ 0.1–0.4 ms): only the full read has it.
            "
  'settings', CASE WHEN $4::bool THEN (SELECT json_object_agg(n, current_setting(n))
      FROM unnest(ARRAY['synchronous_commit', 'synchronous_standby_names', 'wal_level',
                        'max_wal_senders', 'max_replication_slots', 'hot_standby',
                        'hot_standby_feedback', 'wal_keep_size', 'max_slot_wal_keep_size']) n)
      END,
  'recovery', CASE WHEN $4::bool THEN (SELECT json_object_agg(name, setting) FROM pg_settings
      WHERE name IN ('recovery_min_apply_delay', 'restore_command', 'archive_mode',
                     'archive_timeout')) END,",
        );
        let sub_errors = match self {
            // pg_stat_subscription_stats is 15+; before it the counters do not exist (absent).
            Band::Pg13 | Band::Pg14 => {
                "NULL::bigint AS apply_error_count, NULL::bigint AS sync_error_count"
            }
            _ => {
                "(SELECT apply_error_count FROM pg_stat_subscription_stats x WHERE x.subid = su.subid) \
                 AS apply_error_count, \
                 (SELECT sync_error_count FROM pg_stat_subscription_stats x WHERE x.subid = su.subid) \
                 AS sync_error_count"
            }
        };
        let sub_id = match self {
            // 13 grants PUBLIC the columns of pg_subscription but not its oid (14 added it):
            // take the oid from pg_stat_subscription by name. Names are unique per database
            // only; of two namesakes in other databases, the one with tables in this database's
            // pg_subscription_rel is ours.
            Band::Pg13 => {
                "(SELECT st2.subid FROM pg_stat_subscription st2 WHERE st2.subname = s.subname \
                 ORDER BY st2.subid IN (SELECT srsubid FROM pg_subscription_rel) DESC LIMIT 1)"
            }
            _ => "s.oid",
        };
        let apply_worker = match self {
            // 13-15: the apply worker is the row without a relid (table-sync workers have one).
            Band::Pg13 | Band::Pg14 | Band::Pg15 => "st.relid IS NULL",
            // 16+: parallel apply workers have no relid either, but a leader_pid.
            _ => "st.relid IS NULL AND st.leader_pid IS NULL",
        };
        // Server time is what a poll costs the database, 60 times a minute: every part below
        // was measured (pg_stat_statements, spaced executions, BENCHMARKS.md "Where the server
        // time went"). What cannot change within a session (version, system identifier,
        // postmaster start) is read once per session (SESSION); the settings only by the full
        // read, which runs again when pg_conf_load_time() moves.
        format!(
            r#"-- pg_replication_exporter poll
-- The node's own values as typed columns (sent in binary: no text or JSON built for them;
-- a JSON document of the same values cost a standby 0.08-0.09 ms a poll spaced, the columns
-- 0.05), the walsenders as arrays, and what comes in some rounds only (slots, settings,
-- archiver, subscriptions) as one JSON document, NULL in the others.
SELECT pg_is_in_recovery() AS in_recovery,
  (date_part('epoch', pg_conf_load_time()) * 1000000)::int8 AS conf_load_us,
  -- A standby has no "current timeline" function: the WAL receiver's timeline is the live one
  -- (the decoder takes it from the receiver's columns). Without a running (or visible)
  -- receiver it is unknown: the last restartpoint's timeline can lag a promotion for a
  -- checkpoint interval and would fake a timeline divergence. On a primary the timeline leads
  -- the WAL file name.
  CASE WHEN NOT pg_is_in_recovery()
      THEN ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END
      AS timeline_id,
  CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END
      AS wal_lsn,
  pg_last_wal_receive_lsn() AS receive_lsn,
  pg_last_wal_replay_lsn() AS replay_lsn,
  CASE WHEN pg_is_in_recovery() THEN {pause} END AS replay_paused,
  date_part('epoch', pg_last_xact_replay_timestamp()) AS last_replay_timestamp,
  date_part('epoch', now()) AS server_now,
  -- Without pg_read_all_stats (pg_monitor has it) PostgreSQL returns the replication columns
  -- as NULL; the exporter must say so instead of reading the NULLs as "no lag".
  -- 15+ shows them to roles that have the privileges of pg_read_all_stats (USAGE); 13 and 14
  -- to any member, even a NOINHERIT one (MEMBER).
  CASE WHEN {slow} THEN NOT pg_has_role('pg_read_all_stats', '{privilege_mode}') ELSE false END
      AS privilege_missing,
  wr.pid IS NOT NULL AS wr_present, wr.status AS wr_status, wr.received_tli AS wr_received_tli,
  wr.written_lsn AS wr_written_lsn, wr.flushed_lsn AS wr_flushed_lsn,
  date_part('epoch', wr.last_msg_receipt_time) AS wr_last_msg_receipt_time,
  wr.latest_end_lsn AS wr_latest_end_lsn, wr.slot_name AS wr_slot_name,
  {sender_host} AS wr_sender_host, wr.sender_port AS wr_sender_port,
  CASE WHEN {slow} OR {subscriptions} THEN {doc_open}json_build_object(
  -- One pass over the slots (below): the slots returned and the fingerprint of the others.
  'slots', scan.slots,
  'slots_fingerprint', scan.fingerprint,
  'slots_lsn', scan.at,{full_only}
  -- pg_stat_archiver is readable by every role; on a standby it counts only with
  -- archive_mode = always.
  'archiver', CASE WHEN {slow} THEN (SELECT row_to_json(a) FROM (
      SELECT archived_count, failed_count, last_archived_wal, last_failed_wal,
             extract(epoch FROM last_archived_time) AS last_archived_time,
             extract(epoch FROM last_failed_time) AS last_failed_time
      FROM pg_stat_archiver) a) END,
  -- Subscriptions of the connected database only: pg_subscription is a shared catalog, but
  -- subscription names are unique per database and pg_subscription_rel (tables by state) is
  -- per database. Only columns granted to PUBLIC are read (never subconninfo, which holds a
  -- password and is superuser-only).
  'subscriptions', COALESCE(CASE WHEN {subscriptions} THEN (SELECT json_agg(x) FROM (
      SELECT su.subname AS name, su.subenabled AS enabled, su.subslotname AS slot_name,
             st.pid IS NOT NULL AS worker_running,
             st.received_lsn, st.latest_end_lsn,
             extract(epoch FROM st.last_msg_receipt_time) AS last_msg_receipt_time,
             {sub_errors},
             (SELECT json_object_agg(srsubstate, n) FROM (
                 SELECT srsubstate, count(*) AS n FROM pg_subscription_rel
                 WHERE srsubid = su.subid GROUP BY srsubstate) t) AS tables
      FROM (SELECT s.subname, s.subenabled, s.subslotname, {sub_id} AS subid
            FROM pg_subscription s
            WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) su
      LEFT JOIN pg_stat_subscription st ON st.subid = su.subid AND {apply_worker}
      ORDER BY su.subname) x) END, '[]')
  )::text{doc_close} END AS doc,
  -- The walsenders' arrays (named ws_*: replay_lsn is the node's too).
  ws.*
-- pg_get_replication_slots() (what pg_replication_slots reads) builds every slot's row
-- (wal_status, safe_wal_size): one pass over it gives the slots returned (the decoder sorts
-- them by name) and the digest of the idle ones; only the rows returned look up their
-- database's name. Idle slots (inactive, no horizon held) do not move between rounds: what
-- would change one of them (created, dropped, recreated, advanced, activated, a wal_status
-- step, invalidated) changes the digest, and the poller then reads every slot again at once.
-- The scan runs in the slow rounds only (the gate: a one-time filter, the function is not
-- called in the others).
-- One sum of a hash per row: numeric sums of positions or text built per row cost 3x more.
FROM (SELECT
    COALESCE(json_agg(sl) FILTER (WHERE {slot_filter}), '[]') AS slots,
    count(*) FILTER (WHERE NOT moving) || ':' || coalesce(sum(
        hashtext(slot_name::text) # hashtext(slot_type) # coalesce(datoid::int, 0)
        # coalesce(pg_lsn_hash(restart_lsn), 1) # coalesce(pg_lsn_hash(confirmed_flush_lsn), 2)
        # hashtext(coalesce(wal_status, '')){fingerprint_extra}) FILTER (WHERE NOT moving), 0)
      AS fingerprint,
    -- The position safe_wal_size was measured from (the write position, or the replay position
    -- on a standby), read when the scan ends: the row's wal_lsn comes after the walsenders,
    -- and while WAL is written it can be a WAL buffer's worth ahead.
    CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END
      AS at
  -- The rows as returned (json_agg of the row: json_build_object per row looks up every
  -- argument's output function again, 10 % slower); datoid and moving come along unread.
  FROM (SELECT s.slot_name, s.slot_type,
               CASE WHEN s.datoid IS NOT NULL
                   THEN (SELECT datname FROM pg_database d WHERE d.oid = s.datoid) END AS database,
               s.active, s.active_pid, s.restart_lsn, s.confirmed_flush_lsn, s.wal_status,
               s.safe_wal_size, age(s.xmin) AS xmin_age, age(s.catalog_xmin) AS catalog_xmin_age{slot_extra},
               s.datoid,
               -- Values that change between rounds: an active slot's positions, a held
               -- horizon's age.
               (s.active OR s.xmin IS NOT NULL OR s.catalog_xmin IS NOT NULL) AS moving
        FROM pg_get_replication_slots() s WHERE {slow}) sl) scan
CROSS JOIN
  -- pg_stat_replication is pg_stat_get_activity(NULL), a row for every backend (hundreds on a
  -- busy primary), joined to pg_stat_get_wal_senders(). The first backend-status read of a
  -- transaction copies every backend's entry (with its query text: O(max_connections)), so
  -- only the walsenders the session has not seen in the round before ($1: the pids it knows)
  -- are looked up, each by its pid (same columns, same privilege checks); the poller keeps the
  -- others' application_name and backend_start (a pid names one process while it lives, and a
  -- pid gone from the list is forgotten at once). In most rounds nothing is looked up.
  -- The slot a walsender holds is joined by the decoder (a slot's active_pid), so that the
  -- slots are built once per statement; the decoder also leaves out pg_basebackup's
  -- walsenders (they copy a base backup, they are not standbys; a renamed one is still told by
  -- its state) and orders them: of two rows of one standby (it reconnected before the old
  -- walsender timed out), the live one comes first, and the renderer keeps the first.
  -- The walsenders come as arrays, one per column (in binary: a JSON row of 31 walsenders cost
  -- 0.17 ms a poll spaced, the arrays 0.09 as text; the decoder zips them).
  -- The four positions are one array (sent, write, flush, replay: each a run of one value per
  -- walsender), the three lags another: a session keeps a description of every column of its
  -- statement (56 bytes each and its name, in a Vec that doubles past 32).
  (SELECT array_agg(pid) AS ws_pid, array_agg(name_cached) AS ws_name_cached,
          array_agg(application_name) AS ws_application_name,
          array_agg(backend_start) AS ws_backend_start, array_agg(state) AS ws_state,
          array_agg(sent_lsn) || array_agg(write_lsn) || array_agg(flush_lsn)
              || array_agg(replay_lsn) AS ws_lsn,
          array_agg(write_lag) || array_agg(flush_lag) || array_agg(replay_lag) AS ws_lag,
          array_agg(sync_priority) AS ws_sync_priority, array_agg(sync_state) AS ws_sync_state,
          array_agg(reply_time) AS ws_reply_time, array_agg(on_database) AS ws_on_database
   -- Scalar subqueries under a CASE (a LATERAL join is flattened by the planner and calls the
   -- function for every walsender); OFFSET 0 keeps them from being evaluated twice.
   -- date_part() is float8 on every version (extract() is numeric from 14 on).
   FROM (SELECT r.pid, r.pid = ANY($1::int[]) AS name_cached,
                CASE WHEN NOT r.pid = ANY($1::int[]) THEN
                    (SELECT coalesce(x.application_name, '') FROM pg_stat_get_activity(r.pid) x)
                END AS application_name,
                CASE WHEN NOT r.pid = ANY($1::int[]) THEN
                    (SELECT date_part('epoch', x.backend_start) FROM pg_stat_get_activity(r.pid) x)
                END AS backend_start,
                -- A logical replication connection is to a database (a standby's is not):
                -- logical even before it holds its slot, or while the slot it made since the
                -- last slow round is not read yet (a subscriber's table-sync worker).
                CASE WHEN NOT r.pid = ANY($1::int[]) THEN
                    (SELECT coalesce(x.datid, 0) <> 0 FROM pg_stat_get_activity(r.pid) x)
                END AS on_database,
                r.state, r.sent_lsn, r.write_lsn, r.flush_lsn, r.replay_lsn,
                date_part('epoch', r.write_lag) AS write_lag,
                date_part('epoch', r.flush_lag) AS flush_lag,
                date_part('epoch', r.replay_lag) AS replay_lag,
                r.sync_priority, r.sync_state,
                date_part('epoch', r.reply_time) AS reply_time
         FROM pg_stat_get_wal_senders() r
         WHERE r.state IS DISTINCT FROM 'backup' OFFSET 0) r
   -- A walsender looked up but gone (it exited between the two reads) is left out.
   WHERE name_cached OR application_name IS NOT NULL) ws
-- A standby's WAL receiver: none (no row) on a primary or while no receiver runs.
LEFT JOIN pg_stat_wal_receiver wr ON true"#,
            privilege_mode = match self {
                Band::Pg13 | Band::Pg14 => "MEMBER",
                _ => "USAGE",
            },
        )
    }
}

/// The statement as sent to the server: `--` comments dropped and runs of whitespace outside
/// quotes collapsed to one space. The comments here are for readers of this file; every session
/// keeps a buffer as large as the longest message it sent (its Parse), ≈ 14 KB a session with
/// the statements as written: 14 MB of a thousand sessions.
pub(crate) fn compact(statement: &str) -> String {
    let mut out = String::with_capacity(statement.len());
    let mut chars = statement.chars().peekable();
    let mut quote: Option<char> = None;
    let mut space = false;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '-' && chars.peek() == Some(&'-') {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            space = true;
            continue;
        }
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        if c == '\'' || c == '"' {
            quote = Some(c);
        }
        out.push(c);
    }
    out
}

/// What a session knows of the walsenders it saw in the round before: pid →
/// (`application_name`, `backend_start`, whether its session is to a database). Passed to the statement as `$1` (the pids), so that
/// only new walsenders are looked up (see the statement).
pub(crate) type WalsenderNames =
    std::collections::HashMap<i32, (String, Option<crate::core::model::UnixTime>, bool)>;

/// The pids to pass as the statement's `$1`.
pub(crate) fn known_pids(names: &WalsenderNames) -> Vec<i32> {
    names.keys().copied().collect()
}

/// Completes a decoded poll's walsenders with the session's names: a cached one takes its name,
/// start and `on_database` from `names`, a looked-up one is remembered; pids no longer listed are forgotten.
/// Then, as `pg_stat_replication` was read before: `pg_basebackup`'s walsenders are left out and
/// the rest ordered by name (bytes, as `COLLATE "C"`), streaming first, newest first, pid.
pub(crate) fn resolve_walsenders(state: &mut NodeState, names: &mut WalsenderNames) {
    for w in &mut state.walsenders {
        let Some(pid) = w.pid else { continue };
        if w.name_cached {
            if let Some((name, start, on_database)) = names.get(&pid) {
                w.application_name.clone_from(name);
                w.backend_start = *start;
                w.on_database = *on_database;
            }
            w.name_cached = false;
        } else {
            names.insert(
                pid,
                (w.application_name.clone(), w.backend_start, w.on_database),
            );
        }
    }
    // Forget the pids no longer listed (a pid names one process only while it lives).
    names.retain(|pid, _| state.walsenders.iter().any(|w| w.pid == Some(*pid)));
    state
        .walsenders
        .retain(|w| w.application_name != "pg_basebackup");
    state.walsenders.sort_by(|a, b| {
        a.application_name
            .as_bytes()
            .cmp(b.application_name.as_bytes())
            .then_with(|| {
                let streaming =
                    |w: &crate::core::model::Walsender| w.state.as_deref() != Some("streaming");
                streaming(a).cmp(&streaming(b))
            })
            .then_with(|| match (a.backend_start, b.backend_start) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.pid.cmp(&b.pid))
    });
}

/// Why a poll result could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected poll result: {0}")]
    Document(#[from] serde_json::Error),
    #[error("unexpected poll result: column {column}: {error}")]
    Column {
        column: String,
        error: tokio_postgres::Error,
    },
    #[error("unexpected poll result: {got} of the {want} columns the decoder reads")]
    Columns { got: usize, want: usize },
    #[error(
        "unexpected poll result: the walsender column {column} has {got} values, {want} for {pids} pids expected"
    )]
    Ragged {
        column: &'static str,
        got: usize,
        want: usize,
        pids: usize,
    },
}

/// The walsenders of a poll, as the statement returns them: one array per column (NULL when
/// there is no walsender), zipped by [`WalsenderColumns::into_walsenders`]. The positions and
/// the lags come as runs in one array each (fewer columns, see the statement).
#[derive(Clone, Debug, Default)]
pub struct WalsenderColumns {
    pub pid: Vec<Option<i32>>,
    pub name_cached: Vec<Option<bool>>,
    pub application_name: Vec<Option<String>>,
    pub backend_start: Vec<Option<f64>>,
    pub state: Vec<Option<String>>,
    /// `sent_lsn`, `write_lsn`, `flush_lsn`, `replay_lsn`: four runs of one value per pid.
    pub lsn: Vec<Option<Lsn>>,
    /// `write_lag`, `flush_lag`, `replay_lag` (seconds): three runs of one value per pid.
    pub lag: Vec<Option<f64>>,
    pub sync_priority: Vec<Option<i32>>,
    pub sync_state: Vec<Option<String>>,
    pub reply_time: Vec<Option<f64>>,
    /// Looked-up pids only (like `application_name`): the walsender's session is to a database.
    pub on_database: Vec<Option<bool>>,
}

impl WalsenderColumns {
    /// One walsender per `pid` value; every array must have as many values (the positions
    /// four times, the lags three times as many).
    pub fn into_walsenders(self) -> Result<Vec<Walsender>, DecodeError> {
        let pids = self.pid.len();
        fn check<T>(
            v: Vec<T>,
            column: &'static str,
            runs: usize,
            pids: usize,
        ) -> Result<Vec<T>, DecodeError> {
            if v.len() == runs * pids {
                Ok(v)
            } else {
                Err(DecodeError::Ragged {
                    column,
                    got: v.len(),
                    want: runs * pids,
                    pids,
                })
            }
        }
        let mut name_cached = check(self.name_cached, "name_cached", 1, pids)?.into_iter();
        let mut application_name =
            check(self.application_name, "application_name", 1, pids)?.into_iter();
        let mut backend_start = check(self.backend_start, "backend_start", 1, pids)?.into_iter();
        let mut state = check(self.state, "state", 1, pids)?.into_iter();
        let lsn = check(self.lsn, "lsn", 4, pids)?;
        let lag = check(self.lag, "lag", 3, pids)?;
        let mut sync_priority = check(self.sync_priority, "sync_priority", 1, pids)?.into_iter();
        let mut sync_state = check(self.sync_state, "sync_state", 1, pids)?.into_iter();
        let mut reply_time = check(self.reply_time, "reply_time", 1, pids)?.into_iter();
        let mut on_database = check(self.on_database, "on_database", 1, pids)?.into_iter();
        // Every array has its runs of `pids` values (checked): the `flatten`s never skip and
        // the indexes are in bounds.
        Ok(self
            .pid
            .into_iter()
            .enumerate()
            .map(|(i, pid)| Walsender {
                pid,
                name_cached: name_cached.next().flatten().unwrap_or(false),
                application_name: application_name.next().flatten().unwrap_or_default(),
                backend_start: backend_start.next().flatten(),
                state: state.next().flatten(),
                sent_lsn: lsn[i],
                write_lsn: lsn[pids + i],
                flush_lsn: lsn[2 * pids + i],
                replay_lsn: lsn[3 * pids + i],
                write_lag: lag[i],
                flush_lag: lag[pids + i],
                replay_lag: lag[2 * pids + i],
                sync_priority: sync_priority.next().flatten(),
                sync_state: sync_state.next().flatten(),
                reply_time: reply_time.next().flatten(),
                on_database: on_database.next().flatten().unwrap_or(false),
                slot_type: None,
                slot_name: None,
            })
            .collect())
    }
}

/// The node's own values of a poll's row (typed columns, binary).
#[derive(Clone, Debug, Default)]
pub struct NodeColumns {
    pub in_recovery: bool,
    pub conf_load_us: Option<i64>,
    pub timeline_id: Option<i32>,
    pub wal_lsn: Option<Lsn>,
    pub receive_lsn: Option<Lsn>,
    pub replay_lsn: Option<Lsn>,
    pub replay_paused: Option<bool>,
    pub last_replay_timestamp: Option<f64>,
    pub server_now: f64,
    pub privilege_missing: bool,
    /// `pg_stat_wal_receiver`'s row, when there is one.
    pub wal_receiver: Option<WalReceiver>,
}

/// How many columns of a poll's row [`columns_of`] reads (31 typed ones and `doc`). At most
/// 32: a session keeps the statement's column descriptions in a `Vec` that doubles past 32.
const ROW_COLUMNS: usize = 32;
const _: () = assert!(ROW_COLUMNS <= 32);

/// The columns of a poll's row, read by [`columns_of`].
pub(crate) struct RowColumns<'a> {
    pub node: NodeColumns,
    pub walsenders: WalsenderColumns,
    /// The `doc` column's bytes (the rounds that have a document, see [`Read`]).
    pub document: Option<&'a [u8]>,
}

/// The node's columns, the walsenders' arrays and the document of a poll's row (binary:
/// `pg_lsn` as its 64 bits). One pass over the row's columns by name (`Row::get` by name
/// searches them for every value: a sixth of the exporter's CPU with a thousand nodes, in
/// `memcmp`).
pub(crate) fn columns_of(row: &tokio_postgres::Row) -> Result<RowColumns<'_>, DecodeError> {
    use tokio_postgres::types::{FromSql, PgLsn};
    fn get<'a, T: FromSql<'a>>(row: &'a tokio_postgres::Row, i: usize) -> Result<T, DecodeError> {
        row.try_get::<_, T>(i).map_err(|error| DecodeError::Column {
            column: row.columns()[i].name().to_owned(),
            error,
        })
    }
    fn lsn(row: &tokio_postgres::Row, i: usize) -> Result<Option<Lsn>, DecodeError> {
        Ok(get::<Option<PgLsn>>(row, i)?.map(|l| Lsn(u64::from(l))))
    }
    fn array<'a, T: FromSql<'a>>(
        row: &'a tokio_postgres::Row,
        i: usize,
    ) -> Result<Vec<Option<T>>, DecodeError> {
        Ok(get::<Option<Vec<Option<T>>>>(row, i)?.unwrap_or_default())
    }
    fn lsns(row: &tokio_postgres::Row, i: usize) -> Result<Vec<Option<Lsn>>, DecodeError> {
        Ok(array::<PgLsn>(row, i)?
            .into_iter()
            .map(|l| l.map(|l| Lsn(u64::from(l))))
            .collect())
    }
    let mut node = NodeColumns::default();
    let mut receiver = WalReceiver::default();
    let mut receiver_present = false;
    let mut ws = WalsenderColumns::default();
    let mut document = None;
    let mut read = 0;
    for (i, column) in row.columns().iter().enumerate() {
        read += 1;
        match column.name() {
            "in_recovery" => node.in_recovery = get(row, i)?,
            "conf_load_us" => node.conf_load_us = get(row, i)?,
            "timeline_id" => node.timeline_id = get(row, i)?,
            "wal_lsn" => node.wal_lsn = lsn(row, i)?,
            "receive_lsn" => node.receive_lsn = lsn(row, i)?,
            "replay_lsn" => node.replay_lsn = lsn(row, i)?,
            "replay_paused" => node.replay_paused = get(row, i)?,
            "last_replay_timestamp" => node.last_replay_timestamp = get(row, i)?,
            "server_now" => node.server_now = get(row, i)?,
            "privilege_missing" => node.privilege_missing = get(row, i)?,
            "wr_present" => receiver_present = get(row, i)?,
            "wr_status" => receiver.status = get(row, i)?,
            "wr_received_tli" => {
                receiver.received_tli = get::<Option<i32>>(row, i)?.map(|t| t as u32)
            }
            "wr_written_lsn" => receiver.written_lsn = lsn(row, i)?,
            "wr_flushed_lsn" => receiver.flushed_lsn = lsn(row, i)?,
            "wr_last_msg_receipt_time" => receiver.last_msg_receipt_time = get(row, i)?,
            "wr_latest_end_lsn" => receiver.latest_end_lsn = lsn(row, i)?,
            "wr_slot_name" => receiver.slot_name = get(row, i)?,
            // Bytes (see the statement): replaced where not UTF-8.
            "wr_sender_host" => {
                receiver.sender_host =
                    get::<Option<&[u8]>>(row, i)?.map(|b| String::from_utf8_lossy(b).into_owned())
            }
            "wr_sender_port" => receiver.sender_port = get(row, i)?,
            "ws_pid" => ws.pid = array(row, i)?,
            "ws_name_cached" => ws.name_cached = array(row, i)?,
            "ws_application_name" => ws.application_name = array(row, i)?,
            "ws_backend_start" => ws.backend_start = array(row, i)?,
            "ws_state" => ws.state = array(row, i)?,
            "ws_lsn" => ws.lsn = lsns(row, i)?,
            "ws_lag" => ws.lag = array(row, i)?,
            "ws_sync_priority" => ws.sync_priority = array(row, i)?,
            "ws_sync_state" => ws.sync_state = array(row, i)?,
            "ws_on_database" => ws.on_database = array(row, i)?,
            "ws_reply_time" => ws.reply_time = array(row, i)?,
            "doc" => document = get(row, i)?,
            _ => read -= 1,
        }
    }
    if read != ROW_COLUMNS {
        return Err(DecodeError::Columns {
            got: read,
            want: ROW_COLUMNS,
        });
    }
    node.wal_receiver = receiver_present.then_some(receiver);
    Ok(RowColumns {
        node,
        walsenders: ws,
        document,
    })
}

/// The JSON document of the rounds that read the slots, the settings, the archiver or the
/// subscriptions (NULL in the others).
#[derive(Debug, Default, serde::Deserialize)]
struct Document {
    #[serde(default)]
    slots: Vec<Slot>,
    #[serde(default)]
    slots_fingerprint: Option<String>,
    #[serde(default)]
    slots_lsn: Option<Lsn>,
    #[serde(default)]
    settings: Option<Settings>,
    #[serde(default)]
    recovery: Option<RecoverySettings>,
    #[serde(default)]
    archiver: Option<Archiver>,
    #[serde(default)]
    subscriptions: Vec<Subscription>,
}

/// Puts a poll's row together: the node's columns, the document (when the round read one) and
/// the walsenders, and does the joins the statement leaves to the decoder: a standby's timeline
/// is its WAL receiver's (`pg_stat_wal_receiver` is read once), a walsender's slot is the one
/// whose `active_pid` is its pid (the slots are built once), and the slots come in name order.
pub fn decode(
    node: NodeColumns,
    document: Option<&str>,
    walsenders: Vec<Walsender>,
) -> Result<NodeState, DecodeError> {
    let doc: Document = match document {
        Some(json) => serde_json::from_str(json)?,
        None => Document::default(),
    };
    let timeline_id = match node.timeline_id {
        Some(t) => Some(t as u32),
        None if node.in_recovery => node.wal_receiver.as_ref().and_then(|r| r.received_tli),
        None => None,
    };
    let mut state = NodeState {
        in_recovery: node.in_recovery,
        conf_load_us: node.conf_load_us,
        timeline_id,
        wal_lsn: node.wal_lsn,
        receive_lsn: node.receive_lsn,
        replay_lsn: node.replay_lsn,
        replay_paused: node.replay_paused,
        last_replay_timestamp: node.last_replay_timestamp,
        server_now: node.server_now,
        privilege_missing: node.privilege_missing,
        wal_receiver: node.wal_receiver,
        walsenders,
        slots: doc.slots,
        slots_fingerprint: doc.slots_fingerprint,
        slots_lsn: doc.slots_lsn,
        settings: Arc::new(doc.settings.unwrap_or_default()),
        recovery: doc.recovery.map(Arc::new),
        archiver: doc.archiver,
        subscriptions: doc.subscriptions,
        ..NodeState::default()
    };
    state.slots.sort_by(|a, b| a.slot_name.cmp(&b.slot_name));
    join_slots(&mut state);
    Ok(state)
}

/// Gives each walsender the slot it holds: the one whose `active_pid` is its pid (a backend
/// holds at most one slot). Run again by the poller when a round takes its slots from the last
/// slow round.
pub(crate) fn join_slots(state: &mut NodeState) {
    for w in &mut state.walsenders {
        if let Some(slot) = w
            .pid
            .and_then(|pid| state.slots.iter().find(|s| s.active_pid == Some(pid)))
        {
            w.slot_name = Some(slot.slot_name.clone());
            w.slot_type = Some(slot.slot_type.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::lsn::Lsn;

    #[test]
    fn bands_follow_the_majors() {
        let cases = [
            (120022, None),
            (130000, Some(Band::Pg13)),
            (130018, Some(Band::Pg13)),
            (140015, Some(Band::Pg14)),
            (150018, Some(Band::Pg15)),
            (160009, Some(Band::Pg16)),
            (170005, Some(Band::Pg17)),
            (180001, Some(Band::Pg17)),
            (190000, Some(Band::Pg17)),
        ];
        for (v, want) in cases {
            assert_eq!(Band::for_version(v).ok(), want, "{v}");
        }
        let err = Band::for_version(120022).unwrap_err().to_string();
        assert!(err.contains("unsupported PostgreSQL version 12"), "{err}");
    }

    #[test]
    fn version_specific_columns_only_where_the_server_has_them() {
        let s13 = Band::Pg13.statement();
        assert!(s13.contains("pg_is_wal_replay_paused()"));
        assert!(!s13.contains("conflicting"));
        // 13 may not read pg_subscription.oid; pg_stat_subscription_stats is 15+.
        assert!(!s13.contains("s.oid") && !s13.contains("pg_stat_subscription_stats"));
        let s14 = Band::Pg14.statement();
        assert!(s14.contains("s.oid") && !s14.contains("pg_stat_subscription_stats"));
        assert!(
            Band::Pg15
                .statement()
                .contains("pg_stat_subscription_stats")
        );
        let s16 = Band::Pg16.statement();
        assert!(s16.contains("s.conflicting") && !s16.contains("inactive_since"));
        let s17 = Band::Pg17.statement();
        assert!(s17.contains("inactive_since") && s17.contains("invalidation_reason"));
    }

    #[test]
    fn decodes_a_standby_document_with_nulls() {
        // A full read's document on a standby (the node's values come as columns).
        let json = r#"{"slots":[],"slots_fingerprint":"0:0",
            "settings":{"synchronous_commit":"on","synchronous_standby_names":"","wal_level":"replica","max_wal_senders":"10",
              "max_replication_slots":"10","hot_standby":"on","hot_standby_feedback":"off","wal_keep_size":"0","max_slot_wal_keep_size":"-1"},
            "recovery":{"recovery_min_apply_delay":"0"},"archiver":null,"subscriptions":[]}"#;
        let node = NodeColumns {
            in_recovery: true,
            timeline_id: None,
            wal_lsn: Some(Lsn(0x3000148)),
            receive_lsn: Some(Lsn(0x3000148)),
            replay_lsn: Some(Lsn(0x3000148)),
            replay_paused: Some(false),
            server_now: 1700000000.5,
            wal_receiver: Some(WalReceiver {
                status: Some("streaming".into()),
                received_tli: Some(2),
                sender_port: Some(5432),
                ..WalReceiver::default()
            }),
            ..NodeColumns::default()
        };
        let walsenders = WalsenderColumns {
            pid: vec![Some(7)],
            name_cached: vec![Some(false)],
            application_name: vec![Some("cascade".into())],
            backend_start: vec![None],
            state: vec![Some("streaming".into())],
            lsn: vec![Some(Lsn(0x3000148)), None, None, None],
            lag: vec![None, None, Some(0.001)],
            sync_priority: vec![Some(0)],
            sync_state: vec![Some("async".into())],
            reply_time: vec![Some(1700000000.1)],
            on_database: vec![Some(false)],
        };
        let state = decode(node, Some(json), walsenders.into_walsenders().unwrap()).unwrap();
        assert!(state.in_recovery);
        assert_eq!(state.timeline_id, Some(2), "the receiver's timeline");
        assert_eq!(state.settings.wal_level, "replica");
        assert_eq!(
            state
                .recovery
                .as_ref()
                .and_then(|r| r.recovery_min_apply_delay.as_deref()),
            Some("0")
        );
        assert_eq!(state.replay_lsn, Some(Lsn(0x3000148)));
        assert_eq!(state.last_replay_timestamp, None);
        let w = &state.walsenders[0];
        assert_eq!(
            (w.pid, w.application_name.as_str(), w.state.as_deref()),
            (Some(7), "cascade", Some("streaming"))
        );
        assert_eq!(w.sent_lsn, Some(Lsn(0x3000148)));
        assert_eq!(w.write_lsn, None);
        assert_eq!(w.replay_lag, Some(0.001));
        assert_eq!(
            (w.sync_priority, w.sync_state.as_deref(), w.reply_time),
            (Some(0), Some("async"), Some(1700000000.1))
        );
        assert_eq!(state.wal_receiver.unwrap().sender_port, Some(5432));
    }

    #[test]
    fn decode_joins_walsenders_to_their_slots_sorts_slots_and_takes_the_receivers_timeline() {
        // A slow round's document on a primary (the settings come from the full read).
        let json = r#"{"slots":[{"slot_name":"zeta","slot_type":"logical","database":"app","active":true,"active_pid":102},
                     {"slot_name":"alpha","slot_type":"physical","active":true,"active_pid":101},
                     {"slot_name":"idle","slot_type":"physical","active":false,"active_pid":null}],
            "slots_fingerprint":"2:-12345","archiver":null,"subscriptions":[]}"#;
        let primary = NodeColumns {
            conf_load_us: Some(1796149466894088),
            timeline_id: Some(3),
            wal_lsn: Some(Lsn(0x5000000)),
            server_now: 1700000000.5,
            ..NodeColumns::default()
        };
        let walsender = |pid, name: &str| Walsender {
            pid: Some(pid),
            application_name: name.into(),
            ..Walsender::default()
        };
        let walsenders = vec![
            walsender(101, "node_b"),
            walsender(102, "sub1"),
            walsender(103, "no_slot"),
        ];
        let state = decode(primary, Some(json), walsenders).unwrap();
        let names: Vec<&str> = state.slots.iter().map(|s| s.slot_name.as_str()).collect();
        assert_eq!(names, ["alpha", "idle", "zeta"]);
        let held: Vec<(Option<&str>, Option<&str>)> = state
            .walsenders
            .iter()
            .map(|w| (w.slot_name.as_deref(), w.slot_type.as_deref()))
            .collect();
        assert_eq!(
            held,
            [
                (Some("alpha"), Some("physical")),
                (Some("zeta"), Some("logical")),
                (None, None)
            ]
        );
        assert!(state.walsenders[1].is_logical());
        assert_eq!(state.conf_load_us, Some(1796149466894088));
        assert_eq!(state.timeline_id, Some(3));

        // A round without a document: no slots, the standby's timeline from its receiver.
        let standby = NodeColumns {
            in_recovery: true,
            wal_receiver: Some(WalReceiver {
                status: Some("streaming".into()),
                received_tli: Some(4),
                ..WalReceiver::default()
            }),
            ..NodeColumns::default()
        };
        let state = decode(standby, None, vec![]).unwrap();
        assert_eq!(state.timeline_id, Some(4));
        assert!(state.slots.is_empty() && state.slots_fingerprint.is_none());
        let no_receiver = NodeColumns {
            in_recovery: true,
            ..NodeColumns::default()
        };
        assert_eq!(decode(no_receiver, None, vec![]).unwrap().timeline_id, None);
    }

    #[test]
    fn the_document_carries_the_position_of_the_slot_scan() {
        let doc = r#"{"slots":[],"slots_fingerprint":"0:0","slots_lsn":"0/3E8"}"#;
        let state = decode(NodeColumns::default(), Some(doc), vec![]).unwrap();
        assert_eq!(state.slots_lsn, Some(Lsn(0x3E8)));
        let none = decode(NodeColumns::default(), None, vec![]).unwrap();
        assert_eq!(none.slots_lsn, None);
    }

    #[test]
    fn walsender_columns_zip_into_rows_and_ragged_ones_are_an_error() {
        // No walsender: every array NULL.
        assert!(
            WalsenderColumns::default()
                .into_walsenders()
                .unwrap()
                .is_empty()
        );
        let two = || WalsenderColumns {
            pid: vec![Some(1), Some(2)],
            name_cached: vec![Some(true), Some(false)],
            application_name: vec![None, Some("node_c".into())],
            backend_start: vec![None, Some(5.0)],
            state: vec![Some("streaming".into()), Some("catchup".into())],
            // sent, write, flush, replay
            lsn: vec![
                Some(Lsn(10)),
                Some(Lsn(20)),
                Some(Lsn(9)),
                None,
                Some(Lsn(8)),
                None,
                Some(Lsn(7)),
                Some(Lsn(6)),
            ],
            // write, flush, replay
            lag: vec![Some(0.5), None, Some(0.6), None, Some(0.7), Some(0.8)],
            sync_priority: vec![Some(1), Some(0)],
            sync_state: vec![Some("quorum".into()), Some("async".into())],
            reply_time: vec![Some(3.0), None],
            on_database: vec![None, Some(true)],
        };
        let rows = two().into_walsenders().unwrap();
        assert_eq!(rows.len(), 2);
        // A cached pid's name is NULL in the row (the poller fills it in).
        assert!(rows[0].name_cached && rows[0].application_name.is_empty());
        assert_eq!(
            (
                rows[0].replay_lsn,
                rows[0].replay_lag,
                rows[0].sync_state.as_deref()
            ),
            (Some(Lsn(7)), Some(0.7), Some("quorum"))
        );
        assert_eq!(
            (
                rows[1].application_name.as_str(),
                rows[1].backend_start,
                rows[1].write_lsn
            ),
            ("node_c", Some(5.0), None)
        );
        // A session to a database is a logical walsender before any slot is joined to it.
        assert!(!rows[0].is_logical() && rows[1].is_logical());
        assert_eq!(rows[1].slot_type, None);
        // Each run is read at its own offset.
        assert_eq!(
            [&rows[0], &rows[1]].map(|w| (w.sent_lsn, w.flush_lsn, w.replay_lsn)),
            [
                (Some(Lsn(10)), Some(Lsn(8)), Some(Lsn(7))),
                (Some(Lsn(20)), None, Some(Lsn(6)))
            ]
        );
        assert_eq!(
            [&rows[0], &rows[1]].map(|w| (w.write_lag, w.flush_lag, w.replay_lag)),
            [(Some(0.5), Some(0.6), Some(0.7)), (None, None, Some(0.8))]
        );
        let mut ragged = two();
        ragged.lsn.pop();
        let err = ragged.into_walsenders().unwrap_err().to_string();
        assert_eq!(
            err,
            "unexpected poll result: the walsender column lsn has 7 values, 8 for 2 pids expected"
        );
        let mut ragged = two();
        ragged.state.pop();
        assert!(ragged.into_walsenders().is_err());
    }

    #[test]
    fn compact_drops_comments_and_spaces_but_not_quoted_text() {
        let sql = "-- a comment\nSELECT  'a  -- b',\n   \"x  y\" -- trailing\n FROM t\n";
        assert_eq!(compact(sql), "SELECT 'a  -- b', \"x  y\" FROM t");
        for band in [Band::Pg13, Band::Pg14, Band::Pg15, Band::Pg16, Band::Pg17] {
            let text = band.statement();
            let c = compact(&text);
            assert!(
                !c.contains("--") && !c.contains("  ") && !c.contains('\n'),
                "{c}"
            );
            assert!(
                c.len() * 10 < text.len() * 6,
                "{} of {}",
                c.len(),
                text.len()
            );
            // The literals survive.
            assert!(c.contains("'backup'") && c.contains("'[]'"));
        }
    }

    #[test]
    fn walsender_names_come_from_the_session_once_seen_and_are_forgotten_when_gone() {
        use crate::core::model::Walsender;
        let w = |pid: i32, name: &str, cached: bool, start: Option<f64>, state: &str| Walsender {
            pid: Some(pid),
            application_name: name.into(),
            name_cached: cached,
            backend_start: start,
            state: Some(state.into()),
            ..Walsender::default()
        };
        let mut names = WalsenderNames::new();
        // Round 1: every walsender looked up. Of node_b's two rows the streaming one comes
        // first, then the newer; pg_basebackup's walsender is not a standby; names sort as bytes.
        let mut state = NodeState {
            walsenders: vec![
                w(30, "node_b", false, Some(100.0), "catchup"),
                w(31, "pg_basebackup", false, Some(90.0), "streaming"),
                w(32, "node_b", false, Some(50.0), "streaming"),
                w(33, "Node_c", false, Some(10.0), "streaming"),
                w(34, "node_b", false, Some(200.0), "streaming"),
            ],
            ..NodeState::default()
        };
        // 33's session is to a database (a logical walsender).
        state.walsenders[3].on_database = true;
        resolve_walsenders(&mut state, &mut names);
        let order: Vec<(i32, &str)> = state
            .walsenders
            .iter()
            .map(|w| (w.pid.unwrap(), w.application_name.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (33, "Node_c"),
                (34, "node_b"),
                (32, "node_b"),
                (30, "node_b")
            ]
        );
        let mut known = known_pids(&names);
        known.sort();
        assert_eq!(known, [30, 31, 32, 33, 34]);

        // Round 2: the known pids come back without names; 32 and 31 are gone, 35 is new.
        let mut state = NodeState {
            walsenders: vec![
                w(30, "", true, None, "streaming"),
                w(33, "", true, None, "streaming"),
                w(34, "", true, None, "streaming"),
                w(35, "node_d", false, Some(300.0), "streaming"),
            ],
            ..NodeState::default()
        };
        resolve_walsenders(&mut state, &mut names);
        let got: Vec<(i32, &str, Option<f64>, bool, bool)> = state
            .walsenders
            .iter()
            .map(|w| {
                (
                    w.pid.unwrap(),
                    w.application_name.as_str(),
                    w.backend_start,
                    w.name_cached,
                    w.on_database,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (33, "Node_c", Some(10.0), false, true),
                (34, "node_b", Some(200.0), false, false),
                (30, "node_b", Some(100.0), false, false),
                (35, "node_d", Some(300.0), false, false),
            ]
        );
        let mut known = known_pids(&names);
        known.sort();
        assert_eq!(known, [30, 33, 34, 35]);
    }

    #[test]
    fn a_malformed_lsn_is_a_decode_error_not_a_zero() {
        let json = r#"{"slots":[{"slot_name":"s","slot_type":"physical","active":false,"restart_lsn":"garbage"}]}"#;
        let err = decode(NodeColumns::default(), Some(json), vec![])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid LSN"), "{err}");
    }
}
