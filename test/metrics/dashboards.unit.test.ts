import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { exportedMetrics, logCatalog, type LogCatalog, type MetricFamily } from './emitted.js';

/**
 * The shipped dashboards (deploy/grafana, deploy/datadog, deploy/kibana) query only what the code
 * emits: metric families its prom-client registries expose (with their labels), and the fields
 * and messages of the ledger's JSON event lines. Each check returns its problems, so a dashboard
 * with a wrong name is shown to fail too.
 */

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** The seed's log messages and fields (Monitoring document): each has a place in both log dashboards. */
const SEED_MESSAGES = [
  'Target Copied',
  'Port Stolen',
  'Port Mirrored',
  'Port Released',
  'Session Started',
  'Session Ended',
];
const SEED_FIELDS = [
  'target',
  'client_hostname',
  'client_name',
  'client_user',
  'client_id',
  'session_id',
  'session_duration',
  'port',
  'http_filter',
  'scale_down',
];
/** Fields a log shipper adds, not our services: fluentd's logstash_format time. */
const SHIPPER_FIELDS = new Set(['@timestamp']);

interface Catalog {
  metrics: Map<string, MetricFamily>;
  log: LogCatalog;
}

/** A field the lines naming these messages carry (any event line when none or several are named). */
function fieldProblem(c: Catalog, field: string, messages: string[], where: string): string | undefined {
  if (SHIPPER_FIELDS.has(field)) return undefined;
  const types = messages.map((m) => c.log.messages.get(m));
  if (types.length === 1 && types[0]) {
    return c.log.declares(types[0], field) ? undefined : `${where}: no "${messages[0]}" line has field ${field}`;
  }
  return c.log.any(field) ? undefined : `${where}: no log line has field ${field}`;
}

function messageProblems(c: Catalog, messages: string[], where: string): string[] {
  return messages.filter((m) => !c.log.messages.has(m)).map((m) => `${where}: no log line says "${m}"`);
}

// ---------------------------------------------------------------- Grafana (PromQL)

interface GrafanaPanel {
  title: string;
  targets: Array<{ expr: string }>;
}

/** Sample names a Prometheus family exposes → its labels (`le` on a histogram's buckets). */
function promSamples(metrics: Map<string, MetricFamily>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [name, f] of metrics) {
    out.set(name, f.labels);
    if (f.type === 'histogram') {
      out.set(`${name}_bucket`, new Set([...f.labels, 'le']));
      out.set(`${name}_sum`, f.labels);
      out.set(`${name}_count`, f.labels);
    }
  }
  return out;
}

function grafanaProblems(c: Catalog, dash: { panels: GrafanaPanel[] }): { problems: string[]; used: Set<string> } {
  const samples = promSamples(c.metrics);
  const problems: string[] = [];
  const used = new Set<string>();
  for (const p of dash.panels) {
    if (p.targets.length === 0) problems.push(`panel "${p.title}" has no query`);
    for (const t of p.targets) {
      const names = t.expr.match(/\bmirrord_[a-z_]+\b/g) ?? [];
      if (names.length === 0) problems.push(`panel "${p.title}" queries no mirrord metric: ${t.expr}`);
      const labels = new Set<string>();
      for (const n of names) {
        const l = samples.get(n);
        if (!l) problems.push(`panel "${p.title}" queries ${n}, which is not exported`);
        else {
          for (const x of l) labels.add(x);
          used.add(c.metrics.has(n) ? n : n.replace(/_(bucket|sum|count)$/, ''));
        }
      }
      const named = [
        ...[...t.expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',')),
        ...[...t.expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => m[1]!.split(',').map((kv) => kv.split(/[=!~]/)[0]!)),
      ]
        .map((s) => s.trim())
        .filter(Boolean);
      for (const l of named)
        if (!labels.has(l))
          problems.push(`panel "${p.title}" uses label ${l}, which ${names.join(', ')} does not have`);
    }
  }
  return { problems, used };
}

// ---------------------------------------------------------------- Datadog

/** The OpenMetrics check's settings, from its Autodiscovery annotations (one mapping for all). */
function openMetricsSettings(yamlText: string): { namespace: string; prefix: string } {
  const found = new Set<string>();
  for (const doc of parseAllDocuments(yamlText)) {
    const d = doc.toJS() as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
    for (const [k, v] of Object.entries(d.spec.template.metadata.annotations)) {
      if (!/^ad\.datadoghq\.com\/[\w-]+\.checks$/.test(k)) continue;
      const checks = JSON.parse(v) as {
        openmetrics: {
          instances: Array<{ openmetrics_endpoint: string; namespace: string; raw_metric_prefix?: string }>;
        };
      };
      for (const i of checks.openmetrics.instances) {
        assert.ok(i.openmetrics_endpoint.endsWith('/metrics'), `${k}: ${i.openmetrics_endpoint}`);
        found.add(JSON.stringify({ namespace: i.namespace, prefix: i.raw_metric_prefix ?? '' }));
      }
    }
  }
  assert.equal(found.size, 1, `every OpenMetrics instance names metrics alike: ${[...found].join(' ')}`);
  return JSON.parse([...found][0]!) as { namespace: string; prefix: string };
}

/**
 * Datadog's names for our families (OpenMetrics check, latest mode): `<namespace>.<name without
 * raw_metric_prefix>`; counters lose `_total` and gain `.count`; histograms and summaries give
 * `.bucket` (tag `upper_bound`) / `.quantile` (tag `quantile`), `.sum` and `.count`.
 */
function datadogNames(
  metrics: Map<string, MetricFamily>,
  s: { namespace: string; prefix: string },
): Map<string, { family: string; tags: Set<string> }> {
  const out = new Map<string, { family: string; tags: Set<string> }>();
  for (const [family, f] of metrics) {
    const base = `${s.namespace}.${family.startsWith(s.prefix) ? family.slice(s.prefix.length) : family}`;
    const add = (name: string, extra: string[] = []) =>
      out.set(name, { family, tags: new Set([...f.labels, ...extra]) });
    if (f.type === 'counter') add(`${base.replace(/_total$/, '')}.count`);
    else if (f.type === 'histogram' || f.type === 'summary') {
      add(f.type === 'histogram' ? `${base}.bucket` : `${base}.quantile`, [
        f.type === 'histogram' ? 'upper_bound' : 'quantile',
      ]);
      add(`${base}.sum`);
      add(`${base}.count`);
    } else add(base);
  }
  return out;
}

interface DatadogQuery {
  data_source: string;
  name: string;
  query?: string;
  search?: { query: string };
  compute?: { aggregation: string; metric?: string };
  group_by?: Array<{ facet: string }>;
}
interface DatadogWidget {
  definition: {
    type: string;
    title?: string;
    widgets?: DatadogWidget[];
    requests?: Array<{ queries?: DatadogQuery[]; formulas?: Array<{ formula: string }> }>;
    query?: string;
    columns?: string[];
  };
}
interface DatadogDashboard {
  title: string;
  layout_type: string;
  widgets: DatadogWidget[];
}

/** A log search: `"<message>"` phrases (msg is the log message) and `@field:value` terms, nothing else. */
function datadogLogSearch(query: string): { messages: string[]; fields: string[]; rest: string } {
  const fields: string[] = [];
  let rest = query.replace(/@([\w.]+):("[^"]*"|\S+)/g, (_m, f: string) => (fields.push(f), ' '));
  const messages: string[] = [];
  rest = rest.replace(/"([^"]*)"/g, (_m, s: string) => (messages.push(s), ' '));
  return { messages, fields, rest: rest.replace(/\b(AND|OR|NOT)\b/g, ' ').trim() };
}

function datadogProblems(
  c: Catalog,
  dash: DatadogDashboard,
  names: Map<string, { family: string; tags: Set<string> }>,
): { problems: string[]; families: Set<string>; messages: Set<string>; fields: Set<string> } {
  const problems: string[] = [];
  const families = new Set<string>();
  const messages = new Set<string>();
  const fields = new Set<string>();
  if (!dash.title || !['ordered', 'free'].includes(dash.layout_type)) problems.push('not a Datadog dashboard');
  const logSearch = (where: string, query: string, extra: string[]) => {
    const s = datadogLogSearch(query);
    if (s.rest) problems.push(`${where}: cannot read "${s.rest}" in ${query}`);
    problems.push(...messageProblems(c, s.messages, where));
    for (const m of s.messages) messages.add(m);
    for (const f of [...s.fields, ...extra]) {
      const p = fieldProblem(c, f, s.messages, where);
      if (p) problems.push(p);
      fields.add(f);
    }
  };
  const walk = (ws: DatadogWidget[]) => {
    for (const w of ws) {
      const d = w.definition;
      const where = `widget "${d.title ?? d.type}"`;
      if (d.type === 'group') {
        walk(d.widgets ?? []);
        continue;
      }
      if (d.type === 'log_stream') {
        const cols = (d.columns ?? []).map((x) => x.replace(/^@/, ''));
        if ((d.columns ?? []).some((x) => !x.startsWith('@')))
          problems.push(`${where}: a column is not a log attribute`);
        logSearch(where, d.query ?? '', cols);
        continue;
      }
      if (!d.requests?.length) problems.push(`${where} has no request`);
      for (const r of d.requests ?? []) {
        const defined = new Set((r.queries ?? []).map((q) => q.name));
        if (!r.queries?.length) problems.push(`${where} has no query`);
        for (const f of r.formulas ?? [])
          for (const v of f.formula.match(/\b[a-z]\w*\b/g) ?? [])
            if (!defined.has(v)) problems.push(`${where}: formula ${f.formula} names no query ${v}`);
        for (const q of r.queries ?? []) {
          if (q.data_source === 'metrics') {
            const m = /^(avg|sum|min|max):([\w.]+)\{([^}]*)\}(?: by \{([^}]*)\})?((?:\.\w+\([^)]*\))*)$/.exec(
              q.query ?? '',
            );
            if (!m) {
              problems.push(`${where}: cannot read ${q.query}`);
              continue;
            }
            const known = names.get(m[2]!);
            if (!known) {
              problems.push(`${where} queries ${m[2]}, which no family we export becomes`);
              continue;
            }
            families.add(known.family);
            const tags = [
              ...(m[3] === '*' ? [] : m[3]!.split(',').map((kv) => kv.split(':')[0]!)),
              ...(m[4] ? m[4].split(',') : []),
            ].map((t) => t.trim());
            for (const t of tags) if (!known.tags.has(t)) problems.push(`${where}: ${m[2]} has no tag ${t}`);
          } else if (q.data_source === 'logs') {
            const extra = [q.compute?.metric ?? '', ...(q.group_by ?? []).map((g) => g.facet)].filter(Boolean);
            if (extra.some((x) => !x.startsWith('@')))
              problems.push(`${where}: a facet or measure is not a log attribute`);
            logSearch(
              where,
              q.search?.query ?? '',
              extra.map((x) => x.slice(1)),
            );
          } else problems.push(`${where}: data source ${q.data_source}`);
        }
      }
    }
  };
  walk(dash.widgets);
  return { problems, families, messages, fields };
}

// ---------------------------------------------------------------- Kibana

interface SavedObject {
  id: string;
  type: string;
  attributes: Record<string, unknown> & {
    kibanaSavedObjectMeta?: { searchSourceJSON: string };
  };
  references: Array<{ name: string; type: string; id: string }>;
}

/** KQL as the saved objects use it: `field:value` terms (values quoted, bare or a parenthesised list). */
function kql(query: string): { messages: string[]; fields: string[]; rest: string } {
  const fields: string[] = [];
  const messages: string[] = [];
  const rest = query
    .replace(/([\w.@]+)\s*:\s*(\([^)]*\)|"[^"]*"|[^\s()]+)/g, (_m, f: string, v: string) => {
      fields.push(f);
      if (f === 'msg') for (const q of v.matchAll(/"([^"]*)"/g)) messages.push(q[1]!);
      return ' ';
    })
    .replace(/\b(and|or|not)\b/gi, ' ')
    .trim();
  return { messages, fields, rest };
}

function kibanaProblems(
  c: Catalog,
  ndjson: string,
): { problems: string[]; messages: Set<string>; fields: Set<string>; objects: SavedObject[] } {
  const problems: string[] = [];
  const messages = new Set<string>();
  const fields = new Set<string>();
  const objects = ndjson
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as SavedObject & { exportedCount?: number })
    .filter((o) => o.exportedCount === undefined);
  const byId = new Map(objects.map((o) => [`${o.type}:${o.id}`, o]));
  const searchMessages = new Map<string, string[]>();
  const check = (where: string, fs: string[], ms: string[]) => {
    for (const f of fs) {
      const p = fieldProblem(c, f, ms, where);
      if (p) problems.push(p);
      fields.add(f);
    }
  };
  const query = (o: SavedObject, where: string): string[] => {
    const src = JSON.parse(o.attributes.kibanaSavedObjectMeta?.searchSourceJSON ?? '{}') as {
      query?: { query: string; language: string };
      indexRefName?: string;
    };
    if (src.indexRefName && !o.references.some((r) => r.name === src.indexRefName && r.type === 'index-pattern'))
      problems.push(`${where}: its index pattern is not referenced`);
    if (src.query && src.query.language !== 'kuery') problems.push(`${where}: query language ${src.query.language}`);
    const q = kql(src.query?.query ?? '');
    if (q.rest) problems.push(`${where}: cannot read "${q.rest}" in ${src.query?.query}`);
    problems.push(...messageProblems(c, q.messages, where));
    for (const m of q.messages) messages.add(m);
    check(where, q.fields, q.messages);
    return q.messages;
  };
  for (const o of objects) {
    const where = `${o.type} "${String(o.attributes.title)}"`;
    for (const r of o.references)
      if (!byId.has(`${r.type}:${r.id}`)) problems.push(`${where}: reference ${r.type} ${r.id} is not in the file`);
    if (o.type === 'search') searchMessages.set(o.id, query(o, where));
  }
  for (const o of objects) {
    const where = `${o.type} "${String(o.attributes.title)}"`;
    const a = o.attributes;
    if (o.type === 'index-pattern') {
      check(where, [String(a.timeFieldName)], []);
      check(where, Object.keys(JSON.parse(String(a.fieldFormatMap ?? '{}')) as object), []);
    } else if (o.type === 'search') {
      const ms = searchMessages.get(o.id)!;
      check(where, [...(a.columns as string[]), ...(a.sort as string[][]).map((s) => s[0]!)], ms);
    } else if (o.type === 'visualization') {
      const own = query(o, where);
      const ref = o.references.find((r) => r.name === a.savedSearchRefName);
      const ms = [...own, ...(ref ? (searchMessages.get(ref.id) ?? []) : [])];
      const vis = JSON.parse(String(a.visState)) as { aggs: Array<{ type: string; params: { field?: string } }> };
      if (vis.aggs.length === 0) problems.push(`${where} has no aggregation`);
      check(
        where,
        vis.aggs.flatMap((x) => (x.params.field ? [x.params.field] : [])),
        ms,
      );
    } else if (o.type === 'dashboard') {
      const panels = JSON.parse(String(a.panelsJSON)) as Array<{ panelRefName: string }>;
      if (panels.length === 0) problems.push(`${where} has no panel`);
      for (const p of panels)
        if (!o.references.some((r) => r.name === p.panelRefName))
          problems.push(`${where}: panel ${p.panelRefName} has no reference`);
    } else problems.push(`${where}: unexpected type`);
  }
  return { problems, messages, fields, objects };
}

// ---------------------------------------------------------------- the tests

describe('the shipped dashboards query what mirrord-teams emits', () => {
  let c: Catalog;
  let names: Map<string, { family: string; tags: Set<string> }>;
  const grafana = JSON.parse(read('deploy/grafana/mirrord-teams.json')) as { panels: GrafanaPanel[] };
  const datadog = JSON.parse(read('deploy/datadog/mirrord-teams.json')) as DatadogDashboard;
  const kibana = read('deploy/kibana/mirrord-teams.ndjson');
  before(async () => {
    c = { metrics: await exportedMetrics(), log: logCatalog() };
    names = datadogNames(c.metrics, openMetricsSettings(read('deploy/datadog/autodiscovery.yaml')));
  });

  it('given the code, then the seed messages are logged and the seed metrics exported (the catalogue is real)', () => {
    for (const m of SEED_MESSAGES) assert.ok(c.log.messages.has(m), m);
    for (const f of SEED_FIELDS) assert.ok(c.log.any(f), f);
    assert.ok(c.log.declares('PortStolen', 'http_filter') && !c.log.declares('PortMirrored', 'http_filter'));
    for (const m of ['mirrord_sessions_create_total', 'mirrord_sessions_duration', 'mirrord_license_valid_seconds'])
      assert.ok(c.metrics.has(m), m);
    assert.deepEqual([...c.metrics.get('mirrord_sessions_create_total')!.labels].sort(), [
      'client_hostname',
      'client_name',
      'client_user',
      'user_id',
    ]);
    assert.equal(names.get('mirrord.sessions_create.count')?.family, 'mirrord_sessions_create_total');
    assert.equal(names.get('mirrord.sessions_duration.bucket')?.tags.has('upper_bound'), true);
    assert.equal(names.get('mirrord.teams_active_sessions')?.family, 'mirrord_teams_active_sessions');
  });

  it('given deploy/grafana/mirrord-teams.json, then every query names exported metrics and their labels', () => {
    assert.deepEqual(grafanaProblems(c, grafana).problems, []);
  });

  it("given deploy/datadog/mirrord-teams.json, then every metric is one of ours as the OpenMetrics check names it, every log term one we log, and it covers Grafana's metrics and the seed's log lines", () => {
    const r = datadogProblems(c, datadog, names);
    assert.deepEqual(r.problems, []);
    for (const f of grafanaProblems(c, grafana).used)
      assert.ok(r.families.has(f), `${f} is on Grafana but not on Datadog`);
    for (const m of SEED_MESSAGES) assert.ok(r.messages.has(m), `no Datadog widget searches "${m}"`);
    for (const f of SEED_FIELDS) assert.ok(r.fields.has(f), `no Datadog widget uses @${f}`);
  });

  it("given deploy/kibana/mirrord-teams.ndjson, then every saved object's fields and messages are ours, references resolve, and each seed message has a saved search on the dashboard", () => {
    const r = kibanaProblems(c, kibana);
    assert.deepEqual(r.problems, []);
    for (const f of SEED_FIELDS) assert.ok(r.fields.has(f), `no Kibana object uses ${f}`);
    const dash = r.objects.find((o) => o.type === 'dashboard')!;
    const onDash = new Set(dash.references.map((x) => x.id));
    for (const m of SEED_MESSAGES) {
      const s = r.objects.find(
        (o) =>
          o.type === 'search' &&
          kql(JSON.parse(o.attributes.kibanaSavedObjectMeta!.searchSourceJSON).query.query).messages.join() === m,
      );
      assert.ok(s, `no saved search for "${m}"`);
      assert.ok(onDash.has(s.id), `the saved search for "${m}" is not on the dashboard`);
    }
  });

  describe('when a dashboard names something we do not emit, then the check says so', () => {
    it('Grafana: an unknown metric, a label the metric lacks', () => {
      const bad = structuredClone(grafana);
      bad.panels[0]!.targets = [{ expr: 'sum by (client_user) (mirrord_teams_no_such_metric)' }];
      bad.panels[1]!.targets = [{ expr: 'sum by (policy) (increase(mirrord_sessions_create_total[1h]))' }];
      const p = grafanaProblems(c, bad).problems;
      assert.ok(
        p.some((x) => x.includes('mirrord_teams_no_such_metric, which is not exported')),
        p.join('\n'),
      );
      assert.ok(
        p.some((x) => x.includes('uses label policy')),
        p.join('\n'),
      );
    });

    it('Datadog: an unknown metric, a Prometheus name, a missing tag, an unknown message, a field of another message', () => {
      const bad = structuredClone(datadog);
      const metricQuery = (q: string) => ({
        definition: {
          type: 'timeseries',
          title: q,
          requests: [{ queries: [{ data_source: 'metrics', name: 'a', query: q }] }],
        },
      });
      const logQuery = (q: string, facet?: string) => ({
        definition: {
          type: 'toplist',
          title: q,
          requests: [
            {
              queries: [
                { data_source: 'logs', name: 'a', search: { query: q }, ...(facet ? { group_by: [{ facet }] } : {}) },
              ],
            },
          ],
        },
      });
      bad.widgets.push(
        metricQuery('sum:mirrord.no_such_metric.count{*}'),
        metricQuery('sum:mirrord_sessions_create_total{*}'),
        metricQuery('sum:mirrord.sessions_create{*}'),
        metricQuery('sum:mirrord.sessions_create.count{*} by {policy}'),
        logQuery('"Session Paused"'),
        logQuery('"Port Mirrored" @http_filter:*'),
        logQuery('"Session Started"', '@no_such_field'),
      );
      const p = datadogProblems(c, bad, names).problems;
      for (const want of [
        'mirrord.no_such_metric.count, which no family',
        'mirrord_sessions_create_total, which no family',
        'mirrord.sessions_create, which no family',
        'has no tag policy',
        'no log line says "Session Paused"',
        'no "Port Mirrored" line has field http_filter',
        'no "Session Started" line has field no_such_field',
      ])
        assert.ok(
          p.some((x) => x.includes(want)),
          `expected "${want}" among:\n${p.join('\n')}`,
        );
    });

    it('Kibana: an unknown field in a query, a column, an aggregation, an unknown message, a dangling reference', () => {
      const objects = kibana
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as SavedObject);
      const search = objects.find((o) => o.type === 'search' && o.attributes.title === 'mirrord: Port Mirrored')!;
      search.attributes.columns = ['port', 'http_filter'];
      const started = objects.find((o) => o.type === 'search' && o.attributes.title === 'mirrord: Session Started')!;
      started.attributes.kibanaSavedObjectMeta = {
        searchSourceJSON: JSON.stringify({
          query: { query: 'msg:"Session Begun" and no_such_field:x', language: 'kuery' },
          filter: [],
          indexRefName: 'kibanaSavedObjectMeta.searchSourceJSON.index',
        }),
      };
      const vis = objects.find((o) => o.type === 'visualization')!;
      const state = JSON.parse(String(vis.attributes.visState)) as { aggs: Array<{ params: { field?: string } }> };
      state.aggs.push({ params: { field: 'clientUser' } } as never);
      vis.attributes.visState = JSON.stringify(state);
      const dash = objects.find((o) => o.type === 'dashboard')!;
      dash.references.push({ name: 'panel_99', type: 'search', id: 'mirrord-teams-nothing' });
      const p = kibanaProblems(c, objects.map((o) => JSON.stringify(o)).join('\n')).problems;
      for (const want of [
        'no "Port Mirrored" line has field http_filter',
        'no log line says "Session Begun"',
        'field no_such_field',
        'field clientUser',
        'reference search mirrord-teams-nothing is not in the file',
      ])
        assert.ok(
          p.some((x) => x.includes(want)),
          `expected "${want}" among:\n${p.join('\n')}`,
        );
    });
  });
});
