//! Wiring: one supervised cluster task per cluster (`rounds`, kept by `runner`), the HTTP(S)
//! server, configuration reloads (SIGHUP, `POST /-/reload`), and a graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::clock::unix_now;
use crate::config::{self, ClusterConfig, Config, Overrides};
use crate::core::model::{ExporterState, ReloadStatus, ShardView};
use crate::fleet::shard::owned;
use crate::pages::{PageBuilder, Pages, run_builder};
use crate::pg::connect::AbortOnDrop;
use crate::runner::{Applied, Runner};
use crate::store::{BuildInfo, Store};
use crate::web::config::{self as webconfig, WebConfig, WebConfigError};
use crate::web::lifecycle::ReloadRequest;
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
    #[error("start the poll thread: {0}")]
    PollThread(std::io::Error),
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
/// the configuration errors' exit status before anything starts. Nothing to reload.
pub async fn run_with_web(
    config: Config,
    web: WebConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    run_with_lifecycle(config, web, listener, shutdown, Lifecycle::default()).await
}

/// How a running exporter takes a new configuration.
#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    /// The file a reload reads again, and the flags that win over it; `None` when the
    /// configuration came from elsewhere (the demo), so that there is nothing to reload.
    pub config_file: Option<(PathBuf, Overrides)>,
    /// `--web.enable-lifecycle`: `POST /-/reload` reloads; without it the route answers 403.
    /// SIGHUP reloads either way.
    pub enable_http: bool,
}

/// [`run_with_web`], reloading the configuration on SIGHUP (and on `POST /-/reload` when
/// enabled): a valid file replaces clusters, nodes and endpoints by difference (see
/// [`crate::runner`]); an invalid one is refused with its one-line error and the running
/// configuration stays. `[web]` settings take effect on restart only.
pub async fn run_with_lifecycle(
    config: Config,
    web: WebConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    lifecycle: Lifecycle,
) -> Result<(), ServeError> {
    let (mine, shard) = ownership(&config);
    let store = Store::new(&mine);
    store.set_exporter(ExporterState {
        reload: lifecycle.config_file.is_some().then(|| ReloadStatus {
            successful: true,
            last_success: unix_now(),
        }),
        shard,
    });
    // The page is built when snapshots are published, never by a scrape.
    let mut builder = PageBuilder::new(BUILD);
    let (first, ready) = store.current_and_ready();
    let pages = Pages::new(builder.page(first, ready));
    let page_task = AbortOnDrop(tokio::spawn(run_builder(
        store.clone(),
        pages.clone(),
        builder,
        config.poll.interval,
    )));
    let runner =
        Runner::start(&mine, &config.poll, store.clone()).map_err(ServeError::PollThread)?;
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: config.web.listen_address,
        source,
    })?;
    info!(address = %addr, telemetry_path = %config.web.telemetry_path,
          clusters = mine.len(), tls = web.tls.is_some(),
          basic_auth = web.basic_auth.is_some(), lifecycle = lifecycle.enable_http, "listening");
    let state = AppState {
        store: store.clone(),
        build: Arc::new(BUILD),
        telemetry_path: config.web.telemetry_path.clone(),
        basic_auth: web.basic_auth.clone(),
        pages,
        lifecycle: lifecycle.enable_http.then(|| reload_tx.clone()),
        address: addr,
    };
    // The reloader owns the cluster tasks: aborting it at shutdown stops them all.
    let reloader = AbortOnDrop(tokio::spawn(reload_loop(
        runner,
        config,
        lifecycle.config_file,
        store,
        reload_rx,
    )));
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
    drop(reloader);
    drop(page_task);
    info!("stopped");
    result
}

/// Serves reloads one at a time, from SIGHUP and from `POST /-/reload`, for the exporter's life.
async fn reload_loop(
    mut runner: Runner,
    mut current: Config,
    source: Option<(PathBuf, Overrides)>,
    store: Arc<Store>,
    mut requests: mpsc::Receiver<ReloadRequest>,
) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let sighup = async {
            match hangup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let sighup = std::future::pending::<Option<()>>();
        tokio::select! {
            Some(()) = sighup => {
                info!("SIGHUP: reloading the configuration");
                let _ = reload(&mut runner, &mut current, source.as_ref(), &store).await;
            }
            request = requests.recv() => match request {
                Some(request) => {
                    info!("POST /-/reload: reloading the configuration");
                    let outcome = reload(&mut runner, &mut current, source.as_ref(), &store)
                        .await
                        .map(|applied| applied.to_string());
                    let _ = request.reply.send(outcome);
                }
                None => std::future::pending::<()>().await,
            },
        }
    }
}

/// Reads the configuration file again and applies it, or refuses it and keeps the running one.
async fn reload(
    runner: &mut Runner,
    current: &mut Config,
    source: Option<&(PathBuf, Overrides)>,
    store: &Store,
) -> Result<Applied, String> {
    let Some((path, overrides)) = source else {
        let e = "nothing to reload: this exporter was not started from a configuration file";
        warn!("{e}");
        return Err(e.to_owned());
    };
    let running = store.current().exporter.clone();
    let last_success = running.reload.map(|r| r.last_success);
    match config::load(path, overrides) {
        Err(e) => {
            error!(error = %e, "reload refused; the running configuration stays");
            store.set_exporter(ExporterState {
                reload: Some(ReloadStatus {
                    successful: false,
                    last_success: last_success.unwrap_or(0.0),
                }),
                shard: running.shard,
            });
            Err(e.to_string())
        }
        Ok(mut new) => {
            if new.web != current.web {
                warn!(
                    "reload: [web] settings (listen address, telemetry path, web config file) take effect on restart only; the running ones stay"
                );
                new.web = current.web.clone();
            }
            // The new file's clusters through the same ownership rule as at start.
            let (mine, shard) = ownership(&new);
            let applied = runner.apply(&mine, &new.poll).await;
            info!(added = ?applied.added, removed = ?applied.removed, changed = ?applied.changed,
                  unchanged = applied.unchanged, restarted_all = applied.restarted_all,
                  clusters = runner.names().len(), "configuration reloaded");
            *current = new;
            store.set_exporter(ExporterState {
                reload: Some(ReloadStatus {
                    successful: true,
                    last_success: unix_now(),
                }),
                shard,
            });
            Ok(applied)
        }
    }
}

/// The clusters `config`'s shard polls, and the shard as the pages show it; with several shards
/// the owned and skipped clusters are logged by name (at start and on each reload), so that a
/// fleet's operator can check the split.
fn ownership(config: &Config) -> (Vec<ClusterConfig>, ShardView) {
    let (mine, skipped) = owned(&config.clusters, config.shard);
    if config.shard.count > 1 {
        let names = |v: Vec<&str>| v.join(",");
        info!(index = config.shard.index, count = config.shard.count,
              owned = %names(mine.iter().map(|c| c.name.as_str()).collect()),
              skipped = %names(skipped.iter().map(String::as_str).collect()),
              owned_count = mine.len(), skipped_count = skipped.len(),
              "polling the clusters this shard owns");
    }
    let shard = ShardView {
        index: config.shard.index,
        count: config.shard.count,
        skipped,
    };
    (mine, shard)
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
