//! End-to-end test of the Debian package (packaging/build-deb.sh builds it; scripts/test.sh runs
//! that before `cargo test`): lintian on it, `dpkg -i` on this machine, the installed binary's
//! `--version` and `check` against a real cluster run as the service user from the installed
//! paths, the man pages and completions where Debian looks for them, the conffile's mode and
//! owner, a locally modified conffile kept across an upgrade install, `dpkg -r` and `dpkg -P`;
//! and the systemd unit judged by systemd-analyze itself (`verify`, and `security --offline`
//! with an exposure of at most 2.0; there is no running systemd here, so only the offline modes).
//!
//! It changes the machine (a package, a system user), so it is one test in its own test binary
//! (nothing else in this process runs dpkg), refuses to start when the package or its files are
//! already there, and purges everything in a drop guard, also when an assertion fails.

mod harness;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{Cluster, Ran};

const PACKAGE: &str = "pg-replication-exporter";
const BINARY: &str = "/usr/bin/pg_replication_exporter";
const SERVICE_USER: &str = "replication_exporter";
const CONF_DIR: &str = "/etc/pg_replication_exporter";
const CONF: &str = "/etc/pg_replication_exporter/config.toml";
const UNIT: &str = "pg_replication_exporter.service";
/// Where deb-systemd-helper enables the unit (it does so without a running systemd, too).
const WANTS: &str = "/etc/systemd/system/multi-user.target.wants/pg_replication_exporter.service";
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// dpkg, lintian and man-db's trigger on a loaded machine.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// How long to wait for a dpkg lock another program (apt) holds.
const LOCK_WAIT: Duration = Duration::from_secs(300);

fn sh(what: &str, program: &str, args: &[&str]) -> Ran {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null());
    harness::run(what, cmd, COMMAND_TIMEOUT)
}

fn ok(what: &str, program: &str, args: &[&str]) -> Ran {
    let r = sh(what, program, args);
    assert_eq!(
        r.code,
        Some(0),
        "{what}: {program} {args:?}\n{}",
        r.describe()
    );
    r
}

/// dpkg, retried while another dpkg or apt holds its lock (never on any other failure).
fn dpkg(what: &str, args: &[&str]) -> Ran {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let r = sh(what, "dpkg", args);
        let locked = r.stderr.contains("lock") && r.stderr.contains("held by");
        if r.code == Some(0) || !locked || Instant::now() >= deadline {
            assert_eq!(r.code, Some(0), "{what}: dpkg {args:?}\n{}", r.describe());
            return r;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The package's `dpkg-query` status, or None when dpkg knows nothing of it.
fn status() -> Option<String> {
    let r = sh(
        "dpkg-query status",
        "dpkg-query",
        &["-W", "-f=${Status} ${Version}", PACKAGE],
    );
    (r.code == Some(0)).then(|| r.stdout.trim().to_string())
}

/// uid and gid of a user, from the passwd database.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let r = sh("getent passwd", "getent", &["passwd", name]);
    let line = r.stdout.lines().next()?.to_string();
    let f: Vec<&str> = line.split(':').collect();
    Some((f[2].parse().ok()?, f[3].parse().ok()?))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The .deb packaging/build-deb.sh made, `revision` 1 (the package) or 2 (its upgrade copy).
fn deb(revision: u32) -> PathBuf {
    let arch = ok(
        "dpkg --print-architecture",
        "dpkg",
        &["--print-architecture"],
    );
    let sub = if revision == 1 { "" } else { "upgrade-test/" };
    let path = target_dir().join(format!(
        "debian/{sub}{PACKAGE}_{VERSION}-{revision}_{}.deb",
        arch.stdout.trim()
    ));
    assert!(
        path.is_file(),
        "{} is missing: build it with `UPGRADE_TEST_DEB=1 bash packaging/build-deb.sh` \
         (scripts/test.sh does, before cargo test)",
        path.display()
    );
    path
}

/// Purges the package and removes what the test itself made (the service user it caused, the
/// admin-style password file), whatever happened in the test.
struct Cleanup {
    user_existed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if status().is_some() {
            let _ = sh("dpkg -P (cleanup)", "dpkg", &["-P", PACKAGE]);
        }
        let _ = std::fs::remove_file(Path::new(CONF_DIR).join("password"));
        let _ = std::fs::remove_file(Path::new(CONF_DIR).join("local-test.toml"));
        let _ = std::fs::remove_dir(CONF_DIR);
        if !self.user_existed && user_ids(SERVICE_USER).is_some() {
            let _ = sh("deluser (cleanup)", "deluser", &["--system", SERVICE_USER]);
            let _ = sh(
                "delgroup (cleanup)",
                "delgroup",
                &["--system", SERVICE_USER],
            );
        }
    }
}

fn gunzip(path: &str) -> String {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("gunzip {path}: {e}"));
    text
}

/// `check` from the installed binary, as the service user (as the unit runs it), on the
/// installed configuration file.
fn check_as_service_user(what: &str) -> Ran {
    let args = [
        "-u",
        SERVICE_USER,
        "--",
        BINARY,
        "check",
        "--config.file",
        CONF,
    ];
    sh(what, "runuser", &args)
}

fn check_passes(what: &str) {
    let r = check_as_service_user(what);
    assert_eq!(r.code, Some(0), "{what}\n{}", r.describe());
    assert!(
        r.output().contains("all checks passed"),
        "{what}\n{}",
        r.describe()
    );
}

fn assert_conffile_mode() {
    let (uid, gid) = user_ids(SERVICE_USER).expect("the service user exists");
    let m = std::fs::metadata(CONF).unwrap_or_else(|e| panic!("{CONF}: {e}"));
    assert_eq!(m.mode() & 0o7777, 0o640, "{CONF} mode {:o}", m.mode());
    assert_eq!((m.uid(), m.gid()), (uid, gid), "{CONF} owner");
}

#[test]
fn the_debian_package_installs_runs_upgrades_keeping_the_conffile_and_purges() {
    let id = sh("id -u", "id", &["-u"]);
    assert_eq!(
        id.stdout.trim(),
        "0",
        "e2e_package installs a .deb with dpkg: run it as root (CI does)"
    );
    let (deb1, deb2) = (deb(1), deb(2));
    let (deb1, deb2) = (deb1.to_str().unwrap(), deb2.to_str().unwrap());
    assert_eq!(
        status(),
        None,
        "{PACKAGE} is already known to dpkg: this test would replace it; `dpkg -P {PACKAGE}` first"
    );
    for path in [CONF_DIR, WANTS] {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{path} exists: this test would change it; move it away first"
        );
    }
    let _cleanup = Cleanup {
        user_existed: user_ids(SERVICE_USER).is_some(),
    };

    // lintian: no error and no warning, on both (info-level tags are printed, not failures).
    for deb in [deb1, deb2] {
        let r = sh("lintian", "lintian", &["--fail-on", "error,warning", deb]);
        assert_eq!(r.code, Some(0), "lintian {deb}\n{}", r.describe());
    }

    dpkg("dpkg -i", &["-i", deb1]);
    assert_eq!(
        status().as_deref(),
        Some(format!("install ok installed {VERSION}-1").as_str())
    );
    let v = ok("--version", BINARY, &["--version"]);
    assert_eq!(
        v.stdout.trim(),
        format!("pg_replication_exporter {VERSION}")
    );

    // postinst: a system user without a login, owning its configuration.
    let (uid, _) = user_ids(SERVICE_USER).expect("postinst creates the service user");
    assert!(uid < 1000, "{SERVICE_USER} is a system user (uid {uid})");
    let passwd = ok("getent", "getent", &["passwd", SERVICE_USER]).stdout;
    assert!(passwd.trim_end().ends_with("/usr/sbin/nologin"), "{passwd}");
    assert_conffile_mode();
    let dir = std::fs::metadata(CONF_DIR).unwrap();
    assert_eq!(
        dir.mode() & 0o7777,
        0o750,
        "{CONF_DIR} mode {:o}",
        dir.mode()
    );
    let conffiles = ok(
        "dpkg-query Conffiles",
        "dpkg-query",
        &["-W", "-f=${Conffiles}", PACKAGE],
    );
    assert!(conffiles.stdout.contains(CONF), "{}", conffiles.stdout);
    // The shipped configuration is valid as it is: the binary loads it (exit 2 would be a
    // configuration error); whether a local server answers on its socket is `check`'s finding.
    let shipped = check_as_service_user("check with the shipped config");
    assert!(
        matches!(shipped.code, Some(0 | 1)) && shipped.output().contains("cluster local"),
        "{}",
        shipped.describe()
    );

    // Man pages (compressed, one per subcommand) and completions, where man and the shells look.
    for page in ["pg_replication_exporter", "pg_replication_exporter-check"] {
        let path = format!("/usr/share/man/man1/{page}.1.gz");
        let roff = gunzip(&path);
        assert!(
            roff.contains(".TH") && roff.contains("config.file"),
            "{path}:\n{roff}"
        );
    }
    let man = ok("man -w", "man", &["-w", "pg_replication_exporter"]);
    assert_eq!(
        man.stdout.trim(),
        "/usr/share/man/man1/pg_replication_exporter.1.gz"
    );
    let bash = ok(
        "bash completion",
        "bash",
        &[
            "-c",
            "source /usr/share/bash-completion/completions/pg_replication_exporter \
             && complete -p pg_replication_exporter",
        ],
    );
    assert!(
        bash.stdout.contains("pg_replication_exporter"),
        "{}",
        bash.stdout
    );
    for (path, marker) in [
        (
            "/usr/share/bash-completion/completions/pg_replication_exporter",
            "complete -F _pg_replication_exporter",
        ),
        (
            "/usr/share/zsh/vendor-completions/_pg_replication_exporter",
            "#compdef pg_replication_exporter",
        ),
        (
            "/usr/share/fish/vendor_completions.d/pg_replication_exporter.fish",
            "complete -c pg_replication_exporter",
        ),
    ] {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(text.contains(marker), "{path}");
        assert!(
            text.contains("drill") && text.contains("config.file"),
            "{path}"
        );
        assert!(
            !text.contains("generate-assets"),
            "{path}: the hidden subcommand leaked"
        );
    }
    for path in [
        "/usr/share/pg_replication_exporter/alerts/pg_replication.rules.yml",
        "/usr/share/pg_replication_exporter/dashboards/pg-replication-overview.json",
        "/usr/share/doc/pg-replication-exporter/copyright",
        "/usr/share/doc/pg-replication-exporter/changelog.Debian.gz",
        "/usr/share/doc/pg-replication-exporter/examples/config.toml",
    ] {
        assert!(Path::new(path).is_file(), "{path} is not installed");
    }

    // The unit, as systemd-analyze judges it (offline: no systemd runs here).
    let unit = format!("/usr/lib/systemd/system/{UNIT}");
    assert!(Path::new(&unit).is_file(), "{unit} is not installed");
    let verify = sh(
        "systemd-analyze verify",
        "systemd-analyze",
        &["verify", &unit],
    );
    let verify_output = verify.output();
    let ours: Vec<&str> = verify_output
        .lines()
        .filter(|l| l.contains("pg_replication_exporter"))
        .collect();
    assert!(
        verify.code == Some(0) && ours.is_empty(),
        "systemd-analyze verify {unit}\n{}",
        verify.describe()
    );
    let exposure = exposure(&unit);
    assert!(exposure <= 2.0, "exposure {exposure} > 2.0");
    let wants = std::fs::read_link(WANTS).unwrap_or_else(|e| panic!("{WANTS}: {e}"));
    // deb-systemd-helper links the /lib path; on merged-/usr Debian that is the same file.
    assert_eq!(
        std::fs::canonicalize(&wants).unwrap(),
        std::fs::canonicalize(&unit).unwrap(),
        "the unit is enabled (WantedBy=multi-user.target) through {wants:?}"
    );

    // The shipped configuration against a real server: the same file with only the socket
    // directory and port of a test cluster's primary put in (that directory is the server
    // account's, so root runs this one; the harness trusts local connections, so this shows the
    // Unix-socket path, not peer authentication), the role it names created as README says.
    let cluster = Cluster::builder().standbys(1).start();
    let primary = cluster.primary();
    primary.batch_execute(
        "CREATE ROLE replication_exporter LOGIN; GRANT pg_monitor TO replication_exporter;",
    );
    let shipped_text = std::fs::read_to_string(CONF).unwrap();
    let socket = format!("host = {:?}", primary.socket_dir().display().to_string());
    let local = shipped_text
        .replace("host = \"/var/run/postgresql\"", &socket)
        .replace("port = 5432", &format!("port = {}", primary.port()));
    assert!(
        local.contains(&socket),
        "the shipped config names no socket:\n{shipped_text}"
    );
    let local_conf = Path::new(CONF_DIR).join("local-test.toml");
    std::fs::write(&local_conf, &local).unwrap();
    let r = sh(
        "check with the shipped config on a real server",
        BINARY,
        &["check", "--config.file", local_conf.to_str().unwrap()],
    );
    std::fs::remove_file(&local_conf).unwrap();
    assert_eq!(r.code, Some(0), "{local}\n{}", r.describe());
    assert!(r.output().contains("all checks passed"), "{}", r.describe());

    // A local edit: the config of a real cluster, its password in a file beside it as an admin
    // would keep it (root:service group, 0640). `check` as the service user passes.
    let role = cluster.exporter_role();
    let password = Path::new(CONF_DIR).join("password");
    std::fs::copy(role.password_file(), &password).unwrap();
    ok(
        "chown password",
        "chown",
        &[&format!("root:{SERVICE_USER}"), password.to_str().unwrap()],
    );
    ok(
        "chmod password",
        "chmod",
        &["0640", password.to_str().unwrap()],
    );
    let edited = cluster.exporter_config("pg", role.user(), &password);
    std::fs::write(CONF, &edited).unwrap();
    check_passes("check as the service user before the upgrade");

    // The upgrade keeps the edited conffile (no prompt: the packaged one did not change), its
    // mode and owner, and the new binary still runs `check` from it.
    dpkg("dpkg -i (upgrade)", &["-i", deb2]);
    assert_eq!(
        status().as_deref(),
        Some(format!("install ok installed {VERSION}-2").as_str())
    );
    assert_eq!(std::fs::read_to_string(CONF).unwrap(), edited);
    assert_conffile_mode();
    check_passes("check as the service user after the upgrade");

    // dpkg -r: the program goes, the configuration (conffile) and the user stay.
    dpkg("dpkg -r", &["-r", PACKAGE]);
    assert_eq!(
        status().as_deref(),
        Some(format!("deinstall ok config-files {VERSION}-2").as_str())
    );
    for gone in [
        BINARY,
        "/usr/share/man/man1/pg_replication_exporter.1.gz",
        unit.as_str(),
        "/usr/share/pg_replication_exporter",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} survived dpkg -r");
    }
    assert_eq!(std::fs::read_to_string(CONF).unwrap(), edited);
    assert!(user_ids(SERVICE_USER).is_some());

    // dpkg -P: the conffile goes; the admin's own file is never touched by the package, so
    // the directory stays while it holds one, and goes with the package once it is empty.
    dpkg("dpkg -P", &["-P", PACKAGE]);
    assert_eq!(status(), None, "dpkg still knows {PACKAGE} after the purge");
    assert!(!Path::new(CONF).exists(), "{CONF} survived the purge");
    assert!(
        password.exists(),
        "the purge removed the admin's password file"
    );
    std::fs::remove_file(&password).unwrap();
    dpkg("dpkg -i (again)", &["-i", deb1]);
    dpkg("dpkg -P (again)", &["-P", PACKAGE]);
    assert!(
        !Path::new(CONF_DIR).exists(),
        "{CONF_DIR} survived the purge"
    );
    assert!(
        std::fs::symlink_metadata(WANTS).is_err(),
        "{WANTS} survived the purge"
    );
}

/// The overall exposure `systemd-analyze security --offline=yes` gives a unit file, from its
/// closing line "→ Overall exposure level for NAME: 1.1 OK 🙂".
fn exposure(unit: &str) -> f64 {
    let r = sh(
        "systemd-analyze security",
        "systemd-analyze",
        &["security", "--offline=yes", "--no-pager", unit],
    );
    let out = r.output();
    let line = out
        .lines()
        .find(|l| l.contains("Overall exposure level for"))
        .unwrap_or_else(|| panic!("no overall exposure in:\n{}", r.describe()));
    let after = line.rsplit_once(": ").map(|(_, s)| s).unwrap_or("");
    after
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure in {line:?}"))
}

/// The unit in the source tree is rated too, without installing anything (so a weakened unit
/// fails fast even where the package is not built), and the Debian changelog names this version.
#[test]
fn the_systemd_unit_in_the_source_tree_has_an_exposure_of_at_most_2() {
    let unit = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/debian/pg_replication_exporter.service"
    );
    let exposure = exposure(unit);
    assert!(exposure <= 2.0, "{unit}: exposure {exposure} > 2.0");
    // The package's version is Cargo's; its Debian changelog must follow on every bump.
    let changelog = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/debian/changelog");
    let top = std::fs::read_to_string(changelog).unwrap();
    let top = top.lines().next().unwrap_or_default();
    assert!(
        top.starts_with(&format!("{PACKAGE} ({VERSION}-")),
        "{changelog} starts {top:?}: add an entry for {VERSION}"
    );
    let text = std::fs::read_to_string(unit).unwrap();
    for line in [
        "User=replication_exporter",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "CapabilityBoundingSet=\n",
        "ReadOnlyPaths=/etc/pg_replication_exporter",
    ] {
        assert!(text.contains(line), "{unit} lacks {line:?}");
    }
}
