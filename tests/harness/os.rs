//! Operating-system helpers of the harness: which account runs the servers, free loopback ports,
//! signals, process trees read from `/proc`, random secrets and log tails.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A numeric account (uid, gid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The account that owns the servers' files and runs initdb, pg_ctl and postgres: the `postgres`
/// user when the tests run as root (initdb refuses root), `None` (the current user) otherwise.
pub fn server_account() -> Option<Account> {
    static ACCOUNT: OnceLock<Option<Account>> = OnceLock::new();
    *ACCOUNT.get_or_init(|| {
        if !is_root() {
            return None;
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let account = passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || f[0] != "postgres" {
                return None;
            }
            Some(Account {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        });
        Some(account.unwrap_or_else(|| {
            panic!(
                "the tests run as root but there is no `postgres` user to run PostgreSQL as \
                 (initdb refuses root): apt-get install postgresql-15 creates it, or \
                 `useradd --system --user-group postgres`"
            )
        }))
    })
}

/// Give `path` to the server account (a no-op when not root). Symlinks are not followed.
pub fn give_to_server(path: &Path) {
    if let Some(a) = server_account() {
        std::os::unix::fs::lchown(path, Some(a.uid), Some(a.gid))
            .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
    }
}

/// Ports this test process has handed out: a port is reserved once and never handed out again
/// here, even after whoever got it closed it (as Cluster.pm's `get_free_port` reserves them).
fn reserved() -> &'static Mutex<HashSet<u16>> {
    static RESERVED: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    RESERVED.get_or_init(Default::default)
}

/// `n` distinct free TCP ports on 127.0.0.1, taken from the OS and reserved for this process: no
/// later call returns any of them again. The listeners are held until all are picked.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut reserved = reserved().lock().unwrap_or_else(|e| e.into_inner());
    let mut listeners = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    let mut tries = 0;
    while ports.len() < n {
        tries += 1;
        assert!(tries < 10_000, "no unreserved free port on 127.0.0.1");
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local_addr").port();
        // Hold a reserved port's listener too, so that the OS moves on to another one.
        listeners.push(l);
        if reserved.insert(port) {
            ports.push(port);
        }
    }
    ports
}

/// One free, reserved port on 127.0.0.1 (see [`free_ports`]).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// True if this process has handed out `port`.
pub fn is_reserved(port: u16) -> bool {
    reserved()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&port)
}

/// A leading number of a field of /proc/<pid>/status ("VmRSS:  12345 kB" → 12345).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Create `path` (it must not exist) with mode 0600 holding `content`: password files.
pub fn write_private(path: &Path, content: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(content.as_bytes())
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Send `sig` to `pid`; false if the process does not exist.
pub fn signal(pid: i32, sig: libc::c_int) -> bool {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// State letter and parent pid of a process, from /proc/<pid>/stat.
pub fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may itself contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// True while the process exists and is not a zombie (an orphaned postmaster may stay a zombie
/// in a container whose init does not reap).
pub fn alive(pid: i32) -> bool {
    matches!(proc_stat(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// True while /proc/<pid> exists, zombies included.
pub fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Every live descendant of `pid` (children first, then grandchildren, ...).
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Some((state, ppid)) = proc_stat(p)
                && state != 'Z'
            {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut out = Vec::new();
    let mut queue = VecDeque::from([pid]);
    while let Some(p) = queue.pop_front() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            out.push(c);
            queue.push_back(c);
        }
    }
    out
}

/// Wait until none of `pids` is alive; false on timeout.
pub fn wait_gone(pids: &[i32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Seconds since the Unix epoch, as the exporter's timestamps are.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

/// `n` random bytes from the kernel, hex-encoded (passwords of the test roles).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The last `n` lines of a text file (lossy UTF-8), or a note why there are none.
pub fn tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Poll `f` every 100 ms until it returns true (true) or `timeout` passes (false). `f` runs at
/// least once, and once more at the deadline.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100).min(deadline - now));
    }
}

/// Wait until `probe` says a child server is ready (`Ok`); panic naming `what`, the last probe
/// answer and `log()` when the child exits first or `timeout` passes.
pub fn wait_ready(
    what: &str,
    child: &mut std::process::Child,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<(), String>,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().ok().flatten() {
            panic!(
                "{what} exited ({status}) before it was ready\n--- log ---\n{}",
                log()
            );
        }
        let last = match probe() {
            Ok(()) => return,
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            panic!(
                "{what} was not ready within {timeout:?} (last answer: {last})\n--- log ---\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The size of a file now (0 if it does not exist): a position for [`wait_for_log`] to read
/// from, so that only what is logged afterwards counts.
pub fn log_position(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Wait until a line of the log file at `path`, past byte `from`, matches the regex `re`;
/// return that line. Like Cluster.pm's `wait_for_log`. On timeout panic naming `what`, the
/// pattern and the log's last 50 lines.
pub fn wait_for_log(what: &str, path: &Path, re: &str, from: u64, timeout: Duration) -> String {
    let re = regex::Regex::new(re).unwrap_or_else(|e| panic!("bad log pattern {re:?}: {e}"));
    let mut found = None;
    let ok = poll_until(timeout, || {
        let bytes = std::fs::read(path).unwrap_or_default();
        let start = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
        let text = String::from_utf8_lossy(&bytes[start..]);
        found = text.lines().find(|l| re.is_match(l)).map(str::to_string);
        found.is_some()
    });
    if !ok {
        panic!(
            "timed out after {timeout:?} waiting for a line matching {:?} in the log of {what} \
             ({})\n--- last 50 lines ---\n{}",
            re.as_str(),
            path.display(),
            tail(path, 50)
        );
    }
    found.unwrap()
}

/// Lines of the log file at `path` matching the regex `re` (from the start).
pub fn log_lines(path: &Path, re: &str) -> Vec<String> {
    let re = regex::Regex::new(re).unwrap_or_else(|e| panic!("bad log pattern {re:?}: {e}"));
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| re.is_match(l))
        .map(str::to_string)
        .collect()
}
