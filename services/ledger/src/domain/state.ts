import type { ClientFields, EndReason } from '#shared/events/index.js';
import type { QueueSplitRecord } from '#shared/ledger/index.js';

export interface HeldPort {
  port: number;
  mode: 'steal' | 'mirror';
  http_filter?: string;
  /** False for a steal recorded under `continue`: it does not hold the lock. */
  lock: boolean;
  since: number;
}

/** A queue split the session holds, from QueueSplitStarted until QueueSplitEnded. */
export type LiveSplit = QueueSplitRecord;

/** Splits are keyed by broker and queue id: one split per queue id and broker per session. */
export const splitKey = (queueType: string, queueId: string): string => `${queueType}\u0000${queueId}`;

/** A session with events but not started: a recorded copy or a rejection. */
export interface PendingSession {
  status: 'pending';
  id: string;
  version: number;
}
export interface LiveSession {
  status: 'live';
  id: string;
  version: number;
  started_at: number;
  fields: ClientFields;
  lock_target: string;
  key?: string;
  profile?: string;
  branch_name?: string;
  seat?: string;
  /** `session_ci_info` as JSON text (the sessions projection's column). */
  ci?: string;
  admission?: string;
  ports: Map<number, HeldPort>;
  /** Splits by splitKey. */
  splits: Map<string, LiveSplit>;
}
export interface EndedSession {
  status: 'ended';
  id: string;
  version: number;
  client_user: string;
  reason: EndReason;
  ended_at: number;
  /**
   * Splits still open when the session ended: the queue-splitter ends them after it deleted
   * their queues, with the client fields the events carry. Absent when none were open.
   */
  open_splits?: { fields: ClientFields; splits: Map<string, LiveSplit> };
}
export type SessionState = PendingSession | LiveSession | EndedSession;

/**
 * The ledger's decision state: every session it knows plus an index of port locks. Ended
 * sessions may be evicted by the adapter and re-loaded from the store on demand.
 */
export interface LedgerState {
  sessions: Map<string, SessionState>;
  /** lockKey → ids of sessions holding a steal lock (lock: true) on it. */
  locks: Map<string, Set<string>>;
  /** client_user → number of live sessions (USER_MAX_SESSIONS without a scan). */
  liveByUser: Map<string, number>;
}

export const initialState = (): LedgerState => ({ sessions: new Map(), locks: new Map(), liveByUser: new Map() });

export const lockKey = (namespace: string, lockTarget: string, port: number): string =>
  `${namespace}\u0000${lockTarget}\u0000${port}`;
