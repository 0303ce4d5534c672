import type { NatsConnection } from '@nats-io/nats-core';
import type { LedgerEvent } from '#shared/events/index.js';
import { openLedgerStore } from '../../services/ledger/src/adapters/sql/sql-store.js';
import { readEventStream } from '../../test/support/jetstream.js';

export interface Findings {
  /** Acknowledged events missing from the store, plus stored events missing from the stream. */
  lost: number;
  /** Events on the stream more than once. */
  duplicated: number;
  /** Moments two sessions held one unfiltered steal lock. */
  doubleLocks: number;
  /** Sessions ended without a reason. */
  unexplained: number;
  /** Jira reports accepted more than once for one Session Ended. */
  doublePosts: number;
  /** Ended sessions with a Jira key that no accepted POST covers (after the wait). */
  unreported: number;
  events: number;
}

/** Nothing found yet: where a phase's counts start. */
export const noFindings = (): Findings => ({
  lost: 0,
  duplicated: 0,
  doubleLocks: 0,
  doublePosts: 0,
  unreported: 0,
  unexplained: 0,
  events: 0,
});

/** One row of the chaos table: a fault, the load it hit, what was violated, the time to recover. */
export interface ChaosRow extends Omit<Findings, 'events'> {
  fault: string;
  /** What the load did: ledger commands, or protocol operations through the gateways. */
  commands: number;
  sessions: number;
  retries: number;
  recoveryMs: number;
  /** Agent Jobs still in the cluster well after every session ended (a cleanup lost). */
  leftoverAgents: number;
  skipped?: string;
}

/**
 * Port-lock invariant over the event log in position order: an unfiltered steal with the lock
 * taken while another session holds the same (namespace, target, port) is a double lock.
 */
export function doubleLocks(events: LedgerEvent[]): number {
  const holder = new Map<string, string>();
  const keyOf = (e: LedgerEvent, port: number) => `${e.data.namespace}/${e.data.target}/${port}`;
  let doubles = 0;
  for (const e of events) {
    if (e.type === 'PortStolen' && e.data.lock && e.data.http_filter === undefined) {
      const k = keyOf(e, e.data.port);
      const h = holder.get(k);
      if (h !== undefined && h !== e.session_id) doubles++;
      holder.set(k, e.session_id);
    } else if (e.type === 'PortReleased') {
      const k = keyOf(e, e.data.port);
      if (holder.get(k) === e.session_id) holder.delete(k);
    } else if (e.type === 'SessionEnded') {
      for (const [k, h] of holder) if (h === e.session_id) holder.delete(k);
    }
  }
  return doubles;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What the store, the stream and the Jira webtrigger hold after a fault healed: waits up to
 * `settleMs` for the outbox and the reporters to catch up, then counts every violation.
 */
export async function inspect(
  nc: NatsConnection,
  dbUrl: string,
  acked: Set<string>,
  posts: Map<string, number>,
  keysBySession: Map<string, Set<string>> = new Map(),
  settleMs = 30_000,
): Promise<Findings> {
  const store = await openLedgerStore(dbUrl);
  let events: LedgerEvent[];
  const sessions: Array<{ status: string; end_reason: string | null; branch_name: string | null }> = [];
  try {
    events = (await store.readAll(0, 10_000_000)).map((s) => s.event);
    for await (const s of store.allSessionRows()) sessions.push(s);
  } finally {
    await store.close();
  }
  const branches = new Map<string, string | undefined>();
  for (const e of events) if (e.type === 'SessionStarted') branches.set(e.session_id, e.data.branch_name);
  const jiraEnds = events.filter(
    (e) => e.type === 'SessionEnded' && /CHAOS-\d+/.test(branches.get(e.session_id) ?? ''),
  );
  const deadline = Date.now() + settleMs;
  // Right after a NATS node comes back the JetStream API may time out while leaders settle.
  const read = async () => {
    for (;;) {
      try {
        return await readEventStream(nc);
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await sleep(500);
      }
    }
  };
  let onStream = await read();
  while (Date.now() < deadline) {
    const delivered = jiraEnds.every((e) => (posts.get(e.id) ?? 0) > 0);
    if (new Set(onStream.map((m) => m.msgId)).size >= events.length && delivered) break;
    await sleep(250);
    onStream = await read();
  }
  const inTable = new Set(events.map((e) => e.id));
  const streamIds = onStream.map((m) => m.msgId!);
  const streamSet = new Set(streamIds);
  let lost = [...acked].filter((id) => !inTable.has(id)).length;
  lost += events.filter((e) => !streamSet.has(e.id)).length;
  if (process.env.CHAOS_DEBUG)
    for (const e of jiraEnds.filter((x) => (posts.get(x.id) ?? 0) === 0))
      process.stderr.write(
        `unreported ${e.id} ${e.session_id} ${branches.get(e.session_id)} on stream: ${streamSet.has(e.id)}\n`,
      );
  return {
    lost,
    duplicated: streamIds.length - streamSet.size,
    doubleLocks: doubleLocks(events),
    unexplained: sessions.filter((s) => s.status === 'ended' && !s.end_reason).length,
    doublePosts: [...keysBySession.values()].filter((keys) => keys.size > 1).length,
    unreported: jiraEnds.filter((e) => (posts.get(e.id) ?? 0) === 0).length,
    events: events.length,
  };
}
