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
import fc from 'fast-check';

/** One command of a history: which session (a new one, or one seen before), port and kind. */
const step = fc.record({
  reuse: fc.boolean(),
  pick: fc.nat(),
  port: fc.integer({ min: 80, max: 82 }),
  choice: fc.integer({ min: 0, max: 7 }),
  header: fc.integer({ min: 0, max: 1 }),
});
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

/** The events the decider makes of the steps' commands (refused ones add nothing). */
function historyOf(steps: Step[]): LedgerEvent[] {
  const st = initialState();
  const out: LedgerEvent[] = [];
  let id = 0;
  const ids: string[] = [];
  for (const [i, { reuse, pick, port, choice, header }] of steps.entries()) {
    const sid = ids.length && reuse ? ids[pick % ids.length]! : (++id).toString(16).toUpperCase().padStart(16, '0');
    if (!ids.includes(sid)) ids.push(sid);
    const user = 'u';
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
        http_filter: `header=${header}`,
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
  const history = fc.array(step, { minLength: 1, maxLength: 400, size: 'max' }).map(historyOf);
  const batches = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 400, size: 'max' });

  it('for any history and any batch boundaries, the batched deltas project what one event at a time does', () => {
    fc.assert(
      fc.property(history, batches, (events, sizes) => {
        // given a history, projected one event at a time and in batches of the given sizes
        const oneByOne: ProjectionState = { sessions: new Map(), ports: new Map() };
        for (const e of events) applyOps(oneByOne, projectionOps(e));
        const batched: ProjectionState = { sessions: new Map(), ports: new Map() };
        for (let i = 0, b = 0; i < events.length; b++) {
          const n = sizes[b % sizes.length]!;
          applyDelta(batched, events.slice(i, i + n));
          i += n;
        }
        // then both projections are the same
        assert.deepEqual(new Map([...batched.sessions].sort()), new Map([...oneByOne.sessions].sort()));
        assert.deepEqual(new Map([...batched.ports].sort()), new Map([...oneByOne.ports].sort()));
      }),
      { numRuns: 60 },
    );
  });

  it('the histories it tries start, end and refuse sessions, steal, mirror and release ports', () => {
    const seen = fc.sample(history, { numRuns: 20, seed: 1 }).flat();
    for (const type of [
      'SessionStarted',
      'SessionEnded',
      'SessionRejected',
      'PortStolen',
      'PortMirrored',
      'PortReleased',
    ])
      assert.ok(
        seen.some((e) => e.type === type),
        `no ${type} among the sampled histories`,
      );
  });
});
