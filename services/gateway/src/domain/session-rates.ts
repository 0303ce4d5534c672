import { TokenBucket } from './token-bucket.js';

/**
 * One message budget (SESSION_MESSAGES_PER_SECOND) per session on this gateway, shared by all
 * of the session's sockets: opening more sockets for one session (any client may, with its
 * own session id) does not multiply the subscriptions, policy and ledger calls it may ask for.
 * A session's bucket outlives its last socket until it would be full again, so closing and
 * reopening a socket does not refill it either. Time comes from the caller.
 */
export class SessionRates {
  readonly #rate: number;
  readonly #sessions = new Map<string, { bucket: TokenBucket; sockets: number; idleSince: number }>();
  #sweptAt = 0;

  constructor(rate: number) {
    this.#rate = rate;
  }

  /** The session's bucket, for one more socket (give it back with `release`). */
  acquire(sessionId: string, now: number): TokenBucket {
    this.#sweep(now);
    let s = this.#sessions.get(sessionId);
    if (!s) this.#sessions.set(sessionId, (s = { bucket: new TokenBucket(this.#rate, now), sockets: 0, idleSince: 0 }));
    s.sockets++;
    return s.bucket;
  }

  /** One socket of the session is gone. */
  release(sessionId: string, now: number): void {
    const s = this.#sessions.get(sessionId);
    if (!s) return;
    s.sockets = Math.max(0, s.sockets - 1);
    if (s.sockets === 0) s.idleSince = now;
  }

  /** Sessions with a bucket (sockets open, or closed less than a second ago). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Drops the buckets of sessions without sockets that a second has refilled (at most one pass a second). */
  #sweep(now: number): void {
    if (now - this.#sweptAt < 1000) return;
    this.#sweptAt = now;
    for (const [id, s] of this.#sessions) if (s.sockets === 0 && now - s.idleSince >= 1000) this.#sessions.delete(id);
  }
}
