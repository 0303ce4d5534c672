import type {
  AgentKind,
  WorkloadPatchedData,
  WorkloadRestoredData,
  ClientFields,
  OutgoingBlockedData,
  QueueSplitEndedData,
  QueueSplitStartedData,
  SeatAdmission,
  SessionCiInfo,
} from '#shared/events/index.js';
import type { OnConcurrentSteal } from '#shared/mirrord-config/index.js';

/** Who the client is: the seed's client fields minus target/namespace. */
export type ClientInfo = Omit<ClientFields, 'target' | 'namespace'>;

export interface StartSession {
  type: 'StartSession';
  session_id: string;
  target: string;
  namespace: string;
  client: ClientInfo;
  agent: AgentKind;
  config_digest?: string;
  profile?: string;
  branch_name?: string;
  key?: string;
  seat?: string;
  ci?: SessionCiInfo;
  admission?: SeatAdmission;
  /** The client chose the id (`x-session-id`): it may only resume a live session, never create one. */
  resume?: boolean;
}
export interface RejectSession {
  type: 'RejectSession';
  session_id: string;
  target: string;
  namespace: string;
  client: ClientInfo;
  asked: 'start' | 'port';
  port?: number;
  mode?: 'steal' | 'mirror';
  code: string;
  message: string;
  policy?: string;
  permission?: string;
  seat?: string;
}
export interface RecordTargetCopied {
  type: 'RecordTargetCopied';
  session_id: string;
  target: string;
  namespace: string;
  client: ClientInfo;
  scale_down: boolean;
  copy_pod: string;
  original_replicas?: number;
}
export interface SubscribePort {
  type: 'SubscribePort';
  session_id: string;
  client_user: string;
  port: number;
  mode: 'steal' | 'mirror';
  /** Rendered filter (`header=…`); absent for an unfiltered steal or a mirror. */
  http_filter?: string;
  on_concurrent_steal: OnConcurrentSteal;
}
export interface UnsubscribePort {
  type: 'UnsubscribePort';
  session_id: string;
  client_user: string;
  port: number;
}
export interface EndSession {
  type: 'EndSession';
  session_id: string;
  client_user: string;
  reason: 'ClientClosed' | 'SetupDeadlineExceeded' | 'TimeLimitExceeded' | 'SetupFailed';
}
/** What the relay reports of a refused connect: the event's own fields, for a live session. */
export type RecordOutgoingBlocked = { type: 'RecordOutgoingBlocked'; session_id: string; client_user: string } & Omit<
  OutgoingBlockedData,
  keyof ClientFields
>;
/** The queue-splitter set up a split for a live session: the event's own fields. */
export type StartQueueSplit = { type: 'StartQueueSplit'; session_id: string } & Omit<
  QueueSplitStartedData,
  keyof ClientFields
>;
/** A split's temporary queue is gone (live or ended session; a second end is a no-op). */
export type EndQueueSplit = { type: 'EndQueueSplit'; session_id: string } & Omit<
  QueueSplitEndedData,
  keyof ClientFields
>;
/** The workload was patched to a fallback queue, recorded on the stream of the session that caused it. */
export type RecordWorkloadPatched = { type: 'RecordWorkloadPatched'; session_id: string } & WorkloadPatchedData;
export type RecordWorkloadRestored = { type: 'RecordWorkloadRestored'; session_id: string } & WorkloadRestoredData;
export interface KillSession {
  type: 'KillSession';
  session_id: string;
  by: string;
}
export interface KillAll {
  type: 'KillAll';
  namespace?: string;
  by: string;
  /** Sessions without a reported connection for this long only (resolved into `only` by the ledger). */
  inactive_for_ms?: number;
  /** When given, only these sessions (the inactive ones). */
  only?: readonly string[];
}
export interface ExpireSession {
  type: 'ExpireSession';
  session_id: string;
  /** `Unused` (no activity for the TTL) or `TimeLimitExceeded` (SESSION_MAX_SECONDS). */
  reason: 'Unused' | 'TimeLimitExceeded';
}

/** The gateway that reported the session went silent: its ports are released, the session stays. */
export interface ReleaseLostPorts {
  type: 'ReleaseLostPorts';
  session_id: string;
}

export type LedgerCommand =
  | StartSession
  | RejectSession
  | RecordTargetCopied
  | SubscribePort
  | UnsubscribePort
  | EndSession
  | KillSession
  | KillAll
  | ExpireSession
  | ReleaseLostPorts
  | RecordOutgoingBlocked
  | StartQueueSplit
  | EndQueueSplit
  | RecordWorkloadPatched
  | RecordWorkloadRestored;

/** Time and ids arrive from outside so the decider stays pure (the emmett `metadata.now` habit). */
export interface DecideContext {
  now: number;
  newEventId: () => string;
  /** Per-session and per-user bounds (absent: unbounded, as in replay and tests). */
  limits?: SessionLimits;
}

/** What one user or one session may hold: each refusal names its setting. */
export interface SessionLimits {
  /** SESSION_MAX_PORTS: subscriptions held at once by one session. */
  maxPorts: number;
  /** SESSION_MAX_EVENTS: events one session may record (ending it is always allowed). */
  maxEvents: number;
  /** USER_MAX_SESSIONS: live sessions of one user (0 = no limit). */
  maxSessionsPerUser: number;
}
