import type { Logger } from 'pino';
import type { Destination, Forwarder, Route } from '../domain/broker.js';
import { routerFor } from '../domain/routing.js';
import type { Brokers, SplitRecord } from './ports.js';

export interface ForwarderMetrics {
  routed(r: { queue_type: string; queue_id: string; destination: Destination['kind'] }): void;
  lag(r: { queue_type: string; queue_id: string; messages: number; oldestMs: number }): void;
}

interface Running {
  source: string;
  route: Route;
  forwarder: Forwarder;
  record: SplitRecord;
}

/**
 * This replica's forwarders: one per split queue that has sessions, routing by the record's
 * current sessions. Every replica runs them (SQS receivers compete for messages; Kafka splits
 * the partitions among the group), so a replica's death only moves its share to the others.
 * A change of sessions swaps the route in place; a record that drains or goes stops it.
 */
export class Forwarders {
  readonly #running = new Map<string, Running>();
  /** Messages this replica routed to each session's output queue or topic. */
  readonly #counts = new Map<string, number>();

  constructor(
    private readonly brokers: Brokers,
    private readonly metrics: ForwarderMetrics,
    private readonly log: Logger,
    private readonly pick: (n: number) => number,
  ) {}

  routedTo(output: string): number {
    return this.#counts.get(output) ?? 0;
  }

  async apply(key: string, record: SplitRecord | undefined): Promise<void> {
    const run = this.#running.get(key);
    const wanted = record && record.phase === 'active' && Object.keys(record.sessions).length > 0;
    if (!wanted) {
      if (run) {
        this.#running.delete(key);
        await run.forwarder.stop();
        this.log.info({ queue_id: run.record.queue_id, source: run.source }, 'forwarder stopped');
      }
      return;
    }
    const route = routerFor(Object.values(record.sessions), record.fallback, this.pick);
    if (run) {
      run.route = route;
      run.record = record;
      return;
    }
    const broker = await this.brokers.of(record.decl);
    const entry = { source: record.original, route, record } as Running;
    const labels = { queue_type: record.queue_type, queue_id: record.queue_id };
    entry.forwarder = broker.forward(record.original, (m) => entry.route(m), {
      ...(record.group ? { group: record.group.original } : {}),
      onRouted: (d) => {
        this.metrics.routed({ ...labels, destination: d.kind });
        // A session's output queue is its own (a fresh random name): it keys the count.
        if (d.kind === 'session') this.#counts.set(d.name, (this.#counts.get(d.name) ?? 0) + 1);
      },
      onError: (err) =>
        this.log.warn({ err, ...labels, source: record.original }, 'forwarder: broker call failed; retrying'),
    });
    this.#running.set(key, entry);
    this.log.info({ ...labels, source: record.original, fallback: record.fallback }, 'forwarder started');
  }

  /** The lag of every running forwarder, for the gauge. */
  sample(): void {
    for (const r of this.#running.values()) {
      const l = r.forwarder.lag();
      this.metrics.lag({ queue_type: r.record.queue_type, queue_id: r.record.queue_id, ...l });
    }
  }

  async stopAll(): Promise<void> {
    const all = [...this.#running.values()];
    this.#running.clear();
    await Promise.all(all.map((r) => r.forwarder.stop()));
  }
}
