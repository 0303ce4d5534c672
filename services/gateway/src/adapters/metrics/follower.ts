import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { validateEvent } from '#shared/events/index.js';
import type { MetricsSnapshot } from '#shared/ledger/index.js';
import {
  EVENTS_STREAM,
  EVENTS_WILDCARD,
  LEDGER_HEADER,
  awaitEventsStream,
  onBusChange,
  unpackValue,
} from '#shared/nats/index.js';
import type { MetricsState } from '../../domain/metrics-state.js';
import { ledgerQueries, request } from '#shared/contracts/index.js';

/** How far before the snapshot following starts: events published late (outbox) are caught, and skipped by position. */
const OVERLAP_MS = 60_000;

/** What the metrics server stops on SIGTERM. */
export interface MetricsFollower {
  close(): Promise<void>;
}

/**
 * Restores the totals from the ledger's snapshot, then follows MIRRORD_EVENTS from a little
 * before it, counting only events past the snapshot's position. A restarted gateway
 * therefore shows the same totals, and redelivered events never count twice. The consumer is
 * re-made after anything ends it (a NATS restart, a deleted consumer), from the stream
 * sequence after the last event seen, so no event is missed and none counts twice.
 */
export async function followMetrics(nc: NatsConnection, state: MetricsState, log: Logger): Promise<MetricsFollower> {
  let snap: MetricsSnapshot | undefined;
  for (let attempt = 0; !snap; attempt++) {
    try {
      snap = await request(nc, ledgerQueries.metrics, {});
    } catch (e) {
      if (attempt % 10 === 0) log.warn({ err: e }, 'metrics: the ledger is not answering yet; retrying');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  state.restore(snap);
  const startTime = new Date(snap.at - OVERLAP_MS).toISOString();
  let lastSeq = 0;
  let stopped = false;
  let current: ConsumerMessages | undefined;
  const open = async (): Promise<ConsumerMessages> => {
    await awaitEventsStream(nc);
    const c = await jetstream(nc).consumers.get(EVENTS_STREAM, {
      // One filter: nats-server 2.9 has no multi-subject consumers; other types only advance the position.
      filter_subjects: EVENTS_WILDCARD,
      ...(lastSeq > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: startTime }),
    });
    return c.consume();
  };
  // A consumer that outlived a NATS restart may sit silent: after the bus returns, re-make it.
  const unwatch = onBusChange(nc, (c) => {
    if (c === 'regained') void current?.close().catch(() => undefined);
  });
  const done = (async () => {
    while (!stopped) {
      try {
        current = await open();
        for await (const m of current) {
          lastSeq = m.seq;
          // Only the snapshot's store's events: after its database was emptied the stream may
          // still hold another history, which the totals must not count.
          if (snap.ledger_id && m.headers?.get(LEDGER_HEADER) !== snap.ledger_id) continue;
          try {
            state.apply(validateEvent(unpackValue(m.data)));
          } catch {
            log.warn({ seq: m.seq }, 'metrics: skipped a garbled event');
          }
        }
        if (!stopped) log.warn({ after_seq: lastSeq }, 'metrics: the event consumer ended; following again');
      } catch (e) {
        if (!stopped) log.warn({ err: e, after_seq: lastSeq }, 'metrics: following events failed; retrying');
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 500));
    }
  })();
  log.info(
    { position: snap.position, series: state.sessions.size },
    'metrics restored from the ledger; following events',
  );
  return {
    async close() {
      stopped = true;
      unwatch();
      await current?.close();
      await done;
    },
  };
}

/** Pending events per durable consumer of MIRRORD_EVENTS (lag). */
export async function consumerLag(nc: NatsConnection): Promise<Array<{ consumer: string; pending: number }>> {
  const jsm = await jetstreamManager(nc);
  const out: Array<{ consumer: string; pending: number }> = [];
  for await (const ci of jsm.consumers.list(EVENTS_STREAM))
    if (ci.config.durable_name)
      out.push({ consumer: ci.config.durable_name, pending: ci.num_pending + ci.num_ack_pending });
  return out;
}
