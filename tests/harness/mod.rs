//! The end-to-end test harness: a real multi-node PostgreSQL streaming-replication cluster on
//! loopback (modelled on PostgreSQL's TAP `Cluster.pm`: init → backup → init from backup →
//! wait for catch-up, dumping the cluster state when a wait fails), the exporter binary under
//! test as a child process, and a parser of what it serves; and real Patroni clusters (etcd 3.4 and
//! N Patroni members, Debian's 3.0.2 or the venv's 4.x: see `patroni.rs`).
//!
//! Each end-to-end test file includes it with `mod harness;`.
//!
//! ```ignore
//! let c = Cluster::builder().standbys(2).cascade(true)
//!     .synchronous_standby_names("ANY 1 (standby1, standby2)").start();
//! c.standby(1).pause_replay();
//! c.primary().write_wal(600 * MIB);
//! let role = c.exporter_role();
//! let exporter = Exporter::start(&c.exporter_config("pg", role.user(), role.password_file()));
//! exporter.wait_metric("pg_replication_up", &[("node", "standby1")], |v| v == 1.0, WAIT);
//! ```
//!
//! Server binaries come from `$PG_BINDIR` (see `scripts/fetch-pg.sh` for 13–18), else the
//! distribution's /usr/lib/postgresql/*/bin; they run as the `postgres` user when the tests run
//! as root.

// Every test file compiles this module, and none uses all of it.
#![allow(dead_code, unused_imports)]

mod cluster;
mod exporter;
mod http;
mod os;
mod patroni;
mod pgbin;
mod scrape;

pub use cluster::{Builder, Cluster, GIB, MIB, Node, Role, StopMode, WAIT, fmt_lsn, pg_error};
pub use exporter::{Exporter, READY_TIMEOUT};
pub use http::{Response, get as http_get};
pub use os::{poll_until, tail, wait_ready};
pub use patroni::{
    Etcd, Member as PatroniMember, PATRONI_WAIT, PATRONI4_VERSION, PatroniBin, PatroniCluster,
    RestTls,
};
pub use pgbin::PgBin;
pub use scrape::{Sample, Scrape};
