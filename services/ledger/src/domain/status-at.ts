import type { LedgerEvent } from '#shared/events/index.js';
import type { HeldPortRecord } from '#shared/ledger/index.js';
import { projectionOps } from './projections.js';

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
