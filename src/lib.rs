//! pg_replication_exporter: a Prometheus exporter for PostgreSQL streaming replication that
//! watches every node of a cluster and correlates what they say about each other.
//!
//! Data flows one way:
//!
//! ```text
//!  config.rs ──► poller.rs (one task per cluster, one connection per node, sql/ per major)
//!                   │  NodeState / PollError per node per round
//!                   ▼
//!               cluster.rs (PURE: round + LSN history ──► ClusterView)
//!                   │  Snapshot (immutable, swapped atomically)
//!                   ▼
//!               metrics.rs (PURE: Snapshot ──► metric families) ◄── server.rs (GET /metrics)
//! ```
//!
//! Nothing below `metrics.rs` knows about HTTP; `lsn.rs`, `syncnames.rs`, `cluster.rs` and
//! `metrics.rs` do no I/O.

pub mod cluster;
pub mod config;
pub mod error;
pub mod exporter;
pub mod inspect;
pub mod logfmt;
pub mod lsn;
pub mod metrics;
pub mod model;
pub mod poller;
pub mod server;
pub mod sources;
pub mod sql;
pub mod syncnames;
pub mod tls;
pub mod webconfig;
