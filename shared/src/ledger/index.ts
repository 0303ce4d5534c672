import type { CopyTargetReply } from '../contracts/agent-manager.js';
import type { ClientFields, QueueSplitStartedData } from '../events/types.js';

/**
 * The ledger's query contract: what `mirrord.query.ledger.sessions` / `.session` return. The
 * ledger's projection rows are these records, and the gateway renders them.
 */
export interface SessionRecord {
  id: string;
  /** `pending`: the session has events (a rejection, a copy) but never started. */
  status: 'pending' | 'live' | 'ended';
  started_at: number;
  ended_at: number | null;
  end_reason: string | null;
  killed_by: string | null;
  target: string;
  namespace: string;
  client_user: string;
  client_name: string;
  client_hostname: string;
  client_id: string;
  user_id: string;
  client_cli_version: string;
  key: string | null;
  profile: string | null;
  branch_name: string | null;
  /** The licence seat the session took (null: none recorded, e.g. before seats existed). */
  seat: string | null;
  /** A CI session: its `session_ci_info` as JSON text (null: a developer's session). */
  ci: string | null;
  /** How the license server admitted the seat (null: no license server, or a CI session). */
  admission: string | null;
}

export interface HeldPortRecord {
  port: number;
  mode: 'steal' | 'mirror';
  http_filter: string | null;
  /** 1 when the steal holds the port lock; 0 for mirrors and steals under `continue`. */
  lock: number;
  since: number;
}

/** A queue split a live session holds (QueueSplitStarted until QueueSplitEnded or its end): the event's split, and when. */
export type QueueSplitRecord = Omit<QueueSplitStartedData, keyof ClientFields> & { since: number };

export interface SessionView extends SessionRecord {
  ports: HeldPortRecord[];
  /** Live queue splits (absent: none, or a ledger older than queue splitting). */
  splits?: QueueSplitRecord[];
}

/** A copy target as agent-manager reports it: its contract's reply. */
export type CopyTargetView = CopyTargetReply;

/** `mirrord_sessions_duration` buckets (seconds): 1 s to 8 h. */
export const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800] as const;

/** The labels of the seed's session metrics. */
export interface ClientLabels {
  client_hostname: string;
  client_name: string;
  client_user: string;
  user_id: string;
}

/**
 * The metrics totals as of `position` (`mirrord.query.ledger.metrics`): whoever serves
 * /metrics starts from this and follows events with a higher position.
 */
export interface MetricsSnapshot {
  position: number;
  /** Wall-clock time of the snapshot: following starts a margin before it. */
  at: number;
  sessions: Array<ClientLabels & { created: number; ended: number; duration_sum: number; buckets: number[] }>;
  rejections: Array<{ policy: string; code: string; count: number }>;
  /** Connects the relay refused, by policy and protocol. */
  outgoing_blocked: Array<{ policy: string; protocol: string; count: number }>;
  /** The store the totals come from: only events it published (header `Mirrord-Ledger`) count on top. */
  ledger_id?: string;
}

/** `mirrord_teams_ledger_append_seconds` buckets: group commits take milliseconds. */
export const APPEND_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/**
 * Command-to-commit latency as the ledger measured it since it started
 * (`mirrord.query.ledger.append-latency`). A latency is a property of the running process,
 * not of the event log, so it starts again with the process — a counter reset, which
 * Prometheus' `rate()` expects.
 */
export interface AppendLatency {
  /** Upper bounds in seconds. */
  bounds: readonly number[];
  /** Non-cumulative counts per bound, plus one for +Inf at the end. */
  counts: number[];
  sum: number;
  count: number;
}

/** A fixed-bucket histogram cheap enough for the commit path (no allocation per observation). */
export class LatencyHistogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(seconds: number): void {
    let i = 0;
    while (i < this.#bounds.length && seconds > this.#bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += seconds;
    this.#count++;
  }
  snapshot(): AppendLatency {
    return { bounds: this.#bounds, counts: [...this.#counts], sum: this.#sum, count: this.#count };
  }
}

/**
 * Adds `n` to the counter of `labels` (rejections by policy and code, refused connects by policy
 * and protocol): one keying for the ledger's snapshot and the gateway's event-derived totals.
 */
export function countLabelled<L extends Record<string, string>>(
  into: Map<string, L & { count: number }>,
  labels: L,
  n = 1,
): void {
  const k = Object.values(labels).join('\u0000');
  const c = into.get(k);
  if (c) c.count += n;
  else into.set(k, { ...labels, count: n });
}
