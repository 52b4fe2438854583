#!/usr/bin/env bash
# The whole test suite (README: "Run the tests"). Lints, unit and end-to-end tests against real
# PostgreSQL servers, the alert rules and the dashboards. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
step "cargo test (PostgreSQL from ${PG_BINDIR:-the system})"
cargo test -- --test-threads="${TEST_THREADS:-2}"
step "alert rules: promtool check rules / test rules"
bash scripts/check-alerts.sh
step "dashboards: @grafana/schema, PromQL parse"
bash scripts/check-dashboards.sh
step "done"
