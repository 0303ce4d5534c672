import type { LedgerEvent } from '../../../../shared/src/events/index.js';
import type { HeldPortRecord } from '../../../../shared/src/ledger/index.js';

/**
 * The ports a session held at a moment, folded from its events up to that moment (the
 * held-ports projection only knows the present).
 */
export function portsAt(events: readonly LedgerEvent[], at: number): HeldPortRecord[] {
  const held = new Map<number, HeldPortRecord>();
  for (const e of events) {
    if (e.time > at) break;
    switch (e.type) {
      case 'PortStolen':
        held.set(e.data.port, { port: e.data.port, mode: 'steal', http_filter: e.data.http_filter ?? null, lock: e.data.lock ? 1 : 0, since: e.time });
        break;
      case 'PortMirrored':
        held.set(e.data.port, { port: e.data.port, mode: 'mirror', http_filter: null, lock: 0, since: e.time });
        break;
      case 'PortReleased':
        held.delete(e.data.port);
        break;
      default:
        break;
    }
  }
  return [...held.values()].sort((a, b) => a.port - b.port);
}
