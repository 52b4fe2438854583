//! `[[cluster.endpoint]]` (SPEC §9): a front-end (a VIP or haproxy, pgpool-II, pgbouncer's admin
//! console) resolved against the cluster's connection defaults, with every key that makes no
//! sense for its kind refused by name.

use super::*;

/// Resolves endpoint `raw` of the cluster whose connection defaults are `cluster`.
pub(super) fn resolve_endpoint(
    mut raw: RawEndpoint,
    prefix: &str,
    cluster: &Conn,
    poll: &PollConfig,
    cx: &Ctx,
) -> Result<EndpointConfig, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    if raw.name.trim().is_empty() {
        return Err(cx.err(&key("name"), "must not be empty"));
    }
    let kinds = || EndpointKind::ALL.map(EndpointKind::as_str).join(", ");
    let kind = match raw.kind.as_deref() {
        None => {
            return Err(cx.err_missing(
                &key("kind"),
                format!("endpoint {:?} needs a kind: one of {}", raw.name, kinds()),
            ));
        }
        Some(k) => EndpointKind::ALL
            .into_iter()
            .find(|x| x.as_str() == k)
            .ok_or_else(|| {
                cx.err(
                    &key("kind"),
                    format!("invalid kind {k:?}, expected one of {}", kinds()),
                )
            })?,
    };
    let host = match raw.host.take() {
        Some(h) if h.trim().is_empty() => return Err(cx.err(&key("host"), "must not be empty")),
        Some(h) => h,
        None => {
            return Err(cx.err_missing(
                &key("host"),
                format!("endpoint {:?} needs a host", raw.name),
            ));
        }
    };
    let expect = match (kind, raw.expect.take()) {
        (EndpointKind::Pgbouncer, Some(_)) => {
            return Err(cx.err(
                &key("expect"),
                "does not apply to kind pgbouncer (its admin console is no route to a node); \
                 set expect_databases = { <database> = \"primary\" | \"standby\" | \"any\" }",
            ));
        }
        (EndpointKind::Pgbouncer, None) => None,
        (_, Some(e)) => Some(parse_expect(&e).map_err(|why| cx.err(&key("expect"), why))?),
        (_, None) => Some(Expect::Any),
    };
    let mut expect_databases = Vec::new();
    match (kind, raw.expect_databases.take()) {
        (EndpointKind::Pgbouncer, Some(map)) => {
            for (db, e) in map {
                let k = format!("{}.{db}", key("expect_databases"));
                if db.trim().is_empty() {
                    return Err(cx.err(
                        &key("expect_databases"),
                        "a database name must not be empty",
                    ));
                }
                expect_databases.push((db, parse_expect(&e).map_err(|why| cx.err(&k, why))?));
            }
        }
        (EndpointKind::Pgbouncer, None) => {}
        (other, Some(_)) => {
            return Err(cx.err(
                &key("expect_databases"),
                format!(
                    "applies to kind pgbouncer only; a {} endpoint says where it leads with expect",
                    other.as_str()
                ),
            ));
        }
        (_, None) => {}
    }
    let get = |v: Option<RawDuration>, default: Duration| v.map_or(default, |d| d.0);
    let interval = get(raw.interval, poll.interval);
    let timeout = get(raw.timeout, poll.timeout.min(interval));
    for (k, d) in [("interval", interval), ("timeout", timeout)] {
        if d.is_zero() {
            return Err(cx.err(&key(k), "must be greater than zero"));
        }
    }
    if timeout > interval {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        return Err(cx.err(
            &key("timeout"),
            format!(
                "{} must not exceed the endpoint's interval ({})",
                show(timeout),
                show(interval)
            ),
        ));
    }
    let pool_nodes_interval = match (kind, raw.pool_nodes_interval) {
        (EndpointKind::Pgpool, Some(d)) if d.0 < interval => {
            let show = |d: Duration| humantime::format_duration(d).to_string();
            return Err(cx.err(
                &key("pool_nodes_interval"),
                format!(
                    "{} must not be shorter than the endpoint's interval ({})",
                    show(d.0),
                    show(interval)
                ),
            ));
        }
        (EndpointKind::Pgpool, Some(d)) => d.0,
        (EndpointKind::Pgpool, None) => DEFAULT_POOL_NODES_INTERVAL.max(interval),
        (other, Some(_)) => {
            return Err(cx.err(
                &key("pool_nodes_interval"),
                format!("applies to kind pgpool only, not {}", other.as_str()),
            ));
        }
        (_, None) => interval,
    };
    let dbname_key = raw.dbname.is_some();
    let conn = resolve_conn(take_conn!(raw), prefix, cx)?;
    if kind == EndpointKind::Pgbouncer && dbname_key {
        let given = conn.dbname.as_ref().map(|d| d.value.as_str());
        if given != Some(PGBOUNCER_ADMIN_DBNAME) {
            return Err(cx.err(
                &key("dbname"),
                format!(
                    "a pgbouncer endpoint is checked through the admin console, whose database \
                     is {PGBOUNCER_ADMIN_DBNAME:?}; leave dbname out"
                ),
            ));
        }
    }
    let user = conn
        .user
        .map(|f| f.value)
        .or(cluster.user.as_ref().map(|f| f.value.clone()))
        .unwrap_or_else(|| DEFAULT_USER.to_owned());
    let dbname = if kind == EndpointKind::Pgbouncer {
        PGBOUNCER_ADMIN_DBNAME.to_owned()
    } else {
        conn.dbname
            .map(|f| f.value)
            .or(cluster.dbname.as_ref().map(|f| f.value.clone()))
            .unwrap_or_else(|| DEFAULT_DBNAME.to_owned())
    };
    let sslmode = conn.sslmode.or(cluster.sslmode.as_ref().map(|f| Sourced {
        value: f.value,
        key: f.key.clone(),
    }));
    let sslrootcert = conn
        .sslrootcert
        .map(|f| f.value)
        .or(cluster.sslrootcert.as_ref().map(|f| f.value.clone()));
    require_rootcert(
        &sslmode,
        &sslrootcert,
        &format!("endpoint {:?}", raw.name),
        cx,
    )?;
    let password = conn
        .password_file
        .or(conn.password_env)
        .or(cluster.password_file.clone())
        .or(cluster.password_env.clone());
    let port = raw.port.map(|p| p.0).unwrap_or_else(|| default_port(kind));
    Ok(EndpointConfig {
        name: raw.name,
        kind,
        host,
        port,
        expect,
        expect_databases,
        interval,
        timeout,
        pool_nodes_interval,
        user,
        password,
        dbname,
        sslmode: sslmode.map_or(DEFAULT_SSLMODE, |f| f.value),
        sslrootcert,
        connect_timeout: conn
            .connect_timeout
            .or(cluster.connect_timeout)
            .unwrap_or(timeout)
            .min(timeout),
    })
}

/// The port a kind listens on by default.
pub(super) fn default_port(kind: EndpointKind) -> u16 {
    DEFAULT_ENDPOINT_PORTS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(DEFAULT_PORT, |(_, p)| *p)
}

fn parse_expect(s: &str) -> Result<Expect, String> {
    Expect::ALL
        .into_iter()
        .find(|e| e.as_str() == s)
        .ok_or_else(|| {
            format!(
                "invalid expectation {s:?}, expected one of {}",
                Expect::ALL.map(Expect::as_str).join(", ")
            )
        })
}
