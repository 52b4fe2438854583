//! dsn: a libpq key=value string or a postgres:// URL. tokio-postgres parses it, except for the
//! TLS settings it does not know (verify-ca, verify-full, sslrootcert), which are taken out first.
//! No message built here may quote the dsn: it may hold a password.

use super::*;

#[derive(Default)]
pub(super) struct Dsn {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) user: Option<String>,
    pub(super) password: Option<Password>,
    pub(super) dbname: Option<String>,
    pub(super) sslmode: Option<SslMode>,
    pub(super) sslrootcert: Option<PathBuf>,
    pub(super) connect_timeout: Option<Duration>,
}

/// Options whose values make it into [`NodeConfig`]; anything else would be silently ignored,
/// so it is refused.
pub(super) const DSN_OPTIONS: [&str; 8] = [
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
];

/// libpq option names, which may be named in an error; any other "key" might be a piece of a
/// badly quoted password.
pub(super) const LIBPQ_OPTIONS: [&str; 41] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

pub(super) const MALFORMED_DSN: &str = "cannot parse dsn: malformed (expected key=value pairs separated by spaces, values with spaces in single quotes, or a postgresql:// url)";

pub(super) fn parse_dsn(s: &str) -> Result<Dsn, String> {
    let is_url = s.starts_with("postgres://") || s.starts_with("postgresql://");
    let (rest, params) = if is_url {
        split_url_params(s)?
    } else {
        split_kv_params(s)?
    };
    let mut dsn = Dsn::default();
    for (k, v) in params {
        if !DSN_OPTIONS.contains(&k.as_str()) {
            return Err(if LIBPQ_OPTIONS.contains(&k.as_str()) {
                format!(
                    "option `{k}` is not supported in a dsn (supported: {})",
                    DSN_OPTIONS.join(", ")
                )
            } else {
                format!(
                    "cannot parse dsn: unknown option (supported: {})",
                    DSN_OPTIONS.join(", ")
                )
            });
        }
        match k.as_str() {
            "sslmode" => dsn.sslmode = Some(v.parse::<SslMode>()?),
            "sslrootcert" => dsn.sslrootcert = Some(PathBuf::from(v)),
            _ => {}
        }
    }
    let parsed = tokio_postgres::Config::from_str(&rest).map_err(|e| {
        let cause = std::error::Error::source(&e).map_or_else(|| e.to_string(), |c| c.to_string());
        // tokio-postgres quotes the unexpected character, which could belong to a password.
        let cause = match cause.find(": expected") {
            Some(i) => cause[..i].to_owned(),
            None => cause,
        };
        format!("cannot parse dsn: {cause}")
    })?;
    dsn.host = match parsed.get_hosts() {
        [] => None,
        [tokio_postgres::config::Host::Tcp(h)] => Some(h.clone()),
        #[cfg(unix)]
        [tokio_postgres::config::Host::Unix(p)] => Some(p.to_string_lossy().into_owned()),
        hosts => {
            return Err(format!(
                "dsn names {} hosts; configure one node per host",
                hosts.len()
            ));
        }
    };
    dsn.port = match parsed.get_ports() {
        [] => None,
        [0] => return Err("dsn port 0 is out of range 1-65535".to_owned()),
        [p] => Some(*p),
        ports => {
            return Err(format!(
                "dsn names {} ports; configure one node per host",
                ports.len()
            ));
        }
    };
    dsn.user = parsed.get_user().map(str::to_owned);
    dsn.dbname = parsed.get_dbname().map(str::to_owned);
    dsn.password = match parsed.get_password() {
        None => None,
        Some(bytes) => Some(Password::new(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| "dsn password is not valid utf-8".to_owned())?,
        )),
    };
    dsn.connect_timeout = parsed.get_connect_timeout().copied();
    if dsn.connect_timeout.is_some_and(|d| d.is_zero()) {
        // libpq reads 0 as "wait forever"; a poller must never do that.
        return Err("dsn connect_timeout must be greater than zero".to_owned());
    }
    Ok(dsn)
}

/// Splits a key=value dsn into (the part for tokio-postgres, every (key, unescaped value)).
pub(super) fn split_kv_params(s: &str) -> Result<(String, Vec<(String, String)>), String> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(s.len(), |&(b, _)| b);
    let mut i = 0;
    let mut kept = Vec::new();
    let mut params = Vec::new();
    loop {
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if i == chars.len() {
            break;
        }
        let start = at(i);
        let mut key = String::new();
        while i < chars.len() && !chars[i].1.is_whitespace() && chars[i].1 != '=' {
            key.push(chars[i].1);
            i += 1;
        }
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if key.is_empty() || i == chars.len() || chars[i].1 != '=' {
            return Err(MALFORMED_DSN.to_owned());
        }
        i += 1;
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && chars[i].1 == '\'' {
            i += 1;
            loop {
                match chars.get(i).map(|c| c.1) {
                    None => return Err(MALFORMED_DSN.to_owned()),
                    Some('\\') => {
                        value.push(chars.get(i + 1).ok_or(MALFORMED_DSN)?.1);
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < chars.len() && !chars[i].1.is_whitespace() {
                if chars[i].1 == '\\' {
                    i += 1;
                }
                value.push(chars.get(i).ok_or(MALFORMED_DSN)?.1);
                i += 1;
            }
        }
        if key != "sslmode" && key != "sslrootcert" {
            kept.push(&s[start..at(i)]);
        }
        params.push((key, value));
    }
    Ok((kept.join(" "), params))
}

/// Splits a postgres:// URL into (the URL without sslmode/sslrootcert, every query parameter).
pub(super) fn split_url_params(s: &str) -> Result<(String, Vec<(String, String)>), String> {
    let Some((base, query)) = s.split_once('?') else {
        return Ok((s.to_owned(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        if k != "sslmode" && k != "sslrootcert" {
            kept.push(pair);
        }
        params.push((k, v));
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, params))
}

pub(super) fn percent_decode(s: &str) -> Result<String, String> {
    let bad = || "cannot parse dsn: invalid percent-encoding".to_owned();
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}
