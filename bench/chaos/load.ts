import type { NatsConnection } from '@nats-io/nats-core';
import { call, commandSubject } from '#shared/nats/index.js';
import { newSessionId } from '#shared/ids/index.js';

type Reply = { events: Array<{ id: string; type: string }> };

/** Codes a retried command may legitimately end with: its first attempt committed, or a lock is held. */
const SETTLED = new Set(['Conflict', 'NotFound', 'Forbidden', 'PortAlreadyStolen', 'ReconnectNotPossible']);

export interface LoadStats {
  /** Commands acknowledged or refused by the ledger (each counted once, however often retried). */
  commands: number;
  /** Event ids the ledger acknowledged to this load. */
  acked: Set<string>;
  sessions: number;
  /** Steals refused because another session held the port: the lock doing its job. */
  refusedLocks: number;
  /** Attempts that failed and were retried (timeouts, no responders, Unavailable). */
  retries: number;
  /** Session Ended events of sessions with a Jira key, and when each was acknowledged. */
  jiraEnds: Array<{ id: string; at: number }>;
}

export interface LoadOptions {
  /** Commands to run (start, steal, end per session: three each). */
  commands: number;
  /** Concurrent sessions. */
  concurrency: number;
  /** Targets the sessions share, so that steals on port 80 contend for the lock. */
  targets: number;
  /** Called once when half the commands are issued: the fault goes in under load. */
  /** Called once, half-way through, with the stats so far (they keep growing). */
  midway?: (stats: LoadStats) => Promise<void>;
  /** Jira key in every n-th session's branch (0: none). */
  jiraEvery?: number;
}

const client = { client_user: 'chaos', client_name: 'Chaos', client_hostname: 'chaos', client_cli_version: '3.250.0' };

/**
 * The load a fault is injected under: `concurrency` sessions at once, each starting on one of a
 * few shared targets, stealing port 80 unfiltered (so sessions on one target contend for the
 * lock) and ending. A failed attempt is retried with the same command until the ledger answers
 * it; which events it acknowledged is recorded, to be found in the store and on the stream.
 */
export async function runLoad(nc: NatsConnection, o: LoadOptions): Promise<LoadStats> {
  const stats: LoadStats = { commands: 0, acked: new Set(), sessions: 0, refusedLocks: 0, retries: 0, jiraEnds: [] };
  let issued = 0;
  let triggered = false;
  const send = async (verb: string, body: Record<string, unknown>, jira = false): Promise<string | undefined> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await call<Reply>(nc, commandSubject('ledger', verb), body, 2000);
        for (const e of r.events) {
          stats.acked.add(e.id);
          if (jira && e.type === 'SessionEnded') stats.jiraEnds.push({ id: e.id, at: Date.now() });
        }
        stats.commands++;
        return undefined;
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (SETTLED.has(code)) {
          stats.commands++;
          return code;
        }
        if (code === 'Invalid') throw e;
        if (attempt > 600) throw new Error(`${verb} was never answered: ${String(e)}`);
        stats.retries++;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const worker = async () => {
    while (issued < o.commands) {
      issued += 3;
      if (o.midway && !triggered && issued >= o.commands / 2) {
        triggered = true;
        void o.midway(stats);
      }
      const id = newSessionId();
      const n = stats.sessions++;
      const branch = o.jiraEvery && n % o.jiraEvery === 0 ? `feature-CHAOS-${n + 1}` : undefined;
      const refused = await send('start', {
        session_id: id,
        target: `deployment/app-${n % o.targets}`,
        namespace: 'chaos',
        client,
        ...(branch ? { branch_name: branch } : {}),
      });
      if (refused) continue;
      const steal = await send('port-subscribe', { session_id: id, client_user: 'chaos', port: 80, mode: 'steal' });
      if (steal === 'PortAlreadyStolen') stats.refusedLocks++;
      await send('end', { session_id: id, client_user: 'chaos' }, branch !== undefined);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return stats;
}

/**
 * Time until the ledger takes a new session again after a fault: a probe session started every
 * 50 ms (1 s timeout each) until one is acknowledged, then ended.
 */
export async function timeToRecover(nc: NatsConnection, since: number, limitMs = 120_000): Promise<number> {
  for (;;) {
    const id = newSessionId();
    try {
      await call(
        nc,
        commandSubject('ledger', 'start'),
        { session_id: id, target: 'deployment/probe', namespace: 'chaos', client },
        1000,
      );
      const took = Date.now() - since;
      await call(nc, commandSubject('ledger', 'end'), { session_id: id, client_user: 'chaos' }, 5000).catch(
        () => undefined,
      );
      return took;
    } catch {
      if (Date.now() - since > limitMs) return Number.POSITIVE_INFINITY;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
