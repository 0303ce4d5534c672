import { newEventId } from '#shared/ids/index.js';
import type { LedgerEvent } from '#shared/events/index.js';
import type { LedgerCommand } from '../../services/ledger/src/domain/commands.js';
import { decide } from '../../services/ledger/src/domain/decide.js';
import { evolve } from '../../services/ledger/src/domain/evolve.js';
import { initialState } from '../../services/ledger/src/domain/state.js';
import type { LedgerStore } from '../../services/ledger/src/domain/store.js';

const users = Array.from({ length: 50 }, (_, i) => `user-${i}`);

/**
 * Appends about `events` events through the store, as real sessions decided by the ledger's
 * own decider: start, filtered steal, mirror, unsubscribe, end (6 events each). The last
 * `liveTail` sessions stay live.
 */
export async function generateEvents(store: LedgerStore, events: number, liveTail = 100): Promise<number> {
  const state = initialState();
  let t = Date.parse('2026-10-01T00:00:00Z');
  const sessions = Math.ceil(events / 6);
  let written = 0;
  let batch: LedgerEvent[] = [];
  const run = (cmd: LedgerCommand) => {
    t += 7;
    for (const e of decide(cmd, state, { now: t, newEventId: () => newEventId(t) }).events) {
      evolve(state, e);
      batch.push(e);
    }
  };
  for (let i = 0; i < sessions; i++) {
    const id = (0x1000000000000000n + BigInt(i)).toString(16).toUpperCase();
    const user = users[i % users.length]!;
    run({
      type: 'StartSession',
      session_id: id,
      target: `deployment/app-${i % 97}`,
      namespace: `ns-${i % 7}`,
      agent: 'none',
      client: {
        client_user: user,
        client_name: user,
        client_hostname: 'host',
        client_id: '',
        user_id: '',
        client_cli_version: '3.150.0',
      },
    });
    run({
      type: 'SubscribePort',
      session_id: id,
      client_user: user,
      port: 80,
      mode: 'steal',
      http_filter: `header=x-id: ${id}`,
      on_concurrent_steal: 'continue',
    });
    run({
      type: 'SubscribePort',
      session_id: id,
      client_user: user,
      port: 9090,
      mode: 'mirror',
      on_concurrent_steal: 'abort',
    });
    run({ type: 'UnsubscribePort', session_id: id, client_user: user, port: 9090 });
    if (i < sessions - liveTail) {
      run({ type: 'EndSession', session_id: id, client_user: user, reason: 'ClientClosed' });
      state.sessions.delete(id);
    }
    if (batch.length >= 6000 || i === sessions - 1) {
      const out = await store.appendBatch([{ events: batch }]);
      if (!out[0]!.ok) throw out[0]!.error;
      written += batch.length;
      batch = [];
    }
  }
  return written;
}
