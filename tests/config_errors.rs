//! Configuration mistakes through the real binary: for each bad configuration (file, environment
//! variable or flag) `pg_replication_exporter --config.file=…` must exit with status 2 before it
//! listens, printing exactly one line on stderr that names the offending key and where its value
//! came from. (`src/config.rs` unit-tests the messages; this proves `main` wires them up: exit
//! status, one line, nothing started.)

mod harness;

use std::path::Path;
use std::time::Duration;

use harness::{Exporter, Ready};

/// How long a refusal may take; a binary still running after this has started instead.
const EXIT_WITHIN: Duration = Duration::from_secs(10);

struct Case {
    name: &'static str,
    /// The file's text; `None` means no file at the given path.
    toml: Option<String>,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
    /// Every one of these must appear in the error line (the key and its source).
    expect: Vec<String>,
}

/// A valid cluster whose parts the cases below break one at a time.
fn cluster(password_file: &Path, node_extra: &str) -> String {
    format!(
        "[[cluster]]\nname = \"pg\"\nuser = \"exporter\"\npassword_file = {:?}\n\
         sslmode = \"disable\"\n\n[[cluster.node]]\nname = \"a\"\nhost = \"127.0.0.1\"\n\
         port = 5432\n{node_extra}",
        password_file.display().to_string()
    )
}

fn cases(dir: &Path, password_file: &Path) -> Vec<Case> {
    let good = cluster(password_file, "");
    let file = |s: &str| Some(s.to_owned());
    let case = |name, toml: Option<String>, expect: &[&str]| Case {
        name,
        toml,
        args: Vec::new(),
        env: Vec::new(),
        expect: expect.iter().map(|s| s.to_string()).collect(),
    };
    let mut cases = vec![
        case(
            "unknown top-level key",
            file(&format!("colour = \"blue\"\n{good}")),
            &["colour", "unknown key"],
        ),
        case(
            "unknown key in [poll]",
            file(&format!("[poll]\nintervall = \"1s\"\n\n{good}")),
            &["poll.intervall", "unknown key"],
        ),
        case(
            "unknown key in [[cluster]]",
            file(&good.replace("sslmode = ", "ssl_mode = ")),
            &["cluster[0].ssl_mode", "unknown key"],
        ),
        case(
            "unknown key in [[cluster.node]]",
            file(&cluster(password_file, "hots = \"db\"\n")),
            &["cluster[0].node[0].hots", "unknown key"],
        ),
        case(
            "expect_streaming that is not a boolean",
            file(&cluster(password_file, "expect_streaming = \"no\"\n")),
            &["cluster[0].node[0].expect_streaming", "expected a boolean"],
        ),
        case(
            "port of the wrong type",
            file(&good.replace("port = 5432", "port = \"5432\"")),
            &["cluster[0].node[0].port", "string"],
        ),
        case(
            "duplicate node name",
            file(&format!(
                "{good}\n[[cluster.node]]\nname = \"a\"\nhost = \"127.0.0.2\"\n"
            )),
            &["cluster[0].node[1].name", "duplicate node name"],
        ),
        case(
            "bad duration",
            file(&format!("[poll]\ninterval = \"5 parsecs\"\n\n{good}")),
            &["poll.interval", "5 parsecs"],
        ),
        case(
            "bad sslmode",
            file(&good.replace("\"disable\"", "\"verify_full\"")),
            &["cluster[0].sslmode", "verify_full"],
        ),
        case(
            "missing password_file",
            file(&cluster(&dir.join("no-such-password"), "")),
            &["cluster[0].password_file", "no-such-password"],
        ),
        case(
            "cluster without nodes",
            file("[[cluster]]\nname = \"pg\"\n"),
            &["cluster[0]", "node"],
        ),
        case(
            "no cluster at all",
            file("[poll]\ninterval = \"1s\"\n"),
            &["cluster", "[[cluster]]"],
        ),
        case(
            "bad listen address in the file",
            file(&format!(
                "[web]\nlisten_address = \"localhost:99999\"\n\n{good}"
            )),
            &["web.listen_address", "localhost:99999"],
        ),
        case(
            "telemetry_path without a leading slash",
            file(&format!("[web]\ntelemetry_path = \"metrics\"\n\n{good}")),
            &["web.telemetry_path", "must start with"],
        ),
        case(
            "verify-full without sslrootcert",
            file(&good.replace("\"disable\"", "\"verify-full\"")),
            &["sslrootcert", "verify-full"],
        ),
        case(
            "port out of range",
            file(&good.replace("port = 5432", "port = 70000")),
            &["cluster[0].node[0].port", "70000"],
        ),
        case(
            "TOML syntax error",
            file(&format!("{good}\n[[cluster.node]\nname = \"b\"\n")),
            &[],
        ),
        case("missing configuration file", None, &["cannot read"]),
    ];
    // Sources other than the file.
    cases.push(Case {
        name: "bad listen address from the flag",
        toml: file(&good),
        args: vec!["--web.listen-address=127.0.0.1".into()],
        env: Vec::new(),
        expect: vec![
            "web.listen_address".into(),
            "--web.listen-address".into(),
            "port".into(),
        ],
    });
    cases.push(Case {
        name: "bad telemetry path from the flag",
        toml: file(&good),
        args: vec!["--web.telemetry-path=/healthz".into()],
        env: Vec::new(),
        expect: vec!["web.telemetry_path".into(), "--web.telemetry-path".into()],
    });
    cases.push(Case {
        name: "bad duration from the environment",
        toml: file(&good),
        args: Vec::new(),
        env: vec![("PG_REPLICATION_EXPORTER_POLL__INTERVAL", "xyz")],
        expect: vec![
            "poll.interval".into(),
            "PG_REPLICATION_EXPORTER_POLL__INTERVAL".into(),
            "xyz".into(),
        ],
    });
    cases.push(Case {
        name: "unknown key from the environment",
        toml: file(&good),
        args: Vec::new(),
        env: vec![("PG_REPLICATION_EXPORTER_POLL__INTERVALL", "1s")],
        expect: vec![
            "poll.intervall".into(),
            "PG_REPLICATION_EXPORTER_POLL__INTERVALL".into(),
        ],
    });
    cases.push(Case {
        name: "shard index out of range from the environment",
        toml: file(&format!("[shard]\ncount = 2\n\n{good}")),
        args: Vec::new(),
        env: vec![("PG_REPLICATION_EXPORTER_SHARD__INDEX", "2")],
        expect: vec![
            "shard.index".into(),
            "must be less than shard.count (2)".into(),
            "PG_REPLICATION_EXPORTER_SHARD__INDEX".into(),
        ],
    });
    cases.push(Case {
        name: "shard index missing with several shards",
        toml: file(&format!("[shard]\ncount = 3\n\n{good}")),
        args: Vec::new(),
        env: Vec::new(),
        expect: vec![
            "shard.index".into(),
            "is required when shard.count is 3".into(),
        ],
    });
    cases.push(Case {
        name: "bad listen address from the environment",
        toml: file(&good),
        args: Vec::new(),
        env: vec![("PG_REPLICATION_EXPORTER_WEB__LISTEN_ADDRESS", "[::1]")],
        expect: vec![
            "web.listen_address".into(),
            "PG_REPLICATION_EXPORTER_WEB__LISTEN_ADDRESS".into(),
        ],
    });
    cases
}

/// Runs the binary; returns (exit code, stdout, stderr). Panics if it is still running after
/// [`EXIT_WITHIN`] (it started instead of refusing).
fn run(case: &Case, config: &Path, listen: &str) -> (Option<i32>, String, String) {
    let mut cmd = harness::command();
    cmd.arg(format!("--config.file={}", config.display()));
    // A free listen address, unless the case is about the listen address itself (the flag would
    // win over the file and the environment).
    let own_listen = case
        .toml
        .as_deref()
        .is_some_and(|t| t.contains("listen_address"))
        || case
            .args
            .iter()
            .any(|a| a.starts_with("--web.listen-address"))
        || case.env.iter().any(|(k, _)| k.ends_with("LISTEN_ADDRESS"));
    if !own_listen {
        cmd.arg(format!("--web.listen-address={listen}"));
    }
    cmd.args(&case.args);
    cmd.envs(case.env.iter().copied());
    let ran = harness::run(
        &format!("{} (the configuration must be refused)", case.name),
        cmd,
        EXIT_WITHIN,
    );
    (ran.code, ran.stdout, ran.stderr)
}

#[test]
fn every_bad_configuration_exits_2_with_one_line_naming_key_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "secret-not-shown\n").unwrap();
    let cases = cases(dir.path(), &password_file);

    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let config = dir.path().join(format!("case{i}.toml"));
        if let Some(toml) = &case.toml {
            std::fs::write(&config, toml).unwrap();
        }
        // A reserved free port: if the exporter started serving despite the error, it would
        // still be running at the deadline and `run` fails the case.
        let listen = format!("127.0.0.1:{}", harness::free_port());

        let (code, stdout, stderr) = run(case, &config, &listen);
        let lines: Vec<&str> = stderr.lines().collect();
        let mut problems = Vec::new();
        if code != Some(2) {
            problems.push(format!("exit status {code:?}, want 2"));
        }
        if lines.len() != 1 {
            problems.push(format!("{} stderr lines, want exactly 1", lines.len()));
        }
        if !stdout.is_empty() {
            problems.push(format!("stdout is not empty: {stdout:?}"));
        }
        let line = lines.first().copied().unwrap_or("");
        // Where the value came from: the file path, the variable, or the flag.
        let source = if let Some((var, _)) = case.env.first() {
            (*var).to_owned()
        } else if let Some(flag) = case.args.first() {
            flag.split('=').next().unwrap().to_owned()
        } else {
            config.display().to_string()
        };
        for want in case.expect.iter().chain(std::iter::once(&source)) {
            if !line.contains(want.as_str()) {
                problems.push(format!("the line does not mention {want:?}"));
            }
        }
        if line.contains("secret-not-shown") {
            problems.push("the line shows the password".to_owned());
        }
        // Binding the listener is logged ("listening on ..."): refusing before it means no
        // such line. (Whether the port is free after the exit says nothing: an exited process
        // holds no port.)
        if stderr.contains("listening") {
            problems.push("the exporter logged that it listens".to_owned());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}:\n  {}\n  stderr: {stderr:?}",
                case.name,
                problems.join("\n  ")
            ));
        }
        println!("{}: {line}", case.name);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The control: the same base configuration is accepted (the binary starts and listens), so the
/// failures above come from the one mistake each case adds.
#[test]
fn the_base_configuration_starts() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "secret-not-shown\n").unwrap();
    // Ready once the port accepts: the one node is not there, so /ready need not answer 200.
    let mut e = Exporter::start_opts(&cluster(&password_file, ""), &[], &[], Ready::Listening);
    let status = e.stop();
    assert!(
        status.success(),
        "the valid base configuration started but did not shut down cleanly: {status}\n{}",
        e.log_text()
    );
}
