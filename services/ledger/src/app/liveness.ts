import type { ActivityLog } from '../domain/store.js';
import type { LedgerState } from '../domain/state.js';

/** The gateway process that sent an activity report: a per-process id and its report period. */
export interface Reporter {
  id: string;
  interval_ms: number;
}

/**
 * A reporter silent for this many of its periods (and at least MIN_SILENCE_MS) is gone: a live
 * gateway reports every period whether or not the ledger answers.
 */
const MISSED_REPORTS = 3;
const MIN_SILENCE_MS = 3000;
/** At most this many quiet sessions are named per status. */
const QUIET_MAX = 500;

/**
 * When each live session was last seen connected (gateways' activity reports), in memory, and
 * what of it is not yet written to the store's activity table; and which gateway process
 * reported each session last, so a gateway that stops reporting altogether (crashed, killed)
 * has its sessions' ports released long before their unused TTL.
 */
export class Liveness {
  /** Session id → last seen (ms); what expiry and `retain-active` read. */
  readonly last = new Map<string, number>();
  #dirty = new Map<string, number>();
  /** Session id → the reporter that reported it last. */
  readonly #reportedBy = new Map<string, string>();
  /** Reporter id → when it last reported, and how long a silence means it is gone. */
  readonly #reporters = new Map<string, { seen: number; silentMs: number }>();

  /** A gateway reported the session connected. */
  reported(id: string, now: number, by?: Reporter): void {
    this.last.set(id, now);
    this.#dirty.set(id, now);
    if (by) this.#reportedBy.set(id, by.id);
  }

  /** A gateway process reported (any number of sessions, none included). */
  heard(by: Reporter, now: number): void {
    this.#reporters.set(by.id, { seen: now, silentMs: Math.max(MISSED_REPORTS * by.interval_ms, MIN_SILENCE_MS) });
  }

  /**
   * Sessions last reported by a gateway process that has gone silent: its sockets are gone.
   * Each is returned once; the reporter is forgotten.
   */
  lostSessions(now: number): string[] {
    const lost = new Set<string>();
    for (const [id, r] of this.#reporters)
      if (now - r.seen > r.silentMs) {
        lost.add(id);
        this.#reporters.delete(id);
      }
    if (lost.size === 0) return [];
    const out: string[] = [];
    for (const [session, by] of this.#reportedBy)
      if (lost.has(by)) {
        out.push(session);
        this.#reportedBy.delete(session);
      }
    return out;
  }

  /**
   * Live sessions no gateway has reported connected for longer than a reporter's silence (its
   * client is gone or never stayed), and since when: `operator status` marks them until they
   * reconnect or end as Unused.
   */
  quiet(now: number): Record<string, number> {
    let after = MIN_SILENCE_MS;
    for (const r of this.#reporters.values()) after = Math.max(after, r.silentMs);
    const out: Record<string, number> = {};
    let n = 0;
    // Bounded: a status reply stays small even when thousands of clients vanish at once (a
    // gateway outage); past this many, the rest are unmarked until some reconnect or end.
    for (const [id, seen] of this.last)
      if (now - seen > after) {
        out[id] = seen;
        if (++n === QUIET_MAX) break;
      }
    return out;
  }

  /** Seen now without a report to store (a start, a restart, a regained bus or a pause). */
  seen(id: string, now: number): void {
    this.last.set(id, now);
  }

  ended(id: string): void {
    this.last.delete(id);
    this.#dirty.delete(id);
    this.#reportedBy.delete(id);
  }

  /**
   * Every live session of `state` counts as seen now, and every gateway as heard now (the
   * silence was the bus's or this process's, not theirs); returns how many sessions are live.
   */
  refresh(state: LedgerState, now: number): number {
    for (const r of this.#reporters.values()) r.seen = now;
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
  async flush(store: Pick<ActivityLog, 'recordActivity'>): Promise<void> {
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
