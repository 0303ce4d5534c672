import { Svcm, type Service } from '@nats-io/services';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import {
  ledgerCommands,
  ledgerQueries,
  queueSplitterContracts,
  request,
  serveContract,
} from '#shared/contracts/index.js';
import { validateEvent } from '#shared/events/index.js';
import { consumeEventType, inConsumerSpan, QUEUE_SPLITTER_CONSUMER, unpackValue } from '#shared/nats/index.js';
import type { SplitLedger } from '../../app/ports.js';
import type { SplitService } from '../../app/split-service.js';
import type { WorkloadKind } from '../../domain/registry.js';

export const SERVICE = 'queue-splitter';

/** The ledger records the split's end and restore (the audit trail, status and `status --at`). */
export function ledgerPort(nc: NatsConnection): SplitLedger {
  return {
    async status(id) {
      const r = await request(nc, ledgerQueries.session, { id });
      return (r.session?.status as 'pending' | 'live' | 'ended' | undefined) ?? 'unknown';
    },
    splitEnded: async (b) => void (await request(nc, ledgerCommands['queue-split-end'], b)),
    workloadRestored: async (b) => void (await request(nc, ledgerCommands['workload-restore'], b)),
  };
}

const KIND: Record<string, WorkloadKind> = { deployment: 'Deployment', rollout: 'Rollout' };

/** `mirrord.cmd.queue-splitter.split` as a @nats-io/services service (a queue group: any replica answers). */
export async function serveQueueSplitter(
  nc: NatsConnection,
  splits: SplitService,
  version: string,
  log: Logger,
): Promise<Service> {
  const svc = await new Svcm(nc).add({
    name: SERVICE,
    version,
    queue: SERVICE,
    description: 'queue splitting: temporary queues and topics, workload patches, forwarders',
  });
  serveContract(
    svc,
    'cmd-split',
    queueSplitterContracts.split,
    (req) => {
      const [kind, name] = req.target.split('/') as [string, string];
      return splits.start({
        session_id: req.session_id,
        workload: { namespace: req.namespace, kind: KIND[kind]!, name },
        ...(req.container ? { container: req.container } : {}),
        client_user: req.client_user,
        splits: req.splits,
      });
    },
    (f, m) => log.error(f, m),
  );
  serveContract(
    svc,
    'cmd-release',
    queueSplitterContracts.release,
    async (req) => ({ ended: await splits.end(req.session_id, 'StartFailed') }),
    (f, m) => log.error(f, m),
  );
  return svc;
}

/**
 * Ends a session's splits after its Session Ended, from a durable consumer: acknowledged only
 * once done (the last session's drain and restore included, with `working()` so the redelivery
 * timer waits), so a crash of this replica lets another finish it (every step is idempotent).
 */
export async function consumeSessionEnded(
  nc: NatsConnection,
  splits: SplitService,
  log: Logger,
): Promise<ConsumerMessages> {
  const msgs = await consumeEventType(nc, QUEUE_SPLITTER_CONSUMER, 'SessionEnded', 30_000, 4);
  void (async () => {
    for await (const m of msgs) await inConsumerSpan(m, QUEUE_SPLITTER_CONSUMER, () => endOne(m));
  })();
  async function endOne(m: JsMsg): Promise<void> {
    let sid: string;
    try {
      sid = validateEvent(unpackValue(m.data)).session_id;
    } catch (err) {
      log.warn({ seq: m.seq, err }, 'skipped a garbled SessionEnded message');
      m.term();
      return;
    }
    const beat = setInterval(() => m.working(), 10_000);
    try {
      await splits.end(sid, 'SessionEnded');
      m.ack();
    } catch (e) {
      log.warn({ err: e, session_id: sid }, "ending the session's queue splits failed; will retry");
      m.nak(2000);
    } finally {
      clearInterval(beat);
    }
  }
  return msgs;
}
