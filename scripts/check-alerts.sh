#!/usr/bin/env bash
# Static and unit checks of the bundled Prometheus alert rules (alerts/).
#
#   1. `promtool check rules` on alerts/*.yml (syntax, PromQL, templates).
#   2. `promtool test rules` on alerts/tests/*.yml (the unit tests).
#   3. Coverage: every alert has at least one firing case (non-empty
#      exp_alerts) and one not-firing case (`exp_alerts: []`) in alerts/tests/.
#   4. Every alert has a severity label (warning|critical|info), summary,
#      description and a runbook_url whose anchor is the lowercase alert name
#      and a heading `## <AlertName>` in docs/runbooks.md.
#   5. Every pg_replication_* metric name used is in scripts/dashboards/spec-metrics.txt
#      (the metrics of the SPEC sections it names); recording rules use colons.
#
# Needs: promtool (Prometheus >= 2.42; Debian package `prometheus`), python3 with PyYAML
# (Debian package `python3-yaml`).
# Usage: bash scripts/check-alerts.sh [RULES_DIR]   (default: alerts)
# Exits non-zero on the first failed step, after printing every problem of it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rules_dir=${1:-$root/alerts}
runbooks=$root/docs/runbooks.md
spec_list=$root/scripts/dashboards/spec-metrics.txt
# Names the exporter exports beyond the SPEC tables (proposed for the SPEC; see the file).
extra_list=$root/scripts/dashboards/extra-metrics.txt
repo_url=https://github.com/pg-replication-exporter/pg_replication_exporter/blob/main/docs/runbooks.md

command -v promtool >/dev/null || {
  echo "check-alerts: promtool not found; install it (apt-get install prometheus)" >&2
  exit 1
}
python3 -c 'import yaml' 2>/dev/null || {
  echo "check-alerts: python3 with PyYAML not found; install it (apt-get install python3-yaml)" >&2
  exit 1
}

shopt -s nullglob
rule_files=("$rules_dir"/*.yml)
test_files=("$rules_dir"/tests/*.yml)
((${#rule_files[@]})) || { echo "check-alerts: no rule files in $rules_dir" >&2; exit 1; }
((${#test_files[@]})) || { echo "check-alerts: no test files in $rules_dir/tests" >&2; exit 1; }

echo "== promtool check rules"
promtool check rules "${rule_files[@]}"

echo "== promtool test rules"
promtool test rules "${test_files[@]}"

echo "== coverage, labels, annotations, runbooks, metric names"
# Read with a YAML parser (PyYAML), not line patterns: see scripts/check-alerts.py.
if ! count=$(python3 "$root/scripts/check-alerts.py" "$runbooks" "$spec_list" "$repo_url" \
  "${rule_files[@]}" -- "${test_files[@]}"); then
  echo "check-alerts: FAILED" >&2
  exit 1
fi
echo "check-alerts: OK ($count alerts, each with firing and not-firing tests)"
