#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing: PostgreSQL 15 server
# (+ contrib), Prometheus and promtool, Alertmanager, npm, python3 with PyYAML (check-alerts.sh),
# and for the Patroni suite Debian's Patroni 3.0.2, etcd 3.4 (server and etcdctl) and
# python3-venv (Patroni 4.x comes from PyPI through scripts/patroni-venv.sh), for the
# front-end suite pgpool-II (pgpool2) and pgbouncer, for the VIP lab
# (tests/harness/keepalived.rs) keepalived, socat and iproute2, and for e2e_landing (the landing
# page's topology in a real headless browser) Chromium with a font, for e2e_fleet (shards and an
# HA pair remote-writing through Prometheus agents) VictoriaMetrics, and for the Debian package
# (packaging/build-deb.sh, tests/e2e_package.rs) lintian, systemd (systemd-analyze), man-db,
# adduser and cargo-deb (from crates.io, `cargo install --locked`, when missing). Needs root
# (apt-get); otherwise it names what is missing and fails.
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
dpkg -s postgresql-contrib >/dev/null 2>&1 || need+=(postgresql-contrib)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v npm >/dev/null || need+=(npm)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
[ -x /usr/bin/patroni ] || need+=(patroni)
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
[ -x /usr/sbin/pgpool ] || need+=(pgpool2)
[ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
[ -x /usr/sbin/keepalived ] || need+=(keepalived)
command -v socat >/dev/null || need+=(socat)
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)
[ -x /usr/bin/chromium ] || need+=(chromium)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need+=(fonts-dejavu-core)
[ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
command -v lintian >/dev/null || need+=(lintian)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v man >/dev/null || need+=(man-db)
command -v adduser >/dev/null || need+=(adduser)
# cargo-deb is a cargo subcommand from crates.io, built once (5 minutes here, on 2 busy cores).
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q " $CARGO_DEB_VERSION"; then
  echo "deps: cargo install cargo-deb $CARGO_DEB_VERSION"
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" --quiet
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing ${need[*]}: run as root, or apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages may start system services on well-known ports; the tests run their own servers.
for svc in prometheus prometheus-alertmanager postgresql etcd patroni pgpool2 pgbouncer keepalived victoria-metrics; do
  if command -v service >/dev/null && service "$svc" status >/dev/null 2>&1; then
    service "$svc" stop >/dev/null 2>&1 || true
  fi
done
