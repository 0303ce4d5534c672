/**
 * The event union of design/events.md, defined once. Field names are the seed's snake_case,
 * because they appear verbatim in the JSON log line written at append.
 */
export const EventType = {
  SessionStarted: 'SessionStarted',
  TargetCopied: 'TargetCopied',
  PortStolen: 'PortStolen',
  PortMirrored: 'PortMirrored',
  PortReleased: 'PortReleased',
  SessionEnded: 'SessionEnded',
  SessionRejected: 'SessionRejected',
  OutgoingBlocked: 'OutgoingBlocked',
  QueueSplitStarted: 'QueueSplitStarted',
  QueueSplitEnded: 'QueueSplitEnded',
  WorkloadPatched: 'WorkloadPatched',
  WorkloadRestored: 'WorkloadRestored',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** The seed's log message for each event type (Monitoring document). */
export const logMessageOf: Readonly<Record<EventType, string>> = Object.freeze({
  SessionStarted: 'Session Started',
  TargetCopied: 'Target Copied',
  PortStolen: 'Port Stolen',
  PortMirrored: 'Port Mirrored',
  PortReleased: 'Port Released',
  SessionEnded: 'Session Ended',
  SessionRejected: 'Session Rejected',
  OutgoingBlocked: 'Outgoing Blocked',
  QueueSplitStarted: 'Queue Split Started',
  QueueSplitEnded: 'Queue Split Ended',
  WorkloadPatched: 'Workload Patched',
  WorkloadRestored: 'Workload Restored',
});

export const EndReason = {
  ClientClosed: 'ClientClosed',
  Killed: 'Killed',
  Overridden: 'Overridden',
  Unused: 'Unused',
  SetupDeadlineExceeded: 'SetupDeadlineExceeded',
  TimeLimitExceeded: 'TimeLimitExceeded',
  /** A queue split the session asked for could not be set up (the queue-splitter ends it). */
  SetupFailed: 'SetupFailed',
} as const;
export type EndReason = (typeof EndReason)[keyof typeof EndReason];

export const ReleaseReason = {
  Unsubscribed: 'Unsubscribed',
  SessionEnded: 'SessionEnded',
  Overridden: 'Overridden',
  /**
   * The gateway holding the session's socket stopped reporting (crashed, killed): its sockets
   * are gone, so are its subscriptions; the session itself waits for a reconnect until the TTL.
   */
  GatewayLost: 'GatewayLost',
} as const;
export type ReleaseReason = (typeof ReleaseReason)[keyof typeof ReleaseReason];

export const AgentKind = { none: 'none', job: 'job', ephemeral: 'ephemeral', copy: 'copy' } as const;
export type AgentKind = (typeof AgentKind)[keyof typeof AgentKind];

export const SCHEMA_VERSION = 1;

/** Seed fields present on every event. */
export interface ClientFields {
  target: string;
  namespace: string;
  client_hostname: string;
  client_name: string;
  client_user: string;
  client_id: string;
  user_id: string;
  client_cli_version: string;
}

export type Actor =
  | { client_user: string; client_name?: string; client_hostname?: string; client_id?: string }
  | { system: 'expiry' | 'reconciler' | 'queue-splitter' };

export interface SessionStartedData extends ClientFields {
  config_digest?: string;
  profile?: string;
  branch_name?: string;
  key?: string;
  /** The licence seat the session takes: hex SHA-256 of the client key (`machine` mode) or the user. */
  seat?: string;
  /** A CI session (`mirrord ci start`: the connect's `session_ci_info`): it takes no seat. */
  ci?: SessionCiInfo;
  /** How the license server admitted the seat (absent: no license server configured). */
  admission?: SeatAdmission;
  agent: AgentKind;
}
/** The real CLI's `SessionCiInfo` (camelCase on its wire, kept as it sends it). */
export interface SessionCiInfo {
  provider?: string;
  environment?: string;
  pipeline?: string;
  triggeredBy?: string;
}
export const SeatAdmission = {
  /** The seat was already counted this billing period. */
  known: 'known',
  /** A new seat, within the licensed count. */
  new: 'new',
  /** A new seat past the licensed count, admitted because overages are allowed. */
  overage: 'overage',
  /** The license server could not be asked: admitted, to be reconciled from usage. */
  unverified: 'unverified',
} as const;
export type SeatAdmission = (typeof SeatAdmission)[keyof typeof SeatAdmission];
export interface TargetCopiedData extends ClientFields {
  scale_down: boolean;
  copy_pod: string;
  original_replicas?: number;
}
export interface PortStolenData extends ClientFields {
  port: number;
  /** Rendered filter (`header=<re>`, `path=<re>`, `all_of(…)`); absent when unfiltered. */
  http_filter?: string;
  lock: boolean;
}
export interface PortMirroredData extends ClientFields {
  port: number;
}
export interface PortReleasedData extends ClientFields {
  port: number;
  reason: ReleaseReason;
}
export interface SessionEndedData extends ClientFields {
  session_duration: number;
  reason: EndReason;
  killed_by?: string;
}
export interface SessionRejectedData extends ClientFields {
  asked: 'start' | 'port';
  port?: number;
  mode?: 'steal' | 'mirror';
  code: string;
  message: string;
  policy?: string;
  permission?: string;
  /** A port refused because another session holds it: that session and its user. */
  held_by?: string;
  held_by_user?: string;
  /** The seat the license server refused (`MaxSeatCountReached`). */
  seat?: string;
}

/** A connect the relay refused by a policy's network.outgoing rules. */
export interface OutgoingBlockedData extends ClientFields {
  protocol: 'TCP' | 'UDP';
  address: string;
  port: number;
  /** The names the session resolved to the address (what hostname rules were matched against). */
  hostnames?: string[];
  policy: string;
  message: string;
}

export const QueueType = { SQS: 'SQS', Kafka: 'Kafka' } as const;
export type QueueType = (typeof QueueType)[keyof typeof QueueType];

/** A session's split of one queue: its messages matching `message_filter` go to `output`. */
export interface QueueSplitStartedData extends ClientFields {
  queue_type: QueueType;
  /** The queue id of the registry / topics consumer (not the broker's name). */
  queue_id: string;
  /** The queue or topic the workload consumes. */
  original: string;
  /** The session's temporary queue or topic. */
  output: string;
  /** Rendered `name=<re>, …` (attributes for SQS, headers for Kafka). */
  filter: string;
  /** Ours: the filter as data (name → regex), so a replay can rebuild the routing. */
  message_filter: Record<string, string>;
  mode: 'steal' | 'mirror';
  /** Ours, Kafka only: the MirrordKafkaClientConfig the topic was made with (the status shows it). */
  client_config?: string;
  /** Ours: the deployed workload's temporary queue or topic meanwhile (the CLI's status lists Kafka's as Fallback). */
  fallback?: string;
}
export interface QueueSplitEndedData extends ClientFields {
  queue_type: QueueType;
  queue_id: string;
  output: string;
  /** Messages routed to this session over the split's life. */
  messages: number;
  reason: string;
}
/**
 * The deployed workload now reads a temporary fallback queue: recorded on the stream of the
 * session that caused it (the first split session), with the queue-splitter as actor.
 */
export interface WorkloadPatchedData {
  namespace: string;
  /** The workload path, e.g. `deployment/orders`. */
  target: string;
  queue_type: QueueType;
  queue_id: string;
  /** The environment variable the patch rewrote. */
  env: string;
  original: string;
  fallback: string;
}
/** The workload reads its original queue again (after the last split session ended). */
export interface WorkloadRestoredData {
  namespace: string;
  target: string;
  queue_type: QueueType;
  queue_id: string;
  env: string;
  /** Messages the workload consumed from the fallback before the restore. */
  drained: number;
}

export interface DataOf {
  SessionStarted: SessionStartedData;
  TargetCopied: TargetCopiedData;
  PortStolen: PortStolenData;
  PortMirrored: PortMirroredData;
  PortReleased: PortReleasedData;
  SessionEnded: SessionEndedData;
  SessionRejected: SessionRejectedData;
  OutgoingBlocked: OutgoingBlockedData;
  QueueSplitStarted: QueueSplitStartedData;
  QueueSplitEnded: QueueSplitEndedData;
  WorkloadPatched: WorkloadPatchedData;
  WorkloadRestored: WorkloadRestoredData;
}

export interface Envelope<T extends EventType> {
  v: number;
  id: string;
  type: T;
  session_id: string;
  version: number;
  /** Global position; 0 until the ledger assigns one at append. */
  position: number;
  time: number;
  actor: Actor;
  data: DataOf[T];
}

export type SessionStarted = Envelope<'SessionStarted'>;
export type TargetCopied = Envelope<'TargetCopied'>;
export type PortStolen = Envelope<'PortStolen'>;
export type PortMirrored = Envelope<'PortMirrored'>;
export type PortReleased = Envelope<'PortReleased'>;
export type SessionEnded = Envelope<'SessionEnded'>;
export type SessionRejected = Envelope<'SessionRejected'>;
export type OutgoingBlocked = Envelope<'OutgoingBlocked'>;
export type QueueSplitStarted = Envelope<'QueueSplitStarted'>;
export type QueueSplitEnded = Envelope<'QueueSplitEnded'>;
export type WorkloadPatched = Envelope<'WorkloadPatched'>;
export type WorkloadRestored = Envelope<'WorkloadRestored'>;

export type LedgerEvent =
  | SessionStarted
  | TargetCopied
  | PortStolen
  | PortMirrored
  | PortReleased
  | SessionEnded
  | SessionRejected
  | OutgoingBlocked
  | QueueSplitStarted
  | QueueSplitEnded
  | WorkloadPatched
  | WorkloadRestored;

/** The seed's JSON log fields for an event: snake_case at the top level. */
export function logFieldsOf(e: LedgerEvent): Record<string, unknown> {
  return { event_id: e.id, session_id: e.session_id, ...e.data };
}
