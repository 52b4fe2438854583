//! End-to-end tests of `--web.config.file`: the real binary serving HTTPS (and mutual TLS) and
//! basic auth, and refusing bad web configurations with exit status 2. The one configured node
//! points at a closed local port, so no PostgreSQL is needed: it is simply down.
//!
//! The certificates come from rcgen, the hash from bcrypt; the client is a small blocking
//! HTTP/1.1 client over rustls, so every TLS decision (which CA, which client certificate) is
//! made explicitly here.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

const BIN: &str = env!("CARGO_BIN_EXE_pg_replication_exporter");
const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

/// A port the OS just handed out and nobody listens on any more.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, all signed by
/// the CA, and a second, unrelated CA.
struct Pki {
    ca: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, sans[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki(dir: &Path) -> Pki {
    let ca1 = ca("test CA");
    let ca2 = ca("some other CA");
    let (server_cert, server_key) = leaf(
        &ca1,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(&ca1, &["scraper"], ExtendedKeyUsagePurpose::ClientAuth);
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

/// The exporter's TOML: listen on `port`, one node on a closed port, `web_yml` as web config.
fn write_config(dir: &Path, port: u16, web_yml: &str) -> PathBuf {
    let web = dir.join("web.yml");
    std::fs::write(&web, web_yml).unwrap();
    let toml = dir.join("config.toml");
    std::fs::write(
        &toml,
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
            web = web.display().to_string(),
            closed = free_port(),
        ),
    )
    .unwrap();
    toml
}

/// The running binary; killed on drop if a test failed before stopping it.
struct Exporter {
    child: Child,
    port: u16,
}

impl Exporter {
    fn start(dir: &Path, web_yml: &str) -> Exporter {
        let port = free_port();
        let config = write_config(dir, port, web_yml);
        let mut child = Command::new(BIN)
            .arg("--config.file")
            .arg(&config)
            .arg("--log.level")
            .arg("warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("exporter exited with {status} before listening: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "exporter did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Exporter { child, port }
    }

    /// SIGTERM, then the exit status; graceful shutdown must end the process promptly.
    fn terminate(mut self) -> ExitStatus {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 10s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
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

/// One `GET path` with `Connection: close`; any transport or TLS failure is an `Err`.
fn get(
    port: u16,
    transport: &Transport,
    path: &str,
    credentials: Option<(&str, &str)>,
) -> Result<Response, String> {
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut raw = Vec::new();
    match transport {
        Transport::Plain => {
            let mut tcp = tcp;
            tcp.write_all(request.as_bytes())
                .map_err(|e| e.to_string())?;
            tcp.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        }
        Transport::Tls { ca, client } => {
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let conn = ClientConnection::new(client_config(ca, *client), name)
                .map_err(|e| e.to_string())?;
            let mut tls = StreamOwned::new(conn, tcp);
            tls.write_all(request.as_bytes())
                .map_err(|e| format!("tls write: {e}"))?;
            match tls.read_to_end(&mut raw) {
                Ok(_) => {}
                // A peer that closes without close_notify after a complete response is fine.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
                Err(e) => return Err(format!("tls read: {e}")),
            }
        }
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Result<Response, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not an http response: {text:?}"))?;
    let status = head
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an http status line: {head:?}"))?;
    let mut response = Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(body)?;
    }
    Ok(response)
}

fn dechunk(mut body: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").ok_or("truncated chunked body")?;
        let size = usize::from_str_radix(size.trim(), 16).map_err(|e| e.to_string())?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).ok_or("truncated chunk")?);
        body = rest.get(size + 2..).ok_or("truncated chunk")?;
    }
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
    let exporter = Exporter::start(dir.path(), &web);
    let port = exporter.port;
    let tls = Transport::Tls {
        ca: &pki.ca,
        client: None,
    };

    let r = get(port, &tls, "/metrics", None).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"pg_replication_exporter\"")
    );
    assert!(!r.body.contains("pg_replication_up"));
    let r = get(port, &tls, "/metrics", Some((USER, "wrong password"))).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    let r = get(port, &tls, "/metrics", Some(("nobody", PASSWORD))).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    for path in ["/", "/ready", "/no-such-page"] {
        let r = get(port, &tls, path, None).unwrap();
        assert_eq!(r.status, 401, "{path}: {r:?}");
    }
    // Liveness probes carry no credentials.
    let r = get(port, &tls, "/healthz", None).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));

    let t0 = Instant::now();
    let first = get(port, &tls, "/metrics", Some((USER, PASSWORD))).unwrap();
    let first_took = t0.elapsed();
    let t1 = Instant::now();
    let second = get(port, &tls, "/metrics", Some((USER, PASSWORD))).unwrap();
    let second_took = t1.elapsed();
    println!("first authenticated scrape {first_took:?}, second (cached) {second_took:?}");
    for r in [&first, &second] {
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.body
                .contains("pg_replication_up{cluster=\"pg\",node=\"node_a\"}"),
            "{}",
            r.body
        );
    }

    let wrong_ca = Transport::Tls {
        ca: &pki.other_ca,
        client: None,
    };
    let e = get(port, &wrong_ca, "/metrics", Some((USER, PASSWORD))).unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");

    let r = get(port, &Transport::Plain, "/metrics", Some((USER, PASSWORD))).unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("HTTP request to an HTTPS server"), "{r:?}");

    let status = exporter.terminate();
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[test]
fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS13\n";
    let exporter = Exporter::start(dir.path(), web);
    let with_cert = Transport::Tls {
        ca: &pki.ca,
        client: Some((&pki.client_cert, &pki.client_key)),
    };
    let r = get(exporter.port, &with_cert, "/metrics", None).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("pg_replication_up"));

    let without = Transport::Tls {
        ca: &pki.ca,
        client: None,
    };
    let e = get(exporter.port, &without, "/metrics", None).unwrap_err();
    assert!(e.contains("CertificateRequired"), "{e}");
    assert!(exporter.terminate().success());
}

#[test]
fn basic_auth_alone_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let web = format!("basic_auth_users:\n  {USER}: '{}'\n", hash(PASSWORD));
    let exporter = Exporter::start(dir.path(), &web);
    let r = get(exporter.port, &Transport::Plain, "/metrics", None).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    let r = get(
        exporter.port,
        &Transport::Plain,
        "/metrics",
        Some((USER, PASSWORD)),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("pg_replication_up"));
}

/// Runs the exporter on a configuration that must be refused; returns its stderr.
fn refused(web_yml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let config = write_config(dir.path(), free_port(), web_yml);
    let out = Command::new(BIN)
        .arg("--config.file")
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
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
