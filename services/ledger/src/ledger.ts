import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError, ErrorCode, unavailable } from '#shared/errors/index.js';
import { logFieldsOf, logMessageOf, type LedgerEvent } from '#shared/events/index.js';
import { newEventId } from '#shared/ids/index.js';
import type { LedgerCommand, SessionLimits } from './domain/commands.js';
import { decide } from './domain/decide.js';
import { evolve } from './domain/evolve.js';
import { expiredSessions } from './domain/expiry.js';
import { initialState, type LedgerState } from './domain/state.js';
import { FencedError, type LedgerStore, type StoredEvent } from './domain/store.js';
import { KnownSessionIds } from './known-ids.js';
import { APPEND_BUCKETS, LatencyHistogram, type AppendLatency, type SessionView } from '#shared/ledger/index.js';
import { liveViews } from './domain/live-view.js';
import { StoreHealth } from './store-health.js';
import { ExpiryTimer } from './expiry-timer.js';
import { Liveness, type Reporter } from './liveness.js';

export interface EventRef {
  id: string;
  type: string;
  session_id: string;
  position: number;
}
export interface CommandResult {
  events: EventRef[];
  warnings: string[];
  resumed?: boolean;
  unlocked?: boolean;
}

interface Pending {
  events: LedgerEvent[];
  traceparent: string | undefined;
  /** performance.now() when queued: command-to-commit latency. */
  queuedAt: number;
  resolve: (positions: number[]) => void;
  reject: (e: Error) => void;
}

export interface LedgerOptions {
  unusedTtlMs: number;
  now?: () => number;
  /** Called after each commit with its events, positions assigned (feeds the outbox). */
  onCommitted?: (events: StoredEvent[]) => void;
  /** Ended sessions kept in memory for fast refusals; older ones are re-read from the store. */
  endedCacheSize?: number;
  /** SESSION_MAX_SECONDS: live sessions older than this end as TimeLimitExceeded. */
  maxSessionMs?: number;
  /** SESSION_MAX_PORTS, SESSION_MAX_EVENTS, USER_MAX_SESSIONS. */
  limits?: SessionLimits;
  /** Another ledger claimed the store: this one must stop deciding (its memory is not the truth). */
  onFenced?: (e: FencedError) => void;
}

/**
 * The session aggregate's command loop. Commands are decided one at a time against the
 * in-memory state (so port-lock checks see every earlier command, committed or queued), and
 * their events are group-committed: whatever is queued when the writer is free goes in one
 * transaction, with no artificial wait. Replies go out only after the commit.
 */
export class Ledger {
  readonly #store: LedgerStore;
  readonly #log: Logger;
  readonly #opts: Readonly<Required<Omit<LedgerOptions, 'onCommitted' | 'maxSessionMs' | 'limits' | 'onFenced'>>> &
    Pick<LedgerOptions, 'onCommitted' | 'maxSessionMs' | 'limits' | 'onFenced'>;
  #state: LedgerState = initialState();
  #queue: Pending[] = [];
  #writing: Promise<void> | undefined;
  readonly #liveness = new Liveness();
  /** Ended sessions in memory, oldest first (a Set keeps insertion order; eviction is O(1)). */
  readonly #endedOrder = new Set<string>();
  #expiryTimer: ExpiryTimer | undefined;
  readonly #health: StoreHealth;
  readonly #known = new KnownSessionIds();
  #closed = false;
  /** Memory may differ from the store (a failed append not yet rebuilt from it). */
  #stale = false;
  #rebuilding: Promise<boolean> | undefined;
  /** While the bus is down no gateway can report liveness, so nothing expires as Unused. */
  #busDown = false;
  readonly #appendLatency = new LatencyHistogram(APPEND_BUCKETS);
  /** The live sessions as the query shows them, made on the first query after a change. */
  #views: SessionView[] | undefined;
  /** Views made since start, with a per-process prefix: a version no other ledger process gives. */
  #viewsMade = 0;
  readonly #boot = randomUUID();

  constructor(store: LedgerStore, log: Logger, opts: LedgerOptions) {
    this.#store = store;
    this.#log = log;
    this.#opts = Object.freeze({ now: Date.now, endedCacheSize: 10_000, ...opts });
    this.#health = new StoreHealth(log, this.#opts.now);
  }

  get state(): LedgerState {
    return this.#state;
  }

  /**
   * Live sessions in id order, from memory: the active ledger is the only writer, so its state
   * is the store's plus commands being committed this instant. `operator status` pages through
   * this one array instead of re-reading every live row per page.
   */
  liveSessions(): { version: string; views: readonly SessionView[] } {
    if (!this.#views) {
      this.#views = liveViews(this.#state);
      this.#viewsMade++;
    }
    return { version: `${this.#boot}.${this.#viewsMade}`, views: this.#views };
  }

  /** Live sessions with no client seen connected lately, and since when (Liveness.quiet). */
  quietSessions(): Record<string, number> {
    return this.#liveness.quiet(this.#opts.now());
  }

  /** `mirrord_teams_ledger_append_seconds`: queued command to committed events. */
  appendLatency(): AppendLatency {
    return this.#appendLatency.snapshot();
  }

  /**
   * Rebuilds live state from the events of live sessions. Every live session gets a full TTL
   * from now, so ledger downtime never expires a healthy session.
   */
  async init(): Promise<void> {
    const state = initialState();
    for (const e of await this.#store.liveSessionEvents()) evolve(state, e);
    this.#state = state;
    this.#views = undefined;
    for await (const id of this.#store.sessionIds()) this.#known.add(id);
    const now = this.#opts.now();
    this.#liveness.refresh(state, now);
  }

  /**
   * Expires sessions every `intervalMs`. A tick never rejects: a store failure is logged (once
   * per outage) and the next tick tries again, so a database outage cannot end the process.
   */
  startExpiry(intervalMs = 1000): void {
    this.#expiryTimer = new ExpiryTimer({
      intervalMs,
      // A pause that could make a reported session look unused (gateways report every few
      // seconds) is well above a third of the TTL; a busy event loop stays well below it.
      pauseMs: Math.max(5 * intervalMs, this.#opts.unusedTtlMs / 3),
      now: this.#opts.now,
      tick: async () => {
        try {
          await this.expireNow();
          if (!this.#stale) this.#health.ok();
        } catch (e) {
          this.#health.failed(e, 'session expiry');
        }
      },
      // The gateways' reports of that time were not heard, as when the bus is down: every
      // live session gets a full TTL from now instead of ending Unused on the next tick.
      paused: (gapMs) =>
        this.#log.warn(
          {
            paused_ms: gapMs,
            live: this.#liveness.refresh(this.#state, this.#opts.now()),
            ttl_ms: this.#opts.unusedTtlMs,
          },
          'the ledger was paused: every live session gets a full unused TTL',
        ),
    });
  }

  /** The ledger lost NATS: liveness reports cannot reach it, so Unused expiry pauses. */
  busLost(): void {
    if (this.#busDown) return;
    this.#busDown = true;
    this.#log.warn(
      { ttl_ms: this.#opts.unusedTtlMs },
      'message bus lost: no session expires as Unused until it returns',
    );
  }

  /** NATS is back: every live session gets a full TTL from now, as after a ledger restart. */
  busRegained(): void {
    if (!this.#busDown) return;
    this.#busDown = false;
    const live = this.#liveness.refresh(this.#state, this.#opts.now());
    this.#log.info(
      { live, ttl_ms: this.#opts.unusedTtlMs },
      'message bus regained: every live session gets a full unused TTL',
    );
  }

  async expireNow(): Promise<number> {
    // The store is still down: nothing can be ended now, and activity is kept in memory.
    if (this.#stale && !(await this.#rebuildAfterFailure())) return 0;
    const ttl = this.#busDown ? Number.POSITIVE_INFINITY : this.#opts.unusedTtlMs;
    const due = expiredSessions(this.#state, this.#liveness.last, this.#opts.now(), ttl, this.#opts.maxSessionMs);
    let n = 0;
    for (const { id, reason } of due) {
      try {
        const r = await this.execute({ type: 'ExpireSession', session_id: id, reason });
        if (r.events.length) n++;
      } catch (e) {
        // The store failed (logged once by the rebuild): the others wait for it too.
        if (this.#stale) break;
        this.#log.warn({ err: e, session_id: id }, 'session expiry failed; will retry');
      }
    }
    // Gateways that stopped reporting while the bus is up are gone, and so are their sockets.
    if (!this.#busDown)
      for (const id of this.#liveness.lostSessions(this.#opts.now()))
        await this.execute({ type: 'ReleaseLostPorts', session_id: id }).catch((e: unknown) => {
          if (!this.#stale) this.#log.warn({ err: e, session_id: id }, 'releasing a lost gateway’s ports failed');
        });
    await this.flushActivity();
    return n;
  }

  /** Loads a session the state does not hold (ended and evicted, or never seen). */
  async #ensureLoaded(id: string): Promise<void> {
    if (this.#state.sessions.has(id) || !this.#known.mightContain(id)) return;
    const events = await this.#store.readStream(id);
    if (events.length === 0 || this.#state.sessions.has(id)) return;
    const scratch = initialState();
    for (const e of events) evolve(scratch, e);
    const s = scratch.sessions.get(id);
    if (s) this.#state.sessions.set(id, s);
  }

  async execute(cmd: LedgerCommand, traceparent?: string): Promise<CommandResult> {
    if (this.#closed) throw unavailable('the ledger is shutting down; retry against another replica');
    // Memory diverged from the store (a failed append) and could not be rebuilt then: nothing
    // is decided on it until it is (the store is back).
    if (this.#stale && !(await this.#rebuildAfterFailure()))
      throw unavailable('the ledger store is unavailable; retry shortly');
    if ('session_id' in cmd)
      await this.#ensureLoaded(cmd.session_id).catch((e: unknown) => {
        this.#health.failed(e, cmd.type);
        throw unavailable('the ledger store is unavailable; retry shortly', e);
      });
    const now = this.#opts.now();
    // retain-active: which sessions are inactive is this ledger's knowledge (activity reports), not the decider's.
    if (cmd.type === 'KillAll' && cmd.inactive_for_ms !== undefined) {
      const cutoff = now - cmd.inactive_for_ms;
      cmd = { ...cmd, only: [...this.#liveness.last].filter(([, seen]) => seen < cutoff).map(([id]) => id) };
    }
    const limits = this.#opts.limits;
    const decision = decide(
      cmd,
      this.#state,
      limits ? { now, newEventId: () => newEventId(now), limits } : { now, newEventId: () => newEventId(now) },
    );
    if (decision.events.length === 0) {
      return decision.resumed
        ? { events: [], warnings: decision.warnings, resumed: true }
        : { events: [], warnings: decision.warnings };
    }
    for (const e of decision.events) this.#apply(e);
    if (cmd.type === 'StartSession') this.#liveness.seen(cmd.session_id, now);
    // The write loop assigns each event its position before resolving.
    await new Promise<number[]>((resolve, reject) => {
      this.#queue.push({ events: decision.events, traceparent, queuedAt: performance.now(), resolve, reject });
      this.#kick();
    });
    if (decision.refused) throw decision.refused;
    return {
      events: decision.events.map((e) => ({ id: e.id, type: e.type, session_id: e.session_id, position: e.position })),
      warnings: decision.warnings,
      ...(decision.unlocked ? { unlocked: true } : {}),
    };
  }

  #apply(e: LedgerEvent): void {
    evolve(this.#state, e);
    this.#views = undefined;
    this.#known.add(e.session_id);
    if (e.type === 'SessionEnded') {
      this.#liveness.ended(e.session_id);
      this.#endedOrder.add(e.session_id);
      while (this.#endedOrder.size > this.#opts.endedCacheSize) {
        const old = this.#endedOrder.values().next().value!;
        this.#endedOrder.delete(old);
        if (this.#state.sessions.get(old)?.status === 'ended') this.#state.sessions.delete(old);
      }
    }
  }

  #kick(): void {
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = this.#writeLoop().finally(() => {
      this.#writing = undefined;
      this.#kick();
    });
  }

  async #writeLoop(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      let outcomes;
      try {
        outcomes = await this.#store.appendBatch(batch.map((p) => ({ events: p.events, traceparent: p.traceparent })));
      } catch (e) {
        outcomes = batch.map(() => ({ ok: false as const, error: e as Error }));
      }
      let failed = false;
      let fenced: FencedError | undefined;
      const committed: StoredEvent[] = [];
      const at = performance.now();
      batch.forEach((p, i) => {
        const o = outcomes[i]!;
        if (o.ok) {
          p.events.forEach((e, j) => {
            e.position = o.positions[j]!;
            this.#log.info(logFieldsOf(e), logMessageOf[e.type]);
            committed.push(p.traceparent ? { event: e, traceparent: p.traceparent } : { event: e });
          });
          this.#appendLatency.observe((at - p.queuedAt) / 1000);
          p.resolve(o.positions);
        } else {
          failed = true;
          if (o.error instanceof FencedError) fenced = o.error;
          p.reject(
            o.error instanceof AppError
              ? o.error
              : new AppError(ErrorCode.Unavailable, `ledger store: ${o.error.message}`, { cause: o.error }),
          );
        }
      });
      if (committed.length > 0) {
        this.#health.ok();
        this.#opts.onCommitted?.(committed.sort((a, b) => a.event.position - b.event.position));
      }
      if (fenced) {
        this.#closed = true;
        this.#opts.onFenced?.(fenced);
      }
      // A failed item was applied to memory optimistically; the store is the truth, so
      // rebuild from it (rare: a second writer, or a disk error).
      if (failed) await this.#rebuildAfterFailure();
    }
  }

  /** Rebuilds memory from the store; false (and stale until a later call succeeds) when it cannot. */
  #rebuildAfterFailure(): Promise<boolean> {
    this.#stale = true;
    // One rebuild at a time: every command waiting on it shares the outcome.
    this.#rebuilding ??= this.#rebuild().finally(() => (this.#rebuilding = undefined));
    return this.#rebuilding;
  }

  async #rebuild(): Promise<boolean> {
    try {
      const state = initialState();
      for (const e of await this.#store.liveSessionEvents()) evolve(state, e);
      // Commands still queued were decided on the old state; they are re-applied on top.
      for (const p of this.#queue) for (const e of p.events) evolve(state, e);
      this.#state = state;
      this.#views = undefined;
      this.#stale = false;
      this.#liveness.reconcile(state, this.#opts.now());
      this.#health.ok();
      return true;
    } catch (e) {
      this.#health.failed(e, 'rebuilding state after a failed append');
      return false;
    }
  }

  /**
   * Batched liveness from a gateway. Returns the reported sessions that are no longer live, so
   * the gateway can close their connections even if it missed the Session Ended event.
   */
  async activity(sessionIds: string[], by?: Reporter): Promise<Array<{ id: string; reason: string }>> {
    // Memory that diverged from the store (a failed append) may show as ended a session whose
    // end was never recorded: until it is rebuilt, nothing is reported gone.
    const trusted = !this.#stale || (await this.#rebuildAfterFailure());
    const now = this.#opts.now();
    if (by) this.#liveness.heard(by, now);
    const gone: Array<{ id: string; reason: string }> = [];
    const unknown: string[] = [];
    for (const id of sessionIds) {
      const s = this.#state.sessions.get(id);
      if (s?.status === 'live') this.#liveness.reported(id, now, by);
      else if (s?.status === 'ended') {
        if (trusted) gone.push({ id, reason: s.reason });
      } else if (trusted) unknown.push(id);
    }
    for (const id of unknown) {
      try {
        const row = await this.#store.sessionRow(id);
        gone.push({ id, reason: row?.end_reason ?? 'NotFound' });
      } catch (e) {
        // Not known to be gone: asked again with the next report.
        this.#health.failed(e, 'activity');
        break;
      }
    }
    return gone;
  }

  /** Writes the reported activity; what could not be written is kept for the next flush. */
  flushActivity(): Promise<void> {
    return this.#liveness.flush(this.#store);
  }

  /** Stops taking commands and waits for queued ones to commit (SIGTERM drain). */
  async drain(): Promise<void> {
    this.#closed = true;
    this.#expiryTimer?.stop();
    while (this.#writing) await this.#writing;
    await this.flushActivity().catch(() => undefined);
  }
}
