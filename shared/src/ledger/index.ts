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
}

export interface HeldPortRecord {
  port: number;
  mode: 'steal' | 'mirror';
  http_filter: string | null;
  /** 1 when the steal holds the port lock; 0 for mirrors and steals under `continue`. */
  lock: number;
  since: number;
}

export interface SessionView extends SessionRecord {
  ports: HeldPortRecord[];
}

/** A copy of a target made for a session (agent-manager's `copytargets` query). */
export interface CopyTargetView {
  name: string;
  namespace: string;
  /** Canonical target the copy was made from, e.g. `deployment/x`. */
  target: string;
  scale_down: boolean;
  creator_session: string;
  phase: 'InProgress' | 'Ready' | 'Failed';
  created_at: number;
  /** Seconds an idle copy is kept for its user's next session. */
  idle_ttl: number;
  /** When its last session ended (absent while a session uses it). */
  idle_since?: number;
}

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
}
