/**
 * What mirrord-teams really emits, collected from the code rather than listed by hand, for the
 * dashboard tests: the metric families its prom-client registries expose (with their type and
 * label names), and the fields and messages of its JSON log lines.
 */
import { pino } from 'pino';
import { buildRegistry } from '../../services/gateway/src/adapters/metrics/registry.js';
import { MetricsState } from '../../services/gateway/src/domain/metrics-state.js';
import { TrafficMetrics } from '../../services/gateway/src/adapters/metrics/traffic.js';
import type { StartedSession } from '../../services/gateway/src/app/start-session.js';
import { buildReportsServer } from '../../services/license-server/src/adapters/http/reports.js';
import { FleetState } from '../../services/license-server/src/domain/fleet-state.js';
import { SplitterMetrics } from '../../services/queue-splitter/src/adapters/metrics.js';
import { DURATION_BUCKETS } from '#shared/ledger/index.js';
import {
  logFieldsOf,
  logMessageOf,
  validateEvent,
  type ClientFields,
  type EventType,
  type LedgerEvent,
} from '#shared/events/index.js';
import { isAppError } from '#shared/errors/index.js';
import { loggerOptions } from '#shared/log/index.js';
import { silentLogger } from '../support/log.js';

export interface MetricFamily {
  type: string;
  /** Label names seen on its samples (`le` of a histogram's buckets left out). */
  labels: Set<string>;
}

/** A Prometheus text exposition → family name → type and label names. */
function parseExposition(text: string, into: Map<string, MetricFamily>): void {
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      if (!into.has(t[1]!)) into.set(t[1]!, { type: t[2]!, labels: new Set() });
      continue;
    }
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!s) continue;
    const sample = s[1]!;
    const family = types.has(sample) ? sample : sample.replace(/_(bucket|sum|count)$/, '');
    const f = into.get(family);
    if (!f) throw new Error(`sample ${sample} has no # TYPE line`);
    for (const m of (s[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g))
      if (m[1] !== 'le') f.labels.add(m[1]!);
  }
}

const client: ClientFields = {
  target: 'deployment/web',
  namespace: 'default',
  client_hostname: 'a-mbp',
  client_name: 'Alice',
  client_user: 'alice',
  client_id: 'c1',
  user_id: 'u1',
  client_cli_version: '3.150.0',
};

/** One valid event of every type (validated, so they follow the schema as it changes). */
function sampleEvents(): Record<EventType, LedgerEvent> {
  let position = 0;
  const ev = <T extends EventType>(type: T, data: Record<string, unknown>, common: object = client): LedgerEvent =>
    validateEvent({
      v: 1,
      id: `00000000-0000-7000-8000-${String(++position).padStart(12, '0')}`,
      type,
      session_id: '00000000000000AA',
      version: position,
      position,
      time: 1_000_000 + position,
      actor: { client_user: 'alice' },
      data: { ...common, ...data },
    });
  const queue = { queue_type: 'SQS', queue_id: 'orders' };
  const workload = { namespace: 'default', target: 'deployment/web', ...queue, env: 'ORDERS_QUEUE' };
  return {
    SessionStarted: ev('SessionStarted', { agent: 'job' }),
    TargetCopied: ev('TargetCopied', { scale_down: true, copy_pod: 'web-copy-1' }),
    PortStolen: ev('PortStolen', { port: 80, http_filter: 'header=x-user: alice', lock: false }),
    PortMirrored: ev('PortMirrored', { port: 81 }),
    PortReleased: ev('PortReleased', { port: 80, reason: 'Unsubscribed' }),
    SessionEnded: ev('SessionEnded', { session_duration: 42, reason: 'ClientClosed' }),
    SessionRejected: ev('SessionRejected', { asked: 'start', code: 'Forbidden', message: 'no', policy: 'p' }),
    OutgoingBlocked: ev('OutgoingBlocked', {
      protocol: 'TCP',
      address: '10.0.0.1',
      port: 5432,
      policy: 'p',
      message: 'blocked',
    }),
    QueueSplitStarted: ev('QueueSplitStarted', {
      ...queue,
      original: 'orders',
      output: 'mirrord-tmp-1-orders',
      filter: 'tenant=alice',
      message_filter: { tenant: 'alice' },
      mode: 'steal',
    }),
    QueueSplitEnded: ev('QueueSplitEnded', { ...queue, output: 'mirrord-tmp-1-orders', messages: 3, reason: 'ended' }),
    // The queue-splitter's records of the workload carry no client fields.
    WorkloadPatched: ev('WorkloadPatched', { ...workload, original: 'orders', fallback: 'mirrord-tmp-fb' }, {}),
    WorkloadRestored: ev('WorkloadRestored', { ...workload, drained: 2 }, {}),
  };
}

/**
 * Every metric family the services expose on /metrics: the gateway's ledger-derived registry and
 * its relay's traffic (as in the Grafana test), the queue splitter's, and the license server's /metrics — each fed one
 * of everything so the label names show.
 */
export async function exportedMetrics(): Promise<Map<string, MetricFamily>> {
  const out = new Map<string, MetricFamily>();
  const state = new MetricsState(DURATION_BUCKETS);
  for (const e of Object.values(sampleEvents())) state.apply(e);
  const registry = buildRegistry(state, {
    activeSessions: async () => 0,
    heldPorts: async () => ({ steal: 0, mirror: 0 }),
    consumerLag: async () => [{ consumer: 'jira-reporter', pending: 0 }],
    licenseValidSeconds: () => 1,
    appendLatency: async () => ({ bounds: [0.001], counts: [1, 0], sum: 0.0005, count: 1 }),
    jiraOutcomes: async () => ({ delivered: 1 }),
  });
  parseExposition(await registry.metrics(), out);

  const traffic = new TrafficMetrics();
  const session = { target: { namespace: 'default', path: 'deployment/web' }, client } as unknown as StartedSession;
  traffic.stolenConnection(session, 80);
  traffic.stolenRequest(session, 80);
  traffic.bytes('client_to_agent', 1);
  parseExposition(await traffic.registry.metrics(), out);

  const splitter = new SplitterMetrics();
  splitter.routed({ queue_type: 'SQS', queue_id: 'orders', destination: 'session' });
  splitter.lag({ queue_type: 'SQS', queue_id: 'orders', messages: 1, oldestMs: 10 });
  parseExposition(await splitter.registry.metrics(), out);

  const app = await buildReportsServer({
    state: new FleetState(),
    license: { name: 'n', organization: 'o', expire_at: '2099-01-01', seat_mode: 'machine', billing_day: 1 },
    key: 'k',
    log: silentLogger(),
    ready: () => true,
  });
  try {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    if (res.statusCode !== 200) throw new Error(`license server /metrics: ${res.statusCode}`);
    parseExposition(res.body, out);
  } finally {
    await app.close();
  }
  return out;
}

export interface LogCatalog {
  /** The `msg` of each event's line (the seed's log messages, and ours). */
  messages: Map<string, EventType>;
  /** Fields on every event line: the logger's own (`level`, `time`, `service`, `pid`, `msg`) and the event's ids. */
  common: Set<string>;
  /** Whether an event of that type can carry that top-level field (its schema declares it). */
  declares(type: EventType, field: string): boolean;
  /** Fields any event line can carry. */
  any(field: string): boolean;
}

/**
 * The ledger's JSON event lines as it writes them (`log.info(logFieldsOf(e), logMessageOf[e.type])`
 * on the service logger's options), and the event schema for the fields an event may leave out.
 */
export function logCatalog(): LogCatalog {
  const events = sampleEvents();
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(loggerOptions('ledger'), {
    write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>),
  });
  for (const e of Object.values(events)) log.info(logFieldsOf(e), logMessageOf[e.type]);
  const keys = lines.map((l) => new Set(Object.keys(l)));
  const common = new Set([...keys[0]!].filter((k) => keys.every((s) => s.has(k))));
  const messages = new Map<string, EventType>();
  for (const [type, msg] of Object.entries(logMessageOf) as Array<[EventType, string]>) messages.set(msg, type);
  for (const l of lines)
    if (!messages.has(String(l.msg))) throw new Error(`a line's msg is not a log message: ${l.msg}`);

  const declares = (type: EventType, field: string): boolean => {
    if (common.has(field)) return true;
    const e = events[type];
    // The schema is closed: a field it does not declare is refused by name; one it declares fails
    // (if at all) on its value.
    try {
      validateEvent({ ...e, data: { ...e.data, [field]: { probe: true } } });
      return true;
    } catch (err) {
      if (!isAppError(err)) throw err;
      return !(err.field === 'event.data' && err.message.includes(`unknown field ${field}`));
    }
  };
  const types = Object.keys(events) as EventType[];
  return { messages, common, declares, any: (f) => types.some((t) => declares(t, f)) };
}
