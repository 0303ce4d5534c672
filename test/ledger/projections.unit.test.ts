import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../services/ledger/src/domain/decide.js';
import { evolve } from '../../services/ledger/src/domain/evolve.js';
import { initialState } from '../../services/ledger/src/domain/state.js';
import {
  applyOps,
  netProjectionDelta,
  portKey,
  projectionOps,
  type ProjectionState,
} from '../../services/ledger/src/domain/projections.js';
import type { LedgerCommand } from '../../services/ledger/src/domain/commands.js';
import type { LedgerEvent } from '#shared/events/index.js';

/** A deterministic PRNG so a failure reproduces. */
function rng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

function randomHistory(seed: number, n: number): LedgerEvent[] {
  const r = rng(seed);
  const st = initialState();
  const out: LedgerEvent[] = [];
  let id = 0;
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const pick = r();
    const sid =
      ids.length && pick > 0.3
        ? ids[Math.floor(r() * ids.length)]!
        : (++id).toString(16).toUpperCase().padStart(16, '0');
    if (!ids.includes(sid)) ids.push(sid);
    const user = 'u';
    const port = 80 + Math.floor(r() * 3);
    const choice = Math.floor(r() * 8);
    const cmds: LedgerCommand[] = [
      {
        type: 'StartSession',
        session_id: sid,
        target: 'deployment/a',
        namespace: 'default',
        agent: 'none',
        client: {
          client_user: user,
          client_name: 'n',
          client_hostname: 'h',
          client_id: '',
          user_id: '',
          client_cli_version: '',
        },
      },
      {
        type: 'SubscribePort',
        session_id: sid,
        client_user: user,
        port,
        mode: 'steal',
        on_concurrent_steal: 'continue',
        http_filter: `header=${Math.floor(r() * 2)}`,
      },
      { type: 'SubscribePort', session_id: sid, client_user: user, port, mode: 'mirror', on_concurrent_steal: 'abort' },
      { type: 'UnsubscribePort', session_id: sid, client_user: user, port },
      { type: 'EndSession', session_id: sid, client_user: user, reason: 'ClientClosed' },
      { type: 'KillSession', session_id: sid, by: 'admin' },
      {
        type: 'RejectSession',
        session_id: sid,
        target: 'deployment/a',
        namespace: 'default',
        asked: 'start',
        code: 'Forbidden',
        message: 'no',
        client: {
          client_user: user,
          client_name: 'n',
          client_hostname: 'h',
          client_id: '',
          user_id: '',
          client_cli_version: '',
        },
      },
      {
        type: 'SubscribePort',
        session_id: sid,
        client_user: user,
        port,
        mode: 'steal',
        on_concurrent_steal: 'override',
      },
    ];
    try {
      for (const e of decide(cmds[choice]!, st, { now: 1000 + i, newEventId: () => `e-${i}-${out.length}` }).events) {
        evolve(st, e);
        out.push(e);
      }
    } catch {
      /* refused commands add nothing */
    }
  }
  return out;
}

/** Applies a net delta with the SQL adapter's statement order, in memory. */
function applyDelta(p: ProjectionState, events: LedgerEvent[]): void {
  const d = netProjectionDelta(events);
  for (const x of d.deletePorts) p.ports.delete(portKey(x.session_id, x.port));
  for (const id of d.clearPortsOf) for (const [k, row] of p.ports) if (row.session_id === id) p.ports.delete(k);
  for (const x of d.endSessions) {
    const s = p.sessions.get(x.id);
    if (s)
      Object.assign(s, { status: 'ended', ended_at: x.ended_at, end_reason: x.end_reason, killed_by: x.killed_by });
  }
  for (const row of d.touchSessions) if (!p.sessions.has(row.id)) p.sessions.set(row.id, { ...row });
  for (const row of d.insertSessions) p.sessions.set(row.id, { ...row });
  for (const row of d.insertPorts) p.ports.set(portKey(row.session_id, row.port), row);
}

describe('projection delta (group commit) equals event-by-event projection', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random history #${seed}, random batch boundaries`, () => {
      const events = randomHistory(seed, 400);
      assert.ok(events.length > 100);
      const oneByOne: ProjectionState = { sessions: new Map(), ports: new Map() };
      for (const e of events) applyOps(oneByOne, projectionOps(e));
      const batched: ProjectionState = { sessions: new Map(), ports: new Map() };
      const r = rng(seed * 31);
      for (let i = 0; i < events.length;) {
        const n = 1 + Math.floor(r() * 40);
        applyDelta(batched, events.slice(i, i + n));
        i += n;
      }
      assert.deepEqual(new Map([...batched.sessions].sort()), new Map([...oneByOne.sessions].sort()));
      assert.deepEqual(new Map([...batched.ports].sort()), new Map([...oneByOne.ports].sort()));
      assert.ok([...oneByOne.sessions.values()].some((s) => s.status === 'ended'));
      assert.ok([...oneByOne.sessions.values()].some((s) => s.status === 'pending'));
    });
  }
});
