import type { Logger } from 'pino';
import type { LedgerCommand } from '../domain/commands.js';
import { expiredSessions } from '../domain/session-end.js';
import type { LedgerState } from '../domain/state.js';
import { ExpiryTimer } from './expiry-timer.js';
import type { Liveness } from './liveness.js';
import type { StoreHealth } from './store-health.js';

/** What expiry needs of the ledger it runs in. */
export interface ExpiryDeps {
  log: Logger;
  now: () => number;
  unusedTtlMs: number;
  /** SESSION_MAX_SECONDS: live sessions older than this end as TimeLimitExceeded. */
  maxSessionMs: number | undefined;
  liveness: Liveness;
  health: StoreHealth;
  state: () => LedgerState;
  /** Memory is behind the store and could not be rebuilt (false): nothing can end now. */
  trusted: () => Promise<boolean>;
  stale: () => boolean;
  execute: (cmd: LedgerCommand) => Promise<{ events: unknown[] }>;
  flushActivity: () => Promise<void>;
}

/**
 * The ledger's clock: ends sessions no client was seen on for the unused TTL or past their
 * maximum duration (session-end.ts decides which and why), and releases the ports of sessions
 * whose gateway went silent. While the bus is down no gateway can report liveness, so nothing
 * expires as Unused.
 */
export class SessionExpiry {
  readonly #d: ExpiryDeps;
  #timer: ExpiryTimer | undefined;
  #busDown = false;

  constructor(deps: ExpiryDeps) {
    this.#d = deps;
  }

  /**
   * Expires sessions every `intervalMs`. A tick never rejects: a store failure is logged (once
   * per outage) and the next tick tries again, so a database outage cannot end the process.
   */
  start(intervalMs = 1000): void {
    const d = this.#d;
    this.#timer = new ExpiryTimer({
      intervalMs,
      // A pause that could make a reported session look unused (gateways report every few
      // seconds) is well above a third of the TTL; a busy event loop stays well below it.
      pauseMs: Math.max(5 * intervalMs, d.unusedTtlMs / 3),
      now: d.now,
      tick: async () => {
        try {
          await this.expireNow();
          if (!d.stale()) d.health.ok();
        } catch (e) {
          d.health.failed(e, 'session expiry');
        }
      },
      // The gateways' reports of that time were not heard, as when the bus is down: every
      // live session gets a full TTL from now instead of ending Unused on the next tick.
      paused: (gapMs) =>
        d.log.warn(
          { paused_ms: gapMs, live: d.liveness.refresh(d.state(), d.now()), ttl_ms: d.unusedTtlMs },
          'the ledger was paused: every live session gets a full unused TTL',
        ),
    });
  }

  stop(): void {
    this.#timer?.stop();
  }

  /** The ledger lost NATS: liveness reports cannot reach it, so Unused expiry pauses. */
  busLost(): void {
    if (this.#busDown) return;
    this.#busDown = true;
    this.#d.log.warn(
      { ttl_ms: this.#d.unusedTtlMs },
      'message bus lost: no session expires as Unused until it returns',
    );
  }

  /** NATS is back: every live session gets a full TTL from now, as after a ledger restart. */
  busRegained(): void {
    if (!this.#busDown) return;
    this.#busDown = false;
    const d = this.#d;
    const live = d.liveness.refresh(d.state(), d.now());
    d.log.info({ live, ttl_ms: d.unusedTtlMs }, 'message bus regained: every live session gets a full unused TTL');
  }

  async expireNow(): Promise<number> {
    const d = this.#d;
    // The store is still down: nothing can be ended now, and activity is kept in memory.
    if (!(await d.trusted())) return 0;
    const ttl = this.#busDown ? Number.POSITIVE_INFINITY : d.unusedTtlMs;
    const due = expiredSessions(d.state(), d.liveness.last, d.now(), ttl, d.maxSessionMs);
    let n = 0;
    for (const { id, reason } of due) {
      try {
        const r = await d.execute({ type: 'ExpireSession', session_id: id, reason });
        if (r.events.length) n++;
      } catch (e) {
        // The store failed (logged once by the rebuild): the others wait for it too.
        if (d.stale()) break;
        d.log.warn({ err: e, session_id: id }, 'session expiry failed; will retry');
      }
    }
    // Gateways that stopped reporting while the bus is up are gone, and so are their sockets.
    if (!this.#busDown)
      for (const id of d.liveness.lostSessions(d.now()))
        await d.execute({ type: 'ReleaseLostPorts', session_id: id }).catch((e: unknown) => {
          if (!d.stale()) d.log.warn({ err: e, session_id: id }, 'releasing a lost gateway’s ports failed');
        });
    await d.flushActivity();
    return n;
  }
}
