//! TLS to PostgreSQL, end to end: a real cluster whose primary serves a certificate for
//! `localhost` / 127.0.0.1, whose standby1 serves one for `db.example` only, and whose standby2
//! has `ssl = off`, all from a CA made here with rcgen. One exporter polls them through a dozen
//! configured "nodes", one per (sslmode, sslrootcert, host) combination, and the test checks each
//! outcome of libpq's `sslmode` semantics: `up`, `poll_errors_total{kind="tls"}`, the log line,
//! and — from the server's own `pg_stat_ssl` — whether the session really is encrypted.
//!
//! Each exporter node connects to its own database (named after the node), so that the server
//! side can tell the exporter's sessions apart in `pg_stat_activity`.

mod harness;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use harness::pki::{ca, leaf};
use harness::{Cluster, Exporter, Node, WAIT, toml_str};

/// Install a certificate and key and turn `ssl` on with a reload (no restart needed since
/// PostgreSQL 10). The harness starts nodes before a test can place files, so `ssl = on` cannot
/// go through the builder's `.conf(...)`: the server would refuse to start without them.
fn enable_ssl(node: &Node, cert: &str, key: &str) {
    node.write_data_file("server.crt", cert, 0o644);
    // PostgreSQL refuses a key readable by others.
    node.write_data_file("server.key", key, 0o600);
    node.set_conf(
        "# e2e_tls\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'",
        "ssl",
        "on",
    );
}

/// One exporter node: which server, how it connects, and what must come of it.
struct Probe {
    name: &'static str,
    server: &'static str,
    host: &'static str,
    sslmode: &'static str,
    root: Root,
    want: Want,
}

#[derive(Clone, Copy)]
enum Root {
    None,
    Right,
    Wrong,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    /// Up, and the server reports the session encrypted (true) or not (false).
    Up { encrypted: bool },
    /// Down with kind tls, and the log line says this.
    Tls(&'static str),
}

const PROBES: &[Probe] = &[
    // verify-full: chain and name.
    Probe {
        name: "full_host",
        server: "primary",
        host: "localhost",
        sslmode: "verify-full",
        root: Root::Right,
        want: Want::Up { encrypted: true },
    },
    Probe {
        name: "full_ip",
        server: "primary",
        host: "127.0.0.1",
        sslmode: "verify-full",
        root: Root::Right,
        want: Want::Up { encrypted: true },
    },
    Probe {
        name: "full_wrong_ca",
        server: "primary",
        host: "localhost",
        sslmode: "verify-full",
        root: Root::Wrong,
        want: Want::Tls("UnknownIssuer"),
    },
    Probe {
        name: "full_wrong_name",
        server: "standby1",
        host: "127.0.0.1",
        sslmode: "verify-full",
        root: Root::Right,
        want: Want::Tls("not valid for name"),
    },
    // verify-ca: chain only.
    Probe {
        name: "ca_other_name",
        server: "standby1",
        host: "127.0.0.1",
        sslmode: "verify-ca",
        root: Root::Right,
        want: Want::Up { encrypted: true },
    },
    Probe {
        name: "ca_wrong_ca",
        server: "standby1",
        host: "127.0.0.1",
        sslmode: "verify-ca",
        root: Root::Wrong,
        want: Want::Tls("UnknownIssuer"),
    },
    // require: encrypted; with a root certificate it checks the chain, as libpq does.
    Probe {
        name: "require_noroot",
        server: "primary",
        host: "127.0.0.1",
        sslmode: "require",
        root: Root::None,
        want: Want::Up { encrypted: true },
    },
    Probe {
        name: "require_wrong_ca",
        server: "primary",
        host: "127.0.0.1",
        sslmode: "require",
        root: Root::Wrong,
        want: Want::Tls("UnknownIssuer"),
    },
    Probe {
        name: "require_nossl",
        server: "standby2",
        host: "127.0.0.1",
        sslmode: "require",
        root: Root::None,
        want: Want::Tls("TLS"),
    },
    // prefer: encrypted when offered, plaintext otherwise; disable: never.
    Probe {
        name: "prefer_ssl",
        server: "primary",
        host: "127.0.0.1",
        sslmode: "prefer",
        root: Root::None,
        want: Want::Up { encrypted: true },
    },
    Probe {
        name: "prefer_nossl",
        server: "standby2",
        host: "127.0.0.1",
        sslmode: "prefer",
        root: Root::None,
        want: Want::Up { encrypted: false },
    },
    Probe {
        name: "disable_ssl",
        server: "primary",
        host: "127.0.0.1",
        sslmode: "disable",
        root: Root::None,
        want: Want::Up { encrypted: false },
    },
];

fn exporter_config(c: &Cluster, right: &Path, wrong: &Path) -> String {
    let role = c.exporter_role();
    let mut toml = format!(
        "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\nbackoff_max = \"2s\"\n\n\
         [[cluster]]\nname = \"tls\"\nuser = {}\npassword_file = {}\n",
        toml_str(role.user()),
        toml_str(&role.password_file().display().to_string())
    );
    for p in PROBES {
        toml.push_str(&format!(
            "\n[[cluster.node]]\nname = {}\nhost = {}\nport = {}\ndbname = {}\nsslmode = {}\n",
            toml_str(p.name),
            toml_str(p.host),
            c.node(p.server).port(),
            toml_str(p.name),
            toml_str(p.sslmode),
        ));
        let root: Option<PathBuf> = match p.root {
            Root::None => None,
            Root::Right => Some(right.to_path_buf()),
            Root::Wrong => Some(wrong.to_path_buf()),
        };
        if let Some(root) = root {
            toml.push_str(&format!(
                "sslrootcert = {}\n",
                toml_str(&root.display().to_string())
            ));
        }
    }
    toml
}

#[test]
fn sslmodes_verify_what_libpq_verifies_and_encrypt_where_expected() {
    let c = Cluster::builder().standbys(2).start();
    let (primary, s1) = (c.primary(), c.standby(1));

    let trusted = ca("e2e_tls test CA");
    let other = ca("e2e_tls unrelated CA");
    let (cert, key) = leaf(&trusted, &["localhost", "127.0.0.1"], None);
    enable_ssl(primary, &cert, &key);
    // A name that is not localhost and an address that is not in the SAN either.
    let (cert, key) = leaf(&trusted, &["db.example"], None);
    enable_ssl(s1, &cert, &key);
    // standby2 keeps ssl = off (the harness default).
    assert_eq!(c.standby(2).scalar::<String>("SHOW ssl"), "off");

    // One database per probe, replicated to the standbys, to tell the sessions apart.
    for p in PROBES {
        primary.batch_execute(&format!("CREATE DATABASE {}", p.name));
    }
    for s in c.standbys() {
        c.wait_for_catchup(s);
    }

    let pki = tempfile::tempdir().unwrap();
    let right = pki.path().join("ca.pem");
    let wrong = pki.path().join("other-ca.pem");
    fs::write(&right, trusted.pem()).unwrap();
    fs::write(&wrong, other.pem()).unwrap();
    let exporter = Exporter::start(&exporter_config(&c, &right, &wrong));

    let settled = |s: &harness::Scrape| {
        PROBES.iter().all(|p| match p.want {
            Want::Up { .. } => s.get("pg_replication_up", &[("node", p.name)]) == Some(1.0),
            Want::Tls(_) => s
                .get(
                    "pg_replication_poll_errors_total",
                    &[("node", p.name), ("kind", "tls")],
                )
                .is_some_and(|v| v >= 1.0),
        })
    };
    let scrape = exporter.wait_scrape("every probe to reach its outcome", WAIT, settled);

    let log = exporter.log_text();
    let mut failures = Vec::new();
    for p in PROBES {
        let up = scrape.get("pg_replication_up", &[("node", p.name)]);
        let errors: BTreeMap<String, f64> = scrape
            .find("pg_replication_poll_errors_total", &[("node", p.name)])
            .into_iter()
            .filter(|s| s.value > 0.0)
            .map(|s| (s.label("kind").unwrap().to_owned(), s.value))
            .collect();
        println!("{}: up={up:?} errors={errors:?}", p.name);
        match p.want {
            Want::Up { .. } => {
                // A first poll may time out on a loaded machine (a dozen logins at once); any
                // other kind of error means the TLS settings were not honoured.
                if errors.keys().any(|k| k != "timeout") {
                    failures.push(format!("{}: up, but errors {errors:?}", p.name));
                }
            }
            Want::Tls(text) => {
                if up != Some(0.0) {
                    failures.push(format!("{}: up = {up:?}, want 0", p.name));
                }
                if errors.keys().any(|k| k != "tls") {
                    failures.push(format!("{}: errors of other kinds {errors:?}", p.name));
                }
                // The "node is down" line names the node, the kind and the reason.
                let line = log.lines().find(|l| {
                    l.contains("node is down") && l.contains(&format!("node={}", p.name))
                });
                match line {
                    None => failures.push(format!("{}: no \"node is down\" log line", p.name)),
                    Some(line) => {
                        if !line.contains("kind=tls") {
                            failures.push(format!("{}: log line without kind tls: {line}", p.name));
                        }
                        if !line.contains(text) {
                            failures.push(format!("{}: log line lacks {text:?}: {line}", p.name));
                        }
                        if p.sslmode != "require" && !line.contains("certificate") {
                            failures.push(format!(
                                "{}: log line does not say \"certificate\": {line}",
                                p.name
                            ));
                        }
                    }
                }
            }
        }
    }

    // The servers' view of the exporter's sessions: encrypted or not, per probe database.
    let mut sessions: BTreeMap<String, bool> = BTreeMap::new();
    for node in c.nodes() {
        for row in node.query(
            "SELECT datname::text, ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE application_name = 'pg_replication_exporter'",
            &[],
        ) {
            sessions.insert(row.get(0), row.get(1));
        }
    }
    for p in PROBES {
        let seen = sessions.get(p.name).copied();
        let want = match p.want {
            Want::Up { encrypted } => Some(encrypted),
            Want::Tls(_) => None,
        };
        if seen != want {
            failures.push(format!(
                "{}: server sees a session with ssl = {seen:?}, want {want:?}",
                p.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n--- scrape ---\n{}\n--- exporter log ---\n{log}",
        failures.join("\n"),
        scrape
            .text
            .lines()
            .filter(|l| l.starts_with("pg_replication_up") || l.contains("errors_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
