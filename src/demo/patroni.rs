//! `pg_replication_exporter demo --patroni`: the HA stack most users run, in one command. One
//! etcd (the v3 API) and three Patroni members, each with its own PostgreSQL, on free loopback
//! ports in a temporary directory, and the exporter discovering the members from their REST
//! APIs (no `[[cluster.node]]` at all). Ctrl-C stops Patroni (which stops PostgreSQL), then
//! etcd, and removes the directory. As root, everything runs as `postgres`.
//!
//! Needs Patroni (Debian's /usr/bin/patroni, else `patroni` on PATH, e.g. an activated venv)
//! with etcd3 support, and etcd (`etcd` on PATH, else /usr/bin/etcd): a clear install hint
//! otherwise.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::process::{Child, Command};

use pg_replication_exporter::config::Overrides;
use pg_replication_exporter::exporter;

use super::{DEMO_LISTEN, INSTALL_HINT, Owner, find_bindir, free_port, path_str};

const PATRONI_HINT: &str = "demo --patroni needs Patroni and etcd: on Debian/Ubuntu \
apt-get install patroni etcd-server (Patroni 3.x, etcd 3.4), or pip install 'patroni[etcd3,psycopg3]' \
in an activated venv and put etcd 3.4+ on PATH";

/// How long three members may take to elect a leader and stream.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The programs the demo runs.
struct Tools {
    patroni: PathBuf,
    patroni_version: String,
    etcd: PathBuf,
    bindir: PathBuf,
}

impl Tools {
    fn find() -> Result<Tools> {
        let patroni = Some(PathBuf::from("/usr/bin/patroni"))
            .filter(|p| p.is_file())
            .or_else(|| on_path("patroni"))
            .ok_or_else(|| anyhow!("no Patroni found: {PATRONI_HINT}"))?;
        let etcd = on_path("etcd")
            .or_else(|| Some(PathBuf::from("/usr/bin/etcd")).filter(|p| p.is_file()))
            .ok_or_else(|| anyhow!("no etcd found: {PATRONI_HINT}"))?;
        let out = std::process::Command::new(&patroni)
            .arg("--version")
            .output()
            .with_context(|| format!("run {} --version ({PATRONI_HINT})", patroni.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let patroni_version = text
            .strip_prefix("patroni ")
            .ok_or_else(|| anyhow!("{} --version said {text:?}", patroni.display()))?
            .to_string();
        let bindir = find_bindir().ok_or_else(|| anyhow!(INSTALL_HINT))?;
        Ok(Tools {
            patroni,
            patroni_version,
            etcd,
            bindir,
        })
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

struct Member {
    name: String,
    pg_port: u16,
    api_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Member {
    fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }
}

struct Stack {
    tools: Tools,
    owner: Owner,
    root: PathBuf,
    scope: String,
    etcd: Option<Child>,
    etcd_port: u16,
    members: Vec<Member>,
}

/// Runs the Patroni demo until Ctrl-C or SIGTERM (also during startup).
pub async fn run(overrides: Overrides) -> Result<()> {
    let tools = Tools::find()?;
    let owner = Owner::detect()?;
    let dir = super::demo_dir("pg_replication_exporter-demo-patroni-", &owner)?;
    let mut stack = Stack {
        tools,
        owner,
        root: dir.path().to_path_buf(),
        scope: "demo".into(),
        etcd: None,
        etcd_port: 0,
        members: Vec::new(),
    };
    let result = tokio::select! {
        r = demo(&mut stack, overrides) => r,
        () = exporter::shutdown_signal() => Ok(()),
    };
    stack.stop_all().await;
    drop(dir);
    println!("Demo cluster stopped and removed.");
    result
}

async fn demo(stack: &mut Stack, overrides: Overrides) -> Result<()> {
    println!(
        "Starting a Patroni demo cluster (Patroni {}, etcd, PostgreSQL from {}) in {} …",
        stack.tools.patroni_version,
        stack.tools.bindir.display(),
        stack.root.display()
    );
    stack.start_etcd().await?;
    stack.write_post_bootstrap()?;
    for name in ["m1", "m2", "m3"] {
        stack.start_member(name)?;
    }
    println!("Waiting for Patroni to elect a leader and two replicas to stream …");
    let leader = stack.wait_ready().await?;

    let listen = overrides
        .listen_address
        .clone()
        .unwrap_or_else(|| DEMO_LISTEN.to_string());
    // The exporter runs on exactly the configuration it prints.
    let toml = stack.config_toml(&listen);
    let config = super::load_printed(&toml, &overrides)?;
    let listener = exporter::bind(config.web.listen_address)
        .await
        .with_context(|| {
            format!("the demo serves on {listen}; choose another with --web.listen-address")
        })?;
    let addr = listener.local_addr()?;
    println!(
        "\nPatroni's leader is {leader}. The exporter discovers the members from their REST APIs.\nMetrics: http://{addr}{}\n",
        config.web.telemetry_path
    );
    println!(
        "A configuration for this cluster (save it and run `pg_replication_exporter --config.file=FILE`):\n"
    );
    println!("{toml}");
    let m = &stack.members[0];
    println!("Try: a switchover, maintenance mode, and watch the pg_replication_patroni_* series:");
    println!(
        "  curl -s -XPOST {}/switchover -d '{{\"leader\": \"{leader}\"}}'",
        m.api_url()
    );
    println!(
        "  curl -s -XPATCH {}/config -d '{{\"pause\": true}}'",
        m.api_url()
    );
    println!("Press Ctrl-C to stop and remove the demo cluster.\n");
    // Ctrl-C is the caller's: it drops this future, then stops everything.
    exporter::run(config, listener, std::future::pending())
        .await
        .map_err(Into::into)
}

impl Stack {
    async fn start_etcd(&mut self) -> Result<()> {
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let data = self.root.join("etcd");
        std::fs::create_dir(&data)?;
        self.owner.chown(&data)?;
        let log = std::fs::File::create(self.root.join("etcd.log"))?;
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let mut cmd = self.owner.command(&self.tools.etcd);
        cmd.arg("--name=e1")
            .arg(format!("--data-dir={}", path_str(&data)?))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=e1={peer}"))
            .arg("--initial-cluster-state=new")
            .arg("--initial-cluster-token=pg-replication-exporter-demo")
            .arg("--enable-v2=false")
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", self.tools.etcd.display()))?;
        self.etcd = Some(child);
        self.etcd_port = client_port;
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = http
                .get(format!("{client}/health"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .is_some();
            if ok {
                return Ok(());
            }
            if let Some(status) = self.etcd.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "etcd exited ({status}); see {}",
                    self.root.join("etcd.log").display()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "etcd did not become healthy within 30 s; see {}",
                    self.root.join("etcd.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates the exporter's role (pg_monitor) once, on the member that bootstraps.
    fn write_post_bootstrap(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let script = self.root.join("post_bootstrap.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nset -e\nexec {} \"$1\" -X -q -v ON_ERROR_STOP=1 -c \
                 \"CREATE ROLE replication_exporter LOGIN; GRANT pg_monitor TO replication_exporter;\"\n",
                self.tools.bindir.join("psql").display()
            ),
        )?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        Ok(())
    }

    fn start_member(&mut self, name: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.root.join(name);
        std::fs::create_dir(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        self.owner.chown(&dir)?;
        let mut member = Member {
            name: name.to_string(),
            pg_port: free_port()?,
            api_port: free_port()?,
            dir,
            child: None,
        };
        let config = member.dir.join("patroni.yml");
        std::fs::write(&config, self.patroni_yaml(&member))?;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))?;
        self.owner.chown(&config)?;
        let log = std::fs::File::create(member.dir.join("patroni.log"))?;
        let mut cmd = self.owner.command(&self.tools.patroni);
        cmd.arg(&config)
            .current_dir(&member.dir)
            .stdout(log.try_clone()?)
            .stderr(log)
            .env("HOME", &member.dir)
            .env("LC_ALL", "C.UTF-8")
            .env("PYTHONUNBUFFERED", "1")
            .kill_on_drop(true);
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGPASSWORD",
            "PGSERVICE",
        ] {
            cmd.env_remove(var);
        }
        member.child = Some(
            cmd.spawn()
                .with_context(|| format!("start {} for {name}", self.tools.patroni.display()))?,
        );
        self.members.push(member);
        Ok(())
    }

    /// Patroni's configuration of a member: loop_wait 2 s and ttl 20 s, so that the demo reacts
    /// quickly; trust authentication on loopback (the plain demo's choice).
    fn patroni_yaml(&self, m: &Member) -> String {
        format!(
            r#"scope: {scope}
name: {name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:{api}
  connect_address: 127.0.0.1:{api}
etcd3:
  hosts: 127.0.0.1:{etcd}
watchdog:
  mode: "off"
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 128MB
        wal_log_hints: "on"
  initdb:
    - encoding: UTF8
    - locale: C
  post_bootstrap: {post_bootstrap}
postgresql:
  listen: 127.0.0.1:{pg}
  connect_address: 127.0.0.1:{pg}
  data_dir: {dir}/data
  bin_dir: {bin_dir}
  pgpass: {dir}/pgpass
  authentication:
    superuser:
      username: postgres
      password: demo
    replication:
      username: replicator
      password: demo
  parameters:
    unix_socket_directories: {dir}
    shared_buffers: 16MB
    max_connections: 30
    fsync: "off"
  pg_hba:
    - local all all trust
    - host replication all 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
tags: {{}}
"#,
            scope = self.scope,
            name = m.name,
            api = m.api_port,
            etcd = self.etcd_port,
            post_bootstrap = self.root.join("post_bootstrap.sh").display(),
            pg = m.pg_port,
            dir = m.dir.display(),
            bin_dir = self.tools.bindir.display(),
        )
    }

    /// Waits until `/cluster` lists a running leader and two running or streaming replicas;
    /// returns the leader's name.
    async fn wait_ready(&mut self) -> Result<String> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + READY_WITHIN;
        let mut last = String::from("no answer");
        loop {
            for m in self.members.iter_mut() {
                if let Some(status) = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    bail!(
                        "Patroni {} exited ({status}); see {}",
                        m.name,
                        m.dir.join("patroni.log").display()
                    );
                }
            }
            for m in &self.members {
                let reply = http
                    .get(format!("{}/cluster", m.api_url()))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                let Ok(reply) = reply else { continue };
                let Ok(body) = reply.bytes().await else {
                    continue;
                };
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    continue;
                };
                let members = v["members"].as_array().cloned().unwrap_or_default();
                let leader = members.iter().find(|x| {
                    matches!(x["role"].as_str(), Some("leader" | "master"))
                        && x["state"] == "running"
                });
                let replicas = members
                    .iter()
                    .filter(|x| matches!(x["state"].as_str(), Some("running" | "streaming")))
                    .count();
                if let Some(l) = leader
                    && replicas == 3
                {
                    return Ok(l["name"].as_str().unwrap_or_default().to_string());
                }
                last = v.to_string();
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "the Patroni cluster was not ready within {READY_WITHIN:?} (last /cluster: {last}); see the logs in {}",
                    self.root.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn config_toml(&self, listen: &str) -> String {
        let urls: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("\"{}\"", m.api_url()))
            .collect();
        format!(
            "[web]\nlisten_address = \"{listen}\"\n\n[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\n\n\
             [[cluster]]\nname = \"demo\"\nuser = \"replication_exporter\"\ndbname = \"postgres\"\nsslmode = \"disable\"\n\n\
             [cluster.patroni]\nurls = [{}]\ninterval = \"1s\"\ntimeout = \"800ms\"\nforget_after = \"1h\"\n",
            urls.join(", ")
        )
    }

    /// SIGTERM every Patroni (each stops its PostgreSQL, fast), wait, then make sure: SIGKILL
    /// a Patroni still running, `pg_ctl stop -m immediate` a postmaster still running, and
    /// stop etcd last.
    async fn stop_all(&mut self) {
        for m in &self.members {
            if let Some(pid) = m.child.as_ref().and_then(Child::id) {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .stdin(Stdio::null())
                    .status()
                    .await;
            }
        }
        for m in self.members.iter_mut() {
            if let Some(mut child) = m.child.take() {
                let exited = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
                if exited.is_err() {
                    let _ = child.kill().await;
                }
            }
            let data = m.dir.join("data");
            if data.join("postmaster.pid").is_file()
                && let Ok(d) = path_str(&data)
            {
                let _ = self
                    .owner
                    .command(&self.tools.bindir.join("pg_ctl"))
                    .args(["-D", d, "-m", "immediate", "-w", "-t", "30", "stop"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await;
            }
        }
        if let Some(mut etcd) = self.etcd.take() {
            let _ = etcd.kill().await;
        }
    }
}
