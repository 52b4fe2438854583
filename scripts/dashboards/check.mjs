// Helper of scripts/check-dashboards.sh: reads the dashboard JSON files and
//   queries DIR [--var name=value]...  prints every panel/variable query with
//                                      Grafana variables substituted, one per line
//   rules DIR                          the same queries as a Prometheus rules file
//                                      (JSON, which is YAML) for `promtool check rules`
//   static DIR SPEC_LIST [SPEC_MD]     uid, datasource, host and metric-name checks
//   tsgen DIR OUT.ts                   TypeScript that assigns each dashboard and
//                                      panel to @grafana/schema types (tsc checks it)
// Uses only Node's standard library: it must run before npm has installed anything.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const [cmd, dir, ...rest] = process.argv.slice(2);

function load(d) {
  return readdirSync(d)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const path = join(d, f);
      try {
        return { file: f, path, json: JSON.parse(readFileSync(path, 'utf8')) };
      } catch (e) {
        console.error(`${path}: invalid JSON: ${e.message}`);
        process.exit(1);
      }
    });
}

function allPanels(dash) {
  const out = [];
  for (const p of dash.panels ?? []) {
    out.push(p);
    if (p.type === 'row') out.push(...(p.panels ?? []));
  }
  return out;
}

// Substitution values. Multi-value variables in a `=~` matcher expand the way
// Grafana's "All" does when nothing narrower is chosen: a regex matching every
// non-empty value. Built-in intervals get plausible durations.
const builtins = {
  __rate_interval: '1m',
  __interval: '15s',
  __interval_ms: '15000',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
};

function substitute(expr, vars) {
  const value = (name) => {
    if (name in vars) return vars[name];
    if (name in builtins) return builtins[name];
    return '.+';
  };
  return expr
    .replace(/\$\{(\w+)(?::[\w]+)?\}/g, (_, n) => value(n))
    .replace(/\[\[(\w+)(?::[\w]+)?\]\]/g, (_, n) => value(n))
    .replace(/\$(\w+)/g, (_, n) => value(n));
}

// label_values(selector, label) → selector; label_values(label) → null.
function variableSelector(q) {
  const text = typeof q === 'string' ? q : q?.query ?? '';
  const m = text.match(/^\s*label_values\(\s*(.*),\s*\w+\s*\)\s*$/s);
  return m ? m[1] : null;
}

function queries(dashboards, vars) {
  const out = [];
  for (const { file, json } of dashboards) {
    for (const v of json.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      const sel = variableSelector(v.query);
      if (sel) out.push({ file, where: `variable ${v.name}`, raw: sel, expr: substitute(sel, vars) });
    }
    for (const p of allPanels(json)) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr !== 'string') continue;
        out.push({ file, where: `panel ${p.id} "${p.title}" ${t.refId}`, raw: t.expr, expr: substitute(t.expr, vars) });
      }
    }
  }
  return out;
}

function parseVars(args) {
  const vars = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--var' && args[i + 1]?.includes('=')) {
      const [k, ...v] = args[++i].split('=');
      vars[k] = v.join('=');
    } else {
      console.error(`unknown argument ${args[i]} (expected --var name=value)`);
      process.exit(2);
    }
  }
  return vars;
}

// The metric names of SPEC.md's `## N.` sections listed in `sections` (all
// sections when null).
function specMetricsFromMd(md, sections) {
  const text = md
    .split(/^(?=## )/m)
    .filter((part) => !sections || sections.has(part.match(/^## (\d+)\./)?.[1]))
    .join('');
  // Table cells like `pg_replication_cluster_timelines` / `_system_identifiers`
  // or `pg_replication_patroni_maximum_lag_on_failover_bytes`, `_ttl_seconds`.
  const names = new Set();
  for (const m of text.matchAll(/`(pg_replication_[a-z0-9_]+)`((?:\s*[\/,]\s*`_[a-z0-9_]+`)*)/g)) {
    // `pg_replication_drill` is the drill's schema, not a metric.
    if (m[1] === 'pg_replication_' || m[1] === 'pg_replication_drill') continue;
    names.add(m[1]);
    for (const s of m[2].matchAll(/`(_[a-z0-9_]+)`/g)) names.add(expandShorthand(m[1], s[1]));
  }
  return names;
}

// SPEC writes `pg_replication_cluster_nodes_up` / `_nodes_configured`: the
// shorthand replaces everything after `pg_replication_<entity>`; a lone unit
// (`..._delay_bytes` / `_seconds`) replaces only the unit.
function expandShorthand(full, short) {
  if (['_seconds', '_bytes', '_total'].includes(short)) {
    return full.replace(/_[a-z0-9]+$/, short);
  }
  return full.split('_').slice(0, 3).join('_') + short;
}

function staticChecks(dashboards, specList, specMd) {
  const errors = [];
  const err = (f, msg) => errors.push(`${f}: ${msg}`);
  const lines = readFileSync(specList, 'utf8').split('\n').map((l) => l.trim());
  const known = new Set(lines.filter((l) => l && !l.startsWith('#')));
  // `# sections: 4 8`: the SPEC sections the list covers.
  const decl = lines.map((l) => l.match(/^#\s*sections:\s*(.*)$/)).find(Boolean);
  const sections = decl ? new Set(decl[1].split(/[\s,]+/).filter(Boolean)) : null;
  if (specMd) {
    const fromMd = specMetricsFromMd(readFileSync(specMd, 'utf8'), sections);
    const where = sections ? `sections ${[...sections].join(', ')} of ${specMd}` : specMd;
    for (const m of fromMd) if (!known.has(m)) errors.push(`${specList}: lacks ${m}, which ${where} lists`);
    for (const m of known) if (!fromMd.has(m)) errors.push(`${specList}: lists ${m}, which ${where} does not`);
  }
  // Names beyond the SPEC tables, proposed for the SPEC (extra-metrics.txt beside the list).
  const extra = join(dirname(specList), 'extra-metrics.txt');
  if (existsSync(extra)) {
    for (const l of readFileSync(extra, 'utf8').split('\n').map((x) => x.trim())) if (l && !l.startsWith('#')) known.add(l);
  }
  if (dashboards.length === 0) errors.push(`no dashboards found`);
  const uids = new Map();
  const DS_UID = '${datasource}';
  for (const { file, json } of dashboards) {
    const uid = json.uid;
    if (typeof uid !== 'string' || !/^[A-Za-z0-9_-]{1,40}$/.test(uid)) err(file, `uid ${JSON.stringify(uid)} must be 1-40 of [A-Za-z0-9_-]`);
    else if (uids.has(uid)) err(file, `uid ${uid} also used by ${uids.get(uid)}`);
    else uids.set(uid, file);
    if (basename(file, '.json') !== uid) err(file, `file name must be <uid>.json (${uid}.json)`);
    const vars = json.templating?.list ?? [];
    const dsVar = vars.find((v) => v.name === 'datasource');
    if (!dsVar || dsVar.type !== 'datasource' || dsVar.query !== 'prometheus') err(file, `needs a variable "datasource" of type datasource with query "prometheus"`);
    for (const name of ['cluster', 'node', 'standby']) {
      const v = vars.find((x) => x.name === name);
      if (!v || v.type !== 'query' || !variableSelector(v.query)) err(file, `needs a query variable "${name}" using label_values(...)`);
    }
    const dsOk = (ds) => ds && ds.type === 'prometheus' && ds.uid === DS_UID;
    for (const v of vars) if (v.type === 'query' && !dsOk(v.datasource)) err(file, `variable ${v.name}: datasource must be {type: prometheus, uid: ${DS_UID}}`);
    const ids = new Set();
    for (const p of allPanels(json)) {
      if (ids.has(p.id)) err(file, `panel id ${p.id} used twice`);
      ids.add(p.id);
      if (p.type === 'row') continue;
      if (!dsOk(p.datasource)) err(file, `panel ${p.id} "${p.title}": datasource must be {type: prometheus, uid: ${DS_UID}}`);
      if (!(p.targets ?? []).length) err(file, `panel ${p.id} "${p.title}": no query`);
      for (const t of p.targets ?? []) {
        if (!dsOk(t.datasource)) err(file, `panel ${p.id} "${p.title}" ${t.refId}: datasource must be {type: prometheus, uid: ${DS_UID}}`);
      }
    }
    // No hard-coded hosts: no URLs, IP addresses or instance/job matchers.
    const text = JSON.stringify(json);
    for (const m of text.matchAll(/https?:\/\/[^"\s]+|\b\d{1,3}(?:\.\d{1,3}){3}\b|\b(?:instance|job)\s*=~?\s*\\"/g)) err(file, `hard-coded host or target: ${m[0]}`);
  }
  for (const q of queries(dashboards, {})) {
    if (/pg_replication:/.test(q.raw)) err(q.file, `${q.where}: uses a recording rule; dashboards must work without alerts/ loaded`);
    for (const m of q.raw.matchAll(/(?<![:\w])pg_replication_\w+/g)) {
      if (!known.has(m[0])) err(q.file, `${q.where}: metric ${m[0]} is not in ${specList} (the SPEC's metrics)`);
    }
    if (!/pg_replication_\w+/.test(q.raw)) err(q.file, `${q.where}: queries no pg_replication_ metric`);
  }
  return errors;
}

// Deeply turns string enums into their literal values: a JSON file carries
// "line", which TypeScript would not accept for the enum GraphThresholdsStyleMode.
const TS_PRELUDE = `// Generated by scripts/dashboards/check.mjs; do not edit.
import type { Dashboard, Panel, RowPanel, FieldConfig, FieldConfigSource } from '@grafana/schema';
import type * as TimeSeries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';
import type * as Stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as Table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as StateTimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';

type Lit<T> = T extends string ? \`\${T}\` : T extends readonly (infer U)[] ? Lit<U>[] : T extends object ? { [K in keyof T]: Lit<T[K]> } : T;

// Panel.targets is Record<string, unknown> in the published schema; the
// Prometheus query shape below is this project's own, stricter rule.
interface PromTarget {
  datasource: { type: 'prometheus'; uid: '\${datasource}' };
  editorMode?: 'code' | 'builder';
  expr: string;
  format?: 'time_series' | 'table' | 'heatmap';
  hide?: boolean;
  instant?: boolean;
  interval?: string;
  legendFormat?: string;
  range?: boolean;
  refId: string;
}
type Base = Lit<Omit<Panel, 'type' | 'options' | 'fieldConfig' | 'targets'>> & { targets: PromTarget[] };
type FC<Custom> = Lit<Omit<FieldConfigSource, 'defaults'> & { defaults: Omit<FieldConfig, 'custom'> & { custom?: Partial<Custom> } }>;
type TimeSeriesPanel = Base & { type: 'timeseries'; options: Lit<Partial<TimeSeries.Options>>; fieldConfig: FC<TimeSeries.FieldConfig> };
type StatPanel = Base & { type: 'stat'; options: Lit<Partial<Stat.Options>>; fieldConfig: FC<never> };
type TablePanel = Base & { type: 'table'; options: Lit<Partial<Table.Options>>; fieldConfig: FC<Table.FieldConfig> };
type StateTimelinePanel = Base & { type: 'state-timeline'; options: Lit<Partial<StateTimeline.Options>>; fieldConfig: FC<StateTimeline.FieldConfig> };
type AnyPanel = TimeSeriesPanel | StatPanel | TablePanel | StateTimelinePanel;
// A row's panels (kept inside it while collapsed) are checked like the others.
type Row = Lit<Omit<RowPanel, 'panels'>> & { panels: AnyPanel[] };
`;

function tsgen(dashboards, out) {
  let ts = TS_PRELUDE;
  dashboards.forEach(({ file, json }, i) => {
    ts += `\n// ${file}\nexport const dashboard${i}: Lit<Dashboard> = ${JSON.stringify(json, null, 2)};\n`;
    (json.panels ?? []).forEach((p, j) => {
      ts += `export const panel${i}_${j}: ${p.type === 'row' ? 'Row' : 'AnyPanel'} = ${JSON.stringify(p, null, 2)};\n`;
    });
  });
  // Canaries: each line must fail to type-check. If the schema types ever
  // resolved to `any`, these directives would be unused and tsc would fail.
  const d0 = 'dashboard0';
  const ts0 = dashboards[0].json.panels.findIndex((p) => p.type === 'timeseries');
  const p0 = `panel0_${ts0}`;
  ts += `
// @ts-expect-error schemaVersion must be a number
export const canary1: Lit<Dashboard> = { ...${d0}, schemaVersion: '39' };
// @ts-expect-error unknown dashboard property
export const canary2: Lit<Dashboard> = { ...${d0}, panles: [] };
// @ts-expect-error gridPos.w must be a number
export const canary3: AnyPanel = { ...${p0}, gridPos: { h: 8, w: '12', x: 0, y: 0 } } as TimeSeriesPanel;
// @ts-expect-error thresholdsStyle mode 'lines' is not a GraphThresholdsStyleMode
export const canary4: TimeSeriesPanel = { ...(${p0} as TimeSeriesPanel), fieldConfig: { defaults: { custom: { thresholdsStyle: { mode: 'lines' } } }, overrides: [] } };
// @ts-expect-error legend placement 'top' is not a LegendPlacement
export const canary5: TimeSeriesPanel = { ...(${p0} as TimeSeriesPanel), options: { legend: { calcs: [], placement: 'top', showLegend: true } } };
// @ts-expect-error panel type 'graph' (removed in Grafana 11) is not supported
export const canary6: AnyPanel = { ...(${p0} as TimeSeriesPanel), type: 'graph' };
`;
  const rows = dashboards.flatMap(({ json }, i) => (json.panels ?? []).map((p, j) => (p.type === 'row' ? `panel${i}_${j}` : null))).filter(Boolean);
  if (rows.length) {
    ts += `// @ts-expect-error the panels of a row are type-checked too
export const canary7: Row = { ...${rows[0]}, panels: [{ ...(${p0} as TimeSeriesPanel), type: 'graph' }] };
`;
  }
  writeFileSync(out, ts);
}

const dashboards = dir ? load(dir) : [];
switch (cmd) {
  case 'queries':
    for (const q of queries(dashboards, parseVars(rest))) console.log(q.expr);
    break;
  case 'rules': {
    const rules = queries(dashboards, {}).map((q, i) => ({
      record: `dashboard_query_${i}`,
      expr: q.expr,
      labels: { source: `${q.file} ${q.where}` },
    }));
    console.log(JSON.stringify({ groups: [{ name: 'dashboard-queries', rules }] }, null, 2));
    break;
  }
  case 'static': {
    const errors = staticChecks(dashboards, rest[0], rest[1]);
    for (const e of errors) console.error(e);
    process.exit(errors.length ? 1 : 0);
  }
  case 'tsgen':
    tsgen(dashboards, rest[0]);
    break;
  default:
    console.error('usage: check.mjs queries|rules|static|tsgen DIR ...');
    process.exit(2);
}
