//! The `pg_replication_exporter` command: flags → logging → configuration → run.
//! This binary (with its `demo` module) is the only place `anyhow` lives; a bad configuration
//! exits with status 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pg_replication_exporter::config::{self, Overrides};
use pg_replication_exporter::web::config as webconfig;
use pg_replication_exporter::{exporter, ops};

mod assets;
mod demo;

#[derive(Parser, Debug)]
#[command(
    name = "pg_replication_exporter",
    version,
    about = "Prometheus exporter for PostgreSQL streaming replication: every node of a cluster, correlated."
)]
struct Cli {
    /// Path to the TOML configuration file.
    #[arg(
        long = "config.file",
        value_name = "FILE",
        default_value = "pg_replication_exporter.toml",
        global = true
    )]
    config_file: PathBuf,
    /// Address to listen on for HTTP, overriding web.listen_address (e.g. ":10187").
    #[arg(long = "web.listen-address", value_name = "ADDR", global = true)]
    listen_address: Option<String>,
    /// Path under which to expose metrics, overriding web.telemetry_path.
    #[arg(long = "web.telemetry-path", value_name = "PATH", global = true)]
    telemetry_path: Option<String>,
    /// Exporter-toolkit web configuration (TLS, basic auth), overriding web.config_file.
    #[arg(long = "web.config.file", value_name = "FILE", global = true)]
    web_config_file: Option<PathBuf>,
    /// Enable `POST /-/reload` (Prometheus's lifecycle API). SIGHUP reloads either way.
    #[arg(long = "web.enable-lifecycle", global = true)]
    enable_lifecycle: bool,
    /// Only log messages of this level or above.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info, global = true)]
    log_level: LogLevel,
    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a local demo cluster (a primary and two standbys; with --patroni etcd and three
    /// Patroni members, discovered) and export its metrics.
    Demo {
        /// Run etcd and three Patroni members instead, the exporter discovering them.
        #[arg(long)]
        patroni: bool,
    },
    /// Connect to every configured node once and report what needs fixing (exit 1 if anything).
    Check,
    /// Show every node's role, state and lag, and the slots, like `patronictl list`.
    Status {
        /// Refresh every poll interval.
        #[arg(long)]
        watch: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Run a failover drill on one cluster and measure it: client-visible RTO, promotion time,
    /// endpoints, acknowledged writes lost (exit 1 when --rto-max or --rpo-max is exceeded).
    Drill {
        /// The `[[cluster]]` to drill (never any other).
        #[arg(long)]
        cluster: String,
        /// switchover (Patroni POST /switchover), failover (POST /failover) or command.
        #[arg(long, value_enum)]
        mode: DrillModeArg,
        /// The member to promote (switchover, failover); must be a failover candidate.
        #[arg(long)]
        target: Option<String>,
        /// --mode command: the operator's own command, run with `sh -c` (its output is kept).
        #[arg(long)]
        command: Option<String>,
        /// --mode command: how long the command may run.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        command_timeout: std::time::Duration,
        /// A [[cluster.endpoint]] of kind postgres to write through (default: the primary).
        #[arg(long)]
        write_endpoint: Option<String>,
        /// Fail (exit 1) when the client-visible RTO exceeds this.
        #[arg(long, value_parser = humantime::parse_duration)]
        rto_max: Option<std::time::Duration>,
        /// Fail (exit 1) when more acknowledged writes than this are lost.
        #[arg(long)]
        rpo_max: Option<u64>,
        /// Do not ask for confirmation on a terminal.
        #[arg(long)]
        yes: bool,
        /// Print the plan and the precondition checks; touch nothing.
        #[arg(long)]
        dry_run: bool,
        /// Drill even when the preconditions fail.
        #[arg(long)]
        force: bool,
        /// Writes before the switch, the baseline.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
        warmup: std::time::Duration,
        /// After the switch, how long to wait for the cluster to settle before reporting.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        settle_timeout: std::time::Duration,
        /// Leave the probe table on the new primary for inspection (drop the schema yourself).
        #[arg(long)]
        keep_probe_table: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DrillOutputArg::Text)]
        output: DrillOutputArg,
    },
    /// Write the man pages and shell completions generated from these flags (packaging).
    #[command(hide = true)]
    GenerateAssets {
        /// Directory to write man/ and completions/ into.
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DrillModeArg {
    Switchover,
    Failover,
    Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DrillOutputArg {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Logfmt,
    Json,
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    };
    // Our own events at the chosen level; dependencies only from warn, so that debug logging
    // shows the exporter's decisions rather than every protocol message.
    let filter =
        tracing_subscriber::EnvFilter::new(format!("warn,pg_replication_exporter={level}"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Logfmt => builder
            .event_format(pg_replication_exporter::logfmt::Logfmt)
            .init(),
    }
}

fn main() -> ExitCode {
    pg_replication_exporter::memory::tune();
    let cli = Cli::parse();
    // The operator commands print their own report: only warnings and errors go to the log
    // unless a level was asked for explicitly.
    let level = match (&cli.command, cli.log_level) {
        (Some(Command::Check | Command::Status { .. } | Command::Drill { .. }), LogLevel::Info) => {
            LogLevel::Warn
        }
        (_, level) => level,
    };
    init_logging(level, cli.log_format);
    let overrides = Overrides {
        listen_address: cli.listen_address.clone(),
        telemetry_path: cli.telemetry_path.clone(),
        web_config_file: cli.web_config_file.clone(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pg_replication_exporter: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Some(Command::GenerateAssets { out_dir }) => {
            match assets::write(<Cli as clap::CommandFactory>::command(), &out_dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pg_replication_exporter generate-assets: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Command::Demo { patroni }) => match runtime.block_on(async {
            if patroni {
                demo::patroni::run(overrides).await
            } else {
                demo::run(overrides).await
            }
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pg_replication_exporter demo: {e:#}");
                ExitCode::from(1)
            }
        },
        command => {
            let config = match config::load(&cli.config_file, &overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("pg_replication_exporter: {e}");
                    return ExitCode::from(2);
                }
            };
            // `check` and `status` report on what this process would poll: its shard's
            // clusters (run them once per index for a whole fleet). `drill` names its cluster.
            let shard_config = || pg_replication_exporter::fleet::shard::restrict(config.clone());
            match command {
                Some(Command::Check) => {
                    return ExitCode::from(runtime.block_on(ops::run_check(&shard_config())));
                }
                Some(Command::Status { watch, output }) => {
                    let output = match output {
                        OutputFormat::Table => ops::Output::Table,
                        OutputFormat::Json => ops::Output::Json,
                    };
                    return ExitCode::from(runtime.block_on(ops::run_status(
                        &shard_config(),
                        output,
                        watch,
                    )));
                }
                Some(Command::Drill {
                    cluster,
                    mode,
                    target,
                    command,
                    command_timeout,
                    write_endpoint,
                    rto_max,
                    rpo_max,
                    yes,
                    dry_run,
                    force,
                    warmup,
                    settle_timeout,
                    keep_probe_table,
                    output,
                }) => {
                    let args = ops::DrillArgs {
                        cluster,
                        mode: match mode {
                            DrillModeArg::Switchover => ops::DrillMode::Switchover,
                            DrillModeArg::Failover => ops::DrillMode::Failover,
                            DrillModeArg::Command => ops::DrillMode::Command,
                        },
                        target,
                        command,
                        command_timeout,
                        write_endpoint,
                        rto_max,
                        rpo_max,
                        yes,
                        dry_run,
                        force,
                        output: match output {
                            DrillOutputArg::Text => ops::DrillOutput::Text,
                            DrillOutputArg::Json => ops::DrillOutput::Json,
                        },
                        warmup,
                        settle_timeout,
                        keep_probe_table,
                    };
                    return ExitCode::from(runtime.block_on(ops::run_drill(&config, args)));
                }
                _ => {}
            }
            let web = match webconfig::load_optional(config.web.config_file.as_deref()) {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("pg_replication_exporter: {e}");
                    return ExitCode::from(2);
                }
            };
            let lifecycle = exporter::Lifecycle {
                config_file: Some((cli.config_file.clone(), overrides)),
                enable_http: cli.enable_lifecycle,
            };
            match runtime.block_on(serve(config, web, lifecycle)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pg_replication_exporter: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

async fn serve(
    config: config::Config,
    web: webconfig::WebConfig,
    lifecycle: exporter::Lifecycle,
) -> anyhow::Result<()> {
    let listener = exporter::bind(config.web.listen_address).await?;
    exporter::run_with_lifecycle(
        config,
        web,
        listener,
        exporter::shutdown_signal(),
        lifecycle,
    )
    .await?;
    Ok(())
}
