//! Hostile strings in labels, end to end: every string that travels from the configuration or
//! from a server into a label value — cluster and node names with quotes, backslashes, newlines
//! and non-ASCII; standby `application_name`s with quotes and backslashes (and what PostgreSQL
//! does to the rest); `synchronous_standby_names` with quoted names holding `"`, `\`, spaces and a
//! newline; a database name made of bytes that are not UTF-8 — must leave `/metrics` valid for
//! `promtool check metrics` and read back, through the harness's strict parser, exactly as the
//! server (or the configuration) holds it.

mod harness;

use std::io::Write;
use std::process::{Command, Stdio};

use harness::{Cluster, Exporter, Node, Scrape, WAIT, conf_str, toml_str};

const PROMTOOL: &str = "promtool";

/// `promtool check metrics` on a page; returns its complaints, if any.
fn promtool_check(page: &str) -> Result<(), String> {
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {PROMTOOL} ({e}): install it (apt-get install prometheus)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A libpq connection-string value.
fn conninfo_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Make a standby connect to its upstream under `application_name` (reloadable since 13).
fn set_application_name(c: &Cluster, standby: &Node, app: &str) {
    let upstream = c.node(standby.upstream().unwrap());
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres application_name={}",
        upstream.port(),
        conninfo_str(app)
    );
    // Dollar quoting: the conninfo holds quotes and backslashes of its own.
    standby.batch_execute(&format!(
        "ALTER SYSTEM SET primary_conninfo = $conninfo${conninfo}$conninfo$"
    ));
    standby.batch_execute("SELECT pg_reload_conf()");
}

/// What PostgreSQL shows of a client's application_name: printable ASCII kept, every other
/// byte replaced by '?' (15 and older; 16+ writes `\xNN` instead).
fn cleaned(app: &str, major: u32) -> String {
    app.bytes()
        .map(|b| {
            if (32..127).contains(&b) {
                (b as char).to_string()
            } else if major >= 16 {
                format!("\\x{b:02x}")
            } else {
                "?".to_owned()
            }
        })
        .collect()
}

const CLUSTER: &str = "pg \"prod\" \\ ☃\nsecond line";
const PRIMARY: &str = "prim\"ary\\";
const STANDBY1: &str = "stand\nby \"one\" \\n ✓";
/// standby1 connects as this and the configuration maps it to STANDBY1.
const APP1: &str = "we\"ird\\app 'q'";
/// standby2 connects as this and is not configured: its label is the raw application_name.
const APP2: &str = "an\"other\\ é {x=\"1\"}";
/// `synchronous_standby_names` with every character the quoting rules care about.
const SYNC_NAMES: &str = "ANY 1 (\"we\"\"ird\\app 'q'\", \"back\\slash\", \"with space\", \"new\nline\", \"{a=\"\"b\"\"}\")";

#[test]
fn hostile_label_values_stay_valid_and_read_back_exactly() {
    let c = Cluster::builder().standbys(2).start();
    let (primary, s1, s2) = (c.primary(), c.standby(1), c.standby(2));
    let major = c.bin().major();

    set_application_name(&c, s1, APP1);
    set_application_name(&c, s2, APP2);
    let (want_app1, want_app2) = (cleaned(APP1, major), cleaned(APP2, major));
    c.wait_for(
        "both standbys to stream under their new names",
        WAIT,
        || {
            primary
                .try_query_one(
                    "SELECT string_agg(application_name, '|' ORDER BY application_name) \
                 FROM pg_stat_replication WHERE state = 'streaming'",
                )
                .and_then(|r| r.get::<_, Option<String>>(0))
                .is_some_and(|s| {
                    let mut want = [want_app1.clone(), want_app2.clone()];
                    want.sort();
                    s == want.join("|")
                })
        },
    );

    primary.append_conf(&format!(
        "synchronous_standby_names = {}",
        conf_str(SYNC_NAMES)
    ));
    primary.reload();
    c.wait_for(
        "the primary to load synchronous_standby_names",
        WAIT,
        || {
            primary
                .try_query_one("SHOW synchronous_standby_names")
                .is_some_and(|r| r.get::<_, String>(0) == SYNC_NAMES)
        },
    );

    let role = c.exporter_role();
    let toml = format!(
        "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n\n\
         [[cluster]]\nname = {}\nuser = {}\npassword_file = {}\nsslmode = \"disable\"\n\n\
         [[cluster.node]]\nname = {}\nhost = \"127.0.0.1\"\nport = {}\n\n\
         [[cluster.node]]\nname = {}\nhost = \"127.0.0.1\"\nport = {}\napplication_name = {}\n",
        toml_str(CLUSTER),
        toml_str(role.user()),
        toml_str(&role.password_file().display().to_string()),
        toml_str(PRIMARY),
        primary.port(),
        toml_str(STANDBY1),
        s1.port(),
        toml_str(&want_app1),
    );
    let exporter = Exporter::start(&toml);
    let scrape = exporter.wait_scrape("both walsenders and the sync config", WAIT, |s| {
        s.get("pg_replication_up", &[("node", STANDBY1)]) == Some(1.0)
            && !s
                .find(
                    "pg_replication_lag_bytes",
                    &[("standby", STANDBY1), ("stage", "replay")],
                )
                .is_empty()
            && !s
                .find(
                    "pg_replication_lag_bytes",
                    &[("standby", &want_app2), ("stage", "replay")],
                )
                .is_empty()
            && !s.all("pg_replication_sync_config_info").is_empty()
    });
    if let Err(e) = promtool_check(&scrape.text) {
        panic!(
            "promtool check metrics rejects the page: {e}\n--- page ---\n{}",
            scrape.text
        );
    }
    for line in scrape.text.lines() {
        if line.starts_with("pg_replication_up")
            || line.starts_with("pg_replication_sync_config_info")
            || line.contains("stage=\"replay\"")
        {
            println!("{line}");
        }
    }

    // Every series carries the configured names exactly.
    for s in &scrape.samples {
        // The exporter's own series (build, reload, shard) carry no cluster.
        if s.name.starts_with("pg_replication_exporter_") {
            continue;
        }
        assert_eq!(s.label("cluster"), Some(CLUSTER), "{s}");
        if let Some(node) = s.label("node") {
            assert!(node == PRIMARY || node == STANDBY1, "{s}");
        }
    }
    assert_eq!(
        scrape.get("pg_replication_up", &[("node", PRIMARY)]),
        Some(1.0)
    );

    // Server strings: the walsender rows, mapped and raw.
    let standbys: Vec<&str> = scrape
        .find(
            "pg_replication_lag_bytes",
            &[("node", PRIMARY), ("stage", "replay")],
        )
        .iter()
        .map(|s| s.label("standby").unwrap())
        .collect();
    let mut want = vec![STANDBY1, want_app2.as_str()];
    want.sort();
    let mut got = standbys.clone();
    got.sort();
    assert_eq!(got, want, "standby labels");

    let sync = scrape.find("pg_replication_sync_config_info", &[("node", PRIMARY)]);
    assert_eq!(sync.len(), 1);
    assert_eq!(
        sync[0].label("synchronous_standby_names"),
        Some(SYNC_NAMES),
        "the label must hold the setting exactly as the server shows it"
    );
    // The parser read the quoted names: ANY 1 of five.
    assert_eq!(
        scrape.get(
            "pg_replication_sync_standbys_required",
            &[("node", PRIMARY)]
        ),
        Some(1.0)
    );

    // The quoted name `we"ird\app 'q'` in the setting is standby1's application_name: the server
    // made it a quorum standby, and the exporter says the same under the mapped label.
    let truth: String = primary
        .query_one(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1",
            &[&want_app1],
        )
        .get(0);
    assert_eq!(truth, "quorum");
    assert_eq!(
        scrape.get(
            "pg_replication_sync_state",
            &[("standby", STANDBY1), ("sync_state", "quorum")]
        ),
        Some(1.0)
    );

    // Upstream info on the standby: host, port and slot as the WAL receiver reports them.
    let up = scrape.find("pg_replication_upstream_info", &[("node", STANDBY1)]);
    assert_eq!(up.len(), 1, "{:?}", up);
    assert_eq!(up[0].label("upstream_host"), Some("127.0.0.1"));
    let port = primary.port().to_string();
    assert_eq!(up[0].label("upstream_port"), Some(port.as_str()));
}

/// A database named with bytes that are not UTF-8 (possible in a SQL_ASCII database, where the
/// server accepts any byte but NUL), holding a logical slot: its name lands in the slot's
/// `database` label. The poll must survive it (the exporter decodes lossily) and the page stay
/// valid. Regression: the poll document used to go through `convert_to(…, 'UTF8')`, which
/// validates, so one such name took the whole node down (up 0, kind query).
#[test]
fn non_utf8_database_name_in_a_slot_label() {
    let c = Cluster::builder()
        .standbys(0)
        .logical_slot("plain_logical")
        .start();
    let p = c.primary();
    for db in ["ascii_admin", "ascii_target"] {
        p.batch_execute(&format!(
            "CREATE DATABASE {db} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        ));
    }
    let conn = |db: &str| {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(p.port())
            .user("postgres")
            .dbname(db)
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {db}: {}", harness::pg_error(&e)))
    };
    // The slot is created while the database still has a plain name...
    let mut target = conn("ascii_target");
    target
        .batch_execute("SELECT pg_create_logical_replication_slot('bytes_slot', 'test_decoding')")
        .unwrap();
    drop(target);
    // ...which is then replaced by raw bytes: "bytes_" 0xFF 0xFE "_" "é" (UTF-8) "_db". Only a
    // SQL_ASCII session can say such a name, and not about its own database.
    let mut admin = conn("ascii_admin");
    let rename = "DO $$ BEGIN EXECUTE 'ALTER DATABASE ascii_target RENAME TO ' || \
                  quote_ident(convert_from('\\x62797465735ffffe5fc3a95f6462'::bytea, 'SQL_ASCII')); END $$";
    // The backend of the slot creation may take a moment to leave.
    let mut last = String::new();
    let renamed = harness::poll_until(WAIT, || match admin.batch_execute(rename) {
        Ok(()) => true,
        Err(e) => {
            last = harness::pg_error(&e);
            false
        }
    });
    assert!(renamed, "rename the database: {last}");
    let raw: Vec<u8> = p
        .query_one(
            // textsend: the bytes as they are (convert_to would refuse them in a UTF8 database).
            "SELECT textsend(database::text) FROM pg_replication_slots \
             WHERE slot_name = 'bytes_slot'",
            &[],
        )
        .get(0);
    assert_eq!(
        raw, b"bytes_\xff\xfe_\xc3\xa9_db",
        "the catalog holds the raw bytes"
    );

    let role = c.exporter_role();
    // Two views of the same server: from a UTF8 database and from a SQL_ASCII one.
    let toml = format!(
        "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n\n\
         [[cluster]]\nname = \"bytes\"\nuser = {}\npassword_file = {}\nsslmode = \"disable\"\n\n\
         [[cluster.node]]\nname = \"from_utf8\"\nhost = \"127.0.0.1\"\nport = {}\n\n\
         [[cluster.node]]\nname = \"from_sql_ascii\"\nhost = \"127.0.0.1\"\nport = {}\n\
         dbname = \"ascii_admin\"\n",
        toml_str(role.user()),
        toml_str(&role.password_file().display().to_string()),
        p.port(),
        p.port(),
    );
    let exporter = Exporter::start(&toml);
    let want_label = "bytes_\u{FFFD}\u{FFFD}_é_db";
    // Settled: each node either shows the slot or has failed a poll.
    let settled = |s: &Scrape| {
        ["from_utf8", "from_sql_ascii"].iter().all(|n| {
            let slot = !s
                .find(
                    "pg_replication_slot_active",
                    &[("node", n), ("slot", "bytes_slot")],
                )
                .is_empty();
            let failed = s
                .find("pg_replication_poll_errors_total", &[("node", n)])
                .iter()
                .any(|e| e.value > 0.0);
            slot || failed
        })
    };
    let scrape = exporter.wait_scrape("both nodes polled", WAIT, settled);
    if let Err(e) = promtool_check(&scrape.text) {
        panic!(
            "promtool check metrics rejects the page: {e}\n--- page ---\n{}",
            scrape.text
        );
    }
    let mut failures = Vec::new();
    for node in ["from_utf8", "from_sql_ascii"] {
        if scrape.get("pg_replication_up", &[("node", node)]) != Some(1.0) {
            failures.push(format!("{node}: down"));
            continue;
        }
        let slot = scrape.find(
            "pg_replication_slot_active",
            &[("node", node), ("slot", "bytes_slot")],
        );
        match slot.as_slice() {
            [one] if one.label("database") == Some(want_label) => {}
            other => failures.push(format!(
                "{node}: slot series {:?}, want database {want_label:?}",
                other.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n--- exporter log ---\n{}",
        failures.join("\n"),
        exporter.log_text()
    );
}
