import * as z from 'zod';
import { AgentKind, QueueType, SeatAdmission, sessionCiInfo } from '../events/index.js';
import { LedgerCommand, commandSubject } from '../nats/subjects.js';
import { contract, type Contract } from './contract.js';
import { CONCURRENT_STEAL } from '../mirrord-config/schema.js';

const SERVICE = 'ledger';
const sessionId = z.string().regex(/^[0-9A-F]{16}$/, 'is not 16 upper-case hex digits');
const user = z.string().min(1, 'is empty');
const port = z.number().int('expected a whole number');

/** Who the client is; missing names get the seed's defaults. */
const client = z.object({
  client_user: user,
  client_name: z.string().optional(),
  client_hostname: z.string().optional(),
  client_id: z.string().optional(),
  user_id: z.string().optional(),
  client_cli_version: z.string().optional(),
});

const sessionBase = z.object({ session_id: sessionId, target: z.string(), namespace: z.string(), client });

/** What every command answers: the events it recorded and remarks for the caller. */
const reply = z.object({
  events: z.array(z.object({ id: z.string(), type: z.string(), session_id: z.string(), position: z.number() })),
  warnings: z.array(z.string()),
  resumed: z.boolean().optional(),
  /** A steal granted without the lock (on_concurrent_steal=continue): the agent must not get it. */
  unlocked: z.boolean().optional(),
});

const cmd = <Req extends z.ZodType>(verb: LedgerCommand, request: Req) =>
  contract(commandSubject(SERVICE, verb), request, reply);

const start = cmd(
  LedgerCommand.start,
  sessionBase.extend({
    agent: z.enum(Object.values(AgentKind) as [AgentKind, ...AgentKind[]]).default('none'),
    config_digest: z.string().optional(),
    profile: z.string().optional(),
    branch_name: z.string().optional(),
    key: z.string().optional(),
    seat: z.string().max(256, 'is longer than 256 characters').optional(),
    ci: sessionCiInfo.optional(),
    admission: z.enum(Object.values(SeatAdmission) as [SeatAdmission, ...SeatAdmission[]]).optional(),
    /** The client chose the id (`x-session-id`): it may only resume a live session. */
    resume: z.boolean().optional(),
  }),
);

const reject = cmd(
  LedgerCommand.reject,
  sessionBase.extend({
    asked: z.enum(['start', 'port']),
    code: z.string(),
    message: z.string(),
    port: port.optional(),
    mode: z.enum(['steal', 'mirror']).optional(),
    policy: z.string().optional(),
    permission: z.string().optional(),
    seat: z.string().max(256).optional(),
  }),
);

const copyTarget = cmd(
  LedgerCommand.copyTarget,
  sessionBase.extend({
    scale_down: z.boolean().default(false),
    copy_pod: z.string(),
    original_replicas: port.optional(),
  }),
);

const portSubscribe = cmd(
  LedgerCommand.portSubscribe,
  z.object({
    session_id: sessionId,
    client_user: user,
    port,
    mode: z.enum(['steal', 'mirror']),
    /** Rendered filter (`header=…`); absent for an unfiltered steal or a mirror. */
    http_filter: z.string().optional(),
    on_concurrent_steal: z.enum(CONCURRENT_STEAL).default('abort'),
  }),
);

const portUnsubscribe = cmd(
  LedgerCommand.portUnsubscribe,
  z.object({ session_id: sessionId, client_user: user, port }),
);

const end = cmd(
  LedgerCommand.end,
  z.object({
    session_id: sessionId,
    client_user: user,
    /** `SetupFailed`: the queue-splitter could not set up a split the session asked for. */
    reason: z
      .enum(['ClientClosed', 'SetupDeadlineExceeded', 'TimeLimitExceeded', 'SetupFailed'])
      .default('ClientClosed'),
  }),
);

/*
 * Queue splitting, sent by the queue-splitter (design/queues.md). A split is keyed by the
 * session, `queue_type` and `queue_id`; the workload commands land on the stream of the
 * session that caused them (the first split session patches, the last one restores).
 */
const queueType = z.enum(Object.values(QueueType) as [QueueType, ...QueueType[]]);
const queueId = z.string().min(1, 'is empty').max(253, 'is longer than 253 characters');
const brokerName = z.string().min(1, 'is empty').max(512, 'is longer than 512 characters');
const count = z.number().int('expected a whole number').min(0, 'must not be negative');
const envName = z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'is not an environment variable name');
const workloadPath = z
  .string()
  .regex(/^[a-z]+\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'is not a workload path <kind>/<name>, e.g. deployment/orders');

const queueSplitStart = cmd(
  LedgerCommand.queueSplitStart,
  z.object({
    session_id: sessionId,
    queue_type: queueType,
    queue_id: queueId,
    original: brokerName,
    output: brokerName,
    /** Rendered `name=<re>, …`. */
    filter: z.string().max(4096, 'is longer than 4096 characters'),
    message_filter: z.record(z.string(), z.string()),
    mode: z.enum(['steal', 'mirror']).default('steal'),
    /** Kafka: the MirrordKafkaClientConfig the topic was made with (shown by `operator status`). */
    client_config: z.string().max(253).optional(),
    /** The workload's temporary queue/topic meanwhile (Kafka's is listed by the CLI's status as Fallback). */
    fallback: brokerName.optional(),
  }),
);

const queueSplitEnd = cmd(
  LedgerCommand.queueSplitEnd,
  z.object({
    session_id: sessionId,
    queue_type: queueType,
    queue_id: queueId,
    output: brokerName,
    messages: count,
    reason: z.string().min(1, 'is empty').max(256, 'is longer than 256 characters'),
  }),
);

const workload = {
  session_id: sessionId,
  namespace: z.string().min(1, 'is empty'),
  target: workloadPath,
  queue_type: queueType,
  queue_id: queueId,
  env: envName,
};
const workloadPatch = cmd(
  LedgerCommand.workloadPatch,
  z.object({ ...workload, original: brokerName, fallback: brokerName }),
);
const workloadRestore = cmd(LedgerCommand.workloadRestore, z.object({ ...workload, drained: count }));

/** A connect the gateway's relay refused by policy: recorded for the audit trail and the metric. */
const outgoingBlocked = cmd(
  LedgerCommand.outgoingBlocked,
  z.object({
    session_id: sessionId,
    client_user: user,
    protocol: z.enum(['TCP', 'UDP']),
    address: z.string().min(1, 'is empty').max(64, 'is longer than an IP address'),
    port: port.min(0).max(65535),
    hostnames: z.array(z.string().max(255, 'is longer than a DNS name')).max(64, 'has more than 64 names').optional(),
    policy: z.string().min(1, 'is empty'),
    message: z.string().max(4096, 'is longer than 4096 characters'),
  }),
);

const kill = cmd(LedgerCommand.kill, z.object({ session_id: sessionId, by: user }));
const killAll = cmd(
  LedgerCommand.killAll,
  z.object({
    by: user,
    namespace: z.string().optional(),
    /** Only sessions no gateway has reported a connected socket of for this long (`retain-active`). */
    inactive_for_ms: z.number().int().positive().optional(),
  }),
);

/**
 * Batched liveness from a gateway; answers the reported sessions that are no longer live.
 * `reporter` is the gateway process (a random id per start) and its report period: when it
 * falls silent for three periods, the ports of the sessions it reported last are released.
 */
const activity = contract(
  commandSubject(SERVICE, LedgerCommand.activity),
  z.object({
    session_ids: z.array(sessionId),
    reporter: z
      .object({ id: z.string().min(1).max(64), interval_ms: z.number().int().min(100).max(600_000) })
      .optional(),
  }),
  z.object({ ended: z.array(z.object({ id: z.string(), reason: z.string() })) }),
);

/** The ledger's commands, by verb. */
export const ledgerCommands = Object.freeze({
  [LedgerCommand.start]: start,
  [LedgerCommand.reject]: reject,
  [LedgerCommand.copyTarget]: copyTarget,
  [LedgerCommand.portSubscribe]: portSubscribe,
  [LedgerCommand.portUnsubscribe]: portUnsubscribe,
  [LedgerCommand.end]: end,
  [LedgerCommand.kill]: kill,
  [LedgerCommand.killAll]: killAll,
  [LedgerCommand.activity]: activity,
  [LedgerCommand.outgoingBlocked]: outgoingBlocked,
  [LedgerCommand.queueSplitStart]: queueSplitStart,
  [LedgerCommand.queueSplitEnd]: queueSplitEnd,
  [LedgerCommand.workloadPatch]: workloadPatch,
  [LedgerCommand.workloadRestore]: workloadRestore,
});
export type CommandReply = z.output<typeof reply>;
export type CommandBody<V extends Exclude<LedgerCommand, 'activity'>> = z.input<(typeof ledgerCommands)[V]['request']>;

/** A command's contract by verb, for callers that hold the verb as a value (the gateway's use cases). */
export const commandContract = (verb: Exclude<LedgerCommand, 'activity'>): Contract<z.ZodType, typeof reply> =>
  ledgerCommands[verb];
