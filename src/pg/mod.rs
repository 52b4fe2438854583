//! Where PostgreSQL is talked to: the poller (one task per cluster, one long-lived session per
//! node, one statement per poll), the process-wide login budget every new session waits for
//! ([`logins`]), the statement per server major ([`sql`]), TLS with libpq's
//! `sslmode` semantics over rustls ([`tls`]) and the classification of what went wrong
//! ([`error`]). It writes rounds into the [`crate::store::Store`] and never renders.

pub(crate) mod connect;
pub mod error;
pub(crate) mod logins;
pub mod poller;
pub mod sql;
pub mod tls;
