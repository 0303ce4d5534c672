import { Counter, Gauge, Registry } from 'prom-client';
import type { AppendLatency } from '#shared/ledger/index.js';
import type { MetricsState } from '../../domain/metrics-state.js';

const SESSION_LABELS = ['client_hostname', 'client_name', 'client_user', 'user_id'] as const;

export interface LiveFacts {
  activeSessions(): Promise<number>;
  heldPorts(): Promise<{ steal: number; mirror: number }>;
  consumerLag(): Promise<Array<{ consumer: string; pending: number }>>;
  /** Seconds the licence (or, without a file, the open licence the CLI is shown) has left. */
  licenseValidSeconds(): number;
  /** Undefined when the ledger does not answer: the series is left out of this scrape. */
  appendLatency(): Promise<AppendLatency | undefined>;
  /** Messages per outcome in MIRRORD_JIRA_OUTCOMES (empty without a jira-reporter). */
  jiraOutcomes(): Promise<Record<string, number>>;
}

type Value = { labels: Record<string, string | number>; value: number; metricName?: string };

/** One labelled series of a histogram held as bucket counts: `counts` per bound (not cumulative), +Inf last. */
interface BucketSeries {
  labels: Record<string, string>;
  counts: readonly number[];
  count: number;
  sum: number;
}

/**
 * A histogram served from bucket counts rather than observations: prom-client's Histogram can
 * only be fed observations, and a restart restores totals (or another process measured them).
 */
class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: () => readonly number[],
    private readonly series: () => Promise<Iterable<BucketSeries>>,
  ) {}
  async get() {
    const values: Value[] = [];
    for (const s of await this.series()) {
      let acc = 0;
      this.bounds().forEach((b, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { ...s.labels, le: b }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
  reset(): void {}
}

/** The seed's metrics and ours (`mirrord_teams_*`), computed at scrape time from the state. */
export function buildRegistry(state: MetricsState, live: LiveFacts): Registry {
  const registry = new Registry();
  new Counter({
    name: 'mirrord_sessions_create_total',
    help: 'mirrord sessions started (from the event log)',
    labelNames: SESSION_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of state.sessions.values()) if (s.created > 0) this.inc({ ...s.labels }, s.created);
    },
  });
  registry.registerMetric(
    new BucketHistogram(
      'mirrord_sessions_duration',
      'mirrord session durations in seconds, observed at Session Ended',
      () => state.bounds,
      async () =>
        [...state.sessions.values()].map((s) => ({
          labels: { ...s.labels },
          counts: s.buckets,
          count: s.ended,
          sum: s.durationSum,
        })),
    ) as never,
  );
  new Gauge({
    name: 'mirrord_license_valid_seconds',
    help: 'seconds until the operator license expires',
    registers: [registry],
    collect() {
      this.set(Math.max(0, live.licenseValidSeconds()));
    },
  });
  new Gauge({
    name: 'mirrord_teams_active_sessions',
    help: 'live sessions',
    registers: [registry],
    async collect() {
      this.set(await live.activeSessions());
    },
  });
  new Gauge({
    name: 'mirrord_teams_held_ports',
    help: 'ports held by live sessions, by type',
    labelNames: ['type'],
    registers: [registry],
    async collect() {
      const p = await live.heldPorts();
      this.set({ type: 'steal' }, p.steal);
      this.set({ type: 'mirror' }, p.mirror);
    },
  });
  new Counter({
    name: 'mirrord_teams_rejections_total',
    help: 'refused starts and ports, by policy (empty: RBAC) and code',
    labelNames: ['policy', 'code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of state.rejections.values()) this.inc({ policy: r.policy, code: r.code }, r.count);
    },
  });
  new Counter({
    name: 'mirrord_teams_outgoing_blocked_total',
    help: 'outgoing connects refused by policy (network.outgoing), by policy and protocol',
    labelNames: ['policy', 'protocol'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of state.outgoingBlocked.values()) this.inc({ policy: r.policy, protocol: r.protocol }, r.count);
    },
  });
  new Gauge({
    name: 'mirrord_teams_consumer_lag',
    help: 'events not yet delivered to each durable JetStream consumer of MIRRORD_EVENTS',
    labelNames: ['consumer'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await live.consumerLag()) this.set({ consumer: c.consumer }, c.pending);
    },
  });
  // Read once per scrape; the bounds come with the counts.
  let latency: AppendLatency | undefined;
  registry.registerMetric(
    new BucketHistogram(
      'mirrord_teams_ledger_append_seconds',
      'ledger command latency from queued to committed (group commit), since the ledger started',
      () => latency?.bounds ?? [],
      async () => {
        latency = await live.appendLatency();
        return latency ? [{ labels: {}, counts: latency.counts, count: latency.count, sum: latency.sum }] : [];
      },
    ) as never,
  );
  new Counter({
    name: 'mirrord_teams_jira_deliveries_total',
    help: 'Session Ended events handled by the jira-reporter, by outcome (delivered, skipped, failed attempt, parked)',
    labelNames: ['outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [outcome, n] of Object.entries(await live.jiraOutcomes())) this.inc({ outcome }, n);
    },
  });
  new Gauge({
    name: 'mirrord_teams_metrics_position',
    help: 'ledger position up to which events are counted in these metrics',
    registers: [registry],
    collect() {
      this.set(state.position);
    },
  });
  return registry;
}
