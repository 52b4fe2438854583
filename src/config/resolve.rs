//! Raw → Config.

use super::*;

/// Endpoints the server always serves, which `telemetry_path` must not shadow.
pub(super) const RESERVED_PATHS: [&str; 3] = ["/", "/healthz", "/ready"];

pub(super) fn resolve(raw: RawConfig, cx: &Ctx) -> Result<Config, ConfigError> {
    let web = resolve_web(raw.web, cx)?;
    let poll = resolve_poll(raw.poll, cx)?;
    if raw.cluster.is_empty() {
        return Err(cx.err_missing("cluster", "at least one [[cluster]] table is required"));
    }
    let mut clusters: Vec<ClusterConfig> = Vec::with_capacity(raw.cluster.len());
    for (i, cluster) in raw.cluster.into_iter().enumerate() {
        let resolved = resolve_cluster(cluster, i, &poll, cx)?;
        if clusters.iter().any(|c| c.name == resolved.name) {
            return Err(cx.err(
                &format!("cluster.{i}.name"),
                format!("duplicate cluster name {:?}", resolved.name),
            ));
        }
        clusters.push(resolved);
    }
    let shard = resolve_shard(raw.shard, cx)?;
    Ok(Config {
        web,
        poll,
        clusters,
        shard,
    })
}

pub(super) fn resolve_shard(raw: Option<RawShard>, cx: &Ctx) -> Result<ShardConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(ShardConfig::default());
    };
    let Some(count) = raw.count.map(|c| c.0) else {
        return Err(cx.err_missing(
            "shard.count",
            "is required in [shard] (the number of shards)",
        ));
    };
    if count == 0 {
        return Err(cx.err("shard.count", "must be at least 1"));
    }
    // With several shards a missing index is a mistake (two replicas would both be shard 0),
    // not a default.
    let index = match raw.index {
        Some(i) => i.0,
        None if count == 1 => 0,
        None => {
            return Err(cx.err_missing(
                "shard.index",
                format!(
                    "is required when shard.count is {count} (set it in [shard] or {ENV_PREFIX}SHARD__INDEX)"
                ),
            ));
        }
    };
    if index >= count {
        return Err(cx.err(
            "shard.index",
            format!("{index} must be less than shard.count ({count})"),
        ));
    }
    Ok(ShardConfig { count, index })
}

pub(super) fn resolve_web(raw: RawWeb, cx: &Ctx) -> Result<WebConfig, ConfigError> {
    let listen = raw
        .listen_address
        .as_deref()
        .unwrap_or(DEFAULT_LISTEN_ADDRESS);
    let listen_address = parse_listen_address(listen).map_err(|why| {
        cx.err(
            "web.listen_address",
            format!("invalid listen address {listen:?}: {why}"),
        )
    })?;
    let telemetry_path = raw
        .telemetry_path
        .unwrap_or_else(|| DEFAULT_TELEMETRY_PATH.to_owned());
    if !telemetry_path.starts_with('/') {
        return Err(cx.err(
            "web.telemetry_path",
            format!("{telemetry_path:?} must start with \"/\""),
        ));
    }
    if RESERVED_PATHS.contains(&telemetry_path.as_str()) {
        return Err(cx.err(
            "web.telemetry_path",
            format!("{telemetry_path:?} is a built-in endpoint"),
        ));
    }
    if raw
        .config_file
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(cx.err("web.config_file", "must not be empty"));
    }
    Ok(WebConfig {
        listen_address,
        telemetry_path,
        config_file: raw.config_file,
    })
}

/// ":10187" (all IPv4 interfaces), "127.0.0.1:9999" or "[::1]:9999". Host names are refused:
/// resolving them here would make loading the configuration depend on DNS.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix(':') {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p))
            .map_err(|_| format!("invalid port {port:?}"));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bracketed = s.starts_with('[') && s.ends_with(']');
    if bracketed || s.parse::<IpAddr>().is_ok() {
        return Err("missing port, expected ip:port, [ipv6]:port or :port".to_owned());
    }
    match s.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_err() => Err(format!("invalid port {port:?}")),
        Some((host, port)) => Err(format!(
            "{host:?} is not an ip address (host names are not resolved); use e.g. \"127.0.0.1:{port}\" or \":{port}\""
        )),
        None => Err("expected ip:port, [ipv6]:port or :port".to_owned()),
    }
}

pub(super) fn resolve_poll(raw: RawPoll, cx: &Ctx) -> Result<PollConfig, ConfigError> {
    let get = |v: Option<RawDuration>, default| v.map_or(default, |d| d.0);
    let interval = get(raw.interval, DEFAULT_POLL_INTERVAL);
    let poll = PollConfig {
        interval,
        timeout: get(raw.timeout, DEFAULT_POLL_TIMEOUT),
        lag_history: get(raw.lag_history, DEFAULT_LAG_HISTORY),
        backoff_max: get(raw.backoff_max, DEFAULT_BACKOFF_MAX),
        // At least one round: a longer poll.interval reads everything every round.
        slow_interval: get(raw.slow_interval, DEFAULT_SLOW_INTERVAL.max(interval)),
    };
    let show = |d: Duration| humantime::format_duration(d).to_string();
    for (key, d) in [
        ("poll.interval", poll.interval),
        ("poll.timeout", poll.timeout),
        ("poll.lag_history", poll.lag_history),
        ("poll.backoff_max", poll.backoff_max),
        ("poll.slow_interval", poll.slow_interval),
    ] {
        if d.is_zero() {
            return Err(cx.err(key, "must be greater than zero"));
        }
    }
    if poll.timeout > poll.interval {
        return Err(cx.err(
            "poll.timeout",
            format!(
                "{} must not exceed poll.interval ({})",
                show(poll.timeout),
                show(poll.interval)
            ),
        ));
    }
    for (key, d) in [
        ("poll.lag_history", poll.lag_history),
        ("poll.backoff_max", poll.backoff_max),
        ("poll.slow_interval", poll.slow_interval),
    ] {
        if d < poll.interval {
            return Err(cx.err(
                key,
                format!(
                    "{} must be at least poll.interval ({})",
                    show(d),
                    show(poll.interval)
                ),
            ));
        }
    }
    Ok(poll)
}

/// A resolved setting and the dotted key it was taken from (for error messages).
pub(super) struct Sourced<T> {
    pub(super) value: T,
    pub(super) key: String,
}

/// Connection settings checked once where they are written, before nodes inherit them.
#[derive(Default)]
pub(super) struct Conn {
    pub(super) user: Option<Sourced<String>>,
    pub(super) password_file: Option<Password>,
    pub(super) password_env: Option<Password>,
    pub(super) dbname: Option<Sourced<String>>,
    pub(super) sslmode: Option<Sourced<SslMode>>,
    pub(super) sslrootcert: Option<Sourced<PathBuf>>,
    pub(super) connect_timeout: Option<Duration>,
}

/// The password in environment variable `name`, set by `key`: it must be named, set and not
/// empty.
fn password_from_env(name: &str, key: &str, cx: &Ctx) -> Result<Password, ConfigError> {
    if name.is_empty() {
        return Err(cx.err(key, "must not be empty"));
    }
    match cx.env_var(name) {
        Some(v) if !v.is_empty() => Ok(Password::new(v.to_owned())),
        Some(_) => Err(cx.err(key, format!("environment variable {name} is empty"))),
        None => Err(cx.err(key, format!("environment variable {name} is not set"))),
    }
}

pub(super) fn resolve_conn(raw: RawConn, prefix: &str, cx: &Ctx) -> Result<Conn, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let non_empty = |v: Option<String>, k: &str| -> Result<Option<Sourced<String>>, ConfigError> {
        match v {
            Some(s) if s.trim().is_empty() => Err(cx.err(&key(k), "must not be empty")),
            Some(s) => Ok(Some(Sourced {
                value: s,
                key: key(k),
            })),
            None => Ok(None),
        }
    };
    let password_file = match raw.password_file {
        Some(path) => {
            Some(read_password_file(&path).map_err(|why| cx.err(&key("password_file"), why))?)
        }
        None => None,
    };
    let password_env = match raw.password_env {
        Some(name) => Some(password_from_env(&name, &key("password_env"), cx)?),
        None => None,
    };
    if let Some(path) = &raw.sslrootcert {
        check_readable(path).map_err(|why| cx.err(&key("sslrootcert"), why))?;
    }
    if let Some(d) = raw.connect_timeout
        && d.0.is_zero()
    {
        return Err(cx.err(&key("connect_timeout"), "must be greater than zero"));
    }
    Ok(Conn {
        user: non_empty(raw.user, "user")?,
        password_file,
        password_env,
        dbname: non_empty(raw.dbname, "dbname")?,
        sslmode: raw.sslmode.map(|m| Sourced {
            value: m,
            key: key("sslmode"),
        }),
        sslrootcert: raw.sslrootcert.map(|p| Sourced {
            value: p,
            key: key("sslrootcert"),
        }),
        connect_timeout: raw.connect_timeout.map(|d| d.0),
    })
}

/// The first line of the file, without its line ending.
pub(super) fn read_password_file(path: &Path) -> Result<Password, String> {
    let content = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read {:?}: {}",
            path.display().to_string(),
            io_message(&e)
        )
    })?;
    match content.lines().next() {
        Some(line) if !line.is_empty() => Ok(Password::new(line.to_owned())),
        _ => Err(format!(
            "password file {:?} has an empty first line",
            path.display().to_string()
        )),
    }
}

pub(super) fn check_readable(path: &Path) -> Result<(), String> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {shown:?}: {}", io_message(&e)))?;
    if meta.is_dir() {
        return Err(format!("cannot read {shown:?}: is a directory"));
    }
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| format!("cannot read {shown:?}: {}", io_message(&e)))
}

pub(super) fn resolve_cluster(
    mut raw: RawCluster,
    i: usize,
    poll: &PollConfig,
    cx: &Ctx,
) -> Result<ClusterConfig, ConfigError> {
    let prefix = format!("cluster.{i}");
    if raw.name.trim().is_empty() {
        return Err(cx.err(&format!("{prefix}.name"), "must not be empty"));
    }
    let defaults = resolve_conn(take_conn!(raw), &prefix, cx)?;
    let patroni = match raw.patroni.take() {
        Some(p) => Some(resolve_patroni(p, &format!("{prefix}.patroni"), cx)?),
        None => None,
    };
    let discovers = patroni.as_ref().is_some_and(|p| p.discover);
    if raw.node.is_empty() && !discovers {
        return Err(cx.err_missing(
            &format!("{prefix}.node"),
            format!(
                "cluster {:?} has no nodes; add at least one [[cluster.node]] table, or a [cluster.patroni] table to discover them",
                raw.name
            ),
        ));
    }
    let mut nodes: Vec<NodeConfig> = Vec::with_capacity(raw.node.len());
    for (j, node) in raw.node.into_iter().enumerate() {
        let node_prefix = format!("{prefix}.node.{j}");
        let explicit_app_name = node.application_name.is_some();
        let resolved = resolve_node(node, &node_prefix, &defaults, poll, cx)?;
        if nodes.iter().any(|n| n.name == resolved.name) {
            return Err(cx.err(
                &format!("{node_prefix}.name"),
                format!(
                    "duplicate node name {:?} in cluster {:?}",
                    resolved.name, raw.name
                ),
            ));
        }
        if nodes.iter().any(|n| {
            n.application_name
                .eq_ignore_ascii_case(&resolved.application_name)
        }) {
            // Two nodes listed under one application_name could not be told apart upstream.
            let key = if explicit_app_name {
                format!("{node_prefix}.application_name")
            } else {
                format!("{node_prefix}.name")
            };
            return Err(cx.err(
                &key,
                format!(
                    "duplicate application_name {:?} in cluster {:?}",
                    resolved.application_name, raw.name
                ),
            ));
        }
        nodes.push(resolved);
    }
    let mut endpoints: Vec<EndpointConfig> = Vec::with_capacity(raw.endpoint.len());
    for (j, e) in raw.endpoint.into_iter().enumerate() {
        let e_prefix = format!("{prefix}.endpoint.{j}");
        let resolved = resolve_endpoint(e, &e_prefix, &defaults, poll, cx)?;
        if endpoints.iter().any(|x| x.name == resolved.name) {
            return Err(cx.err(
                &format!("{e_prefix}.name"),
                format!(
                    "duplicate endpoint name {:?} in cluster {:?}",
                    resolved.name, raw.name
                ),
            ));
        }
        endpoints.push(resolved);
    }
    let node_defaults = node_defaults(&defaults, poll);
    if discovers
        && node_defaults.sslmode.verifies()
        && node_defaults.sslrootcert.is_none()
        && let Some(mode) = &defaults.sslmode
    {
        return Err(cx.err(
            &mode.key,
            format!(
                "sslmode {} needs sslrootcert (nodes discovered through Patroni)",
                mode.value
            ),
        ));
    }
    let drill = match raw.drill.take() {
        Some(d) => Some(resolve_drill(
            d,
            &format!("{prefix}.drill"),
            &node_defaults,
            cx,
        )?),
        None => None,
    };
    Ok(ClusterConfig {
        name: raw.name,
        nodes,
        defaults: node_defaults,
        patroni,
        endpoints,
        drill,
    })
}

/// `[cluster.drill]`: a user that is not the exporter's, one password source at most, the
/// cluster's dbname by default.
fn resolve_drill(
    raw: RawDrill,
    prefix: &str,
    defaults: &NodeDefaults,
    cx: &Ctx,
) -> Result<DrillConfig, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let user = match raw.user {
        None => {
            return Err(cx.err_missing(
                &key("user"),
                "needs the role the drill writes its probe with (it creates and drops schema replication_drill)",
            ));
        }
        Some(u) if u.trim().is_empty() => return Err(cx.err(&key("user"), "must not be empty")),
        Some(u) if u == defaults.user => {
            return Err(cx.err(
                &key("user"),
                format!(
                    "{u:?} is the exporter's own role: the drill writes, so it needs a separate role with write rights"
                ),
            ));
        }
        Some(u) => u,
    };
    let password = one_password(raw.password_file, raw.password_env, prefix, cx)?;
    let dbname = match raw.dbname {
        Some(d) if d.trim().is_empty() => return Err(cx.err(&key("dbname"), "must not be empty")),
        Some(d) => d,
        None => defaults.dbname.clone(),
    };
    Ok(DrillConfig {
        user,
        password,
        dbname,
    })
}

/// A table's password from `password_file` or `password_env` (at most one of them), read and
/// checked where it is written (`prefix` names the table in errors).
pub(super) fn one_password(
    file: Option<PathBuf>,
    env: Option<String>,
    prefix: &str,
    cx: &Ctx,
) -> Result<Option<Password>, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    match (file, env) {
        (Some(_), Some(_)) => Err(cx.err(
            &key("password_env"),
            "set either password_file or password_env, not both",
        )),
        (Some(path), None) => Ok(Some(
            read_password_file(&path).map_err(|why| cx.err(&key("password_file"), why))?,
        )),
        (None, Some(name)) => Ok(Some(password_from_env(&name, &key("password_env"), cx)?)),
        (None, None) => Ok(None),
    }
}

/// sslmode verify-ca / verify-full checks the server against `sslrootcert`: one must be set.
/// `whose` names the node or endpoint ("node \"a\"").
pub(super) fn require_rootcert(
    sslmode: &Option<Sourced<SslMode>>,
    sslrootcert: &Option<PathBuf>,
    whose: &str,
    cx: &Ctx,
) -> Result<(), ConfigError> {
    match sslmode {
        Some(mode) if mode.value.verifies() && sslrootcert.is_none() => Err(cx.err(
            &mode.key,
            format!("sslmode {} needs sslrootcert ({whose})", mode.value),
        )),
        _ => Ok(()),
    }
}

/// What a node discovered at run time connects with: the cluster's settings, else the defaults.
fn node_defaults(c: &Conn, poll: &PollConfig) -> NodeDefaults {
    NodeDefaults {
        user: c
            .user
            .as_ref()
            .map_or_else(|| DEFAULT_USER.to_owned(), |f| f.value.clone()),
        password: c.password_file.clone().or(c.password_env.clone()),
        dbname: c
            .dbname
            .as_ref()
            .map_or_else(|| DEFAULT_DBNAME.to_owned(), |f| f.value.clone()),
        sslmode: c.sslmode.as_ref().map_or(DEFAULT_SSLMODE, |f| f.value),
        sslrootcert: c.sslrootcert.as_ref().map(|f| f.value.clone()),
        connect_timeout: c.connect_timeout.unwrap_or(poll.timeout),
    }
}

/// `[cluster.patroni]`: URLs that are http(s) with a host and no credentials, durations > 0 with
/// `timeout <= interval`, a password only with a username, a client certificate with its key,
/// and every file readable.
pub(super) fn resolve_patroni(
    raw: RawPatroni,
    prefix: &str,
    cx: &Ctx,
) -> Result<PatroniConfig, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let urls = raw.urls.unwrap_or_default();
    if urls.is_empty() {
        return Err(cx.err_missing(
            &key("urls"),
            "needs the REST API URL of at least one Patroni member, e.g. [\"http://10.0.0.11:8008\"]",
        ));
    }
    let mut checked = Vec::with_capacity(urls.len());
    for (i, url) in urls.into_iter().enumerate() {
        let k = format!("{}.{i}", key("urls"));
        checked.push(check_rest_url(&url).map_err(|why| cx.err(&k, why))?);
    }
    let get = |v: Option<RawDuration>, default| v.map_or(default, |d| d.0);
    let interval = get(raw.interval, DEFAULT_PATRONI_INTERVAL);
    let timeout = get(raw.timeout, DEFAULT_PATRONI_TIMEOUT);
    let forget_after = get(raw.forget_after, DEFAULT_PATRONI_FORGET_AFTER);
    for (k, d) in [
        ("interval", interval),
        ("timeout", timeout),
        ("forget_after", forget_after),
    ] {
        if d.is_zero() {
            return Err(cx.err(&key(k), "must be greater than zero"));
        }
    }
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if timeout > interval {
        return Err(cx.err(
            &key("timeout"),
            format!(
                "{} must not exceed {}.interval ({})",
                show(timeout),
                render_key(prefix),
                show(interval)
            ),
        ));
    }
    let username = match raw.username {
        Some(u) if u.is_empty() => return Err(cx.err(&key("username"), "must not be empty")),
        u => u,
    };
    let password = one_password(raw.password_file, raw.password_env, prefix, cx)?;
    if password.is_some() && username.is_none() {
        return Err(cx.err_missing(&key("username"), "a REST password needs a username"));
    }
    if username.is_some() && password.is_none() {
        return Err(cx.err_missing(
            &key("password_file"),
            "a REST username needs a password (password_file or password_env)",
        ));
    }
    for (k, path) in [
        ("cafile", &raw.cafile),
        ("certfile", &raw.certfile),
        ("keyfile", &raw.keyfile),
    ] {
        if let Some(path) = path {
            check_readable(path).map_err(|why| cx.err(&key(k), why))?;
        }
    }
    match (&raw.certfile, &raw.keyfile) {
        (Some(_), None) => {
            return Err(cx.err_missing(&key("keyfile"), "a client certificate needs its key"));
        }
        (None, Some(_)) => {
            return Err(cx.err_missing(&key("certfile"), "a client key needs its certificate"));
        }
        _ => {}
    }
    Ok(PatroniConfig {
        urls: checked,
        interval,
        timeout,
        discover: raw.discover.unwrap_or(true),
        forget_after,
        username,
        password,
        cafile: raw.cafile,
        certfile: raw.certfile,
        keyfile: raw.keyfile,
    })
}

/// A REST base URL: `http://` or `https://`, a host, an optional port and path; without
/// credentials (they belong in username/password_file, and the URL appears in logs and labels).
/// The returned URL has no trailing slash. Messages never quote a URL that carries credentials.
pub(crate) fn check_rest_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| "must start with http:// or https://".to_owned())?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "must not carry credentials; use username and password_file instead".to_owned(),
        );
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} contains white space"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, rest)) => (h, rest.strip_prefix(':')),
            None => return Err(format!("{url:?} has an unclosed [")),
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(format!("{url:?} has an invalid port"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

pub(super) fn resolve_node(
    mut raw: RawNode,
    prefix: &str,
    cluster: &Conn,
    poll: &PollConfig,
    cx: &Ctx,
) -> Result<NodeConfig, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    if raw.name.trim().is_empty() {
        return Err(cx.err(&key("name"), "must not be empty"));
    }
    let dsn = match &raw.dsn {
        Some(s) => parse_dsn(s).map_err(|why| cx.err(&key("dsn"), why))?,
        None => Dsn::default(),
    };
    if let Some(path) = &dsn.sslrootcert {
        check_readable(path).map_err(|why| cx.err(&key("dsn"), format!("sslrootcert: {why}")))?;
    }
    let application_name = match raw.application_name {
        Some(a) if a.trim().is_empty() => {
            return Err(cx.err(&key("application_name"), "must not be empty"));
        }
        Some(a) => a,
        None => raw.name.clone(),
    };
    let host = match (raw.host, dsn.host) {
        (Some(h), _) if h.trim().is_empty() => {
            return Err(cx.err(&key("host"), "must not be empty"));
        }
        (Some(h), _) => h,
        (None, Some(h)) => h,
        (None, None) => {
            return Err(cx.err_missing(
                &key("host"),
                format!("node {:?} needs a host (or a dsn that names one)", raw.name),
            ));
        }
    };
    let node = resolve_conn(take_conn!(raw), prefix, cx)?;
    let user = node
        .user
        .map(|f| f.value)
        .or(dsn.user)
        .or(cluster.user.as_ref().map(|f| f.value.clone()))
        .unwrap_or_else(|| DEFAULT_USER.to_owned());
    let dbname = node
        .dbname
        .map(|f| f.value)
        .or(dsn.dbname)
        .or(cluster.dbname.as_ref().map(|f| f.value.clone()))
        .unwrap_or_else(|| DEFAULT_DBNAME.to_owned());
    let sslmode = node
        .sslmode
        .or(dsn.sslmode.map(|m| Sourced {
            value: m,
            key: key("dsn"),
        }))
        .or(cluster.sslmode.as_ref().map(|f| Sourced {
            value: f.value,
            key: f.key.clone(),
        }));
    let sslrootcert = node
        .sslrootcert
        .map(|f| f.value)
        .or(dsn.sslrootcert)
        .or(cluster.sslrootcert.as_ref().map(|f| f.value.clone()));
    require_rootcert(&sslmode, &sslrootcert, &format!("node {:?}", raw.name), cx)?;
    let password = node
        .password_file
        .or(node.password_env)
        .or(dsn.password)
        .or(cluster.password_file.clone())
        .or(cluster.password_env.clone());
    let connect_timeout = node
        .connect_timeout
        .or(dsn.connect_timeout)
        .or(cluster.connect_timeout)
        .unwrap_or(poll.timeout);
    Ok(NodeConfig {
        name: raw.name,
        application_name,
        host,
        port: raw.port.map(|p| p.0).or(dsn.port).unwrap_or(DEFAULT_PORT),
        user,
        password,
        dbname,
        sslmode: sslmode.map_or(DEFAULT_SSLMODE, |f| f.value),
        sslrootcert,
        connect_timeout,
        expect_streaming: raw.expect_streaming.unwrap_or(true),
    })
}
