//! HTTP basic auth with bcrypt hashes (the `basic_auth_users` of the web configuration file):
//! the check with its cache of successful verifications, and the axum middleware.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// The realm sent in `WWW-Authenticate`.
pub(crate) const REALM: &str = "pg_replication_exporter";
/// The one route that basic auth leaves open, for liveness probes.
pub(crate) const UNPROTECTED_PATH: &str = "/healthz";
/// Successful verifications remembered per user. A bcrypt hash accepts one password (bar the
/// 72-byte truncation), so a few entries cover a password change on the Prometheus side.
const CACHE_PER_USER: usize = 4;
/// bcrypt runs on the blocking pool; this bounds how much CPU a flood of wrong passwords can take.
const MAX_CONCURRENT_VERIFICATIONS: usize = 2;

/// The configured users and a cache of successful verifications. bcrypt is slow on purpose
/// (~50-100 ms at cost 10); Prometheus sends the same credentials every scrape, so a success is
/// remembered as SHA-256(user, password, hash) — never the password itself.
pub(crate) struct BasicAuth {
    users: HashMap<String, String>,
    /// Per configured user, so the cache is bounded by users × [`CACHE_PER_USER`].
    cache: Mutex<HashMap<String, VecDeque<[u8; 32]>>>,
    verifications: Semaphore,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("BasicAuth")
            .field("users", &names)
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// `users` maps a user name to its bcrypt hash (already checked by [`load`]).
    pub(crate) fn new(users: HashMap<String, String>) -> Self {
        BasicAuth {
            users,
            cache: Mutex::new(HashMap::new()),
            verifications: Semaphore::new(MAX_CONCURRENT_VERIFICATIONS),
        }
    }

    /// Whether an `Authorization` header value carries valid credentials.
    pub(crate) async fn check(self: &Arc<Self>, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let known = self.users.get(&user);
        // An unknown user still costs one bcrypt run, so timing does not tell which users
        // exist; any configured hash will do since the outcome is discarded.
        let Some(hash) = known.or_else(|| self.users.values().next()).cloned() else {
            return false;
        };
        let digest = cache_key(&user, &password, &hash);
        if known.is_some() && self.cached(&user, &digest) {
            return true;
        }
        let Ok(_permit) = self.verifications.acquire().await else {
            return false;
        };
        let verified =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if verified && known.is_some() {
            self.remember(&user, digest);
        }
        verified && known.is_some()
    }

    fn cached(&self, user: &str, digest: &[u8; 32]) -> bool {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(user).is_some_and(|entries| {
            // Compare against every entry without stopping early.
            entries
                .iter()
                .fold(subtle::Choice::from(0), |acc, e| acc | e.ct_eq(digest))
                .into()
        })
    }

    fn remember(&self, user: &str, digest: [u8; 32]) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let entries = cache.entry(user.to_owned()).or_default();
        if entries.iter().any(|e| bool::from(e.ct_eq(&digest))) {
            return;
        }
        if entries.len() >= CACHE_PER_USER {
            entries.pop_front();
        }
        entries.push_back(digest);
    }
}

/// Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
fn cache_key(user: &str, password: &[u8], hash: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [user.as_bytes(), password, hash.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// `Basic base64(user:password)` → (user, password). The scheme is case-insensitive (RFC 7617).
fn parse_basic(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = value.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// axum middleware: every route but [`UNPROTECTED_PATH`] needs valid credentials.
pub(crate) async fn require_basic_auth(
    State(auth): State<Arc<BasicAuth>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == UNPROTECTED_PATH
        || auth
            .check(request.headers().get(header::AUTHORIZATION))
            .await
    {
        return next.run(request).await;
    }
    unauthorized()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, format!("Basic realm=\"{REALM}\""))],
        "401 Unauthorized\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The cheapest cost bcrypt allows, to keep the unit tests fast.
    fn hash(password: &str) -> String {
        bcrypt::hash(password, 4).unwrap()
    }

    fn header(user: &str, password: &str) -> HeaderValue {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {b64}")).unwrap()
    }

    #[tokio::test]
    async fn basic_auth_accepts_only_the_right_password_and_caches_it() {
        let auth = Arc::new(BasicAuth::new(HashMap::from([(
            "alice".to_owned(),
            hash("secret"),
        )])));
        assert!(!auth.check(None).await);
        assert!(!auth.check(Some(&header("alice", "wrong"))).await);
        assert!(!auth.check(Some(&header("mallory", "secret"))).await);
        assert!(
            !auth
                .check(Some(&HeaderValue::from_static("Bearer abc")))
                .await
        );
        assert!(
            auth.cache.lock().unwrap().is_empty(),
            "failures are not cached"
        );
        assert!(auth.check(Some(&header("alice", "secret"))).await);
        assert!(auth.check(Some(&header("alice", "secret"))).await);
        let cache = auth.cache.lock().unwrap();
        assert_eq!(cache["alice"].len(), 1);
        assert_eq!(
            cache["alice"][0],
            cache_key("alice", b"secret", &auth.users["alice"])
        );
    }

    #[test]
    fn cache_is_bounded_per_user() {
        let auth = BasicAuth::new(HashMap::from([("alice".to_owned(), hash("x"))]));
        for i in 0..10u8 {
            auth.remember("alice", [i; 32]);
        }
        let cache = auth.cache.lock().unwrap();
        assert_eq!(cache["alice"].len(), CACHE_PER_USER);
        assert!(!auth_cached(&cache, [0; 32]));
        assert!(auth_cached(&cache, [9; 32]));
    }

    fn auth_cached(cache: &HashMap<String, VecDeque<[u8; 32]>>, d: [u8; 32]) -> bool {
        cache["alice"].contains(&d)
    }

    #[test]
    fn cache_key_separates_fields() {
        assert_ne!(cache_key("ab", b"c", "h"), cache_key("a", b"bc", "h"));
    }
}
