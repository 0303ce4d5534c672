/** Every NATS subject and stream name of architecture.md, built here and nowhere else. */
export const EVENTS_STREAM = 'MIRRORD_EVENTS';
export const EVENTS_WILDCARD = 'mirrord.events.>';
/** Header on every published event: the store (ledger database) it comes from — its provenance. */
export const LEDGER_HEADER = 'Mirrord-Ledger';
/**
 * Messages found on the event stream that are not events (undecodable, or failing the event
 * schema): skipped with a warning and kept here for a person to look at, never the end of the
 * publisher or of a consumer. `mirrord.events.X.Y` is kept as `mirrord.dead.events.X.Y`.
 */
export const EVENTS_DEAD_STREAM = 'MIRRORD_EVENTS_DEAD';
export const EVENTS_DEAD_WILDCARD = 'mirrord.dead.events.>';
export const deadEventSubject = (subject: string): string =>
  `mirrord.dead.events.${subject.startsWith('mirrord.events.') ? subject.slice('mirrord.events.'.length) : 'unknown'}`;

/**
 * What became of each Session Ended the jira-reporter handled, one message per outcome
 * (`Nats-Msg-Id` = event id + outcome [+ attempt], so a redelivery adds nothing). The
 * per-subject counts of this stream are `mirrord_teams_jira_deliveries_total{outcome}`.
 */
export const JIRA_OUTCOMES_STREAM = 'MIRRORD_JIRA_OUTCOMES';
export const JiraOutcome = {
  /** Accepted by the webtrigger (first time or from `jira retry`). */
  delivered: 'delivered',
  /** No branch, or no Jira key in it: nothing sent. */
  skipped: 'skipped',
  /** One failed attempt, to be retried. */
  failed: 'failed',
  /** Failing for JIRA_RETRY_FOR: moved to the dead-letter stream. */
  parked: 'parked',
} as const;
export type JiraOutcome = (typeof JiraOutcome)[keyof typeof JiraOutcome];
export const JIRA_OUTCOME_PREFIX = 'mirrord.jira.outcome.';
export const jiraOutcomeSubject = (outcome: JiraOutcome | '*'): string => `${JIRA_OUTCOME_PREFIX}${outcome}`;

export const LedgerCommand = {
  start: 'start',
  reject: 'reject',
  copyTarget: 'copy-target',
  portSubscribe: 'port-subscribe',
  portUnsubscribe: 'port-unsubscribe',
  activity: 'activity',
  end: 'end',
  kill: 'kill',
  killAll: 'kill-all',
  outgoingBlocked: 'outgoing-blocked',
  queueSplitStart: 'queue-split-start',
  queueSplitEnd: 'queue-split-end',
  workloadPatch: 'workload-patch',
  workloadRestore: 'workload-restore',
} as const;
export type LedgerCommand = (typeof LedgerCommand)[keyof typeof LedgerCommand];

export const LedgerQuery = {
  sessions: 'sessions',
  session: 'session',
  events: 'events',
  statistics: 'statistics',
  metrics: 'metrics',
  sessionsAt: 'sessions-at',
  appendLatency: 'append-latency',
  seats: 'seats',
} as const;
export type LedgerQuery = (typeof LedgerQuery)[keyof typeof LedgerQuery];

export const commandSubject = (service: string, verb: string): string => `mirrord.cmd.${service}.${verb}`;
export const querySubject = (service: string, what: string): string => `mirrord.query.${service}.${what}`;
export const eventSubject = (type: string, sessionId: string): string => `mirrord.events.${type}.${sessionId}`;
export const eventsOfType = (type: string): string => `mirrord.events.${type}.*`;

/** The @nats-io/services framework's PING for a service (health without store work). */
export const servicePingSubject = (service: string): string => `$SRV.PING.${service}`;

/**
 * Licence usage (issue 17). Each cluster's ledger keeps its usage in `MIRRORD_USAGE`, one
 * last value per subject; the hub's `MIRRORD_FLEET` sources every cluster's through its
 * JetStream domain. Cluster names are one subject token (validated by `clusterName`).
 */
export const USAGE_STREAM = 'MIRRORD_USAGE';
export const usageWildcard = (cluster: string): string => `mirrord.usage.${cluster}.>`;
export const usageAliveSubject = (cluster: string): string => `mirrord.usage.${cluster}.alive`;
export const usageDaySubject = (cluster: string, day: string): string => `mirrord.usage.${cluster}.day.${day}`;
/** `token` is the seat made subject-safe (`seatToken`). */
export const usageSeatSubject = (cluster: string, day: string, token: string): string =>
  `mirrord.usage.${cluster}.seat.${day}.${token}`;
export const FLEET_STREAM = 'MIRRORD_FLEET';
/**
 * The license server's own subjects sit outside `mirrord.>` on purpose: a cluster's leafnode
 * to the hub denies `mirrord.>` both ways (else every cluster's streams would capture every
 * other cluster's events), and lets `mirrord-license.>` through.
 */
export const LICENSE_PREFIX = 'mirrord-license';
export const fleetAdmissionSubject = (period: string, token: string): string =>
  `${LICENSE_PREFIX}.fleet.admission.${period}.${token}`;
export const FLEET_ADMISSIONS = `${LICENSE_PREFIX}.fleet.>`;
export type LicenseWire = 'join' | 'admit' | 'seats.get' | 'usage';
export const licenseSubject = (what: LicenseWire | 'seats'): string => `${LICENSE_PREFIX}.${what}`;
/**
 * A cluster's request as it reaches the license server on the hub: each cluster's leafnode is
 * bound to its own account there, whose imports map `mirrord-license.<what>` to this subject.
 * The cluster token is written by the hub's configuration, never by the message's sender.
 */
export const licenseFromSubject = (cluster: string, what: LicenseWire): string =>
  `${LICENSE_PREFIX}.from.${cluster}.${what}`;
/** The license server's own record of a cluster's usage snapshot (`rest`: alive, day.<day>, seat.<day>.<token>). */
export const fleetUsageSubject = (cluster: string, rest: string): string =>
  `${LICENSE_PREFIX}.fleet.usage.${cluster}.${rest}`;

/** The ledger's writer lease (one key, `writer`) in this KV bucket. */
export const LEDGER_LEASE_BUCKET = 'mirrord-ledger';
/**
 * Each lease holder's liveness subject (`<nonce>`): a standby asking it and told "no responders"
 * by the server knows the holder's connection is gone (kill -9) without waiting out the TTL.
 */
export const ledgerLeaseAliveSubject = (nonce: string): string => `mirrord.lease.ledger.${nonce}`;
/** agent-manager's durable consumer of Session Ended (cleans up agents and copies). */
export const AGENT_CLEANUP_CONSUMER = 'agent-manager-cleanup';
/** The durable consumer a platform team's own NATS subscriber (identity `subscriber`) replays with. */
export const SUBSCRIBER_CONSUMER = 'subscriber';
/** jira-reporter's durable consumer of Session Ended. */
export const JIRA_CONSUMER = 'jira-reporter';
/** Session Ended ids whose Jira report the webtrigger accepted. */
export const JIRA_DELIVERED_BUCKET = 'mirrord-jira-delivered';
/** Jira reports parked after JIRA_RETRY_FOR, replayed by `jira retry`. */
export const JIRA_DEAD_STREAM = 'MIRRORD_JIRA_DEAD';
export const JIRA_DEAD_PREFIX = 'mirrord.jira.dead';
export const jiraDeadSubject = (sessionId: string): string => `${JIRA_DEAD_PREFIX}.${sessionId}`;
/** The stream a KV bucket lives in, and the subjects its keys are written on. */
export const kvStream = (bucket: string): string => `KV_${bucket}`;
export const kvSubjects = (bucket: string): string => `$KV.${bucket}.>`;
/** Each identity's own reply inboxes (nats.js `inboxPrefix`): no one subscribes to another's replies. */
export const inboxPrefix = (identity: string): string => `_INBOX_${identity}`;
/** The queue splitter's shared split records (one per split queue of a workload). */
export const QUEUE_SPLITS_BUCKET = 'mirrord-queue-splits';
/** The queue splitter's durable consumer of Session Ended (a session's splits end with it). */
export const QUEUE_SPLITTER_CONSUMER = 'queue-splitter';

/** The licence's request wires a cluster may call at the hub (each mapped to its own cluster's subject). */
export const FLEET_WIRES: readonly LicenseWire[] = ['join', 'admit', 'seats.get', 'usage'];
