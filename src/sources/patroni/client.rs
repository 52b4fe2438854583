//! The HTTP side of the Patroni source: an async client of one cluster's REST API (`GET
//! /patroni`, `/cluster`, `/history`, `/config` of any member), with basic auth, HTTPS verified
//! against a CA file, a client certificate for `restapi.verify_client`, and one timeout for the
//! whole request. It fetches and hands the bytes to [`super::api`]; it keeps no state.
//!
//! Secrets: the password lives in [`Secret`], whose `Debug` and `Display` print `<redacted>`; it
//! is sent only in the `Authorization` header (marked sensitive), never put into a URL, and no
//! error message carries it. URLs that carry credentials are refused.
//!
//! HTTPS needs `cafile`: no system trust store is bundled (Patroni's certificates are almost
//! always from a private CA). Proxies from the environment are not used: the REST API is on
//! the members' own addresses.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::api::{self, ClusterStatus, DynamicConfig, History, ParseError, PatroniStatus};

/// Patroni's replies are a few KiB; a member answering more is not Patroni.
const MAX_BODY: usize = 4 << 20;

/// A password that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The first line of a password file (as libpq and Patroni's tools read them).
    pub fn from_file(path: &Path) -> Result<Secret, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| ClientError::File {
            what: "password_file",
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let line = text.lines().next().unwrap_or_default();
        Ok(Secret(line.trim_end_matches('\r').to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to talk to a cluster's REST API (`[cluster.patroni]` minus the polling keys).
#[derive(Clone, Debug)]
pub struct ClientSettings {
    pub timeout: Duration,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub cafile: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    /// Defaults to `certfile` (a PEM holding both, as Patroni's own `certfile` may).
    pub keyfile: Option<PathBuf>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            timeout: Duration::from_secs(2),
            username: None,
            password: None,
            cafile: None,
            certfile: None,
            keyfile: None,
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {what} {path:?}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{what} {path:?} holds no usable {expected}")]
    Empty {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("a password needs a username")]
    PasswordWithoutUser,
    #[error("cannot build the TLS configuration: {0}")]
    Tls(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// A member's REST API root, e.g. `http://10.0.0.11:8008`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiBase(Url);

impl fmt::Debug for ApiBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiBase({})", self)
    }
}

impl fmt::Display for ApiBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

/// A URL that cannot be a REST API root.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?} is not a URL: {1}")]
    Invalid(String, String),
    #[error("{0}: only http and https are supported")]
    Scheme(String),
    #[error("{0}: the URL must not carry credentials (use username and password_file)")]
    Credentials(String),
}

impl ApiBase {
    /// A configured URL or a member's `api_url` from `/cluster` (which ends in `/patroni`):
    /// scheme, host and port are kept; path, query and fragment dropped.
    pub fn parse(s: &str) -> Result<ApiBase, UrlError> {
        let mut url = Url::parse(s.trim()).map_err(|e| {
            // Never echo a password: show the input only when it has no '@'.
            let shown = if s.contains('@') { "(url)" } else { s };
            UrlError::Invalid(shown.to_string(), e.to_string())
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(UrlError::Scheme(url.scheme().to_string()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            return Err(UrlError::Credentials(url.origin().ascii_serialization()));
        }
        if url.host().is_none() {
            return Err(UrlError::Invalid(s.to_string(), "no host".into()));
        }
        url.set_path("/");
        url.set_query(None);
        url.set_fragment(None);
        Ok(ApiBase(url))
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    fn join(&self, path: &str) -> Url {
        let mut u = self.0.clone();
        u.set_path(path);
        u
    }
}

/// A failed fetch, naming the URL (never credentials).
#[derive(Debug, thiserror::Error)]
#[error("GET {url}: {kind}")]
pub struct FetchError {
    pub url: String,
    pub kind: FetchErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchErrorKind {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the reply is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("https needs cafile (no system trust store is used)")]
    HttpsWithoutCa,
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// The client of one cluster's members.
#[derive(Clone)]
pub struct PatroniClient {
    http: reqwest::Client,
    auth: Option<(String, Secret)>,
    timeout: Duration,
    has_ca: bool,
}

impl fmt::Debug for PatroniClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatroniClient")
            .field("user", &self.auth.as_ref().map(|(u, _)| u))
            .field("password", &self.auth.as_ref().map(|(_, p)| p))
            .field("timeout", &self.timeout)
            .field("has_ca", &self.has_ca)
            .finish()
    }
}

fn read_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let file_err = |e: &dyn fmt::Display| ClientError::File {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(&e))?;
    if certs.is_empty() {
        return Err(ClientError::Empty {
            what,
            path: path.to_path_buf(),
            expected: "PEM certificate",
        });
    }
    Ok(certs)
}

fn tls_config(s: &ClientSettings) -> Result<ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    if let Some(ca) = &s.cafile {
        let (added, _) = roots.add_parsable_certificates(read_certs("cafile", ca)?);
        if added == 0 {
            return Err(ClientError::Empty {
                what: "cafile",
                path: ca.clone(),
                expected: "CA certificate",
            });
        }
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match (&s.certfile, &s.keyfile) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (None, Some(k)) => Err(ClientError::Tls(format!("keyfile {k:?} without certfile"))),
        (Some(cert), key) => {
            let chain = read_certs("certfile", cert)?;
            let key_path = key.as_ref().unwrap_or(cert);
            let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| ClientError::File {
                what: "keyfile",
                path: key_path.clone(),
                reason: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ClientError::Tls(format!("client certificate: {e}")))
        }
    }
}

/// The error chain below reqwest's own message (which repeats the URL): "tcp connect error:
/// Connection refused (os error 111)".
fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.join(": ")
}

impl PatroniClient {
    pub fn new(s: &ClientSettings) -> Result<PatroniClient, ClientError> {
        let auth = match (&s.username, &s.password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_else(|| Secret::new("")))),
            (None, Some(_)) => return Err(ClientError::PasswordWithoutUser),
            (None, None) => None,
        };
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(s)?)
            .timeout(s.timeout)
            .connect_timeout(s.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!(
                "pg_replication_exporter/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| ClientError::Http(describe(&e)))?;
        Ok(PatroniClient {
            http,
            auth,
            timeout: s.timeout,
            has_ca: s.cafile.is_some(),
        })
    }

    /// GET a path: (status, body). Any status is returned; transport failures are errors.
    pub async fn get_raw(&self, base: &ApiBase, path: &str) -> Result<(u16, Vec<u8>), FetchError> {
        let url = base.join(path);
        let err = |kind| FetchError {
            url: url.to_string(),
            kind,
        };
        if base.is_https() && !self.has_ca {
            return Err(err(FetchErrorKind::HttpsWithoutCa));
        }
        let mut req = self.http.get(url.clone());
        if let Some((user, password)) = &self.auth {
            req = req.basic_auth(user, Some(password.expose()));
        }
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                FetchErrorKind::Timeout(self.timeout)
            } else {
                FetchErrorKind::Transport(describe(&e))
            }
        };
        let mut resp = req.send().await.map_err(|e| err(classify(e)))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| err(classify(e)))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(err(FetchErrorKind::TooLarge));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    async fn get_ok(&self, base: &ApiBase, path: &str) -> Result<Vec<u8>, FetchError> {
        let (status, body) = self.get_raw(base, path).await?;
        if status != 200 {
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(FetchError {
                url: base.join(path).to_string(),
                kind: FetchErrorKind::Status { status, body: text },
            });
        }
        Ok(body)
    }

    fn parsed<T>(base: &ApiBase, path: &str, r: Result<T, ParseError>) -> Result<T, FetchError> {
        r.map_err(|e| FetchError {
            url: base.join(path).to_string(),
            kind: FetchErrorKind::Parse(e),
        })
    }

    /// POST a JSON body (`/switchover`, `/failover`, for `drill`): (status, body text). Any
    /// status is returned; transport failures are errors naming the URL, never credentials.
    pub async fn post_json(
        &self,
        base: &ApiBase,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String), String> {
        let url = base.join(path);
        if base.is_https() && !self.has_ca {
            return Err(format!("POST {url}: {}", FetchErrorKind::HttpsWithoutCa));
        }
        let mut req = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some((user, password)) = &self.auth {
            req = req.basic_auth(user, Some(password.expose()));
        }
        let describe_err = |e: reqwest::Error| {
            if e.is_timeout() {
                format!("POST {url}: timed out after {:?}", self.timeout)
            } else {
                format!("POST {url}: {}", describe(&e))
            }
        };
        let resp = req.send().await.map_err(describe_err)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(describe_err)?;
        let text: String = String::from_utf8_lossy(&bytes).chars().take(500).collect();
        Ok((status, text.trim().to_owned()))
    }

    /// `GET /patroni` with its status: Patroni answers 503 with the same JSON when PostgreSQL
    /// is not running, so any status with a JSON body is a reply.
    pub async fn patroni(&self, base: &ApiBase) -> Result<(u16, PatroniStatus), FetchError> {
        let (status, body) = self.get_raw(base, "/patroni").await?;
        let parsed = Self::parsed(base, "/patroni", api::parse_patroni(&body))?;
        Ok((status, parsed))
    }

    pub async fn cluster(&self, base: &ApiBase) -> Result<ClusterStatus, FetchError> {
        let body = self.get_ok(base, "/cluster").await?;
        Self::parsed(base, "/cluster", api::parse_cluster(&body))
    }

    pub async fn history(&self, base: &ApiBase) -> Result<History, FetchError> {
        let body = self.get_ok(base, "/history").await?;
        Self::parsed(base, "/history", api::parse_history(&body))
    }

    pub async fn config(&self, base: &ApiBase) -> Result<DynamicConfig, FetchError> {
        let body = self.get_ok(base, "/config").await?;
        Self::parsed(base, "/config", api::parse_config(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_keeps_the_origin_only() {
        let b = ApiBase::parse("http://127.0.0.1:40495/patroni").unwrap();
        assert_eq!(b.to_string(), "http://127.0.0.1:40495");
        assert_eq!(
            b.join("/cluster").as_str(),
            "http://127.0.0.1:40495/cluster"
        );
        let b = ApiBase::parse(" https://db1.example:8008/?x=1#y ").unwrap();
        assert!(b.is_https());
        assert_eq!(b.to_string(), "https://db1.example:8008");
        assert!(matches!(
            ApiBase::parse("ftp://x"),
            Err(UrlError::Scheme(s)) if s == "ftp"
        ));
        assert!(ApiBase::parse("not a url").is_err());
    }

    #[test]
    fn urls_with_credentials_are_refused_without_echoing_them() {
        let e = ApiBase::parse("http://admin:hunter2@10.0.0.1:8008/")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && !e.contains("admin"), "{e}");
        assert!(e.contains("http://10.0.0.1:8008"), "{e}");
        let e = ApiBase::parse("http://admin:hunter2@[bad/")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn the_password_never_prints() {
        let s = ClientSettings {
            username: Some("patroni".into()),
            password: Some(Secret::new("hunter2")),
            ..ClientSettings::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        let c = PatroniClient::new(&s).unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert_eq!(Secret::new("x").to_string(), "<redacted>");
    }

    #[test]
    fn password_file_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\r\nsecond line\n").unwrap();
        assert_eq!(Secret::from_file(&p).unwrap().expose(), "s3cret");
        let e = Secret::from_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read password_file "), "{e}");
    }

    #[test]
    fn settings_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = PatroniClient::new(&ClientSettings {
            cafile: Some(empty.clone()),
            ..ClientSettings::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("cafile") && e.contains("empty.pem"), "{e}");
        let e = PatroniClient::new(&ClientSettings {
            cafile: Some(dir.path().join("nope.pem")),
            ..ClientSettings::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("cannot read cafile"), "{e}");
        let e = PatroniClient::new(&ClientSettings {
            password: Some(Secret::new("x")),
            ..ClientSettings::default()
        })
        .unwrap_err();
        assert!(matches!(e, ClientError::PasswordWithoutUser));
    }

    #[tokio::test]
    async fn https_without_a_ca_is_refused_before_connecting() {
        let c = PatroniClient::new(&ClientSettings::default()).unwrap();
        let base = ApiBase::parse("https://127.0.0.1:1").unwrap();
        let e = c.cluster(&base).await.unwrap_err();
        assert!(matches!(e.kind, FetchErrorKind::HttpsWithoutCa), "{e}");
        assert_eq!(
            e.to_string(),
            "GET https://127.0.0.1:1/cluster: https needs cafile (no system trust store is used)"
        );
    }

    #[tokio::test]
    async fn connection_refused_names_the_url() {
        // A port just freed: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = PatroniClient::new(&ClientSettings::default()).unwrap();
        let base = ApiBase::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let e = c.patroni(&base).await.unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("GET http://127.0.0.1:{port}/patroni: ")),
            "{e}"
        );
        assert!(e.to_lowercase().contains("refused"), "{e}");
    }
}
