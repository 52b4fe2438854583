//! Poll errors: what went wrong talking to one node, classified into the `kind` label of
//! `pg_replication_poll_errors_total`, with a message that names the node and never a secret.

use std::error::Error as StdError;
use std::fmt;

use tokio_postgres::error::SqlState;

use crate::core::model::ErrorKind;

/// A failed poll of one node. `Display` is one lowercase line with the node and endpoint first,
/// e.g. `connect to node_b (host=127.0.0.1 port=5433): connection refused`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PollError {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for PollError {}

impl PollError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PollError {
            kind,
            message: message.into(),
        }
    }

    /// Classifies a tokio-postgres error from connecting (`context` = "connect to node_b (…)").
    pub(crate) fn from_connect(context: &str, e: &tokio_postgres::Error) -> Self {
        let kind = match e.code() {
            Some(c)
                if *c == SqlState::INVALID_PASSWORD
                    || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                ErrorKind::Auth
            }
            Some(_) => ErrorKind::Connect,
            None if is_tls(e) => ErrorKind::Tls,
            None => ErrorKind::Connect,
        };
        PollError::new(kind, format!("{context}: {}", chain(e)))
    }

    /// Classifies an error from running the poll statement.
    pub(crate) fn from_query(context: &str, e: &tokio_postgres::Error) -> Self {
        let kind = match e.code() {
            Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => ErrorKind::Privilege,
            // Class 08 (connection exception) and 57P (the server ends the session: shutdown,
            // crash, terminated backend, dropped database, idle timeout) are about the
            // connection, not the statement.
            Some(c) if c.code().starts_with("08") || c.code().starts_with("57P") => {
                ErrorKind::Connect
            }
            Some(_) => ErrorKind::Query,
            // The connection broke under the query (server restarted, network cut).
            None if e.is_closed() => ErrorKind::Connect,
            None => ErrorKind::Query,
        };
        PollError::new(kind, format!("{context}: {}", chain(e)))
    }
}

/// rustls reports certificate and handshake failures as its own error type, wrapped in an
/// `io::Error` by the connector; tokio-postgres' own TLS negotiation errors have no source.
fn is_tls(e: &tokio_postgres::Error) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(s) = source {
        if s.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        source = s.source();
    }
    let text = e.to_string();
    text.contains("TLS") || text.contains("tls")
}

/// The error and its sources as one line, lowercased first letter, without repeating parts.
fn chain(e: &dyn StdError) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    let line = crate::core::text::one_line(&parts.join(": "));
    let mut chars = line.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Error connecting to server")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chain_joins_sources_once_and_lowercases() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ));
        assert_eq!(chain(&e), "error connecting to server: Connection refused");
    }
}
