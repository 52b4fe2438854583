//! The end-to-end test harness: a real multi-node PostgreSQL streaming-replication cluster on
//! loopback (modelled on PostgreSQL's TAP `Cluster.pm`: init → backup → init from backup →
//! wait for catch-up, dumping the cluster state when a wait fails), the exporter binary under
//! test as a child process, and a parser of what it serves; and real Patroni clusters (etcd 3.4 and
//! N Patroni members, Debian's 3.0.2 or the venv's 4.x: see `patroni.rs`); the front-ends
//! in front of a cluster's nodes: real pgpool-II (`pgpool.rs`) and pgbouncer (`pgbouncer.rs`),
//! read through the simple query protocol as text (`reply.rs`, also the recorded fixtures' shape);
//! and a keepalived VRRP lab whose virtual IP moves between the nodes of a cluster (`VipLab`:
//! see `keepalived.rs`).
//!
//! Each end-to-end test file includes it with `mod harness;`. It is the one place for test
//! helpers: reserved free ports (`free_port`, never handed out twice in a process), the HTTP
//! client (`http_get`, `http_request`, plain or TLS), running the binary (`command`, `run`,
//! `Exporter`), the cluster builder with Cluster.pm's tools (`add_standby`, `append_conf` /
//! `set_conf` + `reload`, `wait_for_log`, `wait_for_catchup_mode`), test certificates (`pki`), and a
//! real headless Chromium with a PNG reader for the landing page (`Chromium`, `Png`).
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

mod browser;
mod cluster;
mod demo;
mod exporter;
mod http;
mod keepalived;
mod os;
mod patroni;
mod pgbin;
mod pgbouncer;
mod pgpool;
pub mod pki;
mod reply;
mod scrape;

pub use browser::{BROWSER_TIMEOUT, Chromium, Png};
pub use cluster::{
    Builder, Catchup, Cluster, GIB, MIB, Node, Role, StopMode, WAIT, conf_str, fmt_lsn, pg_error,
    toml_str,
};
pub use demo::Demo;
pub use exporter::{EXIT_WITHIN, Exporter, READY_TIMEOUT, Ran, Ready, command, run};
pub use http::{Response, Tls, get as http_get, request as http_request};
pub use keepalived::{VIP_WAIT, VipCheck, VipLab, VipNodes};
pub use os::{
    free_port, free_ports, is_reserved, log_lines, log_position, poll_until, proc_status, tail,
    unix_now, wait_for_log, wait_ready, write_private,
};
pub use patroni::{
    Etcd, Member as PatroniMember, PATRONI_WAIT, PATRONI4_VERSION, PatroniBin, PatroniCluster,
    RestTls,
};
pub use pgbin::PgBin;
pub use pgbouncer::{PGBOUNCER_WAIT, Pgbouncer, PgbouncerBin, WaitingClients};
pub use pgpool::{PGPOOL_WAIT, Pgpool, PgpoolBin};
pub use reply::{Reply, bounded};
pub use scrape::{Sample, Scrape};
