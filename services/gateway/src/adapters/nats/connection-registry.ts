import { randomUUID } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { eventsOfType, unpackValue } from '#shared/nats/index.js';
import { validateEvent } from '#shared/events/index.js';
import type { LedgerClient } from './ledger-client.js';

export interface LiveConnection {
  sessionId: string;
  /** Tells the client the session is over (`DaemonMessage::Close` naming who) and closes the socket. */
  closeBySession(reason: string, by?: string): void;
}

/**
 * The sessions connected to this gateway. It reports them to the ledger in batches (liveness),
 * and closes connections whose session ended elsewhere: from the Session Ended events on NATS,
 * and, should one be missed, from the ledger's answer to the next activity report.
 */
export class ConnectionRegistry {
  readonly #bySession = new Map<string, Set<LiveConnection>>();
  readonly #ledger: LedgerClient;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #sub: Subscription | undefined;
  /**
   * This process as the ledger knows its reports: a new id per start, so a restarted gateway is
   * a new reporter and the old one's silence releases the ports its sockets held.
   */
  #reporter: { id: string; interval_ms: number } | undefined;

  constructor(ledger: LedgerClient, log: Logger) {
    this.#ledger = ledger;
    this.#log = log;
  }

  add(c: LiveConnection): void {
    let set = this.#bySession.get(c.sessionId);
    if (!set) this.#bySession.set(c.sessionId, (set = new Set()));
    set.add(c);
  }

  remove(c: LiveConnection): void {
    const set = this.#bySession.get(c.sessionId);
    set?.delete(c);
    if (set?.size === 0) this.#bySession.delete(c.sessionId);
  }

  /** Live sockets of one session on this gateway (a session may hold two: `exec` + intproxy). */
  count(sessionId: string): number {
    return this.#bySession.get(sessionId)?.size ?? 0;
  }

  get size(): number {
    return this.#bySession.size;
  }

  #endSession(id: string, reason: string, by?: string): void {
    const set = this.#bySession.get(id);
    if (!set) return;
    this.#bySession.delete(id);
    for (const c of set) c.closeBySession(reason, by);
  }

  async reportActivity(): Promise<void> {
    const ids = [...this.#bySession.keys()];
    if (ids.length === 0) return;
    try {
      const { ended } = await this.#ledger.activity(ids, this.#reporter);
      for (const e of ended) this.#endSession(e.id, e.reason);
    } catch (e) {
      this.#log.warn({ err: e, sessions: ids.length }, 'activity report failed; will retry');
    }
  }

  start(nc: NatsConnection, intervalMs: number): void {
    this.#reporter = { id: randomUUID(), interval_ms: intervalMs };
    this.#timer = setInterval(() => void this.reportActivity(), intervalMs);
    this.#timer.unref();
    this.#sub = nc.subscribe(eventsOfType('SessionEnded'), {
      callback: (err, msg) => {
        if (err) return;
        try {
          const e = validateEvent(unpackValue(msg.data));
          if (e.type === 'SessionEnded') this.#endSession(e.session_id, e.data.reason, e.data.killed_by);
        } catch (err2) {
          this.#log.warn({ err: err2, subject: msg.subject }, 'ignoring a malformed Session Ended message');
        }
      },
    });
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#sub?.unsubscribe();
  }
}
