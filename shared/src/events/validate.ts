import * as z from 'zod';
import { invalid } from '../errors/index.js';
import {
  AgentKind,
  EndReason,
  QueueType,
  ReleaseReason,
  SCHEMA_VERSION,
  SeatAdmission,
  type DataOf,
  type LedgerEvent,
  type SessionCiInfo,
} from './types.js';

/**
 * The runtime shape of every event, in zod beside the types (each body `satisfies` its
 * interface, so the two cannot drift): bodies are closed, a field they do not declare is refused.
 */
const count = z.number().int('expected a whole number').min(0, 'must not be negative');
const optStr = z.string().optional();
const client = {
  target: z.string(),
  namespace: z.string(),
  client_hostname: z.string(),
  client_name: z.string(),
  client_user: z.string(),
  client_id: z.string(),
  user_id: z.string(),
  client_cli_version: z.string(),
};
/** `session_ci_info` as the real CLI sends it (serde camelCase, every field optional). */
export const sessionCiInfo = z.strictObject({
  provider: optStr,
  environment: optStr,
  pipeline: optStr,
  triggeredBy: optStr,
}) satisfies z.ZodType<SessionCiInfo>;
const values = <T extends string>(o: Record<string, T>) => z.enum(Object.values(o) as [T, ...T[]]);

const queue = { queue_type: values(QueueType), queue_id: z.string().min(1, 'is empty') };
const workload = { namespace: z.string(), target: z.string(), ...queue, env: z.string() };

const bodies = {
  SessionStarted: z.strictObject({
    ...client,
    config_digest: optStr,
    profile: optStr,
    branch_name: optStr,
    key: optStr,
    seat: optStr,
    ci: sessionCiInfo.optional(),
    admission: values(SeatAdmission).optional(),
    agent: values(AgentKind),
  }) satisfies z.ZodType<DataOf['SessionStarted']>,
  TargetCopied: z.strictObject({
    ...client,
    scale_down: z.boolean(),
    copy_pod: z.string(),
    original_replicas: count.optional(),
  }) satisfies z.ZodType<DataOf['TargetCopied']>,
  PortStolen: z.strictObject({ ...client, port: count, http_filter: optStr, lock: z.boolean() }) satisfies z.ZodType<
    DataOf['PortStolen']
  >,
  PortMirrored: z.strictObject({ ...client, port: count }) satisfies z.ZodType<DataOf['PortMirrored']>,
  PortReleased: z.strictObject({ ...client, port: count, reason: values(ReleaseReason) }) satisfies z.ZodType<
    DataOf['PortReleased']
  >,
  SessionEnded: z.strictObject({
    ...client,
    session_duration: count,
    reason: values(EndReason),
    killed_by: optStr,
  }) satisfies z.ZodType<DataOf['SessionEnded']>,
  SessionRejected: z.strictObject({
    ...client,
    asked: z.enum(['start', 'port']),
    port: count.optional(),
    mode: z.enum(['steal', 'mirror']).optional(),
    code: z.string(),
    message: z.string(),
    policy: optStr,
    permission: optStr,
    held_by: optStr,
    held_by_user: optStr,
    seat: optStr,
  }) satisfies z.ZodType<DataOf['SessionRejected']>,
  OutgoingBlocked: z.strictObject({
    ...client,
    protocol: z.enum(['TCP', 'UDP']),
    address: z.string(),
    port: count,
    hostnames: z.array(z.string()).optional(),
    policy: z.string(),
    message: z.string(),
  }) satisfies z.ZodType<DataOf['OutgoingBlocked']>,
  QueueSplitStarted: z.strictObject({
    ...client,
    ...queue,
    original: z.string(),
    output: z.string(),
    filter: z.string(),
    message_filter: z.record(z.string(), z.string()),
    mode: z.enum(['steal', 'mirror']),
    client_config: optStr,
    fallback: optStr,
  }) satisfies z.ZodType<DataOf['QueueSplitStarted']>,
  QueueSplitEnded: z.strictObject({
    ...client,
    ...queue,
    output: z.string(),
    messages: count,
    reason: z.string(),
  }) satisfies z.ZodType<DataOf['QueueSplitEnded']>,
  WorkloadPatched: z.strictObject({ ...workload, original: z.string(), fallback: z.string() }) satisfies z.ZodType<
    DataOf['WorkloadPatched']
  >,
  WorkloadRestored: z.strictObject({ ...workload, drained: count }) satisfies z.ZodType<DataOf['WorkloadRestored']>,
};

const envelope = {
  v: z.literal(SCHEMA_VERSION, `unsupported schema version; this build reads v${SCHEMA_VERSION}`),
  id: z.string().min(16, 'expected a UUIDv7 string'),
  session_id: z.string().regex(/^[0-9A-F]{16}$/, 'expected 16 upper-case hex digits'),
  version: count,
  position: count,
  time: count,
  actor: z.record(z.string(), z.unknown()),
};

const ledgerEvent = z.discriminatedUnion(
  'type',
  (Object.keys(bodies) as Array<keyof typeof bodies>).map((type) =>
    z.object({ ...envelope, type: z.literal(type), data: bodies[type] }),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
  { error: (issue) => (issue.code === 'invalid_union' ? 'unknown event type' : undefined) },
);

/** Validates an untrusted value (decoded from NATS or SQL) as a LedgerEvent; errors name `event.<path>`. */
export function validateEvent(v: unknown): LedgerEvent {
  const r = ledgerEvent.safeParse(v);
  if (r.success) return v as LedgerEvent;
  const issue = r.error.issues[0]!;
  const path = ['event', ...issue.path.map(String)].join('.');
  throw invalid(path, issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : issue.message);
}
