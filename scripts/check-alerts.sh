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
#   5. Every pg_replication_* metric name used is in SPEC section 4
#      (scripts/dashboards/spec-metrics.txt); recording rules use colons.
#
# Needs: promtool (Prometheus >= 2.42; Debian package `prometheus`), awk, grep.
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

shopt -s nullglob
rule_files=("$rules_dir"/*.yml)
test_files=("$rules_dir"/tests/*.yml)
((${#rule_files[@]})) || { echo "check-alerts: no rule files in $rules_dir" >&2; exit 1; }
((${#test_files[@]})) || { echo "check-alerts: no test files in $rules_dir/tests" >&2; exit 1; }

echo "== promtool check rules"
promtool check rules "${rule_files[@]}"

echo "== promtool test rules"
promtool test rules "${test_files[@]}"

fail=0
problem() { echo "check-alerts: $*" >&2; fail=1; }

echo "== coverage, labels, annotations, runbooks, metric names"
mapfile -t alerts < <(grep -hoP '^\s*-\s*alert:\s*\K\S+' "${rule_files[@]}" | sort)
((${#alerts[@]})) || problem "no alerts found in ${rule_files[*]}"
dups=$(printf '%s\n' "${alerts[@]}" | uniq -d)
[[ -z $dups ]] || problem "alert names defined twice: $dups"

# One line per alert test case: "<alertname> firing|silent".
cases=$(awk '
  /^[[:space:]]*alertname:/ { name = $2; next }
  /^[[:space:]]*exp_alerts:[[:space:]]*\[\][[:space:]]*$/ { if (name != "") print name, "silent"; name = ""; next }
  /^[[:space:]]*exp_alerts:[[:space:]]*$/ { pending = name; name = ""; next }
  pending != "" && /^[[:space:]]*-[[:space:]]*exp_labels/ { print pending, "firing"; pending = ""; next }
  pending != "" && /^[[:space:]]*-/ { pending = "" }
' "${test_files[@]}")

# Rules split into one block per rule (text from "- alert:"/"- record:" to the next).
blocks=$(awk '/^[[:space:]]*-[[:space:]]*(alert|record):/ { print "\x1e" } { print }' "${rule_files[@]}")

for a in "${alerts[@]}"; do
  grep -qx "$a firing" <<<"$cases" || problem "$a: no firing test case (non-empty exp_alerts) in $rules_dir/tests"
  grep -qx "$a silent" <<<"$cases" || problem "$a: no not-firing test case (exp_alerts: []) in $rules_dir/tests"
  block=$(awk -v RS='\x1e' -v a="$a" '$0 ~ ("alert:[ \t]*" a "\n") { print }' <<<"$blocks")
  grep -qP '^\s*severity:\s*(warning|critical|info)\s*$' <<<"$block" || problem "$a: severity label missing or not warning|critical|info"
  grep -qP '^\s*summary:' <<<"$block" || problem "$a: summary annotation missing"
  grep -qP '^\s*description:' <<<"$block" || problem "$a: description annotation missing"
  anchor=$(tr '[:upper:]' '[:lower:]' <<<"$a")
  grep -qF "runbook_url: $repo_url#$anchor" <<<"$block" || problem "$a: runbook_url must be $repo_url#$anchor"
  grep -qx "## $a" "$runbooks" || problem "$a: no heading '## $a' in docs/runbooks.md"
done

# Every tested alert name must exist (a typo in a test would otherwise pass as "silent").
while read -r name _; do
  printf '%s\n' "${alerts[@]}" | grep -qx "$name" || problem "tests refer to unknown alert $name"
done <<<"$cases"

# The PromQL of every rule: single-line `expr: ...` and block `expr: |` bodies
# (annotations mention view names such as pg_replication_slots, which are not metrics).
exprs() {
  awk '
    inblock && match($0, /^[[:space:]]*/) && RLENGTH > ind && NF { print; next }
    inblock && !NF { next }
    { inblock = 0 }
    /^[[:space:]]*expr:[[:space:]]*[|>][-+]?[[:space:]]*$/ { match($0, /^[[:space:]]*/); ind = RLENGTH; inblock = 1; next }
    /^[[:space:]]*expr:/ { sub(/^[[:space:]]*expr:[[:space:]]*/, ""); print }
  ' "${rule_files[@]}"
}
mapfile -t known < <(grep -hv '^#' "$spec_list" "$extra_list" | grep .)
while read -r m; do
  [[ -z $m ]] && continue
  printf '%s\n' "${known[@]}" | grep -qx "$m" || problem "metric $m is not in SPEC ($spec_list) nor in $extra_list"
done < <(exprs | grep -oP '(?<![:\w])pg_replication_\w+' | sort -u)
while read -r r; do
  [[ $r == pg_replication:* ]] || problem "recording rule $r must be named pg_replication:<what>:<aggregation>"
done < <(grep -hoP '^\s*-\s*record:\s*\K\S+' "${rule_files[@]}")

if ((fail)); then
  echo "check-alerts: FAILED" >&2
  exit 1
fi
echo "check-alerts: OK (${#alerts[@]} alerts, each with firing and not-firing tests)"
