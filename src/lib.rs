//! pg_replication_exporter: a Prometheus exporter for PostgreSQL streaming replication that
//! watches every node of a cluster and correlates what they say about each other.
//!
//! Data flows one way, room to room:
//!
//! ```text
//!  config/ ──► pg/poller (one task per cluster, one session per node, pg/sql per major)
//!                 │  NodeReport per node per round
//!                 ▼
//!              core/cluster (PURE: round + LSN history ──► ClusterView)
//!                 │  ClusterSnapshot, published atomically
//!                 ▼
//!              store (the latest immutable Snapshot; the only thing pollers and HTTP share)
//!                 │
//!                 ▼
//!              web/server (GET /metrics, /probe) ──► render/ (PURE: Snapshot ──► families ──► page)
//!
//!  sources/patroni, sources/endpoints: tasks of their own beside the pollers; each round reads
//!  their latest pass and judges it (PURE) against the same round's NodeReports.
//!
//!  ops/ (check, status) poll through pg/ once and print through core/ and their own tables.
//! ```
//!
//! - [`core`]: pure types and rules (LSN math, the stage-lag rule, `synchronous_standby_names`,
//!   the cluster view); no I/O.
//! - [`config`]: TOML + environment + flags → a typed, validated [`config::Config`].
//! - [`pg`]: everything that talks to PostgreSQL.
//! - [`store`]: the snapshot the pollers publish and HTTP reads.
//! - [`render`]: snapshot → metric families → text page; no I/O.
//! - [`web`]: the axum app, the web configuration file, basic auth, HTTPS.
//! - [`sources`]: the other things polled beside PostgreSQL, one room each (`sources::patroni`:
//!   its REST API, the replies parsed, Patroni's own failover rule; `sources::endpoints`: the
//!   front-ends — a VIP, pgpool-II, pgbouncer — checked and judged against the direct polls).
//! - [`ops`]: the operator commands `check` and `status`.
//! - [`rounds`]: one supervised task per cluster: its SQL pollers, its Patroni source and
//!   endpoint checks (tasks of their own), the pure views, the store; a new version of the
//!   cluster's configuration is taken in place between two rounds.
//! - [`fleet`]: many exporters (SPEC §11): which clusters a shard owns (Prometheus's `hashmod`
//!   of the name) and the HTTP service discovery target groups; pure.
//! - `runner`: the running cluster tasks by name, and a reload applied to them by difference.
//! - [`exporter`]: the wiring of cluster tasks and HTTP, reloads (SIGHUP, `POST /-/reload`),
//!   and graceful shutdown.
//! - [`clock`]: the wall clock.
//! - [`logfmt`]: the logfmt log line format.
//! - [`memory`]: how glibc's malloc is asked to hold memory (arenas, large blocks, trimming).
//!
//! New sources of truth (Patroni, front-ends) get a room of their own beside `pg/`, feeding the
//! same store. `web` never imports a poller; `pg` never imports the renderer.

pub mod clock;
pub mod config;
pub mod core;
pub mod exporter;
pub mod fleet;
pub mod logfmt;
pub mod memory;
pub mod ops;
pub mod pages;
pub mod pg;
pub mod render;
pub mod rounds;
pub(crate) mod runner;
pub mod sources;
pub mod store;
pub mod web;
