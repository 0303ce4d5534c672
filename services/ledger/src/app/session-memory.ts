import { randomUUID } from 'node:crypto';
import type { LedgerEvent } from '#shared/events/index.js';
import type { SessionView } from '#shared/ledger/index.js';
import { evolve } from '../domain/evolve.js';
import { liveViews } from '../domain/live-view.js';
import { initialState, type LedgerState } from '../domain/state.js';
import type { EventLog, SessionReadModels } from '../domain/store.js';
import { KnownSessionIds } from './known-ids.js';

/**
 * The writer's sessions in memory: every live one, the most recently ended ones (for fast
 * refusals; older ones are re-read from the store), which ids have events at all, and the
 * live sessions as the status query shows them.
 */
export class SessionMemory {
  #state: LedgerState = initialState();
  /** Ended sessions in memory, oldest first (a Set keeps insertion order; eviction is O(1)). */
  readonly #endedOrder = new Set<string>();
  readonly #endedCacheSize: number;
  readonly #known = new KnownSessionIds();
  /** The live sessions as the query shows them, made on the first query after a change. */
  #views: SessionView[] | undefined;
  /** Views made since start, with a per-process prefix: a version no other ledger process gives. */
  #viewsMade = 0;
  readonly #boot = randomUUID();

  constructor(endedCacheSize: number) {
    this.#endedCacheSize = endedCacheSize;
  }

  get state(): LedgerState {
    return this.#state;
  }

  /** Replaces the state with one folded from the store (start-up, or after a failed append). */
  replace(state: LedgerState): void {
    this.#state = state;
    this.#views = undefined;
  }

  async learnIds(store: Pick<SessionReadModels, 'sessionIds'>): Promise<void> {
    for await (const id of store.sessionIds()) this.#known.add(id);
  }

  apply(e: LedgerEvent): void {
    evolve(this.#state, e);
    this.#views = undefined;
    this.#known.add(e.session_id);
    if (e.type !== 'SessionEnded') return;
    this.#endedOrder.add(e.session_id);
    while (this.#endedOrder.size > this.#endedCacheSize) {
      const old = this.#endedOrder.values().next().value!;
      this.#endedOrder.delete(old);
      if (this.#state.sessions.get(old)?.status === 'ended') this.#state.sessions.delete(old);
    }
  }

  /** The session may have events the state does not hold (ended and evicted): ensureLoaded reads them. */
  mayNeedLoading(id: string): boolean {
    return !this.#state.sessions.has(id) && this.#known.mightContain(id);
  }

  /** Loads a session the state does not hold (ended and evicted, or never seen). */
  async ensureLoaded(id: string, log: Pick<EventLog, 'readStream'>): Promise<void> {
    if (this.#state.sessions.has(id) || !this.#known.mightContain(id)) return;
    const events = await log.readStream(id);
    if (events.length === 0 || this.#state.sessions.has(id)) return;
    const scratch = initialState();
    for (const e of events) evolve(scratch, e);
    const s = scratch.sessions.get(id);
    if (s) this.#state.sessions.set(id, s);
  }

  /**
   * Live sessions in id order: the active ledger is the only writer, so its state is the
   * store's plus commands being committed this instant. `operator status` pages through this
   * one array instead of re-reading every live row per page.
   */
  liveSessions(): { version: string; views: readonly SessionView[] } {
    if (!this.#views) {
      this.#views = liveViews(this.#state);
      this.#viewsMade++;
    }
    return { version: `${this.#boot}.${this.#viewsMade}`, views: this.#views };
  }
}
