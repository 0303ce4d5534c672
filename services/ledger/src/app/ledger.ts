import type { Logger } from 'pino';
import { unavailable } from '#shared/errors/index.js';
import { newEventId } from '#shared/ids/index.js';
import type { CommandReply } from '#shared/contracts/index.js';
import type { AppendLatency, SessionView } from '#shared/ledger/index.js';
import type { LedgerCommand, SessionLimits } from '../domain/commands.js';
import { decide } from '../domain/decide.js';
import { evolve } from '../domain/evolve.js';
import { initialState, type LedgerState } from '../domain/state.js';
import type { ActivityLog, EventLog, FencedError, SessionReadModels, StoredEvent } from '../domain/store.js';
import { SessionExpiry } from './expire-sessions.js';
import { GroupCommit } from './group-commit.js';
import { Liveness, type Reporter } from './liveness.js';
import { reportActivity } from './report-activity.js';
import { SessionMemory } from './session-memory.js';
import { StoreHealth } from './store-health.js';

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

/** The parts of the store the writer uses: the log, two reads of the sessions, activity. */
export type LedgerPorts = EventLog & Pick<SessionReadModels, 'sessionIds' | 'sessionRow'> & ActivityLog;

/**
 * The session aggregate's command loop. Commands are decided one at a time against the
 * in-memory state (so port-lock checks see every earlier command, committed or queued), and
 * their events are group-committed (group-commit.ts). Replies go out only after the commit.
 * Expiry (expire-sessions.ts) and gateways' reports (report-activity.ts) are use cases of their own.
 */
export class Ledger {
  readonly #store: LedgerPorts;
  readonly #now: () => number;
  readonly #limits: SessionLimits | undefined;
  readonly #onFenced: ((e: FencedError) => void) | undefined;
  readonly #memory: SessionMemory;
  readonly #commits: GroupCommit;
  readonly #liveness = new Liveness();
  readonly #health: StoreHealth;
  readonly #expiry: SessionExpiry;
  #closed = false;
  /** Memory may differ from the store (a failed append not yet rebuilt from it). */
  #stale = false;
  #rebuilding: Promise<boolean> | undefined;

  constructor(store: LedgerPorts, log: Logger, opts: LedgerOptions) {
    this.#store = store;
    this.#now = opts.now ?? Date.now;
    this.#limits = opts.limits;
    this.#onFenced = opts.onFenced;
    this.#memory = new SessionMemory(opts.endedCacheSize ?? 10_000);
    this.#health = new StoreHealth(log, this.#now);
    const onCommitted = opts.onCommitted;
    this.#commits = new GroupCommit(store, log, {
      committed: (events) => {
        this.#health.ok();
        onCommitted?.(events);
      },
      failed: (fenced) => {
        if (fenced) {
          this.#closed = true;
          this.#onFenced?.(fenced);
        }
        // A failed item was applied to memory optimistically; the store is the truth, so
        // rebuild from it (rare: a second writer, or a disk error).
        return this.#rebuildAfterFailure();
      },
    });
    this.#expiry = new SessionExpiry({
      log,
      now: this.#now,
      unusedTtlMs: opts.unusedTtlMs,
      maxSessionMs: opts.maxSessionMs,
      liveness: this.#liveness,
      health: this.#health,
      state: () => this.#memory.state,
      trusted: () => this.#trusted(),
      stale: () => this.#stale,
      execute: (cmd) => this.execute(cmd),
      flushActivity: () => this.flushActivity(),
    });
  }

  get state(): LedgerState {
    return this.#memory.state;
  }

  /** Live sessions in id order, from memory (SessionMemory.liveSessions). */
  liveSessions(): { version: string; views: readonly SessionView[] } {
    return this.#memory.liveSessions();
  }

  /** Live sessions with no client seen connected lately, and since when (Liveness.quiet). */
  quietSessions(): Record<string, number> {
    return this.#liveness.quiet(this.#now());
  }

  /** `mirrord_teams_ledger_append_seconds`: queued command to committed events. */
  appendLatency(): AppendLatency {
    return this.#commits.latency();
  }

  /**
   * Rebuilds live state from the events of live sessions. Every live session gets a full TTL
   * from now, so ledger downtime never expires a healthy session.
   */
  async init(): Promise<void> {
    const state = initialState();
    for (const e of await this.#store.liveSessionEvents()) evolve(state, e);
    this.#memory.replace(state);
    await this.#memory.learnIds(this.#store);
    this.#liveness.refresh(state, this.#now());
  }

  startExpiry(intervalMs = 1000): void {
    this.#expiry.start(intervalMs);
  }

  busLost(): void {
    this.#expiry.busLost();
  }

  busRegained(): void {
    this.#expiry.busRegained();
  }

  expireNow(): Promise<number> {
    return this.#expiry.expireNow();
  }

  async execute(cmd: LedgerCommand, traceparent?: string): Promise<CommandReply> {
    if (this.#closed) throw unavailable('the ledger is shutting down; retry against another replica');
    // Memory diverged from the store (a failed append) and could not be rebuilt then: nothing
    // is decided on it until it is (the store is back).
    if (this.#stale && !(await this.#rebuildAfterFailure()))
      throw unavailable('the ledger store is unavailable; retry shortly');
    // Most commands are on a session in memory or a new one: no store read, and no await.
    if ('session_id' in cmd && this.#memory.mayNeedLoading(cmd.session_id))
      await this.#memory.ensureLoaded(cmd.session_id, this.#store).catch((e: unknown) => {
        this.#health.failed(e, cmd.type);
        throw unavailable('the ledger store is unavailable; retry shortly', e);
      });
    const now = this.#now();
    // retain-active: which sessions are inactive is this ledger's knowledge (activity reports), not the decider's.
    if (cmd.type === 'KillAll' && cmd.inactive_for_ms !== undefined) {
      const cutoff = now - cmd.inactive_for_ms;
      cmd = { ...cmd, only: [...this.#liveness.last].filter(([, seen]) => seen < cutoff).map(([id]) => id) };
    }
    const limits = this.#limits;
    const decision = decide(
      cmd,
      this.#memory.state,
      limits ? { now, newEventId: () => newEventId(now), limits } : { now, newEventId: () => newEventId(now) },
    );
    if (decision.events.length === 0) {
      return decision.resumed
        ? { events: [], warnings: decision.warnings, resumed: true }
        : { events: [], warnings: decision.warnings };
    }
    for (const e of decision.events) {
      this.#memory.apply(e);
      if (e.type === 'SessionEnded') this.#liveness.ended(e.session_id);
    }
    if (cmd.type === 'StartSession') this.#liveness.seen(cmd.session_id, now);
    // The write loop assigns each event its position before resolving.
    await this.#commits.append(decision.events, traceparent);
    if (decision.refused) throw decision.refused;
    return {
      events: decision.events.map((e) => ({ id: e.id, type: e.type, session_id: e.session_id, position: e.position })),
      warnings: decision.warnings,
      ...(decision.unlocked ? { unlocked: true } : {}),
    };
  }

  /** Memory matches the store, rebuilt from it first if an append failed; false while it cannot be. */
  async #trusted(): Promise<boolean> {
    return !this.#stale || this.#rebuildAfterFailure();
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
      for (const e of this.#commits.queued()) evolve(state, e);
      this.#memory.replace(state);
      this.#stale = false;
      this.#liveness.reconcile(state, this.#now());
      this.#health.ok();
      return true;
    } catch (e) {
      this.#health.failed(e, 'rebuilding state after a failed append');
      return false;
    }
  }

  /** A gateway's batched liveness report (report-activity.ts): the reported sessions that are gone. */
  async activity(sessionIds: string[], by?: Reporter): Promise<Array<{ id: string; reason: string }>> {
    const trusted = await this.#trusted();
    return reportActivity(
      {
        store: this.#store,
        liveness: this.#liveness,
        health: this.#health,
        state: this.#memory.state,
        now: this.#now(),
        trusted,
      },
      sessionIds,
      by,
    );
  }

  /** Writes the reported activity; what could not be written is kept for the next flush. */
  flushActivity(): Promise<void> {
    return this.#liveness.flush(this.#store);
  }

  /** Stops taking commands and waits for queued ones to commit (SIGTERM drain). */
  async drain(): Promise<void> {
    this.#closed = true;
    this.#expiry.stop();
    await this.#commits.drain();
    await this.flushActivity().catch(() => undefined);
  }
}
