//! `pg_replication_exporter demo`: the embedded default a newcomer runs first.
//!
//! Finds PostgreSQL server binaries, starts a primary and two standbys (`ANY 1` quorum, a
//! physical slot per standby, one logical slot) in a temporary directory on free loopback ports,
//! keeps a light write load going, and runs the exporter on them until Ctrl-C, when every
//! server is stopped and the directory removed. As root, the servers run as `postgres`.
//! `demo --patroni` ([`patroni`]) runs etcd and three Patroni members instead, discovered.

pub mod patroni;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::process::Command;
use tokio_postgres::NoTls;

use pg_replication_exporter::config::{self, Config, Overrides};
use pg_replication_exporter::exporter;

const DEMO_LISTEN: &str = "127.0.0.1:10187";
const INSTALL_HINT: &str = "no PostgreSQL server binaries found (initdb, pg_ctl, postgres): install them \
(Debian/Ubuntu: apt-get install postgresql-15) or point PG_BINDIR at their directory";

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(overrides: Overrides) -> Result<()> {
    let bindir = find_bindir().ok_or_else(|| anyhow!(INSTALL_HINT))?;
    let owner = Owner::detect()?;
    let dir = demo_dir("pg_replication_exporter-demo-", &owner)?;
    let mut cluster = DemoCluster {
        bindir,
        owner,
        root: dir.path().to_path_buf(),
        nodes: Vec::new(),
    };
    let result = demo(&mut cluster, overrides).await;
    cluster.stop_all().await;
    drop(dir);
    result
}

async fn demo(cluster: &mut DemoCluster, overrides: Overrides) -> Result<()> {
    println!(
        "Starting a demo cluster with PostgreSQL from {} in {} …",
        cluster.bindir.display(),
        cluster.root.display()
    );
    cluster.start_primary().await?;
    for name in ["standby1", "standby2"] {
        cluster.start_standby(name).await?;
    }
    let primary = cluster.connect(0).await?;
    // One statement per call: ALTER SYSTEM refuses to run in the implicit transaction of a batch.
    for sql in [
        "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (standby1, standby2)'",
        "SELECT pg_reload_conf()",
        "SELECT pg_create_logical_replication_slot('demo_logical', 'test_decoding')",
        "CREATE TABLE demo_load (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), payload text)",
    ] {
        primary
            .batch_execute(sql)
            .await
            .with_context(|| format!("configure the demo primary: {sql}"))?;
    }
    let load = tokio::spawn(write_load(primary));

    let listen = overrides
        .listen_address
        .clone()
        .unwrap_or_else(|| DEMO_LISTEN.to_string());
    // The exporter runs on exactly the configuration it prints.
    let toml = cluster.config_toml(&listen);
    let config = load_printed(&toml, &overrides)?;
    let listener = exporter::bind(config.web.listen_address)
        .await
        .with_context(|| {
            format!("the demo serves on {listen}; choose another with --web.listen-address")
        })?;
    let addr = listener.local_addr()?;
    println!(
        "\nThe exporter is polling the demo cluster. Metrics: http://{addr}{}\n\
         The landing page draws its topology: http://{addr}/\n",
        config.web.telemetry_path
    );
    println!(
        "A configuration for this cluster (save it and run `pg_replication_exporter --config.file=FILE`):\n"
    );
    println!("{toml}");
    println!("Try: pause replay on standby1 and watch the lag grow:");
    println!(
        "  psql -h 127.0.0.1 -p {} -U postgres -c 'SELECT pg_wal_replay_pause()'",
        cluster.nodes[1].port
    );
    println!("Press Ctrl-C to stop and remove the demo cluster.\n");
    let result = exporter::run(config, listener, exporter::shutdown_signal()).await;
    load.abort();
    result.map_err(Into::into)
}

/// A steady trickle of commits (a row every 200 ms) and a larger WAL record each second, so
/// that lag and WAL rates have something to show.
async fn write_load(client: tokio_postgres::Client) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        let sql = if n.is_multiple_of(5) {
            "INSERT INTO demo_load (payload) SELECT repeat('x', 64) FROM generate_series(1, 100)"
        } else {
            "INSERT INTO demo_load (payload) VALUES ('tick')"
        };
        if client.batch_execute(sql).await.is_err() {
            return;
        }
    }
}

/// Where PostgreSQL's server programs are: PG_BINDIR, `pg_config --bindir`, the newest
/// /usr/lib/postgresql/*/bin, then PATH.
pub fn find_bindir() -> Option<PathBuf> {
    let has_all = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| d.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os("PG_BINDIR").map(PathBuf::from) {
        return has_all(&dir).then_some(dir);
    }
    let from_pg_config = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    debian.sort();
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    from_pg_config
        .into_iter()
        .chain(debian.into_iter().rev().map(|(_, p)| p))
        .chain(on_path)
        .find(|d| has_all(d))
}

/// Who runs the servers: the current user, or `postgres` when running as root (initdb refuses
/// to run as root).
#[derive(Clone, Copy)]
struct Owner {
    ids: Option<(u32, u32)>,
}

impl Owner {
    fn detect() -> Result<Owner> {
        let euid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1);
        if euid != 0 {
            return Ok(Owner { ids: None });
        }
        let passwd = std::fs::read_to_string("/etc/passwd").context("read /etc/passwd")?;
        let ids = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[0] == "postgres")
            .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .ok_or_else(|| anyhow!("running as root needs a `postgres` user to run the servers (initdb refuses root)"))?;
        Ok(Owner { ids: Some(ids) })
    }

    fn chown(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.ids {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", path.display()))?;
        }
        Ok(())
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        if let Some((uid, gid)) = self.ids {
            cmd.uid(uid).gid(gid);
        }
        cmd.stdin(Stdio::null());
        cmd
    }
}

struct DemoNode {
    name: String,
    port: u16,
    data: PathBuf,
}

struct DemoCluster {
    bindir: PathBuf,
    owner: Owner,
    root: PathBuf,
    nodes: Vec<DemoNode>,
}

impl DemoCluster {
    async fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let out = self
            .owner
            .command(&self.bindir.join(program))
            .args(args)
            .current_dir(&self.root)
            .output()
            .await
            .with_context(|| format!("run {program}"))?;
        if !out.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    async fn start_node(&self, node: &DemoNode) -> Result<()> {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}'",
            node.port,
            self.root.display()
        );
        let log = self.root.join(format!("{}.log", node.name));
        self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&node.data)?,
                "-l",
                path_str(&log)?,
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .await
        .with_context(|| format!("start {} (log: {})", node.name, log.display()))
    }

    async fn start_primary(&mut self) -> Result<()> {
        let data = self.root.join("primary");
        self.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )
        .await?;
        let conf = "\n# pg_replication_exporter demo\nwal_level = logical\nmax_wal_senders = 10\n\
            max_replication_slots = 10\nhot_standby = on\nhot_standby_feedback = on\n\
            wal_receiver_status_interval = 1s\nshared_buffers = 32MB\nfsync = off\n\
            max_slot_wal_keep_size = 1GB\nlogging_collector = off\n";
        append(&data.join("postgresql.conf"), conf)?;
        let node = DemoNode {
            name: "primary".into(),
            port: free_port()?,
            data,
        };
        self.start_node(&node).await?;
        self.nodes.push(node);
        let client = self.connect(0).await?;
        client
            .batch_execute(
                "CREATE ROLE replication_exporter LOGIN;
                 GRANT pg_monitor TO replication_exporter;",
            )
            .await
            .context("create the exporter's role")?;
        Ok(())
    }

    /// A standby made from a copy of the primary's data directory taken between
    /// pg_backup_start() and pg_backup_stop(), so no pg_basebackup is needed.
    async fn start_standby(&mut self, name: &str) -> Result<()> {
        let primary = &self.nodes[0];
        let client = self.connect(0).await?;
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await?
            .get(0);
        client
            .execute(
                "SELECT pg_create_physical_replication_slot($1, true)",
                &[&name],
            )
            .await
            .with_context(|| format!("create slot {name}"))?;
        let (start, stop) = if version >= 150000 {
            (
                "SELECT pg_backup_start($1, true)",
                "SELECT labelfile FROM pg_backup_stop(false)",
            )
        } else {
            (
                "SELECT pg_start_backup($1, true, false)",
                "SELECT labelfile FROM pg_stop_backup(false)",
            )
        };
        client
            .execute(start, &[&name])
            .await
            .context("start the backup")?;
        let data = self.root.join(name);
        let copy = self
            .owner
            .command(Path::new("cp"))
            .arg("-a")
            .arg(&primary.data)
            .arg(&data)
            .status()
            .await?;
        if !copy.success() {
            bail!("copy the primary's data directory for {name} failed");
        }
        let label: String = client
            .query_one(stop, &[])
            .await
            .context("stop the backup")?
            .get(0);
        for f in ["postmaster.pid", "postmaster.opts"] {
            let _ = std::fs::remove_file(data.join(f));
        }
        // Like pg_basebackup: the primary's slots are not the standby's.
        for slot in std::fs::read_dir(data.join("pg_replslot"))?.flatten() {
            std::fs::remove_dir_all(slot.path())?;
        }
        std::fs::write(data.join("backup_label"), label)?;
        std::fs::write(data.join("standby.signal"), "")?;
        append(
            &data.join("postgresql.auto.conf"),
            &format!(
                "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name={name}'\nprimary_slot_name = '{name}'\n",
                primary.port
            ),
        )?;
        for f in ["backup_label", "standby.signal", "postgresql.auto.conf"] {
            self.owner.chown(&data.join(f))?;
        }
        let node = DemoNode {
            name: name.to_string(),
            port: free_port()?,
            data,
        };
        self.start_node(&node).await?;
        self.nodes.push(node);
        Ok(())
    }

    async fn connect(&self, index: usize) -> Result<tokio_postgres::Client> {
        let node = &self.nodes[index];
        let (client, connection) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(node.port)
            .user("postgres")
            .dbname("postgres")
            .application_name("pg_replication_exporter_demo")
            .connect(NoTls)
            .await
            .with_context(|| format!("connect to the demo {}", node.name))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn config_toml(&self, listen: &str) -> String {
        let mut out = format!(
            "[web]\nlisten_address = \"{listen}\"\n\n[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\n\n\
             [[cluster]]\nname = \"demo\"\nuser = \"replication_exporter\"\ndbname = \"postgres\"\nsslmode = \"disable\"\n"
        );
        for n in &self.nodes {
            out.push_str(&format!(
                "\n[[cluster.node]]\nname = \"{}\"\nhost = \"127.0.0.1\"\nport = {}\n",
                n.name, n.port
            ));
        }
        // Front-ends are judged against the nodes: where each one leads, and whether that is
        // where it should. Two nodes' own ports stand in for a VIP and a read-only address.
        out.push_str(
            "\n# Front-ends (a VIP, haproxy, pgpool-II, pgbouncer): where each leads, judged against the\n\
             # nodes. Here the nodes' own ports stand in for a read-write and a read-only address.\n",
        );
        for (name, node, expect) in [("app-rw", 0, "primary"), ("app-ro", 1, "standby")] {
            out.push_str(&format!(
                "[[cluster.endpoint]]\nname = \"{name}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\nexpect = \"{expect}\"\n\n",
                self.nodes[node].port
            ));
        }
        out
    }

    async fn stop_all(&self) {
        for node in self.nodes.iter().rev() {
            let Ok(data) = path_str(&node.data) else {
                continue;
            };
            let _ = self
                .run(
                    "pg_ctl",
                    &["-D", data, "-m", "fast", "-w", "-t", "30", "stop"],
                )
                .await;
        }
        println!("Demo cluster stopped and removed.");
    }
}

/// A fresh directory for a demo, owned by the account its servers run as; removed when dropped.
fn demo_dir(prefix: &str, owner: &Owner) -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("create the demo directory")?;
    owner.chown(dir.path())?;
    Ok(dir)
}

/// The configuration a demo prints, loaded the way `--config.file` loads it (with the
/// telemetry path of the command line), so that what runs is what the user can copy.
pub(crate) fn load_printed(toml: &str, overrides: &Overrides) -> Result<Config> {
    let overrides = Overrides {
        telemetry_path: overrides.telemetry_path.clone(),
        ..Overrides::default()
    };
    config::load_from_str(toml, &[], &overrides)
        .map_err(|e| anyhow!("the demo's own configuration: {e}"))
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("path {} is not UTF-8", p.display()))
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// A port the OS reports free on 127.0.0.1 (other clusters may hold the well-known ones).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
