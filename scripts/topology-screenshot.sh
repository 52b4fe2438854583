#!/usr/bin/env bash
# Regenerates docs/topology.png, the README's picture of the landing page: runs the demo on a
# free loopback port, waits until its standbys stream and both front-ends are judged, takes a
# headless Chromium screenshot of `/`, and stops the demo with SIGINT (it removes its cluster).
# Needs PostgreSQL server binaries (as the demo does) and chromium (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/topology.png}
size=${SIZE:-1000,660}
cargo build --quiet
bin=${CARGO_TARGET_DIR:-target}/debug/pg_replication_exporter
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
"$bin" demo --web.listen-address="127.0.0.1:$port" >"$work/demo.out" 2>&1 &
demo=$!
cleanup() {
    kill -INT "$demo" 2>/dev/null && wait "$demo" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ready() {
    local m
    m=$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null) || return 1
    [ "$(grep -c '^pg_replication_standby_streaming{.*} 1$' <<<"$m")" = 2 ] &&
        [ "$(grep -c '^pg_replication_endpoint_expectation_met{.*} 1$' <<<"$m")" = 2 ]
}
for _ in $(seq 1 120); do
    ready && break
    kill -0 "$demo" 2>/dev/null || { cat "$work/demo.out" >&2; exit 1; }
    sleep 0.5
done
ready || { echo "the demo did not become healthy" >&2; cat "$work/demo.out" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$work/profile" --window-size="$size" --screenshot="$(realpath -m "$out")" \
    "http://127.0.0.1:$port/" 2>"$work/chromium.err" || { cat "$work/chromium.err" >&2; exit 1; }
echo "wrote $out"
