#!/usr/bin/env bash
# Static checks of the bundled Grafana dashboards (dashboards/*.json).
#
#   1. Schema: every dashboard and panel is type-checked with TypeScript against
#      Grafana's published schema, the npm package @grafana/schema (pinned in
#      scripts/dashboards/package.json + package-lock.json, installed once into
#      ${XDG_CACHE_HOME:-$HOME/.cache}/pg_replication_exporter/dashboards-check).
#      Panels are also checked against their plugin's options/fieldConfig types
#      (timeseries, stat, table, state-timeline). Canaries with @ts-expect-error
#      prove the types are not vacuous (a broken field must fail).
#   2. PromQL: every panel query and every label_values() variable selector,
#      with Grafana variables substituted, is written as a recording rule into a
#      temporary rules file and parsed by `promtool check rules`.
#   3. uids unique and equal to the file name, a `datasource` variable used by
#      every panel and target, cluster/node/standby query variables, no
#      hard-coded hosts, every pg_replication_* metric listed in
#      scripts/dashboards/spec-metrics.txt (the SPEC sections its `# sections:`
#      line names; compared with those sections of SPEC.md itself when SPEC_MD
#      is set or ../shared/SPEC.md exists beside the repository).
#   4. The committed JSON equals the output of scripts/dashboards/generate.mjs.
#
# Extracting the queries (for end-to-end tests against a live Prometheus):
#   bash scripts/check-dashboards.sh --list-queries [--var cluster=pg ...]
# prints every panel query and variable selector, variables substituted, one
# per line: $__rate_interval=1m, $__interval=15s, $__range=1h, and every other
# variable ($cluster, ${node}, [[standby]], ...) the regex `.+` (what Grafana's
# "All" matches) unless given with --var. It needs only node, no npm install.
#
# Needs: node >= 18, npm (first run only, the npm registry reachable), promtool.
# Usage: bash scripts/check-dashboards.sh [--list-queries [--var k=v]...] [DASHBOARD_DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
helper=$root/scripts/dashboards
command -v node >/dev/null || { echo "check-dashboards: node not found (apt-get install nodejs npm)" >&2; exit 1; }

if [[ ${1:-} == --list-queries ]]; then
  shift
  dash_dir=$root/dashboards
  if [[ $# -gt 0 && $1 != --var ]]; then dash_dir=$1; shift; fi
  exec node "$helper/check.mjs" queries "$dash_dir" "$@"
fi

dash_dir=${1:-$root/dashboards}
command -v promtool >/dev/null || { echo "check-dashboards: promtool not found (apt-get install prometheus)" >&2; exit 1; }
command -v npm >/dev/null || { echo "check-dashboards: npm not found (apt-get install npm)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail=0

echo "== static checks (uids, datasource, variables, hosts, SPEC metric names)"
spec_md=${SPEC_MD:-}
if [[ -z $spec_md && -f $root/../shared/SPEC.md ]]; then spec_md=$root/../shared/SPEC.md; fi
node "$helper/check.mjs" static "$dash_dir" "$helper/spec-metrics.txt" ${spec_md:+"$spec_md"} || fail=1

echo "== generated JSON up to date"
if [[ $dash_dir -ef $root/dashboards ]]; then
  mkdir "$work/generated"
  node "$helper/generate.mjs" "$work/generated"
  if ! diff -r "$work/generated" "$dash_dir" >"$work/gen.diff"; then
    head -40 "$work/gen.diff" >&2
    echo "check-dashboards: dashboards/ differs from scripts/dashboards/generate.mjs output; run: node scripts/dashboards/generate.mjs" >&2
    fail=1
  fi
else
  echo "(skipped: checking $dash_dir, not the repository's dashboards/)"
fi

echo "== PromQL of every query (promtool check rules)"
node "$helper/check.mjs" rules "$dash_dir" >"$work/queries.rules.json"
if ! promtool check rules "$work/queries.rules.json" >"$work/promtool.out" 2>&1; then
  cat "$work/promtool.out" >&2
  # Name the panel behind each failing dashboard_query_N.
  grep -o 'dashboard_query_[0-9]*' "$work/promtool.out" | sort -u | while read -r rule; do
    node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1])).groups[0].rules.find((x) => x.record === process.argv[2]); console.error(`  ${process.argv[2]} = ${r.labels.source}: ${r.expr}`)' "$work/queries.rules.json" "$rule"
  done
  fail=1
else
  grep -h SUCCESS "$work/promtool.out"
fi

echo "== Grafana schema (@grafana/schema, TypeScript)"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/pg_replication_exporter/dashboards-check
# Reinstall only when the pinned lock file changes.
if ! cmp -s "$helper/package-lock.json" "$cache/package-lock.json" || [[ ! -d $cache/node_modules/@grafana/schema ]]; then
  echo "(installing the pinned @grafana/schema and typescript into $cache)"
  rm -rf "$cache"
  mkdir -p "$cache"
  cp "$helper/package.json" "$helper/package-lock.json" "$cache/"
  (cd "$cache" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2
fi
# The project lives next to node_modules so that module resolution finds it.
tsdir=$(mktemp -d "$cache/check.XXXXXX")
node "$helper/check.mjs" tsgen "$dash_dir" "$tsdir/dashboards.ts"
cat >"$tsdir/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "target": "es2022",
    "skipLibCheck": true,
    "types": []
  },
  "files": ["dashboards.ts"]
}
JSON
if ! node "$cache/node_modules/typescript/bin/tsc" -p "$tsdir/tsconfig.json" --pretty false >"$work/tsc.out" 2>&1; then
  cat "$work/tsc.out" >&2
  # Kept for reading: each error's line is inside `dashboardN` (file N of
  # $dash_dir in name order) or `panelN_M` (its panel M).
  echo "check-dashboards: schema errors in $tsdir/dashboards.ts (kept; remove it when done)" >&2
  fail=1
else
  echo "dashboards conform to @grafana/schema $(node -p "require('$cache/node_modules/@grafana/schema/package.json').version")"
  rm -rf "$tsdir"
fi

if ((fail)); then
  echo "check-dashboards: FAILED" >&2
  exit 1
fi
echo "check-dashboards: OK ($(ls "$dash_dir"/*.json | wc -l) dashboards, $(node "$helper/check.mjs" queries "$dash_dir" | wc -l) queries)"
