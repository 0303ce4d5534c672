import type { LedgerStore } from './domain/store.js';
import type { LedgerState } from './domain/state.js';

/**
 * When each live session was last seen connected (gateways' activity reports), in memory, and
 * what of it is not yet written to the store's activity table.
 */
export class Liveness {
  /** Session id → last seen (ms); what expiry and `retain-active` read. */
  readonly last = new Map<string, number>();
  #dirty = new Map<string, number>();

  /** A gateway reported the session connected. */
  reported(id: string, now: number): void {
    this.last.set(id, now);
    this.#dirty.set(id, now);
  }

  /** Seen now without a report to store (a start, a restart, a regained bus or a pause). */
  seen(id: string, now: number): void {
    this.last.set(id, now);
  }

  ended(id: string): void {
    this.last.delete(id);
    this.#dirty.delete(id);
  }

  /** Every live session of `state` counts as seen now; returns how many there are. */
  refresh(state: LedgerState, now: number): number {
    let live = 0;
    for (const [id, s] of state.sessions) {
      if (s.status !== 'live') continue;
      this.last.set(id, now);
      live++;
    }
    return live;
  }

  /**
   * After memory was rebuilt from the store: a session ended in memory by a failed append is
   * live again and needs a last activity, or it would never expire as Unused.
   */
  reconcile(state: LedgerState, now: number): void {
    for (const id of this.last.keys()) if (state.sessions.get(id)?.status !== 'live') this.last.delete(id);
    for (const [id, s] of state.sessions) if (s.status === 'live' && !this.last.has(id)) this.last.set(id, now);
  }

  /** Writes the reported activity; what could not be written is kept for the next flush. */
  async flush(store: Pick<LedgerStore, 'recordActivity'>): Promise<void> {
    if (this.#dirty.size === 0) return;
    const batch = this.#dirty;
    this.#dirty = new Map();
    try {
      await store.recordActivity([...batch].map(([session_id, last_seen]) => ({ session_id, last_seen })));
    } catch (e) {
      // A newer report since, or an end, wins over the batch that failed.
      for (const [id, at] of batch) if (!this.#dirty.has(id) && this.last.has(id)) this.#dirty.set(id, at);
      throw e;
    }
  }
}
