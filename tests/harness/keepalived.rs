//! A real keepalived VRRP lab: a virtual IP that moves between the nodes of a harness
//! [`Cluster`] (or the members of a [`PatroniCluster`]) as keepalived decides, and a loopback TCP port of the root network namespace that
//! leads through it, for the exporter's `postgres` endpoints (SPEC §9).
//!
//! The PostgreSQL nodes stay in the root namespace. Each VIP-capable node gets a network
//! namespace of its own with one veth (`eth0`) into a bridge in a client-side namespace; all
//! addresses are in 127.251.0.0/24, inside these namespaces only (no traffic touches a real
//! interface or leaves loopback space):
//!
//! ```text
//!  root ns                     client ns (br0 127.251.0.1)        node ns (eth0 127.251.0.11+i)
//!  127.0.0.1:port ─ socat ─ vip.sock ─ socat ─ TCP 127.251.0.100:5432 ─ VRRP/ARP ─ socat :5432
//!                                                                      │ (holder of the VIP)
//!  PostgreSQL of the node  ◄── its Unix socket (a path: crosses namespaces) ──┘
//! ```
//!
//! - Inside each namespace `lo` keeps only 127.0.0.1/32 (the kernel's 127.0.0.0/8 on `lo` would
//!   make every 127.251.0.x local there) and `route_localnet` = 1 (else loopback-range packets
//!   on a real link are martians and dropped).
//! - keepalived 2.2.7, one per node namespace, unicast adverts (`unicast_src_ip` /
//!   `unicast_peer`), priorities in the order of the nodes given (the first one highest),
//!   preemption on, advert_int 1 s, and the VIP declared `scope host`: the kernel refuses a
//!   127/8 address of any other scope (RTM_NEWADDR: "Invalid argument"), and a host-scoped
//!   address still answers ARP and TCP on its link.
//! - A `vrrp_script` of the test's [`VipCheck`], run as the `postgres` user every second (rise 1,
//!   fall 2, `init_fail`); a failing check puts the instance into FAULT, which releases the VIP.
//! - socat carries the VIP's TCP port 5432 to the node's Unix socket, and the root port to the
//!   VIP through a Unix socket into the client namespace; a connection through
//!   [`VipLab::port`] therefore ends up as a Unix-socket connection on the node, which the
//!   harness's pg_hba.conf trusts.
//!
//! ```ignore
//! let c = Cluster::builder().standbys(1).start();
//! let lab = VipLab::start(&c, &["primary", "standby1"], VipCheck::Primary);
//! lab.wait_holder("primary", VIP_WAIT);
//! let mut client = lab.conn().unwrap();          // the primary, through the VIP
//! ```
//!
//! Names are unique per lab (`pgvip-<pid>-<n>-...`), so labs run in parallel; a lab first
//! removes what labs of dead test processes left behind. Dropping the lab SIGKILLs every process
//! it started (and their children) and deletes its namespaces; a wait that fails panics with
//! [`VipLab::dump`]: every namespace's addresses, keepalived's log and the check run once more.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use super::cluster::{Cluster, base_dir};
use super::os;
use super::patroni::PatroniCluster;
use super::pgbin::PgBin;

/// A deadline for VIP moves: failure detection (fall 2 × interval 1 s) plus VRRP's master-down
/// interval (3 × advert_int + skew) plus slack for a loaded machine.
pub const VIP_WAIT: Duration = Duration::from_secs(30);

/// The prefix of every namespace, directory and command line of a lab: `pgvip-<pid>-<n>`.
const PREFIX: &str = "pgvip-";
/// The virtual IP (inside the lab's namespaces only).
const VIP: &str = "127.251.0.100";
/// The client namespace's address on the bridge.
const CLIENT_ADDR: &str = "127.251.0.1";
/// The port the node namespaces' socat listens on (all addresses, so on the VIP too).
const VIP_PORT: u16 = 5432;
const VIRTUAL_ROUTER_ID: u8 = 51;
const MAX_NODES: usize = 10;

/// What the `vrrp_script` of each node checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VipCheck {
    /// The node is a writable primary: psql's `SELECT pg_is_in_recovery()` prints `f`. A
    /// standby, a demoted primary and a stopped server fail it.
    Primary,
    /// The node accepts connections (`pg_isready`): liveness only. A demoted primary passes it,
    /// the classic way a VIP ends up on a standby.
    Alive,
}

/// The programs a lab runs, found once, with an install hint when one is missing.
struct Tools {
    ip: PathBuf,
    socat: PathBuf,
    keepalived: PathBuf,
}

fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| Tools {
        ip: find_tool("ip", "iproute2"),
        socat: find_tool("socat", "socat"),
        keepalived: find_tool("keepalived", "keepalived"),
    })
}

/// `name` on PATH or in the sbin directories (which a non-login root shell may lack on PATH);
/// panics naming the Debian package when it is nowhere.
fn find_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the VIP lab needs `{name}`, which is neither on PATH nor in /usr/sbin: \
                 apt-get install {package} (scripts/deps.sh installs it)"
            )
        })
}

/// psql and pg_isready for the check scripts: beside the harness's server binaries, else
/// Debian's of the same major, else the newest Debian client (the npm server builds of
/// scripts/fetch-pg.sh ship no client tools; libpq talks to any supported server).
fn client_tool(bin: &PgBin, tool: &str) -> PathBuf {
    let same_major = PathBuf::from(format!("/usr/lib/postgresql/{}/bin", bin.major()));
    let mut candidates = vec![bin.dir().join(tool), same_major.join(tool)];
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .collect();
    debian.sort();
    candidates.extend(
        debian
            .into_iter()
            .rev()
            .map(|(_, d)| d.join("bin").join(tool)),
    );
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the VIP lab's check scripts need `{tool}`, which is neither in {} nor in any \
                 /usr/lib/postgresql/*/bin: apt-get install postgresql-client-15",
                bin.dir().display()
            )
        })
}

/// Run a command to completion; Err with its status and output when it fails.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd:?} failed ({}): {}", out.status, text.trim()))
    }
}

/// `ip ARGS`, panicking with its output when it fails.
fn ip(args: &[&str]) -> String {
    run(Command::new(&tools().ip).args(args)).unwrap_or_else(|e| panic!("VIP lab: {e}"))
}

/// `ip ARGS` for a report: its output, or the error.
fn ip_report(args: &[&str]) -> String {
    run(Command::new(&tools().ip).args(args)).unwrap_or_else(|e| e)
}

/// A command run inside network namespace `ns` (`ip netns exec` execs it in place: the child's
/// pid is the program's).
fn in_netns(ns: &str, program: &Path) -> Command {
    let mut cmd = Command::new(&tools().ip);
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd.stdin(Stdio::null());
    cmd
}

/// The pid a lab's name carries (`pgvip-<pid>-...`).
fn owner_pid(name: &str) -> Option<i32> {
    name.strip_prefix(PREFIX)?
        .split(['-', '.'])
        .next()?
        .parse()
        .ok()
}

/// SIGKILL a process and every descendant of it; reap the child.
fn kill_tree(child: &mut Child) {
    let pid = child.id() as i32;
    let mut all = os::descendants(pid);
    all.push(pid);
    for &p in &all {
        os::signal(p, libc::SIGKILL);
    }
    let _ = child.wait();
    os::wait_gone(&all, Duration::from_secs(5));
}

/// SIGKILL every process in namespace `ns` (only a lab's own processes live there).
fn kill_netns_pids(ns: &str) {
    let pids = run(Command::new(&tools().ip).args(["netns", "pids", ns])).unwrap_or_default();
    let pids: Vec<i32> = pids
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    for &p in &pids {
        os::signal(p, libc::SIGKILL);
    }
    os::wait_gone(&pids, Duration::from_secs(5));
}

/// Once per test process: remove what labs of dead test processes left behind (a test process
/// killed before its Drop ran): their namespaces and what runs in them, their root-side socat
/// (named by its command line, which holds the lab's directory), and their directories.
fn remove_leftovers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dead = |name: &str| owner_pid(name).is_some_and(|pid| !os::exists(pid));
        let list = run(Command::new(&tools().ip).args(["netns", "list"])).unwrap_or_default();
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if ns.starts_with(PREFIX) && dead(ns) {
                kill_netns_pids(ns);
                let _ = run(Command::new(&tools().ip).args(["netns", "del", ns]));
            }
        }
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            let leftover = cmdline
                .match_indices(&format!("/{PREFIX}"))
                .any(|(at, _)| dead(&cmdline[at + 1..]));
            if leftover {
                os::signal(pid, libc::SIGKILL);
            }
        }
        for entry in fs::read_dir(base_dir()).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(PREFIX) && dead(&name) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// True once /proc/<pid>/net/tcp (the sockets of that process's network namespace) shows a
/// listening socket on `port` (on any address when `addr_hex` is None).
fn listening(pid: u32, addr_hex: Option<&str>, port: u16) -> bool {
    let table = fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some((addr, p)) = f.get(1).and_then(|a| a.split_once(':')) else {
            return false;
        };
        f.get(3) == Some(&"0A")
            && u16::from_str_radix(p, 16) == Ok(port)
            && addr_hex.is_none_or(|want| addr == want)
    })
}

/// The servers a lab can put a VIP in front of: a harness [`Cluster`] or a [`PatroniCluster`].
pub trait VipNodes {
    /// The server binaries (psql and pg_isready for the check scripts come from beside them).
    fn pg_bin(&self) -> &PgBin;
    /// Node `name`'s Unix socket directory and port (socat leads the VIP there).
    fn vip_backend(&self, name: &str) -> (PathBuf, u16);
}

impl VipNodes for Cluster {
    fn pg_bin(&self) -> &PgBin {
        self.bin()
    }
    fn vip_backend(&self, name: &str) -> (PathBuf, u16) {
        let node = self.node(name);
        (node.socket_dir().to_path_buf(), node.port())
    }
}

/// Patroni members trust `local` connections (the harness's pg_hba), so the check scripts and
/// every client through the VIP log in on the member's socket as they do on a plain node's.
impl VipNodes for PatroniCluster {
    fn pg_bin(&self) -> &PgBin {
        self.pg()
    }
    fn vip_backend(&self, name: &str) -> (PathBuf, u16) {
        let m = self.member(name);
        (m.socket_dir().to_path_buf(), m.pg_port())
    }
}

/// A socat of the client side.
struct Relay {
    what: &'static str,
    child: Child,
    log: PathBuf,
}

/// One VIP-capable node of the lab.
struct LabNode {
    name: String,
    ns: String,
    addr: String,
    priority: u8,
    check_script: PathBuf,
    conf: PathBuf,
    log: PathBuf,
    socat_log: PathBuf,
    keepalived: Option<Child>,
    socat: Option<Child>,
}

/// A keepalived VRRP lab over some nodes of a [`Cluster`] or the members of a
/// [`PatroniCluster`]; see the module doc.
pub struct VipLab {
    id: String,
    check: VipCheck,
    client_ns: String,
    nodes: Vec<LabNode>,
    port: u16,
    /// The client side's socat: the client namespace's and the root one.
    relays: Vec<Relay>,
    /// Every namespace created so far, for Drop.
    namespaces: Vec<String>,
    dir: Option<tempfile::TempDir>,
}

impl VipLab {
    /// Build the namespaces and the bridge, start a socat and a keepalived per node of `nodes`
    /// (priorities in this order, the first highest) with `check` as its `vrrp_script`, and the
    /// client side's relays. Returns once everything listens; the VIP is placed by keepalived a
    /// few seconds later ([`VipLab::wait_holder`]).
    pub fn start(cluster: &impl VipNodes, nodes: &[&str], check: VipCheck) -> VipLab {
        assert!(
            os::is_root(),
            "the VIP lab needs root: it creates network namespaces, a bridge and veth pairs"
        );
        assert!(
            (1..=MAX_NODES).contains(&nodes.len()),
            "a VIP lab has 1 to {MAX_NODES} nodes, not {}",
            nodes.len()
        );
        let t = tools();
        let psql = client_tool(cluster.pg_bin(), "psql");
        let pg_isready = client_tool(cluster.pg_bin(), "pg_isready");
        remove_leftovers();

        static LABS: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::SeqCst)
        );
        let base = base_dir();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{id}."))
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("create a temp dir in {}: {e}", base.display()));
        // Root-owned and not writable by others (enable_script_security), but enterable by the
        // postgres user that runs the check scripts.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let mut lab = VipLab {
            client_ns: format!("{id}-c"),
            id,
            check,
            nodes: Vec::new(),
            port: os::free_port(),
            relays: Vec::new(),
            namespaces: Vec::new(),
            dir: Some(dir),
        };

        // The client side: a namespace with the bridge every node's veth joins.
        let client = lab.client_ns.clone();
        lab.add_namespace(&client);
        ip(&["-n", &client, "link", "add", "br0", "type", "bridge"]);
        ip(&[
            "-n",
            &client,
            "addr",
            "add",
            &format!("{CLIENT_ADDR}/24"),
            "dev",
            "br0",
        ]);
        ip(&["-n", &client, "link", "set", "br0", "up"]);

        for (i, name) in nodes.iter().enumerate() {
            let (socket_dir, port) = cluster.vip_backend(name);
            let ns = format!("{}-{name}", lab.id);
            lab.add_namespace(&ns);
            let veth = format!("v{i}");
            ip(&[
                "-n", &client, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ]);
            ip(&["-n", &client, "link", "set", &veth, "master", "br0", "up"]);
            let addr = format!("127.251.0.{}", 11 + i);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);

            let dir = lab.dir().to_path_buf();
            let socket = socket_dir.join(format!(".s.PGSQL.{port}"));
            let socat_log = dir.join(format!("socat-{name}.log"));
            let socat = in_netns(&ns, &t.socat)
                .args(["-d", "-d"])
                .arg(format!("TCP-LISTEN:{VIP_PORT},fork,reuseaddr"))
                .arg(format!("UNIX-CONNECT:{}", socket.display()))
                .stdout(log_file(&socat_log))
                .stderr(log_file(&socat_log))
                .spawn()
                .unwrap_or_else(|e| panic!("start socat in {ns}: {e}"));
            let check_script = dir.join(format!("check-{name}.sh"));
            write_check_script(
                &check_script,
                check,
                (&psql, &pg_isready),
                (&socket_dir, port),
                name,
            );
            lab.nodes.push(LabNode {
                name: name.to_string(),
                ns,
                addr,
                priority: 150 - 10 * i as u8,
                check_script,
                conf: dir.join(format!("keepalived-{name}.conf")),
                log: dir.join(format!("keepalived-{name}.log")),
                socat_log,
                keepalived: None,
                socat: Some(socat),
            });
            let n = lab.nodes.last_mut().unwrap();
            let (pid, log) = (n.socat.as_ref().unwrap().id(), n.socat_log.clone());
            os::wait_ready(
                &format!("socat in {}", n.ns),
                n.socat.as_mut().unwrap(),
                Duration::from_secs(10),
                || {
                    listening(pid, None, VIP_PORT)
                        .then_some(())
                        .ok_or_else(|| format!("nothing listens on port {VIP_PORT}"))
                },
                || os::tail(&log, 20),
            );
        }
        for i in 0..lab.nodes.len() {
            let conf = lab.keepalived_conf(i);
            fs::write(&lab.nodes[i].conf, conf).unwrap();
            lab.start_keepalived(&lab.nodes[i].name.clone());
        }

        // The client side's relays: the client namespace's Unix socket to the VIP, and the root
        // namespace's loopback port to that Unix socket.
        let sock = lab.dir().join("vip.sock");
        let relay_log = lab.dir().join("socat-client.log");
        let child = in_netns(&client, &t.socat)
            .args(["-d", "-d"])
            .arg(format!("UNIX-LISTEN:{},fork,unlink-early", sock.display()))
            .arg(format!("TCP:{VIP}:{VIP_PORT},connect-timeout=2"))
            .stdout(log_file(&relay_log))
            .stderr(log_file(&relay_log))
            .spawn()
            .unwrap_or_else(|e| panic!("start socat in {client}: {e}"));
        lab.relays.push(Relay {
            what: "the client namespace",
            child,
            log: relay_log.clone(),
        });
        let child = &mut lab.relays.last_mut().unwrap().child;
        os::wait_ready(
            "socat in the client namespace",
            child,
            Duration::from_secs(10),
            || {
                sock.exists()
                    .then_some(())
                    .ok_or_else(|| format!("no {}", sock.display()))
            },
            || os::tail(&relay_log, 20),
        );
        let root_log = lab.dir().join("socat-root.log");
        let child = Command::new(&t.socat)
            .args(["-d", "-d"])
            .arg(format!(
                "TCP-LISTEN:{},bind=127.0.0.1,fork,reuseaddr",
                lab.port
            ))
            .arg(format!("UNIX-CONNECT:{}", sock.display()))
            .stdin(Stdio::null())
            .stdout(log_file(&root_log))
            .stderr(log_file(&root_log))
            .spawn()
            .unwrap_or_else(|e| panic!("start socat on 127.0.0.1:{}: {e}", lab.port));
        lab.relays.push(Relay {
            what: "the root namespace",
            child,
            log: root_log.clone(),
        });
        let port = lab.port;
        let child = &mut lab.relays.last_mut().unwrap().child;
        let pid = child.id();
        os::wait_ready(
            "socat on 127.0.0.1",
            child,
            Duration::from_secs(10),
            || {
                listening(pid, Some("0100007F"), port)
                    .then_some(())
                    .ok_or_else(|| format!("nothing listens on 127.0.0.1:{port}"))
            },
            || os::tail(&root_log, 20),
        );
        lab
    }

    /// The port on 127.0.0.1 (root namespace) that leads through the VIP to whichever node
    /// holds it.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The virtual IP (an address inside the lab's namespaces, not reachable from the root
    /// namespace: use [`VipLab::port`]).
    pub fn vip(&self) -> &str {
        VIP
    }

    pub fn check(&self) -> VipCheck {
        self.check
    }

    /// The lab's directory: keepalived configs and logs, check scripts, socat logs.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("lab dir").path()
    }

    /// A libpq key/value connection string for the superuser through the VIP.
    pub fn connstr(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5 \
             application_name=harness-vip",
            self.port
        )
    }

    /// A new superuser session through the VIP (trusted: it reaches the node on its Unix
    /// socket).
    pub fn conn(&self) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(&self.connstr(), postgres::NoTls)
    }

    /// The nodes whose namespace holds the VIP now (two in a split brain, none between owners).
    pub fn holders(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| {
                ip_report(&["-n", &n.ns, "-4", "-o", "addr", "show", "dev", "eth0"])
                    .contains(&format!(" {VIP}/"))
            })
            .map(|n| n.name.clone())
            .collect()
    }

    /// The one node holding the VIP now; None when none or several do.
    pub fn holder(&self) -> Option<String> {
        let mut holders = self.holders();
        (holders.len() == 1).then(|| holders.remove(0))
    }

    /// Poll every 50 ms until `node`, and only it, holds the VIP; return the moment that was
    /// first seen. On timeout panic with [`VipLab::dump`].
    pub fn wait_holder(&self, node: &str, timeout: Duration) -> Instant {
        self.node(node);
        let deadline = Instant::now() + timeout;
        loop {
            let holders = self.holders();
            if holders == [node] {
                return Instant::now();
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for the VIP {VIP} to be on {node} alone \
                     (held by {holders:?})\n{}",
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `node`'s keepalived log (both of its processes, and its scripts' state changes).
    pub fn keepalived_log(&self, node: &str) -> &Path {
        &self.node(node).log
    }

    /// The size of `node`'s keepalived log now: pass it to [`VipLab::wait_for_log`] to see only
    /// what is logged afterwards.
    pub fn log_position(&self, node: &str) -> u64 {
        os::log_position(&self.node(node).log)
    }

    /// Wait until a line of `node`'s keepalived log past byte `from` matches the regex `re`;
    /// return it. On timeout panic with the pattern and [`VipLab::dump`].
    pub fn wait_for_log(&self, node: &str, re: &str, from: u64, timeout: Duration) -> String {
        let log = &self.node(node).log;
        let regex = regex::Regex::new(re).unwrap_or_else(|e| panic!("bad log pattern {re:?}: {e}"));
        let mut found = None;
        let ok = os::poll_until(timeout, || {
            let bytes = fs::read(log).unwrap_or_default();
            let start = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
            found = String::from_utf8_lossy(&bytes[start..])
                .lines()
                .find(|l| regex.is_match(l))
                .map(str::to_string);
            found.is_some()
        });
        if !ok {
            panic!(
                "timed out after {timeout:?} waiting for a line matching {re:?} in the keepalived \
                 log of {node}\n{}",
                self.dump()
            );
        }
        found.unwrap()
    }

    /// Stop `node`'s keepalived as an operator does (SIGTERM: it sends a priority-0 advert and
    /// releases the VIP), and wait until it has exited.
    pub fn stop_keepalived(&mut self, node: &str) {
        let i = self.index(node);
        let Some(mut child) = self.nodes[i].keepalived.take() else {
            return;
        };
        let pid = child.id() as i32;
        let mut all = os::descendants(pid);
        all.push(pid);
        os::signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                kill_tree(&mut child);
                panic!(
                    "keepalived of {node} ignored SIGTERM for 10 s (killed)\n{}",
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        os::wait_gone(&all, Duration::from_secs(5));
    }

    /// Start `node`'s keepalived (again) and wait until its VRRP process has started up.
    pub fn start_keepalived(&mut self, node: &str) {
        let i = self.index(node);
        assert!(
            self.nodes[i].keepalived.is_none(),
            "keepalived of {node} already runs"
        );
        let t = tools();
        let n = &self.nodes[i];
        // --config-test prints only problems. With a script_user it ends by SIGTERMing itself
        // (2.2.7), so the verdict is its silence and an exit of 0 or by SIGTERM.
        let mut test = in_netns(&n.ns, &t.keepalived);
        test.arg("--config-test")
            .arg(format!("--use-file={}", n.conf.display()));
        let out = test
            .output()
            .unwrap_or_else(|e| panic!("cannot run {test:?}: {e}"));
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let status_ok = out.status.success()
            || std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(libc::SIGTERM);
        if !status_ok || !said.trim().is_empty() {
            panic!(
                "keepalived of {node} refuses its configuration ({}): {}\n--- {} ---\n{}",
                out.status,
                said.trim(),
                n.conf.display(),
                fs::read_to_string(&n.conf).unwrap_or_default()
            );
        }
        let from = os::log_position(&n.log);
        let pid_file = self.dir().join(format!("keepalived-{node}.pid"));
        let vrrp_pid_file = self.dir().join(format!("keepalived-{node}.vrrp.pid"));
        let child = in_netns(&n.ns, &t.keepalived)
            .args([
                "--dont-fork",
                "--log-console",
                "--log-detail",
                "--no-syslog",
            ])
            .arg("--vrrp")
            .arg(format!("--use-file={}", n.conf.display()))
            .arg(format!("--pid={}", pid_file.display()))
            .arg(format!("--vrrp_pid={}", vrrp_pid_file.display()))
            .stdout(log_file(&n.log))
            .stderr(log_file(&n.log))
            .spawn()
            .unwrap_or_else(|e| panic!("start keepalived in {}: {e}", n.ns));
        let log = n.log.clone();
        self.nodes[i].keepalived = Some(child);
        os::wait_ready(
            &format!("keepalived of {node}"),
            self.nodes[i].keepalived.as_mut().unwrap(),
            Duration::from_secs(15),
            || {
                let text = fs::read(&log).unwrap_or_default();
                let text = String::from_utf8_lossy(&text[(from as usize).min(text.len())..]);
                if text.contains("Startup complete") {
                    Ok(())
                } else {
                    Err("no \"Startup complete\" in its log yet".into())
                }
            },
            || os::tail(&log, 40),
        );
        let warnings = os::log_lines(&log, r"(?i)security violation|disabling|unknown keyword");
        assert!(
            warnings.is_empty(),
            "keepalived of {node} warns about its configuration: {warnings:#?}\n--- log ---\n{}",
            os::tail(&log, 40)
        );
    }

    /// The state of the lab for a failure message: the holders, every namespace's addresses
    /// and the client's neighbours, each node's check run once now, the last lines of
    /// keepalived's and socat's logs.
    pub fn dump(&self) -> String {
        let mut out = format!(
            "\n===== VIP lab {}: VIP {VIP}, 127.0.0.1:{} → {} → {VIP}:{VIP_PORT}; held by {:?} \
             =====\n",
            self.id,
            self.port,
            self.client_ns,
            self.holders()
        );
        let _ = writeln!(
            out,
            "--- {} (client): addresses ---\n{}--- neighbours ---\n{}",
            self.client_ns,
            ip_report(&["-n", &self.client_ns, "-4", "-br", "addr"]),
            ip_report(&["-n", &self.client_ns, "neigh"])
        );
        for r in &self.relays {
            let _ = writeln!(
                out,
                "--- socat in {} (last 10 lines) ---\n{}",
                r.what,
                os::tail(&r.log, 10)
            );
        }
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "\n===== {} (namespace {}, {}, priority {}, keepalived {}) =====\n\
                 check {:?} now: {}\n--- addresses ---\n{}--- last 40 lines of {} ---\n{}\n\
                 --- socat (last 10 lines) ---\n{}",
                n.name,
                n.ns,
                n.addr,
                n.priority,
                if n.keepalived.is_some() {
                    "running"
                } else {
                    "stopped"
                },
                self.check,
                run_check(&n.check_script),
                ip_report(&["-n", &n.ns, "-4", "-br", "addr"]),
                n.log.display(),
                os::tail(&n.log, 40),
                os::tail(&n.socat_log, 10)
            );
        }
        out
    }

    fn index(&self, node: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == node)
            .unwrap_or_else(|| panic!("the VIP lab has no node named {node:?}"))
    }

    fn node(&self, node: &str) -> &LabNode {
        &self.nodes[self.index(node)]
    }

    /// Create namespace `ns` (recorded for Drop at once), with `lo` narrowed to 127.0.0.1/32
    /// and route_localnet on.
    fn add_namespace(&mut self, ns: &str) {
        ip(&["netns", "add", ns]);
        self.namespaces.push(ns.to_string());
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        ip(&["-n", ns, "addr", "del", "127.0.0.1/8", "dev", "lo"]);
        ip(&["-n", ns, "addr", "add", "127.0.0.1/32", "dev", "lo"]);
        // /proc/sys/net is the namespace of the process reading it: the shell's, here.
        let set =
            "for k in all default; do echo 1 > /proc/sys/net/ipv4/conf/$k/route_localnet; done";
        if let Err(e) = run(in_netns(ns, Path::new("/bin/sh")).args(["-c", set])) {
            panic!("VIP lab: route_localnet in {ns}: {e}");
        }
    }

    fn keepalived_conf(&self, i: usize) -> String {
        let n = &self.nodes[i];
        let peers: String = self
            .nodes
            .iter()
            .filter(|p| p.name != n.name)
            .map(|p| format!("        {}\n", p.addr))
            .collect();
        format!(
            "# keepalived of node {name} in the VIP lab {id} (namespace {ns})\n\
             global_defs {{\n    router_id {name}\n    script_user postgres\n    \
             enable_script_security\n}}\n\n\
             # {check:?}: a failing check puts the instance into FAULT, which releases the VIP.\n\
             vrrp_script pg_check {{\n    script \"{script}\"\n    interval 1\n    timeout 2\n    \
             rise 1\n    fall 2\n    init_fail\n}}\n\n\
             vrrp_instance pg_vip {{\n    state BACKUP\n    interface eth0\n    \
             virtual_router_id {VIRTUAL_ROUTER_ID}\n    priority {priority}\n    advert_int 1\n    \
             unicast_src_ip {addr}\n    unicast_peer {{\n{peers}    }}\n    \
             # 127/8: the kernel takes it with scope host only\n    \
             virtual_ipaddress {{\n        {VIP}/24 dev eth0 scope host\n    }}\n    \
             track_script {{\n        pg_check\n    }}\n}}\n",
            name = n.name,
            id = self.id,
            ns = n.ns,
            check = self.check,
            script = n.check_script.display(),
            priority = n.priority,
            addr = n.addr,
        )
    }
}

/// A file to append a child's output to (several children may share one).
fn log_file(path: &Path) -> fs::File {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn write_check_script(
    path: &Path,
    check: VipCheck,
    (psql, pg_isready): (&Path, &Path),
    (socket_dir, port): (&Path, u16),
    name: &str,
) {
    let socket_dir = socket_dir.display().to_string();
    for p in [
        &socket_dir,
        &psql.display().to_string(),
        &pg_isready.display().to_string(),
    ] {
        assert!(!p.contains('\''), "a path with a quote: {p}");
    }
    let body = match check {
        // keepalived logs each change of the exit status ("Script `pg_check` now returning
        // 1"), so tests can see a node come back as a standby: 2 = no answer, 1 = in recovery.
        VipCheck::Primary => format!(
            "# Passes while {name} is a writable primary: exit 2 when it does not answer, 1 when \
             it is in recovery.\n\
             out=$(PGCONNECT_TIMEOUT=2 '{psql}' -X -w -q -A -t -h '{socket_dir}' -p {port} \
             -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null) || exit 2\n\
             [ \"$out\" = f ]\n",
            psql = psql.display()
        ),
        VipCheck::Alive => format!(
            "# Passes while {name} accepts connections (liveness only); pg_isready exits 1 while \
             it rejects them, 2 when it does not answer.\n\
             exec '{pg_isready}' -q -h '{socket_dir}' -p {port} -U postgres -d postgres -t 2\n",
            pg_isready = pg_isready.display()
        ),
    };
    fs::write(
        path,
        format!("#!/bin/sh\n# vrrp_script of the VIP lab\n{body}"),
    )
    .unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Run a check script once as keepalived does (as the postgres user) for a report.
fn run_check(script: &Path) -> String {
    let mut cmd = Command::new(script);
    if let Some(a) = os::server_account() {
        cmd.uid(a.uid).gid(a.gid);
    }
    match cmd.stdin(Stdio::null()).output() {
        Ok(out) => format!(
            "{}{}",
            if out.status.success() {
                "passes"
            } else {
                "fails"
            },
            match out.status.code() {
                Some(c) if c != 0 => format!(" (exit {c})"),
                _ => String::new(),
            }
        ),
        Err(e) => format!("cannot run {}: {e}", script.display()),
    }
}

impl Drop for VipLab {
    fn drop(&mut self) {
        for r in &mut self.relays {
            kill_tree(&mut r.child);
        }
        for n in &mut self.nodes {
            if let Some(mut c) = n.keepalived.take() {
                kill_tree(&mut c);
            }
            if let Some(mut c) = n.socat.take() {
                kill_tree(&mut c);
            }
        }
        for ns in self.namespaces.iter().rev() {
            kill_netns_pids(ns);
            let _ = run(Command::new(&tools().ip).args(["netns", "del", ns]));
        }
        let keep = std::thread::panicking()
            && std::env::var_os("PG_HARNESS_KEEP").is_some_and(|v| !v.is_empty() && v != "0");
        if let Some(dir) = self.dir.take()
            && keep
        {
            eprintln!("PG_HARNESS_KEEP: keeping {}", dir.keep().display());
        }
    }
}
