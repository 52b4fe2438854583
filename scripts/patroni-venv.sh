#!/usr/bin/env bash
# Creates (once) and caches a Python venv holding Patroni 4.x from PyPI with the etcd3 DCS and a
# psycopg2 driver, for the end-to-end tests that run the same suite on Debian's Patroni 3.0.2 and
# on 4.x. Prints the path of the venv's `patroni` binary (scripts/test.sh exports it as
# PATRONI_BIN, which the harness's PatroniBin::v4() reads; without it the harness runs this script).
#
# The cache survives CI runs: $PATRONI_VENV_CACHE (default /var/cache/pg_replication_exporter,
# or ~/.cache/pg_replication_exporter when that is not writable). A venv is keyed by the pinned
# version, so bumping PATRONI_VERSION builds a fresh one beside the old; a half-built venv (no
# .complete marker) is rebuilt.
#
# 4.1.4 is pinned because its source (tag v4.1.4 of github.com/patroni/patroni) is what
# src/sources/patroni/candidate.rs documents; bump both together.
set -euo pipefail
PATRONI_VERSION="${PATRONI_VERSION:-4.1.4}"
PSYCOPG2_VERSION="${PSYCOPG2_VERSION:-2.9.10}"
# The system interpreter, not a per-user one (pyenv under /root): the venv's python is a symlink
# to it, and the `postgres` account that runs Patroni must be able to reach it.
PYTHON="${PYTHON:-/usr/bin/python3}"

cache="${PATRONI_VENV_CACHE:-/var/cache/pg_replication_exporter}"
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/pg_replication_exporter"
  mkdir -p "$cache"
fi
venv="$cache/patroni-venv-$PATRONI_VERSION"

if [ ! -f "$venv/.complete" ]; then
  "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || {
    echo "patroni-venv: $PYTHON has no venv/ensurepip: apt-get install -y python3-venv" >&2
    exit 1
  }
  rm -rf "$venv"
  echo "patroni-venv: building $venv (patroni $PATRONI_VERSION)" >&2
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "patroni[etcd3]==$PATRONI_VERSION" "psycopg2-binary==$PSYCOPG2_VERSION" >&2
  got="$("$venv/bin/patroni" --version)"
  [ "$got" = "patroni $PATRONI_VERSION" ] || {
    echo "patroni-venv: $venv/bin/patroni says '$got', expected patroni $PATRONI_VERSION" >&2
    exit 1
  }
  # The tests run Patroni as `postgres` (PostgreSQL refuses root): it must be able to read it.
  chmod -R a+rX "$venv"
  touch "$venv/.complete"
fi
echo "$venv/bin/patroni"
