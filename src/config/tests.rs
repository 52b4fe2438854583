//! Unit tests of configuration loading: every error names its key and source.

use super::*;
use std::io::Write;

const SECRET: &str = "s3cr3t-Pa55";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ok(toml: &str) -> Config {
    load_from_str(toml, &[], &Overrides::default())
        .unwrap_or_else(|e| panic!("expected a valid config, got: {e}"))
}

fn err_with(toml: &str, env: &[(String, String)], overrides: &Overrides) -> String {
    match load_from_str(toml, env, overrides) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn err(toml: &str) -> String {
    err_with(toml, &[], &Overrides::default())
}

fn temp_file(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

const NODE: &str =
    "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"node_a\"\nhost = \"10.0.0.11\"\n";
const IN: &str = "(in configuration string)";

#[test]
fn rejects_bad_configurations_with_one_line_naming_key_and_source() {
    let cases: Vec<(&str, String, String)> = vec![
        ("unknown top-level key", format!("typo = 1\n{NODE}"), format!("typo: unknown key {IN}")),
        ("unknown web key", format!("[web]\nlisten = \":1\"\n{NODE}"), format!("web.listen: unknown key {IN}")),
        ("unknown poll key", format!("[poll]\nintervall = \"1s\"\n{NODE}"), format!("poll.intervall: unknown key {IN}")),
        ("unknown cluster key", format!("{NODE}[[cluster]]\nname = \"b\"\nhots = \"x\"\n[[cluster.node]]\nname = \"n\"\nhost = \"h\"\n"), format!("cluster[1].hots: unknown key {IN}")),
        ("unknown node key", format!("{NODE}typo = true\n"), format!("cluster[0].node[0].typo: unknown key {IN}")),
        ("password given inline", format!("{NODE}password = \"x\"\n"), format!("cluster[0].node[0].password: unknown key (a password comes from password_file, password_env or dsn) {IN}")),
        ("port is a string", format!("{NODE}port = \"abc\"\n"), format!("cluster[0].node[0].port: expected a port number between 1 and 65535, found string \"abc\" {IN}")),
        ("port out of range", format!("{NODE}port = 70000\n"), format!("cluster[0].node[0].port: port 70000 is out of range 1-65535 {IN}")),
        ("port zero", format!("{NODE}port = 0\n"), format!("cluster[0].node[0].port: port 0 is out of range 1-65535 {IN}")),
        ("expect_streaming is a string", format!("{NODE}expect_streaming = \"no\"\n"), format!("cluster[0].node[0].expect_streaming: expected a boolean, found string \"no\" {IN}")),
        ("expect_streaming is a number", format!("{NODE}expect_streaming = 0\n"), format!("cluster[0].node[0].expect_streaming: expected a boolean, found signed int `0` {IN}")),
        ("duplicate node name", format!("{NODE}[[cluster.node]]\nname = \"node_b\"\nhost = \"b\"\n[[cluster.node]]\nname = \"node_b\"\nhost = \"c\"\n"), format!("cluster[0].node[2].name: duplicate node name \"node_b\" in cluster \"pg\" {IN}")),
        ("duplicate application_name", format!("{NODE}[[cluster.node]]\nname = \"node_b\"\nhost = \"b\"\napplication_name = \"NODE_A\"\n"), format!("cluster[0].node[1].application_name: duplicate application_name \"NODE_A\" in cluster \"pg\" {IN}")),
        ("duplicate cluster name", format!("{NODE}{NODE}"), format!("cluster[1].name: duplicate cluster name \"pg\" {IN}")),
        ("bad duration", format!("[poll]\ninterval = \"1 parsec\"\n{NODE}"), format!("poll.interval: invalid duration \"1 parsec\": unknown time unit \"parsec\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations) {IN}")),
        ("duration is a number", format!("[poll]\ninterval = 5\n{NODE}"), format!("poll.interval: expected a duration string such as \"1s\" or \"800ms\", found signed int `5` {IN}")),
        ("timeout above interval", format!("[poll]\ninterval = \"500ms\"\ntimeout = \"2s\"\n{NODE}"), format!("poll.timeout: 2s must not exceed poll.interval (500ms) {IN}")),
        ("default timeout above interval", format!("[poll]\ninterval = \"500ms\"\n{NODE}"), "poll.timeout: 800ms must not exceed poll.interval (500ms) (default)".to_owned()),
        ("zero interval", format!("[poll]\ninterval = \"0s\"\n{NODE}"), format!("poll.interval: must be greater than zero {IN}")),
        ("default backoff below interval", format!("[poll]\ninterval = \"1m\"\n{NODE}"), "poll.backoff_max: 30s must be at least poll.interval (1m) (default)".to_owned()),
        ("lag history below interval", format!("[poll]\ninterval = \"10s\"\ntimeout = \"1s\"\nlag_history = \"5s\"\n{NODE}"), format!("poll.lag_history: 5s must be at least poll.interval (10s) {IN}")),
        ("backoff below interval", format!("[poll]\ninterval = \"1m\"\nbackoff_max = \"30s\"\n{NODE}"), format!("poll.backoff_max: 30s must be at least poll.interval (1m) {IN}")),
        ("slow interval below interval", format!("[poll]\ninterval = \"2s\"\nslow_interval = \"1s\"\n{NODE}"), format!("poll.slow_interval: 1s must be at least poll.interval (2s) {IN}")),
        ("slow interval zero", format!("[poll]\nslow_interval = \"0s\"\n{NODE}"), format!("poll.slow_interval: must be greater than zero {IN}")),
        ("bad sslmode", format!("{NODE}sslmode = \"allow\"\n"), format!("cluster[0].node[0].sslmode: invalid value \"allow\", expected one of disable, prefer, require, verify-ca, verify-full {IN}")),
        ("verify-full without sslrootcert", "[[cluster]]\nname = \"pg\"\nsslmode = \"verify-full\"\n[[cluster.node]]\nname = \"node_a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].sslmode: sslmode verify-full needs sslrootcert (node \"node_a\") {IN}")),
        ("verify-ca in node without sslrootcert", format!("{NODE}sslmode = \"verify-ca\"\n"), format!("cluster[0].node[0].sslmode: sslmode verify-ca needs sslrootcert (node \"node_a\") {IN}")),
        ("unreadable sslrootcert", format!("{NODE}sslrootcert = \"/nonexistent/ca.pem\"\n"), format!("cluster[0].node[0].sslrootcert: cannot read \"/nonexistent/ca.pem\": No such file or directory {IN}")),
        ("unreadable password_file", "[[cluster]]\nname = \"pg\"\npassword_file = \"/nope\"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].password_file: cannot read \"/nope\": No such file or directory {IN}")),
        ("password_env unset", format!("{NODE}password_env = \"PG_TEST_UNSET_VARIABLE\"\n"), format!("cluster[0].node[0].password_env: environment variable PG_TEST_UNSET_VARIABLE is not set {IN}")),
        ("cluster without nodes", "[[cluster]]\nname = \"pg\"\n".to_owned(), format!("cluster[0].node: cluster \"pg\" has no nodes; add at least one [[cluster.node]] table, or a [cluster.patroni] table to discover them {IN}")),
        ("no cluster", "[poll]\ninterval = \"1s\"\n".to_owned(), format!("cluster: at least one [[cluster]] table is required {IN}")),
        ("empty file", String::new(), format!("cluster: at least one [[cluster]] table is required {IN}")),
        ("missing host", "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"a\"\n".to_owned(), format!("cluster[0].node[0].host: node \"a\" needs a host (or a dsn that names one) {IN}")),
        ("missing node name", "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nhost = \"h\"\n".to_owned(), format!("cluster[0].node[0].name: required key is missing {IN}")),
        ("missing cluster name", "[[cluster]]\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].name: required key is missing {IN}")),
        ("empty node name", "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].node[0].name: must not be empty {IN}")),
        ("empty cluster name", "[[cluster]]\nname = \" \"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].name: must not be empty {IN}")),
        ("empty host", "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"a\"\nhost = \"\"\n".to_owned(), format!("cluster[0].node[0].host: must not be empty {IN}")),
        ("listen port not a number", format!("[web]\nlisten_address = \":abc\"\n{NODE}"), format!("web.listen_address: invalid listen address \":abc\": invalid port \"abc\" {IN}")),
        ("listen address without port", format!("[web]\nlisten_address = \"1.2.3.4\"\n{NODE}"), format!("web.listen_address: invalid listen address \"1.2.3.4\": missing port, expected ip:port, [ipv6]:port or :port {IN}")),
        ("listen address with bad port", format!("[web]\nlisten_address = \"host:port\"\n{NODE}"), format!("web.listen_address: invalid listen address \"host:port\": invalid port \"port\" {IN}")),
        ("listen address with a host name", format!("[web]\nlisten_address = \"localhost:9\"\n{NODE}"), format!("web.listen_address: invalid listen address \"localhost:9\": \"localhost\" is not an ip address (host names are not resolved); use e.g. \"127.0.0.1:9\" or \":9\" {IN}")),
        ("telemetry path without slash", format!("[web]\ntelemetry_path = \"metrics\"\n{NODE}"), format!("web.telemetry_path: \"metrics\" must start with \"/\" {IN}")),
        ("telemetry path shadows an endpoint", format!("[web]\ntelemetry_path = \"/healthz\"\n{NODE}"), format!("web.telemetry_path: \"/healthz\" is a built-in endpoint {IN}")),
        ("dsn that does not parse", format!("{NODE}dsn = \"host=h password=pw with spaces\"\n"), format!("cluster[0].node[0].dsn: {MALFORMED_DSN} {IN}")),
        ("dsn with an unsupported option", format!("{NODE}dsn = \"host=h options=-cfoo=bar\"\n"), format!("cluster[0].node[0].dsn: option `options` is not supported in a dsn (supported: host, port, user, password, dbname, sslmode, sslrootcert, connect_timeout) {IN}")),
        ("dsn with a bad sslmode", format!("{NODE}dsn = \"sslmode=allow\"\n"), format!("cluster[0].node[0].dsn: invalid sslmode \"allow\", expected one of disable, prefer, require, verify-ca, verify-full {IN}")),
        ("dsn with a bad port", format!("{NODE}dsn = \"port=x\"\n"), format!("cluster[0].node[0].dsn: cannot parse dsn: invalid value for option `port` {IN}")),
        ("dsn with two hosts", format!("{NODE}dsn = \"postgresql://a,b/db\"\n"), format!("cluster[0].node[0].dsn: dsn names 2 hosts; configure one node per host {IN}")),
        ("zero connect_timeout", format!("{NODE}connect_timeout = \"0s\"\n"), format!("cluster[0].node[0].connect_timeout: must be greater than zero {IN}")),
        ("empty user", "[[cluster]]\nname = \"pg\"\nuser = \"\"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n".to_owned(), format!("cluster[0].user: must not be empty {IN}")),
        ("cluster is a table, not an array", "[cluster]\nname = \"pg\"\n".to_owned(), format!("cluster: expected a sequence, found map {IN}")),
    ];
    for (what, toml, want) in &cases {
        let got = err(toml);
        assert_eq!(
            got,
            format!("invalid configuration: {want}"),
            "case: {what}"
        );
        assert!(!got.contains('\n'), "case {what}: not one line: {got}");
    }
}

#[test]
fn errors_name_the_environment_variable_or_flag_that_set_the_value() {
    let e = err_with(
        NODE,
        &env(&[("PG_REPLICATION_EXPORTER_POLL__INTERVAL", "1 parsec")]),
        &Overrides::default(),
    );
    assert!(
        e.starts_with("invalid configuration: poll.interval: invalid duration \"1 parsec\""),
        "{e}"
    );
    assert!(
        e.ends_with("(from environment variable PG_REPLICATION_EXPORTER_POLL__INTERVAL)"),
        "{e}"
    );

    let e = err_with(
        NODE,
        &env(&[("PG_REPLICATION_EXPORTER_POLL__TIMEOUT", "5s")]),
        &Overrides::default(),
    );
    assert_eq!(
        e,
        "invalid configuration: poll.timeout: 5s must not exceed poll.interval (1s) (from environment variable PG_REPLICATION_EXPORTER_POLL__TIMEOUT)"
    );

    let e = err_with(
        NODE,
        &env(&[("PG_REPLICATION_EXPORTER_POLL__TYPO", "1s")]),
        &Overrides::default(),
    );
    assert_eq!(
        e,
        "invalid configuration: poll.typo: unknown key (from environment variable PG_REPLICATION_EXPORTER_POLL__TYPO)"
    );

    let overrides = Overrides {
        listen_address: Some("nope".into()),
        ..Overrides::default()
    };
    let e = err_with(NODE, &[], &overrides);
    assert_eq!(
        e,
        "invalid configuration: web.listen_address: invalid listen address \"nope\": expected ip:port, [ipv6]:port or :port (from flag --web.listen-address)"
    );

    let overrides = Overrides {
        telemetry_path: Some("x".into()),
        ..Overrides::default()
    };
    let e = err_with(NODE, &[], &overrides);
    assert_eq!(
        e,
        "invalid configuration: web.telemetry_path: \"x\" must start with \"/\" (from flag --web.telemetry-path)"
    );
}

#[test]
fn errors_from_a_file_name_the_file() {
    let f = temp_file(&format!("{NODE}typo = 1\n"));
    let e = load(f.path(), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "invalid configuration: cluster[0].node[0].typo: unknown key (in {})",
            f.path().display()
        )
    );

    let e = load(Path::new("/nonexistent/x.toml"), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "invalid configuration: cannot read configuration file \"/nonexistent/x.toml\": No such file or directory"
    );

    let f = temp_file(NODE);
    let c = load(f.path(), &Overrides::default()).unwrap();
    assert_eq!(c.clusters[0].nodes[0].host, "10.0.0.11");
}

#[test]
fn toml_syntax_errors_are_one_line_and_do_not_quote_the_source() {
    let e = err(&format!(
        "{NODE}dsn = \"host=h password={SECRET}\nport = 1\n"
    ));
    assert!(
        e.starts_with("invalid configuration: toml parse error at line"),
        "{e}"
    );
    assert!(e.ends_with(IN), "{e}");
    assert!(!e.contains('\n'), "{e}");
    assert!(!e.contains(SECRET), "{e}");
}

#[test]
fn secrets_never_reach_errors() {
    // A dsn that fails to parse must not be echoed.
    let e = err(&format!("{NODE}dsn = \"host=h password={SECRET} junk\"\n"));
    assert!(!e.contains(SECRET), "{e}");
    assert!(!e.contains("junk"), "{e}");
    let e = err(&format!(
        "{NODE}dsn = \"host=h password={SECRET} port=x\"\n"
    ));
    assert!(!e.contains(SECRET), "{e}");
    // An unrelated error in a config whose dsn holds a password.
    let e = err(&format!(
        "{NODE}dsn = \"host=h password={SECRET}\"\n[[cluster.node]]\nname = \"b\"\ntypo = 1\n"
    ));
    assert!(e.contains("cluster[0].node[1].typo: unknown key"), "{e}");
    assert!(!e.contains(SECRET), "{e}");
    // A dsn of the wrong type is not echoed either.
    let e = err(&format!("{NODE}dsn = [\"{SECRET}\"]\n"));
    assert!(e.contains("cluster[0].node[0].dsn"), "{e}");
    assert!(!e.contains(SECRET), "{e}");
    // An empty password file is refused without printing anything of it.
    let f = temp_file("\nsecond line");
    let e = err(&format!(
        "{NODE}password_file = {:?}\n",
        f.path().display().to_string()
    ));
    assert!(e.contains("has an empty first line"), "{e}");
    assert!(!e.contains("second line"), "{e}");
}

#[test]
fn debug_output_redacts_passwords() {
    let f = temp_file(&format!("{SECRET}\n"));
    let c = ok(&format!(
        "{NODE}password_file = {:?}\n[[cluster.node]]\nname = \"b\"\ndsn = \"postgresql://u:{SECRET}x@h/db\"\n",
        f.path().display().to_string()
    ));
    let debug = format!("{c:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert_eq!(debug.matches("[redacted]").count(), 2, "{debug}");
    let p = c.clusters[0].nodes[0].password.as_ref().unwrap();
    assert_eq!(p.expose(), SECRET);
    assert_eq!(p.to_string(), "[redacted]");
    assert_eq!(
        c.clusters[0].nodes[1].password.as_ref().unwrap().expose(),
        format!("{SECRET}x")
    );
}

#[test]
fn defaults_are_applied() {
    let c = ok(NODE);
    assert_eq!(c.web.listen_address, "0.0.0.0:10187".parse().unwrap());
    assert_eq!(
        c.web.listen_address,
        parse_listen_address(DEFAULT_LISTEN_ADDRESS).unwrap()
    );
    assert_eq!(c.web.telemetry_path, "/metrics");
    assert_eq!(c.web.config_file, None);
    assert_eq!(c.poll.interval, Duration::from_secs(1));
    assert_eq!(c.poll.timeout, Duration::from_millis(800));
    assert_eq!(c.poll.lag_history, Duration::from_secs(3600));
    assert_eq!(c.poll.backoff_max, Duration::from_secs(30));
    let n = &c.clusters[0].nodes[0];
    assert_eq!(c.clusters[0].name, "pg");
    assert_eq!(n.name, "node_a");
    assert_eq!(n.application_name, "node_a");
    assert!(n.expect_streaming);
    assert_eq!(n.host, "10.0.0.11");
    assert_eq!(n.port, 5432);
    assert_eq!(n.user, "replication_exporter");
    assert!(n.password.is_none());
    assert_eq!(n.dbname, "postgres");
    assert_eq!(n.sslmode, SslMode::Prefer);
    assert_eq!(n.sslrootcert, None);
    assert_eq!(n.connect_timeout, Duration::from_millis(800));
}

#[test]
fn example_file_is_valid_and_matches_the_defaults() {
    let example = include_str!("../../examples/config.toml");
    let ca = temp_file("ca");
    let pw = temp_file("pw\n");
    // The example names real-looking paths; point them at temp files to load it here.
    let loadable = example
        .replace("/etc/ssl/pg-ca.pem", &ca.path().display().to_string())
        .replace(
            "/etc/pg_replication_exporter/password",
            &pw.path().display().to_string(),
        );
    let c = load_from_str(&loadable, &[], &Overrides::default()).unwrap();
    // What the example sets is what is loaded.
    let pg = &c.clusters[0];
    assert_eq!(pg.name, "pg");
    assert_eq!(pg.nodes[0].user, "exporter");
    assert_eq!(pg.nodes[0].sslmode, SslMode::VerifyFull);
    assert_eq!(pg.nodes[0].connect_timeout, Duration::from_secs(5));
    assert_eq!(
        pg.nodes[1].host, "10.0.0.12",
        "node_b's host comes from its dsn"
    );
    assert_eq!(
        pg.nodes[1].user, "exporter",
        "node_b inherits the cluster's user"
    );

    // Every `Default "X".` the example documents is the code's default.
    let documented: Vec<(String, String)> = {
        let mut out = Vec::new();
        let mut pending: Option<String> = None;
        for line in example.lines() {
            let line = line.trim();
            if line.starts_with('#') && line.contains(" = ") {
                // A commented-out key: the default just read was its own.
                pending = None;
            } else if let Some(d) = line.split("Default \"").nth(1) {
                pending = d.split('"').next().map(str::to_owned);
            } else if let Some(d) = line
                .split("Default ")
                .nth(1)
                .filter(|_| line.starts_with('#'))
            {
                if let Some(v) = d.strip_suffix('.').filter(|v| v.parse::<u16>().is_ok()) {
                    pending = Some(v.to_owned());
                }
            } else if !line.starts_with('#')
                && line.contains(" = ")
                && let Some(v) = pending.take()
            {
                out.push((line.split(" = ").next().unwrap().to_owned(), v));
            }
        }
        out
    };
    let dur = |v: &str| humantime::parse_duration(v).unwrap();
    let mut checked = Vec::new();
    for (key, value) in &documented {
        match key.as_str() {
            "listen_address" => assert_eq!(value, DEFAULT_LISTEN_ADDRESS),
            "telemetry_path" => assert_eq!(value, DEFAULT_TELEMETRY_PATH),
            "interval" => assert_eq!(dur(value), DEFAULT_POLL_INTERVAL),
            "timeout" => assert_eq!(dur(value), DEFAULT_POLL_TIMEOUT),
            "lag_history" => assert_eq!(dur(value), DEFAULT_LAG_HISTORY),
            "backoff_max" => assert_eq!(dur(value), DEFAULT_BACKOFF_MAX),
            "slow_interval" => assert_eq!(dur(value), DEFAULT_SLOW_INTERVAL),
            "user" => assert_eq!(value, DEFAULT_USER),
            "dbname" => assert_eq!(value, DEFAULT_DBNAME),
            "port" => assert_eq!(value.parse::<u16>().unwrap(), DEFAULT_PORT),
            "sslmode" => assert_eq!(value.parse::<SslMode>().unwrap(), DEFAULT_SSLMODE),
            other => panic!("the example documents a default for {other}: compare it here"),
        }
        checked.push(key.as_str());
    }
    for key in [
        "listen_address",
        "telemetry_path",
        "interval",
        "timeout",
        "lag_history",
        "backoff_max",
        "slow_interval",
        "user",
        "dbname",
        "port",
        "sslmode",
    ] {
        assert!(
            checked.contains(&key),
            "the example documents no default for {key}"
        );
    }
}

#[test]
fn env_overrides_file_and_flags_override_env() {
    let toml = format!(
        "[web]\nlisten_address = \"127.0.0.1:1\"\ntelemetry_path = \"/a\"\n[poll]\ninterval = \"5s\"\n{NODE}"
    );
    let vars = env(&[
        ("PG_REPLICATION_EXPORTER_POLL__INTERVAL", "2s"),
        ("PG_REPLICATION_EXPORTER_WEB__LISTEN_ADDRESS", "[::1]:9999"),
        ("PG_REPLICATION_EXPORTER_WEB__TELEMETRY_PATH", "/b"),
        ("UNRELATED", "x"),
    ]);
    let c = load_from_str(&toml, &vars, &Overrides::default()).unwrap();
    assert_eq!(c.poll.interval, Duration::from_secs(2));
    assert_eq!(c.web.listen_address, "[::1]:9999".parse().unwrap());
    assert_eq!(c.web.telemetry_path, "/b");

    let overrides = Overrides {
        listen_address: Some(":7777".into()),
        telemetry_path: None,
        web_config_file: Some(PathBuf::from("web.yml")),
    };
    let c = load_from_str(&toml, &vars, &overrides).unwrap();
    assert_eq!(c.web.listen_address, "0.0.0.0:7777".parse().unwrap());
    assert_eq!(c.web.telemetry_path, "/b");
    assert_eq!(c.web.config_file, Some(PathBuf::from("web.yml")));
}

#[test]
fn listen_addresses() {
    let p = |s| parse_listen_address(s);
    assert_eq!(p(":10187").unwrap(), "0.0.0.0:10187".parse().unwrap());
    assert_eq!(p("[::1]:9999").unwrap(), "[::1]:9999".parse().unwrap());
    assert_eq!(
        p("127.0.0.1:9999").unwrap(),
        "127.0.0.1:9999".parse().unwrap()
    );
    assert!(p("[::1]").unwrap_err().contains("missing port"));
    assert!(p(":70000").is_err());
    assert!(p("").is_err());
}

#[test]
fn nodes_inherit_cluster_defaults_and_may_override_them() {
    let ca = temp_file("ca");
    let ca2 = temp_file("ca2");
    let pw = temp_file("cluster-pw\n");
    let toml = format!(
        r#"
        [poll]
        timeout = "900ms"
        [[cluster]]
        name = "pg"
        user = "exporter"
        password_file = {pw:?}
        dbname = "app"
        sslmode = "verify-full"
        sslrootcert = {ca:?}
        connect_timeout = "5s"
        [[cluster.node]]
        name = "inherits"
        host = "a"
        [[cluster.node]]
        name = "overrides"
        host = "b"
        port = 6432
        application_name = "member_b"
        user = "other"
        password_env = "NODE_PW"
        dbname = "db2"
        sslmode = "verify-ca"
        sslrootcert = {ca2:?}
        connect_timeout = "2s"
        "#,
        pw = pw.path().display().to_string(),
        ca = ca.path().display().to_string(),
        ca2 = ca2.path().display().to_string(),
    );
    let c = load_from_str(
        &toml,
        &env(&[("NODE_PW", "node-pw")]),
        &Overrides::default(),
    )
    .unwrap();
    let [a, b] = &c.clusters[0].nodes[..] else {
        panic!("two nodes expected")
    };
    assert_eq!(a.user, "exporter");
    assert_eq!(a.password.as_ref().unwrap().expose(), "cluster-pw");
    assert_eq!(a.dbname, "app");
    assert_eq!(a.sslmode, SslMode::VerifyFull);
    assert_eq!(a.sslrootcert.as_deref(), Some(ca.path()));
    assert_eq!(a.connect_timeout, Duration::from_secs(5));
    assert_eq!(a.port, 5432);

    assert_eq!(b.application_name, "member_b");
    assert_eq!(b.port, 6432);
    assert_eq!(b.user, "other");
    assert_eq!(b.password.as_ref().unwrap().expose(), "node-pw");
    assert_eq!(b.dbname, "db2");
    assert_eq!(b.sslmode, SslMode::VerifyCa);
    assert_eq!(b.sslrootcert.as_deref(), Some(ca2.path()));
    assert_eq!(b.connect_timeout, Duration::from_secs(2));
}

#[test]
fn connect_timeout_defaults_to_poll_timeout() {
    let c = ok(&format!("[poll]\ntimeout = \"300ms\"\n{NODE}"));
    assert_eq!(
        c.clusters[0].nodes[0].connect_timeout,
        Duration::from_millis(300)
    );
}

#[test]
fn dsn_fills_in_what_the_node_leaves_out_and_beats_cluster_defaults() {
    let ca = temp_file("ca");
    let toml = format!(
        r#"
        [[cluster]]
        name = "pg"
        user = "cluster_user"
        dbname = "cluster_db"
        sslmode = "disable"
        [[cluster.node]]
        name = "kv"
        dsn = "host=10.0.0.12 port=5433 user=dsn_user password='p w\\'x' dbname=dsn_db sslmode=verify-full sslrootcert={ca} connect_timeout=3"
        [[cluster.node]]
        name = "url"
        dsn = "postgresql://u%40x:pa%2Fss@db.example:6000/mydb?sslmode=require&connect_timeout=4"
        [[cluster.node]]
        name = "explicit_wins"
        host = "explicit"
        port = 7000
        user = "explicit_user"
        dbname = "explicit_db"
        sslmode = "prefer"
        dsn = "host=dsnhost port=1 user=u dbname=d sslmode=require"
        [[cluster.node]]
        name = "partial"
        dsn = "host=/var/run/postgresql"
        "#,
        ca = ca.path().display()
    );
    let c = ok(&toml);
    let [kv, url, explicit, partial] = &c.clusters[0].nodes[..] else {
        panic!("four nodes expected")
    };
    assert_eq!(kv.host, "10.0.0.12");
    assert_eq!(kv.port, 5433);
    assert_eq!(kv.user, "dsn_user");
    assert_eq!(kv.password.as_ref().unwrap().expose(), "p w'x");
    assert_eq!(kv.dbname, "dsn_db");
    assert_eq!(kv.sslmode, SslMode::VerifyFull);
    assert_eq!(kv.sslrootcert.as_deref(), Some(ca.path()));
    assert_eq!(kv.connect_timeout, Duration::from_secs(3));

    assert_eq!(url.host, "db.example");
    assert_eq!(url.port, 6000);
    assert_eq!(url.user, "u@x");
    assert_eq!(url.password.as_ref().unwrap().expose(), "pa/ss");
    assert_eq!(url.dbname, "mydb");
    assert_eq!(url.sslmode, SslMode::Require);
    assert_eq!(url.connect_timeout, Duration::from_secs(4));

    assert_eq!(explicit.host, "explicit");
    assert_eq!(explicit.port, 7000);
    assert_eq!(explicit.user, "explicit_user");
    assert_eq!(explicit.dbname, "explicit_db");
    assert_eq!(explicit.sslmode, SslMode::Prefer);

    // What the dsn does not set still comes from the cluster.
    assert_eq!(partial.host, "/var/run/postgresql");
    assert_eq!(partial.user, "cluster_user");
    assert_eq!(partial.dbname, "cluster_db");
    assert_eq!(partial.sslmode, SslMode::Disable);
    assert_eq!(partial.port, 5432);
}

#[test]
fn password_precedence() {
    let node_file = temp_file("node-file\n");
    let cluster_file = temp_file("cluster-file\r\n");
    let vars = env(&[("NODE_ENV", "node-env"), ("CLUSTER_ENV", "cluster-env")]);
    let node = |name: &str, extra: &str| {
        format!("[[cluster.node]]\nname = \"{name}\"\nhost = \"h\"\n{extra}\n")
    };
    let nf = format!(
        "password_file = {:?}",
        node_file.path().display().to_string()
    );
    let cf = format!(
        "password_file = {:?}",
        cluster_file.path().display().to_string()
    );
    let toml = format!(
        "[[cluster]]\nname = \"pg\"\n{cf}\npassword_env = \"CLUSTER_ENV\"\n{}{}{}{}",
        node(
            "a",
            &format!("{nf}\npassword_env = \"NODE_ENV\"\ndsn = \"password=dsn\"")
        ),
        node("b", "password_env = \"NODE_ENV\"\ndsn = \"password=dsn\""),
        node("c", "dsn = \"password=dsn\""),
        node("d", ""),
    );
    let c = load_from_str(&toml, &vars, &Overrides::default()).unwrap();
    let got: Vec<&str> = c.clusters[0]
        .nodes
        .iter()
        .map(|n| n.password.as_ref().unwrap().expose())
        .collect();
    assert_eq!(got, ["node-file", "node-env", "dsn", "cluster-file"]);

    let toml = "[[cluster]]\nname = \"pg\"\npassword_env = \"CLUSTER_ENV\"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n";
    let c = load_from_str(toml, &vars, &Overrides::default()).unwrap();
    assert_eq!(
        c.clusters[0].nodes[0].password.as_ref().unwrap().expose(),
        "cluster-env"
    );
}

#[test]
fn sslmode_strings_round_trip() {
    for m in SslMode::ALL {
        assert_eq!(m.as_str().parse::<SslMode>().unwrap(), m);
    }
    assert!("allow".parse::<SslMode>().is_err());
}

#[test]
fn keys_render_with_indices() {
    assert_eq!(
        render_key("cluster.0.node.12.name"),
        "cluster[0].node[12].name"
    );
    assert_eq!(render_key("web.listen_address"), "web.listen_address");
}

const PATRONI: &str = "[[cluster]]\nname = \"pg\"\n[cluster.patroni]\n";

#[test]
fn patroni_tables_are_validated_with_the_key_named() {
    let cases: Vec<(&str, String, String)> = vec![
        ("no urls", PATRONI.to_owned(), format!("cluster[0].patroni.urls: needs the REST API URL of at least one Patroni member, e.g. [\"http://10.0.0.11:8008\"] {IN}")),
        ("empty urls", format!("{PATRONI}urls = []\n"), format!("cluster[0].patroni.urls: needs the REST API URL of at least one Patroni member, e.g. [\"http://10.0.0.11:8008\"] {IN}")),
        ("not http", format!("{PATRONI}urls = [\"10.0.0.11:8008\"]\n"), format!("cluster[0].patroni.urls[0]: must start with http:// or https:// {IN}")),
        ("no host", format!("{PATRONI}urls = [\"http://:8008\"]\n"), format!("cluster[0].patroni.urls[0]: \"http://:8008\" names no host {IN}")),
        ("bad port", format!("{PATRONI}urls = [\"http://a:80x\"]\n"), format!("cluster[0].patroni.urls[0]: \"http://a:80x\" has an invalid port {IN}")),
        ("credentials in the url", format!("{PATRONI}urls = [\"http://u:{SECRET}@a:8008\"]\n"), format!("cluster[0].patroni.urls[0]: must not carry credentials; use username and password_file instead {IN}")),
        ("unknown key", format!("{PATRONI}urls = [\"http://a:8008\"]\nurl = \"x\"\n"), format!("cluster[0].patroni.url: unknown key {IN}")),
        ("zero interval", format!("{PATRONI}urls = [\"http://a:8008\"]\ninterval = \"0s\"\n"), format!("cluster[0].patroni.interval: must be greater than zero {IN}")),
        ("timeout over interval", format!("{PATRONI}urls = [\"http://a:8008\"]\ninterval = \"1s\"\ntimeout = \"2s\"\n"), format!("cluster[0].patroni.timeout: 2s must not exceed cluster[0].patroni.interval (1s) {IN}")),
        ("bad forget_after", format!("{PATRONI}urls = [\"http://a:8008\"]\nforget_after = \"soon\"\n"), "cluster[0].patroni.forget_after".to_owned()),
        ("username without password", format!("{PATRONI}urls = [\"http://a:8008\"]\nusername = \"u\"\n"), format!("cluster[0].patroni.password_file: a REST username needs a password (password_file or password_env) {IN}")),
        ("password_env not set", format!("{PATRONI}urls = [\"http://a:8008\"]\nusername = \"u\"\npassword_env = \"PATRONI_PW\"\n"), format!("cluster[0].patroni.password_env: environment variable PATRONI_PW is not set {IN}")),
        ("unreadable cafile", format!("{PATRONI}urls = [\"https://a:8008\"]\ncafile = \"/nonexistent/ca.pem\"\n"), format!("cluster[0].patroni.cafile: cannot read \"/nonexistent/ca.pem\": No such file or directory {IN}")),
        ("discover off and no nodes", format!("{PATRONI}urls = [\"http://a:8008\"]\ndiscover = false\n"), format!("cluster[0].node: cluster \"pg\" has no nodes; add at least one [[cluster.node]] table, or a [cluster.patroni] table to discover them {IN}")),
        ("discovered nodes would verify without a CA", "[[cluster]]\nname = \"pg\"\nsslmode = \"verify-full\"\n[cluster.patroni]\nurls = [\"http://a:8008\"]\n".to_owned(), format!("cluster[0].sslmode: sslmode verify-full needs sslrootcert (nodes discovered through Patroni) {IN}")),
    ];
    let pw = temp_file("pw\n");
    let pw_path = pw.path().display().to_string();
    let cases: Vec<(&str, String, String)> = cases
        .into_iter()
        .chain([(
            "password without username",
            format!("{PATRONI}urls = [\"http://a:8008\"]\npassword_file = {pw_path:?}\n"),
            "cluster[0].patroni.username: a REST password needs a username".to_owned(),
        )])
        .collect();
    for (what, toml, want) in &cases {
        let got = err(toml);
        assert!(
            got.starts_with("invalid configuration: ") && got.contains(want.as_str()),
            "case {what}:\n got: {got}\nwant: {want}"
        );
        assert!(!got.contains(SECRET), "case {what} leaks the secret: {got}");
        assert_eq!(got.lines().count(), 1, "case {what}: {got}");
    }
}

#[test]
fn patroni_defaults_and_discovered_nodes() {
    let pw = temp_file(&format!("{SECRET}\n"));
    let toml = format!(
        "[[cluster]]\nname = \"pg\"\nuser = \"mon\"\nsslmode = \"disable\"\n\
         [cluster.patroni]\nurls = [\"http://127.0.0.1:8008/\", \"https://[::1]:8009\"]\n\
         username = \"rest\"\npassword_file = {:?}\n\
         [[cluster.node]]\nname = \"node_b\"\nhost = \"10.9.9.9\"\nport = 6000\n",
        pw.path().display().to_string()
    );
    let c = ok(&toml);
    let pg = &c.clusters[0];
    let p = pg.patroni.as_ref().unwrap();
    assert_eq!(p.urls, ["http://127.0.0.1:8008", "https://[::1]:8009"]);
    assert_eq!(p.interval, DEFAULT_PATRONI_INTERVAL);
    assert_eq!(p.timeout, DEFAULT_PATRONI_TIMEOUT);
    assert_eq!(p.forget_after, DEFAULT_PATRONI_FORGET_AFTER);
    assert!(p.discover);
    assert_eq!(p.username.as_deref(), Some("rest"));
    assert_eq!(p.password.as_ref().unwrap().expose(), SECRET);
    assert!(
        !format!("{c:?}").contains(SECRET),
        "Debug redacts the REST password"
    );
    // A discovered member gets the cluster's connection defaults...
    let a = pg.node_for_member("node_a", "10.0.0.11", 5433);
    assert_eq!(
        (
            a.name.as_str(),
            a.application_name.as_str(),
            a.host.as_str(),
            a.port
        ),
        ("node_a", "node_a", "10.0.0.11", 5433)
    );
    assert_eq!(a.user, "mon");
    assert_eq!(a.sslmode, SslMode::Disable);
    assert_eq!(a.connect_timeout, c.poll.timeout);
    // ...and a static node of the same name overrides host, port and settings.
    let b = pg.node_for_member("node_b", "10.0.0.12", 5432);
    assert_eq!((b.host.as_str(), b.port), ("10.9.9.9", 6000));
    // A Patroni cluster without static nodes is valid when it discovers them.
    let bare = ok("[[cluster]]\nname = \"pg\"\n[cluster.patroni]\nurls = [\"http://a:8008\"]\n");
    assert!(bare.clusters[0].nodes.is_empty());
}

const ENDPOINT: &str = "[[cluster]]\nname = \"pg\"\n[[cluster.node]]\nname = \"node_a\"\nhost = \"10.0.0.11\"\n[[cluster.endpoint]]\nname = \"vip\"\n";

#[test]
fn endpoint_tables_are_validated_with_the_key_named() {
    let cases: Vec<(&str, String, String)> = vec![
        ("no kind", format!("{ENDPOINT}host = \"10.0.0.100\"\n"), format!("cluster[0].endpoint[0].kind: endpoint \"vip\" needs a kind: one of postgres, pgpool, pgbouncer {IN}")),
        ("bad kind", format!("{ENDPOINT}kind = \"haproxy\"\nhost = \"h\"\n"), format!("cluster[0].endpoint[0].kind: invalid kind \"haproxy\", expected one of postgres, pgpool, pgbouncer {IN}")),
        ("no host", format!("{ENDPOINT}kind = \"postgres\"\n"), format!("cluster[0].endpoint[0].host: endpoint \"vip\" needs a host {IN}")),
        ("empty name", ENDPOINT.replace("name = \"vip\"", "name = \" \"") + "kind = \"postgres\"\nhost = \"h\"\n", format!("cluster[0].endpoint[0].name: must not be empty {IN}")),
        ("unknown key", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\nexpects = \"primary\"\n"), format!("cluster[0].endpoint[0].expects: unknown key {IN}")),
        ("bad expect", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\nexpect = \"writer\"\n"), format!("cluster[0].endpoint[0].expect: invalid expectation \"writer\", expected one of primary, standby, any {IN}")),
        ("expect on pgbouncer", format!("{ENDPOINT}kind = \"pgbouncer\"\nhost = \"h\"\nexpect = \"primary\"\n"), "cluster[0].endpoint[0].expect: does not apply to kind pgbouncer".to_owned()),
        ("expect_databases on a VIP", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\nexpect_databases = {{ app = \"primary\" }}\n"), format!("cluster[0].endpoint[0].expect_databases: applies to kind pgbouncer only; a postgres endpoint says where it leads with expect {IN}")),
        ("bad database expectation", format!("{ENDPOINT}kind = \"pgbouncer\"\nhost = \"h\"\nexpect_databases = {{ app = \"rw\" }}\n"), format!("cluster[0].endpoint[0].expect_databases.app: invalid expectation \"rw\", expected one of primary, standby, any {IN}")),
        ("pgbouncer dbname", format!("{ENDPOINT}kind = \"pgbouncer\"\nhost = \"h\"\ndbname = \"app\"\n"), "cluster[0].endpoint[0].dbname: a pgbouncer endpoint is checked through the admin console".to_owned()),
        ("bad port", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\nport = 70000\n"), "cluster[0].endpoint[0].port".to_owned()),
        ("zero interval", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\ninterval = \"0s\"\n"), format!("cluster[0].endpoint[0].interval: must be greater than zero {IN}")),
        ("timeout over interval", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"), format!("cluster[0].endpoint[0].timeout: 2s must not exceed the endpoint's interval (1s) {IN}")),
        ("password_env not set", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\npassword_env = \"VIP_PW\"\n"), format!("cluster[0].endpoint[0].password_env: environment variable VIP_PW is not set {IN}")),
        ("verify without a CA", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\nsslmode = \"verify-full\"\n"), format!("cluster[0].endpoint[0].sslmode: sslmode verify-full needs sslrootcert (endpoint \"vip\") {IN}")),
        ("pool_nodes_interval on a VIP", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\npool_nodes_interval = \"1m\"\n"), format!("cluster[0].endpoint[0].pool_nodes_interval: applies to kind pgpool only, not postgres {IN}")),
        ("pool_nodes_interval under interval", format!("{ENDPOINT}kind = \"pgpool\"\nhost = \"h\"\ninterval = \"10s\"\ntimeout = \"1s\"\npool_nodes_interval = \"5s\"\n"), format!("cluster[0].endpoint[0].pool_nodes_interval: 5s must not be shorter than the endpoint's interval (10s) {IN}")),
        ("duplicate name", format!("{ENDPOINT}kind = \"postgres\"\nhost = \"h\"\n[[cluster.endpoint]]\nname = \"vip\"\nkind = \"pgpool\"\nhost = \"h2\"\n"), format!("cluster[0].endpoint[1].name: duplicate endpoint name \"vip\" in cluster \"pg\" {IN}")),
    ];
    for (what, toml, want) in &cases {
        let got = err(toml);
        assert!(
            got.starts_with("invalid configuration: ") && got.contains(want.as_str()),
            "case {what}:\n got: {got}\nwant: {want}"
        );
        assert_eq!(got.lines().count(), 1, "case {what}: {got}");
    }
}

#[test]
fn endpoints_take_the_cluster_defaults_and_their_kind_s_port() {
    let pw = temp_file(&format!("{SECRET}\n"));
    let toml = format!(
        "[poll]\ninterval = \"2s\"\ntimeout = \"1s\"\n\
         [[cluster]]\nname = \"pg\"\nuser = \"mon\"\npassword_file = {:?}\nsslmode = \"disable\"\n\
         [[cluster.node]]\nname = \"node_a\"\nhost = \"10.0.0.11\"\n\
         [[cluster.endpoint]]\nname = \"vip\"\nkind = \"postgres\"\nhost = \"10.0.0.100\"\nexpect = \"primary\"\n\
         [[cluster.endpoint]]\nname = \"pool\"\nkind = \"pgpool\"\nhost = \"10.0.0.101\"\ninterval = \"5s\"\n\
         [[cluster.endpoint]]\nname = \"bouncer\"\nkind = \"pgbouncer\"\nhost = \"10.0.0.102\"\nuser = \"stats\"\n\
         expect_databases = {{ app_rw = \"primary\", app_ro = \"standby\" }}\n",
        pw.path().display().to_string()
    );
    let c = ok(&toml);
    let e = &c.clusters[0].endpoints;
    assert_eq!(e.len(), 3);
    let (vip, pool, bouncer) = (&e[0], &e[1], &e[2]);
    assert_eq!(
        (vip.kind, vip.port, vip.expect),
        (EndpointKind::Postgres, 5432, Some(Expect::Primary))
    );
    assert_eq!(
        (vip.user.as_str(), vip.dbname.as_str()),
        ("mon", "postgres")
    );
    assert_eq!(vip.password.as_ref().map(Password::expose), Some(SECRET));
    assert_eq!(vip.sslmode, SslMode::Disable);
    assert_eq!(
        (vip.interval, vip.timeout),
        (Duration::from_secs(2), Duration::from_secs(1))
    );
    assert_eq!(
        (pool.port, pool.expect, pool.interval),
        (9999, Some(Expect::Any), Duration::from_secs(5))
    );
    assert_eq!(bouncer.port, 6432);
    assert_eq!(bouncer.expect, None);
    assert_eq!(
        (bouncer.user.as_str(), bouncer.dbname.as_str()),
        ("stats", "pgbouncer")
    );
    assert_eq!(
        bouncer.expect_databases,
        [
            ("app_ro".to_owned(), Expect::Standby),
            ("app_rw".to_owned(), Expect::Primary)
        ]
    );
    assert!(!format!("{c:?}").contains(SECRET));
}

#[test]
fn drill_table_is_validated_and_its_password_redacted() {
    const DRILL: &str = "[cluster.drill]\n";
    let cases: Vec<(&str, String, String)> = vec![
        (
            "drill without user",
            format!("{NODE}{DRILL}dbname = \"app\"\n"),
            format!(
                "cluster[0].drill.user: needs the role the drill writes its probe with (it creates and drops schema replication_drill) {IN}"
            ),
        ),
        (
            "drill user empty",
            format!("{NODE}{DRILL}user = \" \"\n"),
            format!("cluster[0].drill.user: must not be empty {IN}"),
        ),
        (
            "drill user is the exporter's",
            format!(
                "[[cluster]]\nname = \"pg\"\nuser = \"mon\"\n[[cluster.node]]\nname = \"a\"\nhost = \"h\"\n{DRILL}user = \"mon\"\n"
            ),
            format!(
                "cluster[0].drill.user: \"mon\" is the exporter's own role: the drill writes, so it needs a separate role with write rights {IN}"
            ),
        ),
        (
            "drill two passwords",
            format!("{NODE}{DRILL}user = \"w\"\npassword_file = \"/x\"\npassword_env = \"Y\"\n"),
            format!(
                "cluster[0].drill.password_env: set either password_file or password_env, not both {IN}"
            ),
        ),
        (
            "drill password_env unset",
            format!("{NODE}{DRILL}user = \"w\"\npassword_env = \"PG_TEST_UNSET_VARIABLE\"\n"),
            format!(
                "cluster[0].drill.password_env: environment variable PG_TEST_UNSET_VARIABLE is not set {IN}"
            ),
        ),
        (
            "drill unknown key",
            format!("{NODE}{DRILL}user = \"w\"\nhost = \"x\"\n"),
            format!("cluster[0].drill.host: unknown key {IN}"),
        ),
    ];
    for (what, toml, want) in cases {
        let got = err(&toml);
        assert_eq!(got, format!("invalid configuration: {want}"), "{what}");
        assert!(!got.contains(SECRET), "{what}");
    }
    let f = temp_file(&format!("{SECRET}\n"));
    let c = ok(&format!(
        "{NODE}dbname = \"app\"\n{DRILL}user = \"drill\"\npassword_file = {:?}\n",
        f.path().display().to_string()
    ));
    let d = c.clusters[0].drill.as_ref().unwrap();
    assert_eq!(d.user, "drill");
    assert_eq!(
        d.dbname, "postgres",
        "the cluster's dbname by default, not a node's"
    );
    assert_eq!(d.password.as_ref().map(Password::expose), Some(SECRET));
    let debug = format!("{c:?}");
    assert!(
        !debug.contains(SECRET) && debug.contains("[redacted]"),
        "{debug}"
    );
    let c = load_from_str(
        &format!("{NODE}{DRILL}user = \"drill\"\ndbname = \"app\"\npassword_env = \"DRILL_PW\"\n"),
        &env(&[("DRILL_PW", SECRET)]),
        &Overrides::default(),
    )
    .unwrap();
    let d = c.clusters[0].drill.as_ref().unwrap();
    assert_eq!(d.dbname, "app");
    assert_eq!(d.password.as_ref().map(Password::expose), Some(SECRET));
    assert!(ok(NODE).clusters[0].drill.is_none());
}

#[test]
fn shard_defaults_to_one_shard_and_takes_its_index_from_the_environment() {
    assert_eq!(ok(NODE).shard, ShardConfig { count: 1, index: 0 });
    assert_eq!(
        ok(&format!("[shard]\ncount = 1\n{NODE}")).shard,
        ShardConfig { count: 1, index: 0 }
    );
    assert_eq!(
        ok(&format!("[shard]\ncount = 4\nindex = 3\n{NODE}")).shard,
        ShardConfig { count: 4, index: 3 }
    );
    // One file for every replica, the index from each one's environment (a pod ordinal).
    let c = load_from_str(
        &format!("[shard]\ncount = 3\n{NODE}"),
        &env(&[("PG_REPLICATION_EXPORTER_SHARD__INDEX", "2")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.shard, ShardConfig { count: 3, index: 2 });
    let c = load_from_str(
        &format!("[shard]\ncount = 3\nindex = 0\n{NODE}"),
        &env(&[("PG_REPLICATION_EXPORTER_SHARD__INDEX", "1")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.shard.index, 1, "the environment wins over the file");
}

#[test]
fn bad_shard_settings_name_the_key() {
    let env_index = |toml: &str, index: &str| {
        err_with(
            toml,
            &env(&[("PG_REPLICATION_EXPORTER_SHARD__INDEX", index)]),
            &Overrides::default(),
        )
    };
    let from_env = "(from environment variable PG_REPLICATION_EXPORTER_SHARD__INDEX)";
    let cases: Vec<(&str, String, String)> = vec![
        (
            "count zero",
            err(&format!("[shard]\ncount = 0\n{NODE}")),
            format!("shard.count: must be at least 1 {IN}"),
        ),
        (
            "count negative",
            err(&format!("[shard]\ncount = -2\nindex = 0\n{NODE}")),
            format!("shard.count: -2 is negative {IN}"),
        ),
        (
            "count missing",
            err(&format!("[shard]\nindex = 0\n{NODE}")),
            format!("shard.count: is required in [shard] (the number of shards) {IN}"),
        ),
        (
            "index missing",
            err(&format!("[shard]\ncount = 2\n{NODE}")),
            format!(
                "shard.index: is required when shard.count is 2 (set it in [shard] or PG_REPLICATION_EXPORTER_SHARD__INDEX) {IN}"
            ),
        ),
        (
            "index too large",
            err(&format!("[shard]\ncount = 2\nindex = 2\n{NODE}")),
            format!("shard.index: 2 must be less than shard.count (2) {IN}"),
        ),
        (
            "index a string",
            err(&format!("[shard]\ncount = 2\nindex = \"x\"\n{NODE}")),
            format!("shard.index: \"x\" is not a non-negative integer {IN}"),
        ),
        (
            "unknown key",
            err(&format!("[shard]\ncount = 2\nindex = 0\nid = 1\n{NODE}")),
            format!("shard.id: unknown key {IN}"),
        ),
        (
            "env index too large",
            env_index(&format!("[shard]\ncount = 2\n{NODE}"), "5"),
            format!("shard.index: 5 must be less than shard.count (2) {from_env}"),
        ),
        (
            "env index not a number",
            env_index(&format!("[shard]\ncount = 2\n{NODE}"), "pod-1"),
            format!("shard.index: \"pod-1\" is not a non-negative integer {from_env}"),
        ),
        (
            "env index without count",
            env_index(NODE, "1"),
            "shard.count: is required in [shard] (the number of shards)".to_string(),
        ),
    ];
    for (what, got, want) in cases {
        assert!(
            got.starts_with("invalid configuration: ") && got.contains(&want),
            "{what}: got {got:?}, want it to contain {want:?}"
        );
    }
}
