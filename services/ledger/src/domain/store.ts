import type { LedgerEvent } from '#shared/events/index.js';
import type { MetricsSnapshot } from '#shared/ledger/index.js';
import { AppError, ErrorCode } from '#shared/errors/index.js';
import type { HeldPortRow, SessionRow } from './projections.js';

/**
 * An append by a ledger that is no longer the writer: another one claimed the store with a
 * newer lease epoch (it took over while this one was paused or cut off). The append is refused
 * inside its transaction, so a deposed writer can never commit beside the new one.
 */
export class FencedError extends AppError {
  constructor(
    readonly mine: number,
    readonly current: number,
  ) {
    super(
      ErrorCode.Unavailable,
      `this ledger's writer lease (epoch ${mine}) was taken over by epoch ${current}; retry: the active ledger answers`,
    );
  }
}

/** One seat's use in a window: the fleet's usage snapshot of it. */
export interface SeatUsage {
  seat: string;
  user: string;
  sessions: number;
  first_at: number;
  last_at: number;
  /** Sessions admitted past the licensed seats (overages on). */
  overage: number;
  /** Sessions admitted while the license server could not be asked. */
  unverified: number;
}

export interface WindowUsage {
  seats: SeatUsage[];
  ci_sessions: number;
  ci_max_concurrency: number;
  refused: number;
}

/** One command's events, appended atomically with its projection changes. */
export interface AppendItem {
  events: LedgerEvent[];
  /** W3C traceparent of the command, kept so the outbox continues the trace on JetStream. */
  traceparent?: string | undefined;
}

export interface StoredEvent {
  event: LedgerEvent;
  traceparent?: string;
}

export type AppendOutcome = { ok: true; positions: number[] } | { ok: false; error: Error };

export interface EventFilter {
  session_id?: string;
  client_user?: string;
  target?: string;
  namespace?: string;
  since?: number;
  until?: number;
  /** Exclusive lower bound on position (cursor). */
  after?: number;
  limit: number;
}

/**
 * The event log (emmett's append/read half): one append path, group-committed with its
 * projection changes, and the reads of what was appended.
 */
export interface EventLog {
  /** Appends many commands' events in one transaction; isolates a failing item. */
  appendBatch(items: AppendItem[]): Promise<AppendOutcome[]>;
  readStream(sessionId: string): Promise<LedgerEvent[]>;
  /** Every event after a position, in position order, with its command's traceparent. */
  readAll(afterPosition: number, limit: number): Promise<StoredEvent[]>;
  queryEvents(f: EventFilter): Promise<LedgerEvent[]>;
  /** The events of every live session (what the writer's memory is rebuilt from). */
  liveSessionEvents(): Promise<LedgerEvent[]>;
  maxPosition(): Promise<number>;
  positionOf(eventId: string): Promise<number | undefined>;
}

/** Who owns the store: its identity and its single writer. */
export interface StoreIdentity {
  /**
   * This store's identity, made when it was created: a restored backup keeps it, an emptied
   * or new database gets a new one. Published events carry it (provenance).
   */
  storeId(): Promise<string>;
  /**
   * Makes this store's writer this process: raises the store's writer epoch and returns it;
   * every later append checks it in its transaction and fails with FencedError once another
   * process claimed a newer one. Unclaimed stores (replay, tools) append unchecked.
   */
  claimWriter(): Promise<number>;
  /** True while no other process has claimed the store since this one's claimWriter. */
  stillWriter(): Promise<boolean>;
}

/** The read models the append keeps in step (sessions, held ports) and what is read from them. */
export interface SessionReadModels {
  sessionRow(id: string): Promise<SessionRow | undefined>;
  /** Sessions that were live at `at` (started at or before it, not ended by then). */
  sessionsLiveAt(at: number, namespace?: string): Promise<SessionRow[]>;
  liveSessions(namespace?: string): Promise<{ sessions: SessionRow[]; ports: HeldPortRow[] }>;
  allSessionRows(): AsyncIterable<SessionRow>;
  /** Every session id with events (the sessions projection has a row for each). */
  sessionIds(): AsyncIterable<string>;
  allPortRows(): Promise<HeldPortRow[]>;
  /** Distinct users of the sessions that were live at some moment in [from, to] (`status --at`: to is then). */
  distinctUsersBetween(from: number, to: number): Promise<number>;
  /** Session and rejection totals with the position they are consistent with. */
  metricsSnapshot(buckets: readonly number[], now: number): Promise<MetricsSnapshot>;
  /** Replaces both projections with ones rebuilt from the log (replay). */
  replaceProjections(sessions: Iterable<SessionRow>, ports: Iterable<HeldPortRow>): Promise<void>;
}

/** Named positions in the log its consumers have reached (the outbox's). */
export interface Checkpoints {
  getCheckpoint(name: string): Promise<number>;
  setCheckpoint(name: string, position: number): Promise<void>;
}

/** When each session was last seen connected, as the gateways reported it. */
export interface ActivityLog {
  recordActivity(seen: Array<{ session_id: string; last_seen: number }>): Promise<void>;
  lastActivity(): Promise<Map<string, number>>;
}

/** Licence usage: which sessions took a seat in a window, counted one way. */
export interface UsageReads {
  /** Distinct seats of the sessions that were live at some moment in [from, to). */
  seatsBetween(from: number, to: number): Promise<number>;
  /** Licence usage of [from, to): seats (developer sessions), CI sessions, refused starts. */
  usageBetween(from: number, to: number): Promise<WindowUsage>;
}

/**
 * The ledger's storage (kysely-style plug point): SQLite is the default adapter, PostgreSQL
 * the scale-out one. Each part is its own port; a use case takes only the ones it uses.
 * Conflicts on (session_id, version) are ConflictErrors.
 */
export interface LedgerStore extends EventLog, StoreIdentity, SessionReadModels, Checkpoints, ActivityLog, UsageReads {
  /** Migrates the schema; idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;
}
