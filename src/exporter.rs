//! Wiring: a poller task per cluster, the HTTP server, and a graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::config::Config;
use crate::metrics::BuildInfo;
use crate::poller::{Store, run_cluster};
use crate::server::{AppState, app};

/// This build's version and git revision.
pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    revision: env!("BUILD_GIT_REVISION"),
};

/// Why the exporter could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serve http on {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound listener; binding first lets callers learn the port before serving.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })
}

/// Polls every configured cluster and serves HTTP on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = Store::new(&config.clusters);
    let pollers: Vec<_> = config
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            tokio::spawn(run_cluster(
                i,
                c.clone(),
                config.poll.clone(),
                store.clone(),
            ))
        })
        .collect();
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: config.web.listen_address,
        source,
    })?;
    info!(address = %addr, telemetry_path = %config.web.telemetry_path,
          clusters = config.clusters.len(), "listening");
    let state = AppState {
        store,
        build: Arc::new(BUILD),
        telemetry_path: config.web.telemetry_path.clone(),
    };
    let result = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServeError::Serve { addr, source });
    for task in pollers {
        task.abort();
    }
    info!("stopped");
    result
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("shutting down");
}
