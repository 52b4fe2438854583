//! End-to-end: passwords never leave the exporter. Distinctive passwords (wrong ones that make
//! the server refuse, and the right one) reach it through a password file, `password_env`, a
//! key/value dsn and a URL dsn, against nodes that refuse the password, a closed port and a
//! server without TLS; with debug logging in both log formats, every byte the exporter writes
//! (its log, `/metrics` plain and gzip, `/`, `/ready`, `/healthz`, the `check` and `status`
//! commands) and every configuration error (exit 2) is scanned for them.

mod harness;

use std::io::Read;
use std::path::Path;

use harness::{Cluster, Exporter, Scrape, WAIT};

/// A password nobody would print by accident, and the parts of it a leak could show.
struct Secret(String);

impl Secret {
    fn new(tag: &str) -> Secret {
        // Distinct random hex per secret: a hit names which one leaked.
        let mut buf = [0u8; 12];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut buf)
            .unwrap();
        let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
        Secret(format!("{tag}{hex}"))
    }

    /// The whole password and its random tail on their own, so that a truncated or re-quoted
    /// copy is caught too.
    fn needles(&self) -> Vec<&str> {
        let s = self.0.as_str();
        vec![s, &s[s.len() - 24..], &s[s.len() - 12..]]
    }
}

/// The line holding the first secret found in `text`, with the secret's name.
fn find_leak(text: &str, secrets: &[(&str, &Secret)]) -> Option<String> {
    for (name, secret) in secrets {
        for needle in secret.needles() {
            if let Some(at) = text.find(needle) {
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                return Some(format!(
                    "the {name} password: {}",
                    &text[line_start..line_end]
                ));
            }
        }
    }
    None
}

fn assert_clean(where_: &str, text: &str, secrets: &[(&str, &Secret)]) {
    if let Some(leak) = find_leak(text, secrets) {
        panic!("leaked into {where_}: {leak}");
    }
}

const POLL_TOML: &str = "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n\n";

fn errors(s: &Scrape, node: &str, kind: &str) -> f64 {
    s.get(
        "pg_replication_poll_errors_total",
        &[("node", node), ("kind", kind)],
    )
    .unwrap_or(0.0)
}

/// Run the binary to completion with a config and arguments; (exit code, stdout + stderr).
fn run_binary(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = harness::command();
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--web.listen-address=127.0.0.1:{}",
            harness::free_port()
        ))
        .arg("--log.level=debug")
        .args(args)
        .envs(env.iter().copied());
    let ran = harness::run(&format!("{args:?}"), cmd, harness::EXIT_WITHIN);
    (ran.code, ran.output())
}

#[test]
fn passwords_never_reach_logs_pages_or_command_output() {
    let c = Cluster::builder().standbys(0).start();
    let p = c.primary().port();
    let role = c.exporter_role();
    // The right password is a secret too; it comes from the harness.
    let right = Secret(role.password().to_string());
    let (w_file, w_env, w_dsn, w_url, w_refused, w_tls) = (
        Secret::new("WrongFile-"),
        Secret::new("WrongEnv-"),
        Secret::new("WrongDsn-"),
        Secret::new("WrongUrl-"),
        Secret::new("Refused-"),
        Secret::new("NoTls-"),
    );
    let secrets = [
        ("right", &right),
        ("password_file", &w_file),
        ("password_env", &w_env),
        ("dsn", &w_dsn),
        ("url dsn", &w_url),
        ("refused dsn", &w_refused),
        ("tls dsn", &w_tls),
    ];
    let dir = tempfile::tempdir().unwrap();
    let wrong_file = dir.path().join("wrong.password");
    harness::write_private(&wrong_file, &format!("{}\n", w_file.0));
    let refused_port = harness::free_port();
    let toml = format!(
        "{POLL_TOML}[[cluster]]\nname = \"secrets\"\nuser = \"exporter\"\n\n\
         [[cluster.node]]\nname = \"good_file\"\nhost = \"127.0.0.1\"\nport = {p}\n\
         password_file = \"{good_file}\"\nsslmode = \"disable\"\n\n\
         [[cluster.node]]\nname = \"good_dsn\"\n\
         dsn = \"host=127.0.0.1 port={p} user=exporter password={right} sslmode=disable\"\n\n\
         [[cluster.node]]\nname = \"auth_file\"\nhost = \"127.0.0.1\"\nport = {p}\n\
         password_file = \"{wrong_file}\"\nsslmode = \"disable\"\n\n\
         [[cluster.node]]\nname = \"auth_env\"\nhost = \"127.0.0.1\"\nport = {p}\n\
         password_env = \"SECRETS_TEST_PASSWORD\"\nsslmode = \"disable\"\n\n\
         [[cluster.node]]\nname = \"auth_dsn\"\n\
         dsn = \"host=127.0.0.1 port={p} user=exporter password='{w_dsn}' sslmode=disable\"\n\n\
         [[cluster.node]]\nname = \"auth_url\"\n\
         dsn = \"postgresql://exporter:{w_url}@127.0.0.1:{p}/postgres?sslmode=disable\"\n\n\
         [[cluster.node]]\nname = \"refused\"\n\
         dsn = \"host=127.0.0.1 port={refused_port} user=exporter password={w_refused} sslmode=disable\"\n\n\
         [[cluster.node]]\nname = \"tls\"\n\
         dsn = \"host=127.0.0.1 port={p} user=exporter password={w_tls} sslmode=require\"\n",
        good_file = role.password_file().display(),
        right = right.0,
        wrong_file = wrong_file.display(),
        w_dsn = w_dsn.0,
        w_url = w_url.0,
        w_refused = w_refused.0,
        w_tls = w_tls.0,
    );
    // The scanner finds every one of them where they are known to be.
    let known = format!("{toml}{}{}", w_env.0, w_file.0);
    for (name, secret) in secrets {
        assert!(
            find_leak(&known, &[(name, secret)]).is_some(),
            "the scanner missed the {name} password"
        );
    }
    let env = [("SECRETS_TEST_PASSWORD", w_env.0.as_str())];
    let expected = [
        ("auth_file", "auth"),
        ("auth_env", "auth"),
        ("auth_dsn", "auth"),
        ("auth_url", "auth"),
        ("refused", "connect"),
        ("tls", "tls"),
    ];

    for format in ["logfmt", "json"] {
        let log_format = format!("--log.format={format}");
        let e = Exporter::start_with(&toml, &["--log.level=debug", &log_format], &env);
        // Several failed attempts per node, so that the "failed again" debug lines exist too.
        // (The good nodes are only required up in the same scrape: on a loaded machine a debug
        // build's SCRAM exchanges may push one of them past the timeout for a round.)
        let s = e.wait_scrape(
            "two errors of the right kind on each failing node, the good ones up",
            WAIT,
            |s| {
                expected.iter().all(|(n, k)| errors(s, n, k) >= 2.0)
                    && ["good_file", "good_dsn"]
                        .iter()
                        .all(|n| s.get("pg_replication_up", &[("node", n)]) == Some(1.0))
            },
        );
        let log = e.log_text();
        // The test sees what it should: refusals, with their reasons, at debug level.
        assert!(
            log.contains("password authentication failed for user"),
            "{log}"
        );
        assert!(log.contains("poll failed again"), "{log}");
        assert_clean(&format!("the {format} log"), &log, &secrets);
        assert_clean("/metrics", &s.text, &secrets);
        let gz = e
            .get_with("/metrics", &[("Accept-Encoding", "gzip")])
            .unwrap();
        assert_eq!(gz.header("content-encoding"), Some("gzip"));
        let mut plain = String::new();
        flate2::read::GzDecoder::new(gz.body.as_slice())
            .read_to_string(&mut plain)
            .unwrap();
        assert_clean("/metrics (gzip)", &plain, &secrets);
        for path in ["/", "/ready", "/healthz", "/probe?cluster=secrets", "/sd"] {
            let r = e.get(path).unwrap();
            assert_eq!(r.status, 200, "{path}");
            assert_clean(path, &r.text(), &secrets);
        }
        let landing = e.get("/").unwrap().text();
        assert!(
            landing.contains("password authentication failed"),
            "{landing}"
        );
    }

    // The one-shot commands print per-node errors too.
    let config = dir.path().join("config.toml");
    std::fs::write(&config, &toml).unwrap();
    for args in [&["check"][..], &["status", "--output=json"], &["status"]] {
        let (code, out) = run_binary(&config, args, &env);
        assert!(code.is_some(), "{args:?} was killed: {out}");
        assert!(
            out.contains("password authentication failed"),
            "{args:?}: {out}"
        );
        assert_clean(&format!("`{}`", args.join(" ")), &out, &secrets);
    }
}

/// A configuration that holds a password and is invalid for some other reason fails with exit
/// status 2 and a message that names the problem, never the password.
#[test]
fn configuration_errors_never_quote_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let secret = Secret::new("CfgSecret-");
    let s = &secret.0;
    let node = |extra: &str| format!("[[cluster]]\nname = \"pg\"\n\n[[cluster.node]]\n{extra}\n");
    let dsn = format!("dsn = \"host=127.0.0.1 port=5432 user=u password={s}\"");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "bad duration next to a dsn",
            format!(
                "[poll]\ninterval = \"soon\"\n\n{}",
                node(&format!("name = \"a\"\n{dsn}"))
            ),
            "poll.interval",
        ),
        (
            "duplicate node names",
            format!(
                "{}\n[[cluster.node]]\nname = \"a\"\n{dsn}\n",
                node(&format!("name = \"a\"\n{dsn}"))
            ),
            "a",
        ),
        (
            "a password key",
            node(&format!("name = \"a\"\nhost = \"h\"\npassword = \"{s}\"")),
            "password",
        ),
        (
            "a dsn that is not a string",
            node(&format!("name = \"a\"\ndsn = [\"password={s}\"]")),
            "dsn",
        ),
        (
            "an unterminated dsn string",
            node(&format!(
                "name = \"a\"\ndsn = \"host=h password={s}\nport = 1"
            )),
            "",
        ),
        (
            "an unquoted space in the dsn password",
            node(&format!(
                "name = \"a\"\ndsn = \"host=h password=ab {s} user=u\""
            )),
            "dsn",
        ),
        (
            "an unsupported dsn option",
            node(&format!(
                "name = \"a\"\ndsn = \"host=h password={s} options=-cwork_mem=1MB\""
            )),
            "dsn",
        ),
        (
            "a malformed url dsn",
            node(&format!(
                "name = \"a\"\ndsn = \"postgresql://u:{s}@h:notaport/db\""
            )),
            "dsn",
        ),
        (
            "an unreadable sslrootcert",
            node(&format!(
                "name = \"a\"\ndsn = \"host=h password={s} sslmode=verify-full sslrootcert=/nonexistent/ca.pem\""
            )),
            "sslrootcert",
        ),
        (
            "an empty password_env",
            node(&format!("name = \"a\"\n{dsn}\npassword_env = \"\"")),
            "password_env",
        ),
    ];
    for (i, (what, toml, names)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("case{i}.toml"));
        std::fs::write(&config, toml).unwrap();
        let (code, out) = run_binary(&config, &[], &[]);
        assert_eq!(code, Some(2), "{what}: exit status\n{out}");
        assert!(
            out.contains(names) && !out.trim().is_empty(),
            "{what}: the message should name {names:?}:\n{out}"
        );
        assert_clean(
            &format!("the error for {what}"),
            &out,
            &[("config", &secret)],
        );
        eprintln!("{what}: {}", out.trim());
    }
}

/// The Patroni REST password (SPEC §8 basic auth) never leaves the exporter either: with seeds
/// that refuse connections and one that answers something other than Patroni (the exporter's own
/// HTTP server), at debug level in both log formats, nothing the exporter prints or serves holds
/// it, and neither do the configuration errors around it.
#[test]
fn the_patroni_rest_password_never_reaches_logs_pages_or_errors() {
    let c = Cluster::builder().standbys(0).start();
    let role = c.exporter_role();
    let rest = Secret::new("PatroniRest-");
    let secrets = [("patroni rest", &rest)];
    let dir = tempfile::tempdir().unwrap();
    let rest_file = dir.path().join("patroni.password");
    harness::write_private(&rest_file, &format!("{}\n", rest.0));
    // The scanner finds it where it is known to be.
    assert!(find_leak(&std::fs::read_to_string(&rest_file).unwrap(), &secrets).is_some());
    let closed = harness::free_port();
    // A seed that answers HTTP, but not as Patroni: another exporter's /cluster is a 404.
    let other = Exporter::start(&format!(
        "{POLL_TOML}[[cluster]]\nname = \"other\"\n[[cluster.node]]\nname = \"x\"\nhost = \"127.0.0.1\"\nport = {}\n",
        harness::free_port()
    ));
    let toml = format!(
        "{POLL_TOML}[[cluster]]\nname = \"ha\"\nuser = {user}\npassword_file = {pw}\nsslmode = \"disable\"\n\n\
         [cluster.patroni]\nurls = [\"http://127.0.0.1:{closed}\", \"{other}\", \"https://127.0.0.1:{closed}\"]\n\
         interval = \"1s\"\ntimeout = \"500ms\"\nusername = \"patroni\"\npassword_file = {rest_file}\n\n\
         [[cluster.node]]\nname = \"primary\"\nhost = \"127.0.0.1\"\nport = {port}\n",
        user = harness::toml_str(role.user()),
        pw = harness::toml_str(&role.password_file().display().to_string()),
        other = other.url(""),
        rest_file = harness::toml_str(&rest_file.display().to_string()),
        port = c.primary().port(),
    );
    for format in ["logfmt", "json"] {
        let log_format = format!("--log.format={format}");
        let e = Exporter::start_with(&toml, &["--log.level=debug", &log_format], &[]);
        e.wait_scrape("the node up", WAIT, |s| {
            s.get("pg_replication_up", &[("node", "primary")]) == Some(1.0)
        });
        e.wait_for_log("no Patroni member answers", WAIT);
        // The URLs are retried every interval: let a few failed passes be logged at debug.
        e.wait_polls("primary", 3);
        let log = e.log_text();
        assert!(
            log.contains("HTTP 404"),
            "the non-Patroni seed's answer is logged:\n{log}"
        );
        assert_clean(&format!("the {format} log"), &log, &secrets);
        assert_clean("/metrics", &e.scrape().text, &secrets);
        for path in ["/", "/ready", "/healthz", "/sd"] {
            assert_clean(path, &e.get(path).unwrap().text(), &secrets);
        }
    }
    let config = dir.path().join("config.toml");
    std::fs::write(&config, &toml).unwrap();
    for args in [&["check"][..], &["status", "--output=json"], &["status"]] {
        let (code, out) = run_binary(&config, args, &[]);
        assert!(code.is_some(), "{args:?} was killed: {out}");
        assert_clean(&format!("`{}`", args.join(" ")), &out, &secrets);
    }
    // Configuration errors next to the REST password: the password never shows.
    let s = &rest.0;
    let base = "[[cluster]]\nname = \"pg\"\n[cluster.patroni]\nurls = [\"http://127.0.0.1:8008\"]\nusername = \"patroni\"\n";
    let cases = [
        (
            format!(
                "{base}password_file = {}\ninterval = \"soon\"\n",
                harness::toml_str(&rest_file.display().to_string())
            ),
            "cluster[0].patroni.interval",
        ),
        (
            format!(
                "[[cluster]]\nname = \"pg\"\n[cluster.patroni]\nurls = [\"http://patroni:{s}@127.0.0.1:8008\"]\n"
            ),
            "cluster[0].patroni.urls[0]",
        ),
        (
            format!("{base}password_env = \"PATRONI_REST_PW\"\n"),
            "cluster[0].patroni.password_env",
        ),
    ];
    for (i, (toml, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let (code, out) = run_binary(&path, &[], &[("PATRONI_REST_PW", "")]);
        assert_eq!(code, Some(2), "{out}");
        assert!(out.contains(key), "{key}: {out}");
        assert_clean(&format!("the error for {key}"), &out, &secrets);
    }
}

#[test]
fn front_end_passwords_never_reach_logs_pages_or_errors() {
    let c = Cluster::builder().standbys(0).start();
    let role = c.exporter_role();
    let vip = Secret::new("VipWrong-");
    let bouncer = Secret::new("Bouncer-");
    let secrets = [("endpoint (file)", &vip), ("endpoint (env)", &bouncer)];
    let dir = tempfile::tempdir().unwrap();
    let vip_file = dir.path().join("vip.password");
    harness::write_private(&vip_file, &format!("{}\n", vip.0));
    let closed = harness::free_port();
    let port = c.primary().port();
    // A wrong password through a postgres and a pgpool endpoint (the server refuses it: kind
    // auth), and a pgbouncer endpoint on a closed port with its password in the environment.
    let toml = format!(
        "{POLL_TOML}[[cluster]]\nname = \"pg\"\nuser = {user}\npassword_file = {pw}\nsslmode = \"disable\"\n\n\
         [[cluster.node]]\nname = \"primary\"\nhost = \"127.0.0.1\"\nport = {port}\n\n\
         [[cluster.endpoint]]\nname = \"vip\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {port}\npassword_file = {vip_file}\n\n\
         [[cluster.endpoint]]\nname = \"pool\"\nkind = \"pgpool\"\nhost = \"127.0.0.1\"\nport = {port}\npassword_file = {vip_file}\n\n\
         [[cluster.endpoint]]\nname = \"bouncer\"\nkind = \"pgbouncer\"\nhost = \"127.0.0.1\"\nport = {closed}\nuser = \"stats\"\npassword_env = \"BOUNCER_PW\"\n",
        user = harness::toml_str(role.user()),
        pw = harness::toml_str(&role.password_file().display().to_string()),
        vip_file = harness::toml_str(&vip_file.display().to_string()),
    );
    let env = [("BOUNCER_PW", bouncer.0.as_str())];
    for format in ["logfmt", "json"] {
        let log_format = format!("--log.format={format}");
        let e = Exporter::start_with(&toml, &["--log.level=debug", &log_format], &env);
        let s = e.wait_scrape("every endpoint failed twice", WAIT, |s| {
            let n = |endpoint: &str, kind: &str| {
                s.get(
                    "pg_replication_endpoint_errors_total",
                    &[("endpoint", endpoint), ("kind", kind)],
                )
                .unwrap_or(0.0)
            };
            n("vip", "auth") >= 2.0 && n("pool", "auth") >= 2.0 && n("bouncer", "connect") >= 2.0
        });
        assert_clean("/metrics", &s.text, &secrets);
        let log = e.log_text();
        assert!(log.contains("endpoint is down"), "{log}");
        assert_clean(&format!("the {format} log"), &log, &secrets);
        for path in ["/", "/ready", "/healthz", "/sd"] {
            assert_clean(path, &e.get(path).unwrap().text(), &secrets);
        }
    }
    let config = dir.path().join("config.toml");
    std::fs::write(&config, &toml).unwrap();
    for args in [&["check"][..], &["status", "--output=json"], &["status"]] {
        let (code, out) = run_binary(&config, args, &env);
        assert_eq!(code, Some(1), "{args:?}: {out}");
        assert!(out.contains("vip"), "{args:?} names the endpoint: {out}");
        assert_clean(&format!("`{}`", args.join(" ")), &out, &secrets);
    }
    // Configuration errors next to an endpoint password: the password never shows.
    let base = "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n[[cluster.endpoint]]\nname = \"vip\"\nkind = \"postgres\"\nhost = \"h\"\n";
    let cases = [
        (
            format!(
                "{base}password_file = {}\ninterval = \"soon\"\n",
                harness::toml_str(&vip_file.display().to_string())
            ),
            "cluster[0].endpoint[0].interval",
        ),
        (
            format!("{base}password_env = \"BOUNCER_PW\"\nexpect = \"writer\"\n"),
            "cluster[0].endpoint[0].expect",
        ),
    ];
    for (i, (toml, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let (code, out) = run_binary(&path, &[], &env);
        assert_eq!(code, Some(2), "{out}");
        assert!(out.contains(key), "{key}: {out}");
        assert_clean(&format!("the error for {key}"), &out, &secrets);
    }
}

#[test]
fn the_drill_password_never_reaches_output_or_errors() {
    let c = Cluster::builder().standbys(0).start();
    let right = Secret::new("DrillRight-");
    let wrong = Secret::new("DrillWrong-");
    let secrets = [("drill (env)", &right), ("drill (file)", &wrong)];
    c.primary()
        .conn()
        .batch_execute(&format!(
            "CREATE ROLE drill LOGIN PASSWORD '{}'; GRANT CREATE ON DATABASE postgres TO drill;",
            right.0
        ))
        .unwrap();
    let role = c.exporter_role();
    let dir = tempfile::tempdir().unwrap();
    let wrong_file = dir.path().join("drill.password");
    harness::write_private(&wrong_file, &format!("{}\n", wrong.0));
    let base = c.exporter_config("pg", role.user(), role.password_file());
    let env = [("DRILL_PW", right.0.as_str())];
    let drill = [
        "drill",
        "--cluster=pg",
        "--mode=command",
        "--command=echo switched",
        "--yes",
        "--warmup=300ms",
        "--settle-timeout=2s",
    ];
    // The right password (the drill runs; the command switches nothing: exit 1, reported), then
    // a wrong one (the server refuses it), in text and JSON.
    for (drill_toml, want) in [
        (
            "[cluster.drill]\nuser = \"drill\"\npassword_env = \"DRILL_PW\"\n".to_owned(),
            "no new primary",
        ),
        (
            format!(
                "[cluster.drill]\nuser = \"drill\"\npassword_file = {}\n",
                harness::toml_str(&wrong_file.display().to_string())
            ),
            "drill session on",
        ),
    ] {
        let config = dir.path().join("drill.toml");
        std::fs::write(&config, format!("{base}\n{drill_toml}")).unwrap();
        for output in ["--output=text", "--output=json"] {
            let mut args = drill.to_vec();
            args.push(output);
            let (code, out) = run_binary(&config, &args, &env);
            assert_eq!(code, Some(1), "{out}");
            assert!(out.contains(want), "{want:?}: {out}");
            assert_clean(&format!("`drill {output}`"), &out, &secrets);
        }
    }
    // A configuration error beside the drill's password: never quoted.
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        format!("{base}\n[cluster.drill]\nuser = \"drill\"\npassword_env = \"DRILL_PW\"\ndbname = \"\"\n"),
    )
    .unwrap();
    let (code, out) = run_binary(&config, &drill, &env);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("cluster[0].drill.dbname"), "{out}");
    assert_clean("the drill's configuration error", &out, &secrets);
}
