//! The web configuration file (`--web.config.file`, `web.config_file`) in the Prometheus
//! exporter-toolkit format: HTTPS with rustls (optionally mutual TLS) and HTTP basic auth with
//! bcrypt hashes. This module owns parsing and validating that YAML file into a [`WebConfig`],
//! the [`TlsListener`] that serves HTTPS to axum, and the [`BasicAuth`] check and middleware.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths are relative to this file's directory
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional, needs client_ca_file
//!   client_ca_file: ca.crt
//!   min_version: TLS12             # TLS12 (default) or TLS13; max_version likewise
//! basic_auth_users:
//!   alice: $2y$10$...              # bcrypt hash
//! ```
//!
//! The file is read once at startup; every problem is a [`WebConfigError`] naming the key and the
//! file. Basic auth protects every route except `/healthz`, which liveness probes must reach
//! without credentials and which reveals nothing but "ok". Hashes are secrets: they never appear
//! in `Debug` output, errors or logs, and neither do passwords or the `Authorization` header.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::Deserialize;

use super::auth::BasicAuth;

/// The validated web configuration. `Default` is plain HTTP without authentication.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// HTTPS when set.
    pub(crate) tls: Option<TlsSettings>,
    /// Basic auth when set (at least one user).
    pub(crate) basic_auth: Option<Arc<BasicAuth>>,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls)
            .field("basic_auth", &self.basic_auth)
            .finish()
    }
}

/// `tls_server_config`, checked and turned into a rustls server configuration.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_auth: ClientAuth,
    pub client_ca_file: Option<PathBuf>,
    pub server_config: Arc<ServerConfig>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_auth", &self.client_auth)
            .field("client_ca_file", &self.client_ca_file)
            .finish_non_exhaustive()
    }
}

/// `client_auth_type`. The toolkit's RequestClientCert and RequireAnyClientCert accept
/// certificates nobody checks; they are refused rather than given a false sense of security.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// Why the web configuration was rejected. Displays as one line:
/// `invalid web configuration: <key>: <problem> (in <file>)`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid web configuration: {}", self.detail())]
pub struct WebConfigError {
    key: Option<String>,
    problem: String,
    file: String,
}

impl WebConfigError {
    fn new(key: Option<&str>, problem: impl Into<String>, file: &Path) -> Self {
        let problem = crate::core::text::one_line(&problem.into());
        WebConfigError {
            key: key.map(str::to_owned),
            problem,
            file: file.display().to_string(),
        }
    }

    /// The offending key, like `tls_server_config.cert_file`, when there is one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    fn detail(&self) -> String {
        match &self.key {
            Some(key) => format!("{key}: {} (in {})", self.problem, self.file),
            None => format!("{} (in {})", self.problem, self.file),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    // Known to the toolkit but not offered here: rustls picks safe suites and groups itself.
    cipher_suites: Option<serde::de::IgnoredAny>,
    curve_preferences: Option<serde::de::IgnoredAny>,
    prefer_server_cipher_suites: Option<serde::de::IgnoredAny>,
}

/// Reads and validates the file at `path`: certificate, key and CA files readable and usable,
/// every hash a bcrypt hash, no unknown keys.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        WebConfigError::new(
            None,
            format!(
                "cannot read web configuration file {:?}: {}",
                path.display().to_string(),
                io_message(&e)
            ),
            path,
        )
    })?;
    // An empty file (or only comments) is valid, as in the toolkit: plain HTTP, no auth.
    let raw: Option<RawWebConfig> = parse_yaml(&text, path)?;
    let Some(raw) = raw else {
        return Ok(WebConfig::default());
    };
    let base = path.parent().unwrap_or(Path::new(""));
    let tls = raw
        .tls_server_config
        .map(|t| resolve_tls(t, base, path))
        .transpose()?;
    let basic_auth = match raw.basic_auth_users {
        Some(users) if !users.is_empty() => Some(Arc::new(resolve_users(users, path)?)),
        _ => None,
    };
    Ok(WebConfig { tls, basic_auth })
}

/// `load` for an optional path: no file means plain HTTP without authentication.
pub fn load_optional(path: Option<&Path>) -> Result<WebConfig, WebConfigError> {
    path.map(load).transpose().map(Option::unwrap_or_default)
}

/// The YAML, strictly: serde-saphyr (a maintained, pure-Rust parser) behind
/// serde_path_to_error, so that a problem names its key path (`tls_server_config.cert_fle`)
/// and where it is. The parser's source snippet is never shown: the file holds hashes.
fn parse_yaml(text: &str, file: &Path) -> Result<Option<RawWebConfig>, WebConfigError> {
    let mut path = String::new();
    serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    })
    .map_err(|e| yaml_error(&e, &path, file))
}

/// `e` at key path `path` ("." when at the top) as a [`WebConfigError`]. serde-saphyr's message
/// reads `line 2 column 3: unknown field `x`, expected one of …`: the position is kept, the list
/// of known keys dropped (the README lists them).
fn yaml_error(e: &serde_saphyr::Error, path: &str, file: &Path) -> WebConfigError {
    let text = e.without_snippet().to_string();
    let text = crate::core::text::one_line(&text);
    let (at, rest) = match e.location() {
        Some(l) => {
            let at = format!(" at line {} column {}", l.line(), l.column());
            let prefix = format!("line {} column {}: ", l.line(), l.column());
            let rest = text.strip_prefix(&prefix).unwrap_or(&text).to_owned();
            (at, rest)
        }
        None => (String::new(), text),
    };
    let path = Some(path).filter(|p| !p.is_empty() && *p != ".");
    if let Some((field, _)) = rest
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
    {
        // serde_path_to_error's path already ends at the unknown key.
        let key = match path {
            Some(p) if p == field || p.ends_with(&format!(".{field}")) => p.to_owned(),
            Some(p) => format!("{p}.{field}"),
            None => field.to_owned(),
        };
        return WebConfigError::new(Some(&key), format!("unknown key{at}"), file);
    }
    WebConfigError::new(
        path,
        format!(
            "{rest}{}",
            if rest.contains(" at line ") { "" } else { &at }
        ),
        file,
    )
}

fn resolve_tls(raw: RawTls, base: &Path, file: &Path) -> Result<TlsSettings, WebConfigError> {
    let err = |key: &str, problem: String| {
        WebConfigError::new(Some(&format!("tls_server_config.{key}")), problem, file)
    };
    for (key, set) in [
        ("cipher_suites", raw.cipher_suites.is_some()),
        ("curve_preferences", raw.curve_preferences.is_some()),
        (
            "prefer_server_cipher_suites",
            raw.prefer_server_cipher_suites.is_some(),
        ),
    ] {
        if set {
            return Err(err(
                key,
                "is not supported: rustls chooses secure cipher suites and curves itself; remove it"
                    .to_owned(),
            ));
        }
    }
    let required = |v: Option<PathBuf>, key: &str| match v {
        Some(p) if !p.as_os_str().is_empty() => Ok(base.join(p)),
        _ => Err(err(
            key,
            "is required when tls_server_config is set".to_owned(),
        )),
    };
    let cert_file = required(raw.cert_file, "cert_file")?;
    let key_file = required(raw.key_file, "key_file")?;

    let cert_pem = read(&cert_file).map_err(|p| err("cert_file", p))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err("cert_file", format!("{}: {e}", quoted(&cert_file))))?;
    if certs.is_empty() {
        return Err(err(
            "cert_file",
            format!("{} holds no PEM certificate", quoted(&cert_file)),
        ));
    }
    let key_pem = read(&key_file).map_err(|p| err("key_file", p))?;
    // The parser's message could quote key material; say only what kind of failure it was.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        err(
            "key_file",
            format!(
                "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                quoted(&key_file)
            ),
        )
    })?;

    let client_auth = match raw.client_auth_type.as_deref() {
        None | Some("") | Some("NoClientCert") => ClientAuth::NoClientCert,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyClientCertIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerifyClientCert,
        Some(other @ ("RequestClientCert" | "RequireAnyClientCert")) => {
            return Err(err(
                "client_auth_type",
                format!(
                    "{other:?} is not supported (it accepts unverified certificates); use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file"
                ),
            ));
        }
        Some(other) => {
            return Err(err(
                "client_auth_type",
                format!(
                    "unknown value {other:?}: expected NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                ),
            ));
        }
    };
    let client_ca_file = raw
        .client_ca_file
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| base.join(p));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match (&client_ca_file, client_auth) {
        (None, ClientAuth::NoClientCert) => None,
        (Some(_), ClientAuth::NoClientCert) => {
            return Err(err(
                "client_ca_file",
                "is set but client_auth_type is not: set client_auth_type to RequireAndVerifyClientCert or VerifyClientCertIfGiven".to_owned(),
            ));
        }
        (None, _) => {
            return Err(err(
                "client_ca_file",
                format!("is required by client_auth_type {client_auth:?}"),
            ));
        }
        (Some(ca), _) => Some(load_roots(ca).map_err(|p| err("client_ca_file", p))?),
    };

    let min = protocol_version(raw.min_version.as_deref(), &rustls::version::TLS12)
        .map_err(|p| err("min_version", p))?;
    let max = protocol_version(raw.max_version.as_deref(), &rustls::version::TLS13)
        .map_err(|p| err("max_version", p))?;
    let versions: Vec<&'static SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| rank(v) >= rank(min) && rank(v) <= rank(max))
            .collect();
    if versions.is_empty() {
        return Err(err("max_version", "is lower than min_version".to_owned()));
    }

    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err("min_version", e.to_string()))?;
    let builder = match roots {
        None => builder.with_no_client_auth(),
        Some(roots) => {
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if client_auth == ClientAuth::VerifyClientCertIfGiven {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| err("client_ca_file", e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server_config = builder.with_single_cert(certs, key).map_err(|e| {
        err(
            "key_file",
            format!(
                "{} does not fit {}: {e}",
                quoted(&key_file),
                quoted(&cert_file)
            ),
        )
    })?;
    // axum serves HTTP/1.1 only (its http2 feature is off); say so, so clients don't try h2.
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsSettings {
        cert_file,
        key_file,
        client_auth,
        client_ca_file,
        server_config: Arc::new(server_config),
    })
}

fn protocol_version(
    v: Option<&str>,
    default: &'static SupportedProtocolVersion,
) -> Result<&'static SupportedProtocolVersion, String> {
    match v {
        None | Some("") => Ok(default),
        Some("TLS12") => Ok(&rustls::version::TLS12),
        Some("TLS13") => Ok(&rustls::version::TLS13),
        Some(old @ ("TLS10" | "TLS11")) => Err(format!(
            "{old:?} is not supported: TLS 1.0 and 1.1 are obsolete; use TLS12 or TLS13"
        )),
        Some(other) => Err(format!("unknown value {other:?}: expected TLS12 or TLS13")),
    }
}

fn rank(v: &SupportedProtocolVersion) -> u16 {
    u16::from(v.version)
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let pem = read(path)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{}: {e}", quoted(path)))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", quoted(path)))?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no PEM certificate", quoted(path)));
    }
    Ok(roots)
}

fn resolve_users(
    users: BTreeMap<String, String>,
    file: &Path,
) -> Result<BasicAuth, WebConfigError> {
    for (user, hash) in &users {
        let key = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            return Err(WebConfigError::new(
                Some(&key),
                "a user name must be non-empty and must not contain ':'",
                file,
            ));
        }
        // Never echo the hash: it is as good as a password against offline guessing.
        let parts: bcrypt::HashParts = hash.parse().map_err(|_| {
            WebConfigError::new(
                Some(&key),
                "not a bcrypt hash (expected 60 characters like $2y$10$…; create one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)",
                file,
            )
        })?;
        let cost = parts.get_cost();
        if !(4..=31).contains(&cost) {
            return Err(WebConfigError::new(
                Some(&key),
                format!("bcrypt cost {cost} is outside 4..=31"),
                file,
            ));
        }
    }
    Ok(BasicAuth::new(users.into_iter().collect()))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {}", quoted(path), io_message(&e)))
}

fn quoted(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// "No such file or directory" without the "(os error 2)" suffix.
fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    // The cheapest cost bcrypt allows, to keep the unit tests fast.
    fn hash(password: &str) -> String {
        bcrypt::hash(password, 4).unwrap()
    }

    #[test]
    fn debug_hides_the_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let h = hash("secret");
        let p = write(
            dir.path(),
            "web.yml",
            &format!("basic_auth_users:\n  alice: '{h}'\n"),
        );
        let c = load(&p).unwrap();
        let debug = format!("{c:?}");
        assert!(debug.contains("alice"), "{debug}");
        assert!(!debug.contains(&h), "{debug}");
        assert!(!debug.contains("$2"), "{debug}");
    }

    #[test]
    fn empty_file_is_plain_http() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "web.yml", "# nothing yet\n");
        let c = load(&p).unwrap();
        assert!(c.tls.is_none() && c.basic_auth.is_none());
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "web.yml",
            "tls_server_config:\n  cert_fle: x.crt\n",
        );
        let e = load(&p).unwrap_err();
        assert_eq!(e.key(), Some("tls_server_config.cert_fle"));
        assert_eq!(
            e.to_string(),
            format!(
                "invalid web configuration: tls_server_config.cert_fle: unknown key at line 2 column 3 (in {})",
                p.display()
            )
        );
        let p = write(dir.path(), "top.yml", "basic_auth_user: {}\n");
        assert_eq!(load(&p).unwrap_err().key(), Some("basic_auth_user"));
    }

    #[test]
    fn missing_cert_file_is_resolved_next_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "web.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        );
        let e = load(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid web configuration: tls_server_config.cert_file: cannot read {:?}: No such file or directory (in {})",
                dir.path().join("server.crt").display().to_string(),
                p.display()
            )
        );
    }

    #[test]
    fn bad_hash_is_rejected_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "web.yml",
            "basic_auth_users:\n  bob: plaintext-oops\n",
        );
        let e = load(&p).unwrap_err();
        assert_eq!(e.key(), Some("basic_auth_users.bob"));
        assert!(!e.to_string().contains("plaintext-oops"), "{e}");
        let bad_cost = hash("x").replacen("$04$", "$99$", 1);
        let p = write(
            dir.path(),
            "cost.yml",
            &format!("basic_auth_users:\n  bob: '{bad_cost}'\n"),
        );
        assert!(load(&p).unwrap_err().to_string().contains("bcrypt cost 99"),);
    }
}
