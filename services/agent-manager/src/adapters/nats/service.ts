import { Svcm, type Service } from '@nats-io/services';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import {
  agentManagerContracts,
  ledgerCommands,
  ledgerQueries,
  request,
  serveContract,
} from '#shared/contracts/index.js';
import { AGENT_CLEANUP_CONSUMER, consumeEventType, inConsumerSpan, unpackValue } from '#shared/nats/index.js';
import { parsePrepareRequest } from '../../domain/request.js';
import { cleanupSession } from '../../app/cleanup-session.js';
import { createCopy } from '../../app/copy-targets/create-copy.js';
import { deleteCopy } from '../../app/copy-targets/delete-copy.js';
import { listCopyTargets } from '../../app/copy-targets/list-copy-targets.js';
import { prepareAgent } from '../../app/prepare-agent.js';
import type { AgentManagerDeps, LedgerPort } from '../../app/ports.js';
import { validateEvent } from '#shared/events/index.js';

export const SERVICE = 'agent-manager';

/** The ledger as agent-manager needs it: record Target Copied, and a session's status. */
export function ledgerPort(nc: NatsConnection): LedgerPort {
  return {
    async copyTarget(body) {
      await request(nc, ledgerCommands['copy-target'], body);
    },
    async status(id) {
      const r = await request(nc, ledgerQueries.session, {
        id,
      });
      return r.session?.status ?? 'unknown';
    },
  };
}

/** agent-manager's contracts (prepare, release, copy targets) as a @nats-io/services service: each calls one use case. */
export async function serveAgentManager(
  nc: NatsConnection,
  am: AgentManagerDeps,
  version: string,
  log: Logger,
): Promise<Service> {
  const failed = (f: Record<string, unknown>, m: string) => log.error(f, m);
  const svc = await new Svcm(nc).add({
    name: SERVICE,
    version,
    queue: SERVICE,
    description: 'mirrord agents, copy targets and scale-down',
  });
  const c = agentManagerContracts;
  serveContract(svc, 'cmd-prepare', c.prepare, (req) => prepareAgent(am, parsePrepareRequest(req)), failed);
  serveContract(
    svc,
    'cmd-release',
    c.release,
    async (req) => {
      const plan = await cleanupSession(am, req.session_id);
      return { deleted: plan.delete.length, restored: plan.restore.length };
    },
    failed,
  );
  serveContract(svc, 'cmd-create-copy', c.createCopy, (req) => createCopy(am, parsePrepareRequest(req)), failed);
  serveContract(
    svc,
    'cmd-delete-copy',
    c.deleteCopy,
    async (req) => ({ deleted: await deleteCopy(am, req.namespace, req.name) }),
    failed,
  );
  serveContract(
    svc,
    'query-copytargets',
    c.copyTargets,
    async (req) => ({ copy_targets: await listCopyTargets(am, req.namespace) }),
    failed,
  );
  return svc;
}

export const CLEANUP_CONSUMER = AGENT_CLEANUP_CONSUMER;

/**
 * Cleans up after every Session Ended, from a durable consumer: an event is acknowledged only
 * once its session's objects are gone, so a crash redelivers it (cleanup is idempotent).
 */
export async function consumeSessionEnded(
  nc: NatsConnection,
  am: AgentManagerDeps,
  log: Logger,
): Promise<ConsumerMessages> {
  const msgs = await consumeEventType(nc, CLEANUP_CONSUMER, 'SessionEnded', 60_000, 16);
  void (async () => {
    for await (const m of msgs) await inConsumerSpan(m, CLEANUP_CONSUMER, () => cleanupOne(m));
  })();
  async function cleanupOne(m: JsMsg): Promise<void> {
    let sid: string | undefined;
    try {
      sid = validateEvent(unpackValue(m.data)).session_id;
    } catch (err) {
      log.warn({ seq: m.seq, err }, 'skipped a garbled SessionEnded message');
      m.term();
      return;
    }
    try {
      if (sid) {
        const plan = await cleanupSession(am, sid, true);
        if (plan.delete.length)
          log.info(
            { session_id: sid, deleted: plan.delete.length, restored: plan.restore.length },
            'session resources removed',
          );
      }
      m.ack();
    } catch (e) {
      log.warn({ err: e, session_id: sid }, 'cleanup failed; will retry');
      m.nak(2000);
    }
  }
  return msgs;
}
