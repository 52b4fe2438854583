//! Opening a session: one place that turns connection settings into a tokio-postgres client with
//! libpq's `sslmode` semantics, its connection driven by a task that is aborted with the session.
//! Node polls and front-end checks both connect through here.

use std::path::Path;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

use crate::config::{Password, SslMode};
use crate::core::model::ErrorKind;
use crate::pg::error::PollError;

/// The application_name the exporter's sessions carry (visible in pg_stat_activity).
pub(crate) const APPLICATION_NAME: &str = "pg_replication_exporter";

/// A task aborted when dropped: a session's connection task (when a connect or poll is
/// abandoned at any step its socket is closed instead of waiting on a frozen server), or a
/// source's task that must die with the cluster task that started it.
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where and how to connect.
pub(crate) struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub password: Option<&'a Password>,
    pub dbname: &'a str,
    pub sslmode: SslMode,
    pub sslrootcert: Option<&'a Path>,
    pub connect_timeout: Duration,
    /// Startup-packet `options` (`-c name=value …`); `None` for front-ends that refuse them
    /// (pgbouncer) or would hand them to whichever backend they pick.
    pub options: Option<String>,
}

/// A connected client and its connection task (aborted when dropped, closing the socket).
pub(crate) async fn open(
    t: &Target<'_>,
    context: &str,
) -> Result<(Client, AbortOnDrop), PollError> {
    let mut pg = tokio_postgres::Config::new();
    pg.host(t.host)
        .port(t.port)
        .user(t.user)
        .dbname(t.dbname)
        .application_name(APPLICATION_NAME)
        .connect_timeout(t.connect_timeout);
    if let Some(options) = &t.options {
        pg.options(options);
    }
    if let Some(password) = t.password {
        pg.password(password.expose());
    }
    match t.sslmode {
        SslMode::Disable => {
            pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, connection) = pg
                .connect(NoTls)
                .await
                .map_err(|e| PollError::from_connect(context, &e))?;
            Ok((client, AbortOnDrop(tokio::spawn(drive(connection)))))
        }
        mode => {
            pg.ssl_mode(if mode == SslMode::Prefer {
                tokio_postgres::config::SslMode::Prefer
            } else {
                tokio_postgres::config::SslMode::Require
            });
            let tls = crate::pg::tls::connector(mode, t.sslrootcert)
                .map_err(|e| PollError::new(ErrorKind::Tls, format!("{context}: {e}")))?;
            let (client, connection) = pg
                .connect(tls)
                .await
                .map_err(|e| PollError::from_connect(context, &e))?;
            Ok((client, AbortOnDrop(tokio::spawn(drive(connection)))))
        }
    }
}

async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // The client notices a broken connection on its next query; nothing to do with the error.
    let _ = connection.await;
}
