//! Wiring: one supervised cluster task per cluster (`rounds`), the HTTP(S) server, and a graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::config::Config;
use crate::pages::{PageBuilder, Pages, run_builder};
use crate::pg::connect::AbortOnDrop;
use crate::rounds::supervise_cluster;
use crate::store::{BuildInfo, Store};
use crate::web::config::{self as webconfig, WebConfig, WebConfigError};
use crate::web::listener::TlsListener;
use crate::web::server::{AppState, app};

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
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
}

/// A bound listener; binding first lets callers learn the port before serving.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })
}

/// Polls every configured cluster and serves HTTP on `listener` until `shutdown` completes,
/// with TLS and basic auth as `web.config_file` says (read here; see [`run_with_web`]).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let web = webconfig::load_optional(config.web.config_file.as_deref())?;
    run_with_web(config, web, listener, shutdown).await
}

/// [`run`] with a web configuration already loaded, so that `main` can reject a bad one with
/// the configuration errors' exit status before anything starts.
pub async fn run_with_web(
    config: Config,
    web: WebConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = Store::new(&config.clusters);
    let mut builder = PageBuilder::new(BUILD);
    let pages = Pages::new(builder.page(store.current(), store.ready()));
    let page_task = AbortOnDrop(tokio::spawn(run_builder(
        store.clone(),
        pages.clone(),
        builder,
        config.poll.interval,
    )));
    // Cluster i of n starts its rounds i/n of an interval in: logins and polls spread evenly.
    let n = config.clusters.len().max(1) as u32;
    let pollers: Vec<_> = config
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            tokio::spawn(supervise_cluster(
                c.clone(),
                config.poll.clone(),
                store.clone(),
                config.poll.interval / n * i as u32,
            ))
        })
        .collect();
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: config.web.listen_address,
        source,
    })?;
    info!(address = %addr, telemetry_path = %config.web.telemetry_path,
          clusters = config.clusters.len(), tls = web.tls.is_some(),
          basic_auth = web.basic_auth.is_some(), "listening");
    let state = AppState {
        store,
        build: Arc::new(BUILD),
        telemetry_path: config.web.telemetry_path.clone(),
        basic_auth: web.basic_auth.clone(),
        pages,
    };
    let router = app(state);
    let result = match &web.tls {
        Some(tls) => match TlsListener::new(listener, tls.server_config.clone()) {
            Ok(listener) => axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|source| ServeError::Serve { addr, source }),
            Err(source) => Err(ServeError::Serve { addr, source }),
        },
        None => axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| ServeError::Serve { addr, source }),
    };
    for task in pollers {
        task.abort();
    }
    drop(page_task);
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
