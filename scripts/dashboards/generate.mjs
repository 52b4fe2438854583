// Generates the bundled Grafana dashboards (dashboards/*.json) from one
// description, so that every panel gets the same datasource wiring, variables
// and threshold conventions. Run: `node scripts/dashboards/generate.mjs [OUT_DIR]`
// (default OUT_DIR: dashboards/); scripts/check-dashboards.sh fails when the
// committed JSON differs from what this script produces.
//
// Only metric names of the SPEC (scripts/dashboards/spec-metrics.txt) are
// used, and no recording rule: the dashboards must work on a Prometheus that
// has not loaded alerts/.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const outDir = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dashboards');

// Grafana 10.4+ reads schemaVersion 39 and migrates it forward; newer
// versions of the JSON model would not load on older Grafana.
const SCHEMA_VERSION = 39;
const MIB512 = 536870912;
const GIB1 = 1073741824;
const DS = { type: 'prometheus', uid: '${datasource}' };
const C = 'cluster=~"$cluster"';

let nextId = 1;
let cursor = { x: 0, y: 0, rowH: 0 };

function place(w, h) {
  if (cursor.x + w > 24) cursor = { x: 0, y: cursor.y + cursor.rowH, rowH: 0 };
  const pos = { h, w, x: cursor.x, y: cursor.y };
  cursor.x += w;
  cursor.rowH = Math.max(cursor.rowH, h);
  return pos;
}

function targets(queries) {
  return queries.map((q, i) => ({
    datasource: DS,
    editorMode: 'code',
    expr: q.expr,
    instant: q.instant ?? false,
    legendFormat: q.legend ?? '__auto',
    range: !(q.instant ?? false),
    refId: String.fromCharCode(65 + i),
    ...(q.format ? { format: q.format } : {}),
  }));
}

function steps(list) {
  // list: [[value|null, color], ...]; the first step is the base (value null).
  return { mode: 'absolute', steps: list.map(([value, color]) => ({ color, value })) };
}

const lagSteps = steps([[null, 'green'], [MIB512, 'orange'], [GIB1, 'red']]);

function timeseries({ title, description, queries, unit, thresholds, w = 12, h = 8, min }) {
  return {
    datasource: DS,
    description,
    fieldConfig: {
      defaults: {
        color: { mode: 'palette-classic' },
        custom: {
          drawStyle: 'line',
          fillOpacity: 0,
          lineWidth: 1,
          showPoints: 'never',
          spanNulls: false,
          thresholdsStyle: { mode: thresholds ? 'line' : 'off' },
        },
        ...(min !== undefined ? { min } : {}),
        thresholds: thresholds ?? steps([[null, 'green']]),
        unit,
      },
      overrides: [],
    },
    gridPos: place(w, h),
    id: nextId++,
    options: {
      legend: { calcs: ['lastNotNull', 'max'], displayMode: 'table', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    targets: targets(queries),
    title,
    type: 'timeseries',
  };
}

function stat({ title, description, queries, unit = 'none', thresholds, mappings = [], w = 4, h = 4, calc = 'lastNotNull' }) {
  return {
    datasource: DS,
    description,
    fieldConfig: {
      defaults: {
        color: { mode: 'thresholds' },
        mappings,
        thresholds: thresholds ?? steps([[null, 'green']]),
        unit,
      },
      overrides: [],
    },
    gridPos: place(w, h),
    id: nextId++,
    options: {
      colorMode: 'background',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      reduceOptions: { calcs: [calc], fields: '', values: false },
      textMode: 'value_and_name',
    },
    targets: targets(queries),
    title,
    type: 'stat',
  };
}

// `columns`: per-column display, keyed by the column's shown name (after
// `rename`): { mappings, unit, color: true for a colored cell background }.
function table({ title, description, queries, w = 12, h = 8, unit = 'none', hide = [], rename = {}, columns = {} }) {
  const overrides = Object.entries(columns).map(([name, c]) => ({
    matcher: { id: 'byName', options: name },
    properties: [
      ...(c.mappings ? [{ id: 'mappings', value: c.mappings }] : []),
      ...(c.unit ? [{ id: 'unit', value: c.unit }] : []),
      ...(c.color ? [{ id: 'custom.cellOptions', value: { type: 'color-background' } }] : []),
    ],
  }));
  return {
    datasource: DS,
    description,
    fieldConfig: {
      defaults: { color: { mode: 'thresholds' }, mappings: [], thresholds: steps([[null, 'green']]), unit },
      overrides,
    },
    gridPos: place(w, h),
    id: nextId++,
    options: { cellHeight: 'sm', frameIndex: 0, showHeader: true },
    targets: targets(queries.map((q) => ({ ...q, instant: true, format: 'table' }))),
    title,
    transformations: [
      { id: 'merge', options: {} },
      {
        id: 'organize',
        options: {
          excludeByName: Object.fromEntries(['Time', '__name__', 'job', 'instance', ...hide].map((k) => [k, true])),
          ...(Object.keys(rename).length ? { renameByName: rename } : {}),
        },
      },
    ],
    type: 'table',
  };
}

function stateTimeline({ title, description, queries, mappings, thresholds, w = 12, h = 8 }) {
  return {
    datasource: DS,
    description,
    fieldConfig: {
      defaults: {
        color: { mode: 'thresholds' },
        custom: { fillOpacity: 80, lineWidth: 0 },
        mappings,
        thresholds: thresholds ?? steps([[null, 'green']]),
      },
      overrides: [],
    },
    gridPos: place(w, h),
    id: nextId++,
    options: {
      alignValue: 'left',
      legend: { calcs: [], displayMode: 'list', placement: 'bottom', showLegend: false },
      mergeValues: true,
      rowHeight: 0.9,
      showValue: 'auto',
      tooltip: { mode: 'single', sort: 'none' },
    },
    targets: targets(queries),
    title,
    type: 'state-timeline',
  };
}

// A collapsed row on a line of its own; its panels (laid out below it) stay
// inside it until it is expanded, so dashboards of clusters without the feature
// show one closed bar instead of empty panels.
function row(title, panels) {
  if (cursor.x > 0) cursor = { x: 0, y: cursor.y + cursor.rowH, rowH: 0 };
  const r = { collapsed: true, gridPos: { h: 1, w: 24, x: 0, y: cursor.y }, id: nextId++, panels: [], title, type: 'row' };
  cursor = { x: 0, y: cursor.y + 1, rowH: 0 };
  r.panels = panels();
  return r;
}

const valueText = (pairs) => [
  { options: Object.fromEntries(pairs.map(([v, text, color], i) => [String(v), { color, index: i, text }])), type: 'value' },
];

function variables(extra = []) {
  const q = (name, label, query) => ({
    datasource: DS,
    includeAll: true,
    label,
    multi: true,
    name,
    options: [],
    query,
    refresh: 2,
    regex: '',
    sort: 1,
    type: 'query',
  });
  return {
    list: [
      {
        hide: 0,
        includeAll: false,
        label: 'Data source',
        multi: false,
        name: 'datasource',
        options: [],
        query: 'prometheus',
        refresh: 1,
        regex: '',
        type: 'datasource',
      },
      q('cluster', 'Cluster', 'label_values(pg_replication_up, cluster)'),
      q('node', 'Node', `label_values(pg_replication_up{${C}}, node)`),
      // Every configured non-primary node has a standby_streaming series, even
      // when no upstream lists it any more, so a vanished standby stays selectable.
      q('standby', 'Standby', `label_values(pg_replication_standby_streaming{${C}}, node)`),
      ...extra.map((e) => q(...e)),
    ],
  };
}

function dashboard({ uid, title, description, panels, extraVars }) {
  return {
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    links: [
      { asDropdown: false, icon: 'external link', includeVars: true, keepTime: true, tags: ['pg_replication'], targetBlank: false, title: 'Replication dashboards', tooltip: '', type: 'dashboards', url: '' },
    ],
    panels,
    refresh: '30s',
    schemaVersion: SCHEMA_VERSION,
    tags: ['postgresql', 'replication', 'pg_replication'],
    templating: variables(extraVars),
    time: { from: 'now-3h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    title,
    uid,
    version: 1,
  };
}

function build(spec) {
  nextId = 1;
  cursor = { x: 0, y: 0, rowH: 0 };
  const panels = spec.panels();
  return dashboard({ ...spec, panels });
}

const overview = {
  uid: 'pg-replication-overview',
  title: 'PostgreSQL replication / Overview',
  description: 'Cluster topology as seen by pg_replication_exporter: roles, timelines, standbys, sync quorum, RPO, failovers, node and exporter health; Patroni and the front-ends (VIP, pgpool-II, pgbouncer) in collapsed rows.',
  panels: () => [
    stat({
      title: 'Primaries', description: 'Reachable nodes not in recovery. 1 is healthy; 0 = no primary, more than 1 = split brain.',
      queries: [{ expr: `pg_replication_cluster_primaries{${C}}`, legend: '{{cluster}}' }],
      thresholds: steps([[null, 'red'], [1, 'green'], [2, 'red']]),
    }),
    stat({
      title: 'Nodes up / configured', description: 'Nodes the exporter polled successfully, out of the nodes configured.',
      queries: [
        { expr: `pg_replication_cluster_nodes_up{${C}}`, legend: '{{cluster}} up' },
        { expr: `pg_replication_cluster_nodes_configured{${C}}`, legend: '{{cluster}} configured' },
      ],
      thresholds: steps([[null, 'blue']]),
    }),
    stat({
      title: 'Standbys streaming / configured', description: 'Configured standbys that stream (from an upstream or their own WAL receiver), out of all configured standbys.',
      queries: [
        { expr: `sum by (cluster) (pg_replication_standby_streaming{${C}})`, legend: '{{cluster}} streaming' },
        { expr: `count by (cluster) (pg_replication_standby_streaming{${C}})`, legend: '{{cluster}} configured' },
      ],
      thresholds: steps([[null, 'blue']]),
    }),
    stat({
      title: 'Sync standbys healthy / required', description: 'On the primary: walsenders streaming with sync_state sync or quorum, and the number synchronous_standby_names requires.',
      queries: [
        { expr: `pg_replication_sync_standbys_healthy{${C}} and on (cluster, node) pg_replication_node_is_primary == 1`, legend: '{{node}} healthy' },
        { expr: `pg_replication_sync_standbys_required{${C}} and on (cluster, node) pg_replication_node_is_primary == 1`, legend: '{{node}} required' },
      ],
      thresholds: steps([[null, 'blue']]),
    }),
    stat({
      title: 'RPO', description: 'WAL on the primary not yet flushed by the most advanced standby: what a failover now would lose.',
      queries: [{ expr: `pg_replication_cluster_rpo_bytes{${C}}`, legend: '{{cluster}}' }],
      unit: 'bytes', thresholds: lagSteps,
    }),
    stat({
      title: 'Failovers in range', description: 'Primary changes seen by the exporter in the selected time range.',
      queries: [{ expr: `round(increase(pg_replication_cluster_failovers_total{${C}}[$__range]))`, legend: '{{cluster}}', instant: true }],
      thresholds: steps([[null, 'green'], [1, 'orange']]),
    }),
    stateTimeline({
      title: 'Role per node', description: 'primary = not in recovery (pg_is_in_recovery() false). Gaps mean the node could not be polled.',
      queries: [{ expr: `pg_replication_node_is_primary{${C}, node=~"$node"}`, legend: '{{node}}' }],
      mappings: valueText([[0, 'standby', 'blue'], [1, 'primary', 'green']]),
    }),
    stateTimeline({
      title: 'Node up', description: 'pg_replication_up: 1 if the last poll of the node succeeded.',
      queries: [{ expr: `pg_replication_up{${C}, node=~"$node"}`, legend: '{{node}}' }],
      mappings: valueText([[0, 'down', 'red'], [1, 'up', 'green']]),
    }),
    timeseries({
      title: 'Timeline per node', description: 'Current timeline ID of each node; nodes of one cluster on different timelines have diverged.',
      queries: [{ expr: `pg_replication_node_timeline_id{${C}, node=~"$node"}`, legend: '{{node}}' }],
      unit: 'none',
    }),
    timeseries({
      title: 'Distinct timelines and system identifiers', description: 'Distinct values among reachable nodes; above 1 = divergence or a node of another cluster.',
      queries: [
        { expr: `pg_replication_cluster_timelines{${C}}`, legend: '{{cluster}} timelines' },
        { expr: `pg_replication_cluster_system_identifiers{${C}}`, legend: '{{cluster}} system identifiers' },
      ],
      unit: 'none', thresholds: steps([[null, 'green'], [2, 'red']]),
    }),
    stat({
      title: 'Last failover', description: 'When the exporter last saw the primary change.',
      queries: [{ expr: `pg_replication_cluster_last_failover_timestamp_seconds{${C}} * 1000`, legend: '{{cluster}}' }],
      unit: 'dateTimeFromNow', thresholds: steps([[null, 'blue']]), w: 6,
    }),
    stat({
      title: 'Last failover duration', description: 'How long the cluster had no writable primary during the last failover (observed RTO).',
      queries: [{ expr: `pg_replication_cluster_last_failover_duration_seconds{${C}}`, legend: '{{cluster}}' }],
      unit: 's', thresholds: steps([[null, 'green'], [30, 'orange'], [120, 'red']]), w: 6,
    }),
    stat({
      title: 'Privilege missing', description: "1 when the exporter's role cannot see the replication columns (GRANT pg_monitor).",
      queries: [{ expr: `pg_replication_privilege_missing{${C}, node=~"$node"}`, legend: '{{node}}' }],
      mappings: valueText([[0, 'ok', 'green'], [1, 'missing', 'red']]), w: 12,
    }),
    timeseries({
      title: 'Poll duration', description: 'Duration of the last poll of each node (one SQL round trip).',
      queries: [{ expr: `pg_replication_poll_duration_seconds{${C}, node=~"$node"}`, legend: '{{node}}' }],
      unit: 's',
    }),
    timeseries({
      title: 'Poll errors', description: 'Failed polls per second by kind: connect, auth, tls, timeout, query, privilege.',
      queries: [{ expr: `sum by (cluster, node, kind) (rate(pg_replication_poll_errors_total{${C}, node=~"$node"}[$__rate_interval]))`, legend: '{{node}} {{kind}}' }],
      unit: 'reqps', min: 0,
    }),
    table({
      title: 'Nodes', description: 'Server version and system identifier of each node (pg_replication_node_info), with its upstream (pg_replication_upstream_info).',
      queries: [
        { expr: `pg_replication_node_info{${C}, node=~"$node"}` },
        { expr: `pg_replication_upstream_info{${C}, node=~"$node"}` },
      ],
      hide: ['Value #A', 'Value #B'], w: 24,
    }),
    table({
      title: 'Exporter build', description: 'pg_replication_exporter version and revision.',
      queries: [{ expr: 'pg_replication_exporter_build_info' }],
      hide: ['Value #A'], w: 16, h: 4,
    }),
    stat({
      title: 'Config reload', description: 'Whether the last configuration load (the start, SIGHUP, POST /-/reload) was applied; "refused" means the exporter still runs its previous configuration (its log names the key).',
      queries: [{ expr: 'pg_replication_exporter_config_last_reload_successful', legend: '{{instance}}' }],
      mappings: valueText([[0, 'refused', 'red'], [1, 'applied', 'green']]), w: 8, h: 4,
    }),
    // SPEC section 8; every series is absent for a cluster without [cluster.patroni].
    // Each query uses a metric no other query uses: tests/e2e_prometheus.rs
    // allowlists these empty queries by metric name.
    row('Patroni', () => [
      stat({
        title: 'Failover candidates', description: "Members Patroni would promote now, by Patroni's own rule for its version (nofailover tag, synchronous_mode, maximum_lag_on_failover against the exporter's positions, timeline). 0 = no automatic failover; always 0 in maintenance mode.",
        queries: [{ expr: `pg_replication_patroni_failover_candidates{${C}}`, legend: '{{cluster}}' }],
        thresholds: steps([[null, 'red'], [1, 'orange'], [2, 'green']]), w: 6,
      }),
      stat({
        title: 'Last failover lost data', description: "WAL the old primary had written past the switch LSN of the new timeline (Patroni /history): a lower bound of what the last failover lost. 0 = nothing.",
        queries: [{ expr: `pg_replication_cluster_last_failover_lost_bytes{${C}}`, legend: '{{cluster}}' }],
        unit: 'bytes', thresholds: steps([[null, 'green'], [1, 'red']]), w: 6,
      }),
      stat({
        title: 'Last promotion', description: "Time of the last entry of Patroni's /history (the last promotion; survives exporter restarts).",
        queries: [{ expr: `pg_replication_patroni_last_promotion_timestamp_seconds{${C}} * 1000`, legend: '{{cluster}}' }],
        unit: 'dateTimeFromNow', thresholds: steps([[null, 'blue']]), w: 6,
      }),
      table({
        title: 'Last promoted member', description: "The member promoted by the last entry of Patroni's /history, and the timeline it started.",
        queries: [{ expr: `pg_replication_patroni_last_promotion_info{${C}}` }],
        hide: ['Value'], w: 6, h: 4,
      }),
      stateTimeline({
        title: 'Maintenance mode', description: "Patroni's pause flag: while paused, Patroni neither fails over nor restarts PostgreSQL.",
        queries: [{ expr: `pg_replication_patroni_paused{${C}}`, legend: '{{cluster}}' }],
        mappings: valueText([[0, 'automatic failover', 'green'], [1, 'paused', 'orange']]), w: 8, h: 5,
      }),
      stateTimeline({
        title: 'Leader lock', description: 'Whether a member holds the leader lock in the DCS; unlocked = no leader elected.',
        queries: [{ expr: `pg_replication_patroni_cluster_unlocked{${C}}`, legend: '{{cluster}}' }],
        mappings: valueText([[0, 'held', 'green'], [1, 'unlocked', 'red']]), w: 8, h: 5,
      }),
      stateTimeline({
        title: 'Patroni leader vs SQL primary', description: "Whether Patroni's leader is the single node PostgreSQL reports out of recovery. Gaps: either side unknown (e.g. no primary). A switchover disagrees for seconds.",
        queries: [{ expr: `pg_replication_patroni_leader_mismatch{${C}}`, legend: '{{cluster}}' }],
        mappings: valueText([[0, 'agree', 'green'], [1, 'mismatch', 'red']]), w: 8, h: 5,
      }),
      stateTimeline({
        title: 'Failover candidate per member', description: 'Whether Patroni would promote the member now (see Failover candidates).',
        queries: [{ expr: `pg_replication_patroni_failover_candidate{${C}, node=~"$node"}`, legend: '{{node}}' }],
        mappings: valueText([[0, 'not a candidate', 'orange'], [1, 'candidate', 'green']]),
      }),
      timeseries({
        title: 'DCS last seen vs ttl', description: "Now minus each member's dcs_last_seen, against Patroni's ttl: past the ttl the member's keys have expired (a leader demotes itself unless failsafe mode holds).",
        queries: [
          { expr: `pg_replication_patroni_dcs_last_seen_age_seconds{${C}, node=~"$node"}`, legend: '{{node}}' },
          { expr: `pg_replication_patroni_ttl_seconds{${C}}`, legend: 'ttl {{cluster}}' },
        ],
        unit: 's', min: 0,
      }),
      stateTimeline({
        title: 'Patroni role per member', description: 'One row per member and role it held (leader, standby_leader, sync_standby, quorum_standby, replica); a switchover moves the bar from one row to another.',
        queries: [{ expr: `pg_replication_patroni_role{${C}, node=~"$node"} == 1`, legend: '{{node}} {{role}}' }],
        mappings: valueText([[1, 'current', 'blue']]),
      }),
      stateTimeline({
        title: 'Patroni state per member', description: "One row per member and Patroni state of its PostgreSQL (running, streaming, starting, stopped, crashed, ...; other = a state this exporter does not know).",
        queries: [{ expr: `pg_replication_patroni_state{${C}, node=~"$node"} == 1`, legend: '{{node}} {{state}}' }],
        mappings: valueText([[1, 'current', 'blue']]),
      }),
      timeseries({
        title: 'Timeline switches', description: "Entries in Patroni's /history: each step up is a promotion (switchover or failover).",
        queries: [{ expr: `pg_replication_patroni_timeline_switches{${C}}`, legend: '{{cluster}}' }],
        unit: 'none',
      }),
      table({
        title: 'Patroni members', description: "Patroni version and scope of each member; REST up = the last GET /patroni succeeded; in DCS = listed by /cluster now (0: seen before, its key gone); pending restart; failsafe mode active.",
        queries: [
          { expr: `pg_replication_patroni_info{${C}, node=~"$node"}` },
          { expr: `pg_replication_patroni_up{${C}, node=~"$node"}` },
          { expr: `pg_replication_patroni_member{${C}, node=~"$node"}` },
          { expr: `pg_replication_patroni_pending_restart{${C}, node=~"$node"}` },
          { expr: `pg_replication_patroni_failsafe_active{${C}, node=~"$node"}` },
        ],
        hide: ['Value #A'],
        rename: { 'Value #B': 'REST up', 'Value #C': 'in DCS', 'Value #D': 'pending restart', 'Value #E': 'failsafe' },
      }),
    ]),
    // SPEC section 9; every series is absent for a cluster without
    // [[cluster.endpoint]]. Each pgpool/pgbouncer query uses a metric no other
    // query uses: tests/e2e_prometheus.rs allowlists them by metric name (its
    // cluster has a postgres front-end only).
    row('Front-ends', () => [
      table({
        title: 'Front-ends', description: "Where each front-end (VIP or haproxy: kind postgres; pgpool-II: the backend it writes to) leads, by the exporter's check through it: the polled node (unknown = none of them), whether that session is writable, and whether it meets the endpoint's expect (empty = unknown). Empty 'leads to': the front-end is down.",
        queries: [
          { expr: `pg_replication_endpoint_target{${C}} == 1` },
          { expr: `pg_replication_endpoint_up{${C}}` },
          { expr: `pg_replication_endpoint_is_primary{${C}}` },
          { expr: `pg_replication_endpoint_expectation_met{${C}}` },
        ],
        hide: ['Value #A'],
        rename: { node: 'leads to', 'Value #B': 'up', 'Value #C': 'writable', 'Value #D': 'expectation met' },
        columns: {
          up: { mappings: valueText([[0, 'down', 'red'], [1, 'up', 'green']]), color: true },
          writable: { mappings: valueText([[0, 'standby', 'blue'], [1, 'primary', 'green']]), color: true },
          'expectation met': { mappings: valueText([[0, 'no', 'red'], [1, 'yes', 'green']]), color: true },
        },
        w: 24, h: 6,
      }),
      stateTimeline({
        title: 'Front-end leads to', description: 'One row per front-end and node it led to; a failover the front-end followed moves the bar from one row to another.',
        queries: [{ expr: `pg_replication_endpoint_target{${C}} == 1`, legend: '{{endpoint}} → {{node}}' }],
        mappings: valueText([[1, 'current', 'blue']]),
      }),
      stateTimeline({
        title: 'Front-end up', description: "1 if the exporter's last check through the front-end succeeded (postgres: a session through it; pgpool: SHOW POOL_NODES; pgbouncer: its admin console).",
        queries: [{ expr: `pg_replication_endpoint_up{${C}}`, legend: '{{endpoint}} ({{kind}})' }],
        mappings: valueText([[0, 'down', 'red'], [1, 'up', 'green']]),
      }),
      timeseries({
        title: 'Front-end check duration', description: 'Seconds the last check through each front-end took, connect included when a new session was needed: the latency a client feels.',
        queries: [{ expr: `pg_replication_endpoint_check_duration_seconds{${C}}`, legend: '{{endpoint}}' }],
        unit: 's', min: 0,
      }),
      timeseries({
        title: 'Front-end check errors', description: 'Failed checks per second by kind: connect, auth, tls, timeout (a hung front-end), query.',
        queries: [{ expr: `sum by (cluster, endpoint, kind) (rate(pg_replication_endpoint_errors_total{${C}}[$__rate_interval]))`, legend: '{{endpoint}} {{kind}}' }],
        unit: 'reqps', min: 0,
      }),
      table({
        title: 'pgpool-II backends', description: "SHOW POOL_NODES of each pgpool-II front-end: pgpool's status and role for every backend, whether that role is the node's real one by the direct poll, whether pgpool lists the polled node at all, and the replication delay pgpool reports. node = host:port for a backend that is no polled node.",
        queries: [
          { expr: `pg_replication_pgpool_backend_status{${C}} == 1` },
          { expr: `pg_replication_pgpool_backend_role{${C}} == 1` },
          { expr: `pg_replication_pgpool_backend_role_correct{${C}}` },
          { expr: `pg_replication_pgpool_backend_listed{${C}}` },
          { expr: `pg_replication_pgpool_backend_replication_delay_bytes{${C}}` },
          { expr: `pg_replication_pgpool_backend_replication_delay_seconds{${C}}` },
        ],
        hide: ['Value #A', 'Value #B'],
        rename: { 'Value #C': 'role correct', 'Value #D': 'listed', 'Value #E': 'delay', 'Value #F': 'delay (time)' },
        columns: {
          status: { mappings: valueText([['up', 'up', 'green'], ['waiting', 'waiting', 'blue'], ['down', 'down', 'red'], ['quarantine', 'quarantine', 'orange'], ['unused', 'unused', 'text']]), color: true },
          'role correct': { mappings: valueText([[0, 'wrong', 'red'], [1, 'correct', 'green']]), color: true },
          listed: { mappings: valueText([[0, 'not listed', 'orange'], [1, 'listed', 'green']]), color: true },
          delay: { unit: 'bytes' },
          'delay (time)': { unit: 's' },
        },
        w: 24,
      }),
      timeseries({
        title: 'pgpool-II selects per backend', description: 'SELECT statements per second pgpool-II sends to each backend (select_cnt): where its load balancing puts the reads.',
        queries: [{ expr: `rate(pg_replication_pgpool_backend_selects_total{${C}}[$__rate_interval])`, legend: '{{endpoint}} {{node}}' }],
        unit: 'short', min: 0,
      }),
      timeseries({
        title: 'pgpool-II health check failures', description: "Failed pgpool-II health checks per second per backend (SHOW POOL_HEALTH_CHECK_STATS, 4.1+): failures past health_check_max_retries detach the node.",
        queries: [{ expr: `rate(pg_replication_pgpool_backend_health_check_failures_total{${C}}[$__rate_interval])`, legend: '{{endpoint}} {{node}}' }],
        unit: 'short', min: 0,
      }),
      table({
        title: 'pgbouncer databases', description: 'SHOW DATABASES of each pgbouncer: the node each database routes to (host:port when no polled node has that address), and whether that meets expect_databases (empty = no expectation, or unknown).',
        queries: [
          { expr: `pg_replication_pgbouncer_database_target{${C}} == 1` },
          { expr: `pg_replication_pgbouncer_database_expectation_met{${C}}` },
        ],
        hide: ['Value #A'],
        rename: { node: 'routes to', 'Value #B': 'expectation met' },
        columns: {
          'expectation met': { mappings: valueText([[0, 'no', 'red'], [1, 'yes', 'green']]), color: true },
        },
      }),
      timeseries({
        title: 'pgbouncer clients waiting', description: 'Clients of each pgbouncer database waiting for a server connection (SHOW POOLS cl_waiting, summed over its pools).',
        queries: [{ expr: `pg_replication_pgbouncer_clients_waiting{${C}}`, legend: '{{endpoint}} {{database}}' }],
        unit: 'short', min: 0, w: 6,
      }),
      timeseries({
        title: 'pgbouncer oldest wait', description: 'How long the oldest waiting client of each pgbouncer database has waited (SHOW POOLS maxwait). Line: 10 s, the alert threshold.',
        queries: [{ expr: `pg_replication_pgbouncer_max_wait_seconds{${C}}`, legend: '{{endpoint}} {{database}}' }],
        unit: 's', min: 0, thresholds: steps([[null, 'green'], [10, 'red']]), w: 6,
      }),
    ]),
  ],
};

const lag = {
  uid: 'pg-replication-lag',
  title: 'PostgreSQL replication / Lag',
  description: 'Replication lag per standby from both sides: the upstream walsender (bytes and seconds per stage) and the standby itself. Thresholds: 512 MiB warning, 1 GiB critical.',
  panels: () => [
    timeseries({
      title: 'Lag bytes per stage (upstream view)', description: "Bytes between the sending node's position and each stage's LSN of pg_stat_replication (sent ≤ write ≤ flush ≤ replay). Lines: 512 MiB warning, 1 GiB critical.",
      queries: [{ expr: `pg_replication_lag_bytes{${C}, standby=~"$standby"}`, legend: '{{standby}} {{stage}} (from {{node}})' }],
      unit: 'bytes', thresholds: lagSteps, w: 24, min: 0,
    }),
    timeseries({
      title: 'Lag seconds per stage (upstream view)', description: 'write_lag, flush_lag and replay_lag of pg_stat_replication. Absent (not 0) when PostgreSQL reports NULL with bytes still outstanding.',
      queries: [{ expr: `pg_replication_lag_seconds{${C}, standby=~"$standby"}`, legend: '{{standby}} {{stage}} (from {{node}})' }],
      unit: 's', min: 0,
    }),
    timeseries({
      title: 'Replay lag bytes (standby view)', description: "Primary's current LSN minus the standby's replay LSN, read on the standby: works when the primary no longer lists it.",
      queries: [{ expr: `pg_replication_standby_lag_bytes{${C}, node=~"$standby"}`, legend: '{{node}}' }],
      unit: 'bytes', thresholds: lagSteps, min: 0,
    }),
    timeseries({
      title: 'Replay lag seconds (standby view)', description: "How long ago the primary was where the standby's replay is now; 0 when caught up, even on an idle primary.",
      queries: [{ expr: `pg_replication_standby_lag_seconds{${C}, node=~"$standby"}`, legend: '{{node}}' }],
      unit: 's', thresholds: steps([[null, 'green'], [300, 'orange'], [900, 'red']]), min: 0,
    }),
    timeseries({
      title: 'WAL rate', description: 'rate() of each node position: WAL generation on the primary, replay speed on standbys.',
      queries: [{ expr: `rate(pg_replication_node_wal_lsn_bytes{${C}, node=~"$node"}[$__rate_interval])`, legend: '{{node}}' }],
      unit: 'Bps', min: 0,
    }),
    table({
      title: 'Walsenders', description: 'State and sync state of every walsender (pg_stat_replication), by sending node and standby.',
      queries: [
        { expr: `pg_replication_standby_state{${C}, standby=~"$standby"} == 1` },
        { expr: `pg_replication_sync_state{${C}, standby=~"$standby"} == 1` },
        { expr: `pg_replication_sync_priority{${C}, standby=~"$standby"}` },
      ],
      hide: ['Value #A', 'Value #B'],
    }),
    stateTimeline({
      title: 'Standby streaming', description: 'Every configured standby: streaming per an upstream or its own WAL receiver.',
      queries: [{ expr: `pg_replication_standby_streaming{${C}, node=~"$standby"}`, legend: '{{node}}' }],
      mappings: valueText([[0, 'not streaming', 'red'], [1, 'streaming', 'green']]),
    }),
    timeseries({
      title: 'WAL receiver status', description: "Standby's pg_stat_wal_receiver status (none = no receiver running); one line per status, 1 = current.",
      queries: [{ expr: `pg_replication_wal_receiver_status{${C}, node=~"$standby"} == 1`, legend: '{{node}} {{status}}' }],
      unit: 'none',
    }),
    timeseries({
      title: 'Reply and last message age', description: "Upstream: age of the standby's last reply. Standby: age of the last message from its upstream.",
      queries: [
        { expr: `pg_replication_standby_reply_age_seconds{${C}, standby=~"$standby"}`, legend: 'reply {{standby}} (to {{node}})' },
        { expr: `pg_replication_wal_receiver_last_message_age_seconds{${C}, node=~"$standby"}`, legend: 'last message {{node}}' },
      ],
      unit: 's', min: 0,
    }),
    timeseries({
      title: 'Receive vs replay position', description: "Standby: bytes received but not yet replayed (pg_last_wal_receive_lsn() - replay LSN).",
      queries: [{ expr: `pg_replication_node_receive_lsn_bytes{${C}, node=~"$standby"} - on (cluster, node) pg_replication_node_wal_lsn_bytes`, legend: '{{node}}' }],
      unit: 'bytes',
    }),
    stateTimeline({
      title: 'Replay paused', description: 'Standby: WAL replay paused or pause requested.',
      queries: [{ expr: `pg_replication_node_replay_paused{${C}, node=~"$standby"}`, legend: '{{node}}' }],
      mappings: valueText([[0, 'replaying', 'green'], [1, 'paused', 'orange']]),
    }),
    timeseries({
      title: 'Time since last replayed transaction', description: "now - pg_last_xact_replay_timestamp() on the standby. Grows on an idle primary too: prefer 'Replay lag seconds'.",
      queries: [{ expr: `time() - pg_replication_node_last_replay_timestamp_seconds{${C}, node=~"$standby"}`, legend: '{{node}}' }],
      unit: 's',
    }),
    // Replicas by design (SPEC section 12): delayed, archive-fed, logical subscribers, archiving.
    timeseries({
      title: 'Time lag beyond the delay', description: 'Replay lag seconds minus the configured apply delay (recovery_min_apply_delay), as the lag alerts judge it. Lines: 5m warning, 15m critical.',
      queries: [
        { expr: `clamp_min(pg_replication_standby_lag_seconds{${C}, node=~"$standby"} - on (cluster, node) group_left () pg_replication_node_apply_delay_seconds, 0) or pg_replication_standby_lag_seconds{${C}, node=~"$standby"}`, legend: '{{node}} beyond delay' },
        { expr: `pg_replication_node_apply_delay_seconds{${C}, node=~"$standby"}`, legend: '{{node}} apply delay' },
      ],
      unit: 's', min: 0, thresholds: steps([[null, 'green'], [300, 'orange'], [900, 'red']]),
    }),
    stateTimeline({
      title: 'Recovery source', description: 'How each standby is fed: stream (WAL receiver), archive (restore_command), none. Declared archive-fed standbys (expect_streaming = false) are meant to read archive.',
      queries: [{ expr: `max by (node) (pg_replication_node_recovery_source{${C}, node=~"$standby"} * on (source) group_left () (label_replace(vector(1), "source", "stream", "", "") or label_replace(vector(2), "source", "archive", "", "") or label_replace(vector(3), "source", "none", "", "")))`, legend: '{{node}}' }],
      mappings: valueText([[1, 'stream', 'green'], [2, 'archive', 'orange'], [3, 'none', 'red']]),
    }),
    timeseries({
      title: 'Subscription lag', description: "Logical subscriptions: publisher's current LSN minus the subscription's latest_end_lsn (the slot's confirmed_flush_lsn while no worker runs), when the publisher is polled too.",
      queries: [{ expr: `pg_replication_subscription_lag_bytes{${C}}`, legend: '{{node}} {{subscription}}' }],
      unit: 'bytes', min: 0,
    }),
    timeseries({
      title: 'Subscription workers and errors', description: 'Apply worker running (1/0) per subscription, and apply/sync errors per second (PostgreSQL 15+).',
      queries: [
        { expr: `pg_replication_subscription_worker_running{${C}}`, legend: '{{subscription}} worker' },
        { expr: `rate(pg_replication_subscription_apply_errors_total{${C}}[$__rate_interval])`, legend: '{{subscription}} apply errors/s' },
        { expr: `rate(pg_replication_subscription_sync_errors_total{${C}}[$__rate_interval])`, legend: '{{subscription}} sync errors/s' },
      ],
      unit: 'short', min: 0,
    }),
    timeseries({
      title: 'WAL archiving', description: 'pg_stat_archiver: files archived and failed per second, per node.',
      queries: [
        { expr: `rate(pg_replication_archiver_archived_total{${C}}[$__rate_interval])`, legend: '{{node}} archived/s' },
        { expr: `rate(pg_replication_archiver_failed_total{${C}}[$__rate_interval])`, legend: '{{node}} failed/s' },
      ],
      unit: 'short', min: 0,
    }),
    timeseries({
      title: 'Since last archived', description: 'Seconds since the last successful archive_command (pg_stat_archiver.last_archived_time).',
      queries: [{ expr: `pg_replication_archiver_last_archived_age_seconds{${C}}`, legend: '{{node}}' }],
      unit: 's', min: 0,
    }),
  ],
};

const slots = {
  uid: 'pg-replication-slots',
  title: 'PostgreSQL replication / Slots',
  description: 'Replication slots on every node: retained WAL, wal_status, safe_wal_size, inactive slots and the xmin horizons they hold back.',
  extraVars: [['slot', 'Slot', `label_values(pg_replication_slot_active{${C}, node=~"$node"}, slot)`]],
  panels: () => {
    const S = `${C}, node=~"$node", slot=~"$slot"`;
    return [
      timeseries({
        title: 'Retained WAL per slot', description: 'Node position minus restart_lsn: WAL the server must keep for the slot. Lines: 512 MiB warning, 1 GiB critical.',
        queries: [{ expr: `pg_replication_slot_retained_bytes{${S}}`, legend: '{{node}} {{slot}}' }],
        unit: 'bytes', thresholds: lagSteps, w: 24, min: 0,
      }),
      table({
        title: 'WAL status', description: 'wal_status of each slot: reserved, extended, unreserved (WAL goes at the next checkpoint), lost.',
        queries: [{ expr: `pg_replication_slot_wal_status{${S}} == 1` }],
        hide: ['Value'],
      }),
      table({
        title: 'Inactive slots retaining WAL', description: 'Slots without a consumer, with the WAL they pin.',
        queries: [{ expr: `pg_replication_slot_retained_bytes{${S}} and on (cluster, node, slot) pg_replication_slot_active == 0` }],
        unit: 'bytes',
      }),
      stateTimeline({
        title: 'Slot active', description: 'Whether a consumer is connected to the slot.',
        queries: [{ expr: `pg_replication_slot_active{${S}}`, legend: '{{node}} {{slot}}' }],
        mappings: valueText([[0, 'inactive', 'orange'], [1, 'active', 'green']]),
      }),
      timeseries({
        title: 'safe_wal_size', description: 'WAL that can still be written before the slot becomes unreserved (only with max_slot_wal_keep_size set).',
        queries: [{ expr: `pg_replication_slot_safe_wal_size_bytes{${S}}`, legend: '{{node}} {{slot}}' }],
        unit: 'bytes', thresholds: steps([[null, 'red'], [MIB512, 'green']]),
      }),
      timeseries({
        title: 'xmin age', description: 'age() of the xmin and catalog_xmin each slot holds back, in transactions; VACUUM cannot remove newer rows.',
        queries: [
          { expr: `pg_replication_slot_xmin_age{${S}}`, legend: '{{node}} {{slot}} xmin' },
          { expr: `pg_replication_slot_catalog_xmin_age{${S}}`, legend: '{{node}} {{slot}} catalog_xmin' },
        ],
        unit: 'short', thresholds: steps([[null, 'green'], [100000000, 'orange']]), min: 0,
      }),
      timeseries({
        title: 'Logical slots: confirmed flush lag', description: 'Node position minus confirmed_flush_lsn of logical slots.',
        queries: [{ expr: `pg_replication_slot_confirmed_flush_lag_bytes{${S}}`, legend: '{{node}} {{slot}}' }],
        unit: 'bytes', min: 0,
      }),
      timeseries({
        title: 'Inactive for', description: 'PostgreSQL 17+: time since the slot became inactive.',
        queries: [{ expr: `time() - pg_replication_slot_inactive_since_timestamp_seconds{${S}}`, legend: '{{node}} {{slot}}' }],
        unit: 's', min: 0,
      }),
      table({
        title: 'Invalidated and conflicting slots', description: 'PostgreSQL 17+: invalidated slots with their reason; PostgreSQL 16+: logical slots on standbys in conflict with recovery.',
        queries: [
          { expr: `pg_replication_slot_invalidated{${S}} == 1` },
          { expr: `pg_replication_slot_conflicting{${S}} == 1` },
        ],
        w: 24,
      }),
    ];
  },
};

for (const spec of [overview, lag, slots]) {
  const file = join(outDir, `${spec.uid}.json`);
  writeFileSync(file, JSON.stringify(build(spec), null, 2) + '\n');
}
