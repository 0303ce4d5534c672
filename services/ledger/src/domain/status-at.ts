import type { LedgerEvent } from '#shared/events/index.js';
import type { HeldPortRecord, QueueSplitRecord } from '#shared/ledger/index.js';
import { splitRecords } from './live-view.js';
import { projectionOps } from './projections.js';
import { initialState } from './state.js';
import { evolve } from './evolve.js';

/**
 * The ports a session held at a moment: the held-ports projection's own ops, applied to the
 * session's events up to that moment (the projection table only knows the present).
 */
export function portsAt(events: readonly LedgerEvent[], at: number): HeldPortRecord[] {
  const held = new Map<number, HeldPortRecord>();
  for (const e of events) {
    if (e.time > at) break;
    for (const op of projectionOps(e)) {
      if (op.op === 'addPort') {
        const { session_id: _, ...port } = op.row;
        held.set(port.port, port);
      } else if (op.op === 'removePort') held.delete(op.port);
    }
  }
  return [...held.values()].sort((a, b) => a.port - b.port);
}

/**
 * The queue splits a session held at a moment (`status --at`, and one session read from the
 * store): its events up to then, folded by the decider's own evolve.
 */
export function splitsAt(events: readonly LedgerEvent[], at = Number.POSITIVE_INFINITY): QueueSplitRecord[] {
  const state = initialState();
  for (const e of events) {
    if (e.time > at) break;
    evolve(state, e);
  }
  const s = events.length ? state.sessions.get(events[0]!.session_id) : undefined;
  return s?.status === 'live' ? splitRecords(s.splits.values()) : [];
}
