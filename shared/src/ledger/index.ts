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
