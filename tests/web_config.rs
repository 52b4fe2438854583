//! End-to-end tests of `--web.config.file`: the real binary serving HTTPS (and mutual TLS) and
//! basic auth, and refusing bad web configurations with exit status 2. The one configured node
//! points at a closed local port, so no PostgreSQL is needed: it is simply down.
//!
//! The certificates come from rcgen, the hash from bcrypt; the client is a small blocking
//! HTTP/1.1 client over rustls, so every TLS decision (which CA, which client certificate) is
//! made explicitly here.

mod harness;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use harness::pki::{ca, leaf};
use harness::{Exporter, Ready, Response, Tls, free_port};
use rcgen::ExtendedKeyUsagePurpose;
use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

/// A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, all signed by
/// the CA, and a second, unrelated CA.
struct Pki {
    ca: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let ca1 = ca("test CA");
    let ca2 = ca("some other CA");
    let (server_cert, server_key) = leaf(
        &ca1,
        &["localhost", "127.0.0.1"],
        Some(ExtendedKeyUsagePurpose::ServerAuth),
    );
    let (client_cert, client_key) = leaf(
        &ca1,
        &["scraper"],
        Some(ExtendedKeyUsagePurpose::ClientAuth),
    );
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    write("server.crt", &server_cert);
    Pki {
        ca: write("ca.crt", &ca1.pem()),
        server_key: write("server.key", &server_key),
        client_cert: write("client.crt", &client_cert),
        client_key: write("client.key", &client_key),
        other_ca: write("other-ca.crt", &ca2.pem()),
    }
}

/// The exporter's TOML: one node on a closed port, `web_yml` (written next to the certificates)
/// as web config, a listen address of its own (the harness's `--web.listen-address` wins).
fn config(dir: &Path, web_yml: &str) -> String {
    let web = dir.join("web.yml");
    std::fs::write(&web, web_yml).unwrap();
    format!(
        r#"[web]
listen_address = "127.0.0.1:{port}"
config_file = {web:?}

[poll]
interval = "200ms"
timeout = "150ms"

[[cluster]]
name = "pg"

[[cluster.node]]
name = "node_a"
host = "127.0.0.1"
port = {closed}
"#,
        port = free_port(),
        web = web.display().to_string(),
        closed = free_port(),
    )
}

/// The binary with this web config, ready when its port accepts (TLS and auth stand before
/// `/ready`).
fn start(dir: &Path, web_yml: &str) -> Exporter {
    Exporter::start_opts(
        &config(dir, web_yml),
        &["--log.level=warn"],
        &[],
        Ready::Listening,
    )
}

/// How to reach the exporter.
enum Transport<'a> {
    Plain,
    Tls {
        ca: &'a Path,
        client: Option<(&'a Path, &'a Path)>,
    },
}

fn client_config(ca: &Path, client: Option<(&Path, &Path)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    Arc::new(match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
    })
}

/// One `GET path` (with basic-auth credentials when given) over `transport`; any transport or
/// TLS failure is an `Err`.
fn get(
    exporter: &Exporter,
    transport: &Transport,
    path: &str,
    credentials: Option<(&str, &str)>,
) -> Result<Response, String> {
    let auth = credentials.map(|(user, password)| {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {token}")
    });
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let tls = match transport {
        Transport::Plain => None,
        Transport::Tls { ca, client } => Some(Tls {
            config: client_config(ca, *client),
            server_name: "127.0.0.1".to_string(),
        }),
    };
    harness::http_request(exporter.addr(), "GET", path, &headers, tls.as_ref())
}

fn hash(password: &str) -> String {
    // Cost 10: what `htpasswd -B` writes by default, and slow enough to show the cache at work.
    bcrypt::hash(password, 10).unwrap()
}

#[test]
fn https_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: {key:?}\nbasic_auth_users:\n  {USER}: '{h}'\n",
        key = pki.server_key.display().to_string(),
        h = hash(PASSWORD),
    );
    let exporter = start(dir.path(), &web);
    let tls = Transport::Tls {
        ca: &pki.ca,
        client: None,
    };

    let r = get(&exporter, &tls, "/metrics", None).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"pg_replication_exporter\"")
    );
    assert!(!r.text().contains("pg_replication_up"));
    let r = get(&exporter, &tls, "/metrics", Some((USER, "wrong password"))).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    let r = get(&exporter, &tls, "/metrics", Some(("nobody", PASSWORD))).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    for path in ["/", "/ready", "/no-such-page"] {
        let r = get(&exporter, &tls, path, None).unwrap();
        assert_eq!(r.status, 401, "{path}: {r:?}");
    }
    // Liveness probes carry no credentials.
    let r = get(&exporter, &tls, "/healthz", None).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));

    let t0 = Instant::now();
    let first = get(&exporter, &tls, "/metrics", Some((USER, PASSWORD))).unwrap();
    let first_took = t0.elapsed();
    let t1 = Instant::now();
    let second = get(&exporter, &tls, "/metrics", Some((USER, PASSWORD))).unwrap();
    let second_took = t1.elapsed();
    println!("first authenticated scrape {first_took:?}, second (cached) {second_took:?}");
    for r in [&first, &second] {
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.text()
                .contains("pg_replication_up{cluster=\"pg\",node=\"node_a\"}"),
            "{}",
            r.text()
        );
    }

    let wrong_ca = Transport::Tls {
        ca: &pki.other_ca,
        client: None,
    };
    let e = get(&exporter, &wrong_ca, "/metrics", Some((USER, PASSWORD))).unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");

    let r = get(
        &exporter,
        &Transport::Plain,
        "/metrics",
        Some((USER, PASSWORD)),
    )
    .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.text().contains("HTTP request to an HTTPS server"),
        "{r:?}"
    );

    let mut exporter = exporter;
    let status = exporter.stop();
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[test]
fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS13\n";
    let exporter = start(dir.path(), web);
    let with_cert = Transport::Tls {
        ca: &pki.ca,
        client: Some((&pki.client_cert, &pki.client_key)),
    };
    let r = get(&exporter, &with_cert, "/metrics", None).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("pg_replication_up"));

    let without = Transport::Tls {
        ca: &pki.ca,
        client: None,
    };
    let e = get(&exporter, &without, "/metrics", None).unwrap_err();
    assert!(e.contains("CertificateRequired"), "{e}");
    let mut exporter = exporter;
    assert!(exporter.stop().success());
}

#[test]
fn basic_auth_alone_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let web = format!("basic_auth_users:\n  {USER}: '{}'\n", hash(PASSWORD));
    let exporter = start(dir.path(), &web);
    let r = get(&exporter, &Transport::Plain, "/metrics", None).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    let r = get(
        &exporter,
        &Transport::Plain,
        "/metrics",
        Some((USER, PASSWORD)),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("pg_replication_up"));
    // The fleet's routes sit behind the same auth.
    for path in ["/probe?cluster=pg", "/sd"] {
        let r = get(&exporter, &Transport::Plain, path, None).unwrap();
        assert_eq!(r.status, 401, "{path}: {r:?}");
        assert!(!r.text().contains("pg_replication_up") && !r.text().contains("__param_cluster"));
        let r = get(&exporter, &Transport::Plain, path, Some((USER, PASSWORD))).unwrap();
        assert_eq!(r.status, 200, "{path}: {r:?}");
    }
    let r = get(
        &exporter,
        &Transport::Plain,
        "/probe?cluster=pg",
        Some((USER, PASSWORD)),
    )
    .unwrap();
    assert!(
        r.text()
            .contains("pg_replication_up{cluster=\"pg\",node=\"node_a\"} 0"),
        "{r:?}"
    );
    let r = get(&exporter, &Transport::Plain, "/sd", Some((USER, PASSWORD))).unwrap();
    assert!(r.text().contains("\"__param_cluster\":\"pg\""), "{r:?}");
}

/// Runs the exporter on a configuration that must be refused; returns its stderr.
fn refused(web_yml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config(dir.path(), web_yml)).unwrap();
    let mut cmd = harness::command();
    cmd.arg("--config.file").arg(&path);
    let out = harness::run("a refused web config", cmd, harness::EXIT_WITHIN);
    let stderr = out.stderr;
    assert_eq!(out.code, Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.ends_with(&format!("(in {})\n", dir.path().join("web.yml").display())),
        "names the file: {stderr}"
    );
    stderr
}

#[test]
fn bad_web_configurations_exit_2_with_one_line_naming_the_key() {
    let e = refused(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cert_fiel: x\n",
    );
    assert!(
        e.starts_with("pg_replication_exporter: invalid web configuration: tls_server_config.cert_fiel: unknown key"),
        "{e}"
    );

    let e = refused("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n");
    assert!(
        e.contains("tls_server_config.cert_file: cannot read \"")
            && e.contains("missing.crt\": No such file or directory"),
        "{e}"
    );

    let e = refused("basic_auth_users:\n  alice: not-a-hash\n");
    assert!(
        e.contains("basic_auth_users.alice: not a bcrypt hash"),
        "{e}"
    );
    assert!(!e.contains("not-a-hash"), "the hash is a secret: {e}");

    let e = refused(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    assert!(
        e.contains("tls_server_config.client_ca_file: is required"),
        "{e}"
    );
}
