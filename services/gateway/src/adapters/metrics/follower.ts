import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { LedgerEvent } from '../../../../../shared/src/events/index.js';
import type { MetricsSnapshot } from '../../../../../shared/src/ledger/index.js';
import { call, EVENTS_STREAM, EVENTS_WILDCARD, ensureEventsStream, LedgerQuery, querySubject, unpackValue } from '../../../../../shared/src/nats/index.js';
import type { MetricsState } from '../../domain/metrics-state.js';

/** How far before the snapshot following starts: events published late (outbox) are caught, and skipped by position. */
const OVERLAP_MS = 60_000;

/**
 * Restores the totals from the ledger's snapshot, then follows MIRRORD_EVENTS from a little
 * before it, counting only events past the snapshot's position. A restarted gateway
 * therefore shows the same totals, and redelivered events never count twice.
 */
export async function followMetrics(nc: NatsConnection, state: MetricsState, log: Logger): Promise<ConsumerMessages> {
  let snap: MetricsSnapshot | undefined;
  for (let attempt = 0; !snap; attempt++) {
    try {
      snap = await call<MetricsSnapshot>(nc, querySubject('ledger', LedgerQuery.metrics), {}, 30_000);
    } catch (e) {
      if (attempt % 10 === 0) log.warn({ err: e }, 'metrics: the ledger is not answering yet; retrying');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  state.restore(snap);
  await ensureEventsStream(nc);
  const c = await jetstream(nc).consumers.get(EVENTS_STREAM, {
    // One filter: nats-server 2.9 has no multi-subject consumers; other types only advance the position.
    filter_subjects: EVENTS_WILDCARD,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(snap.at - OVERLAP_MS).toISOString(),
  });
  const msgs = await c.consume();
  void (async () => {
    for await (const m of msgs) {
      try {
        state.apply(unpackValue(m.data) as LedgerEvent);
      } catch {
        log.warn({ seq: m.seq }, 'metrics: skipped a garbled event');
      }
    }
  })();
  log.info({ position: snap.position, series: state.sessions.size }, 'metrics restored from the ledger; following events');
  return msgs;
}

/** Pending events per durable consumer of MIRRORD_EVENTS (lag). */
export async function consumerLag(nc: NatsConnection): Promise<Array<{ consumer: string; pending: number }>> {
  const jsm = await jetstreamManager(nc);
  const out: Array<{ consumer: string; pending: number }> = [];
  for await (const ci of jsm.consumers.list(EVENTS_STREAM)) if (ci.config.durable_name) out.push({ consumer: ci.config.durable_name, pending: ci.num_pending + ci.num_ack_pending });
  return out;
}

