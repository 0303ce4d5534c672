import * as z from 'zod';
import { copyTargetBody } from './http.js';

/**
 * The resources of `operator.metalbear.co/v1` as the gateway serves them (what `kubectl get`,
 * `kubectl explain` and the mirrord CLI read). Declared once: the gateway's OpenAPI documents
 * are generated from these schemas, and the descriptions are what `kubectl explain` prints.
 */
const d = <T extends z.ZodType>(schema: T, description: string): T => schema.describe(description);

const metadata = (namespaced: boolean) =>
  z.object({
    name: d(z.string(), 'The object name.'),
    ...(namespaced ? { namespace: d(z.string(), 'The namespace of the session or target.') } : {}),
    creationTimestamp: d(z.string(), 'RFC 3339: when the session started or the copy was made.').optional(),
  });

/** The snake_case Session of api.md (what `mirrord operator status` reads). */
const sessionInfo = z.object({
  id: d(z.string(), 'Session id: 16 upper-case hex digits.'),
  duration_secs: d(z.number().int(), 'Seconds since the session started (to its end when it ended).'),
  user: d(z.string(), 'Who runs it: <client name>/<user>@<hostname>.'),
  target: d(z.string(), 'The target path, e.g. deployment/web or targetless.'),
  namespace: z.string(),
  locked_ports: d(
    z.array(
      z.object({
        port: z.number().int(),
        kind: z.enum(['steal', 'mirror']),
        filter: d(z.string(), 'The HTTP filter of a filtered steal.').optional(),
        lock: d(z.boolean(), 'True when this session holds the port exclusively.'),
      }),
    ),
    'Ports the session steals or mirrors.',
  ),
  user_id: d(z.string(), "The client certificate's public-key id."),
  key: d(z.string(), 'The session key sessions of one run share.').optional(),
  http_filter: z.object({ headerFilter: z.string() }).optional(),
  sqs: d(
    z.array(z.record(z.string(), z.unknown())),
    "The session's SQS splits: MirrordSQSSession objects (queues.mirrord.metalbear.co/v1alpha).",
  ).optional(),
  kafka: d(
    z.array(z.object({ name: z.string(), clientConfig: z.string() })),
    "The session's temporary Kafka topics: MirrordKafkaEphemeralTopic specs.",
  ).optional(),
});

const session = z.object({
  spec: z.object({ session: sessionInfo }),
  status: z.object({
    ended: d(z.boolean(), 'True once the session ended (it stays listed by id).'),
    reason: d(z.string().nullable(), 'Why it ended: Disconnected, Killed, …').optional(),
    killed_by: d(z.string().nullable(), 'Who killed it (kubectl delete session, kill-all).').optional(),
  }),
});

const copyTarget = z.object({
  spec: copyTargetBody.shape.spec,
  status: z.object({
    creator_session: d(sessionInfo.partial(), 'The session the copy was made for.'),
    phase: d(z.enum(['InProgress', 'Ready', 'Failed']), 'InProgress until the copy pod runs, then Ready.'),
    failure_message: z.string().optional(),
    idle_since: d(z.string(), "RFC 3339: when the copy's last session ended (kept for idle_ttl).").optional(),
  }),
});

const mirrordOperator = z.object({
  spec: z.object({
    operator_version: d(z.string(), 'The mirrord operator version the CLI compares against.'),
    mirrord_teams_version: z.string(),
    default_namespace: z.string(),
    supported_features: z.array(z.string()),
    features: z.array(z.string()),
    copy_target_enabled: z.boolean(),
    protocol_version: d(z.string(), 'The mirrord protocol version the relay speaks.'),
    license: z.object({
      name: z.string(),
      organization: z.string(),
      expire_at: z.string(),
      fingerprint: d(z.string(), 'Hex SHA-256 of the operator CA certificate.'),
      subscription_id: z.string().nullable(),
    }),
  }),
  status: z.object({
    sessions: d(z.array(sessionInfo), 'The live sessions.'),
    observed_at: z.string(),
    statistics: z.object({
      dau: d(z.number().int(), 'Users active today.'),
      mau: d(z.number().int(), 'Users active in the last 30 days.'),
      seat_mode: z.string().optional(),
      seats_used: z.number().int().optional(),
      seats_licensed: z.number().int().nullable().optional(),
      billing_period_start: z.string().optional(),
    }),
    copy_targets: z.array(z.object({ pod_name: z.string(), copy_target: z.record(z.string(), z.unknown()) })),
  }),
});

const target = z.object({ spec: z.object({ path: d(z.string(), 'The target path, e.g. deployment/web.') }) });

export interface ApiResource {
  kind: string;
  plural: string;
  namespaced: boolean;
  description: string;
  /** The object without apiVersion, kind and metadata (the same for every resource). */
  schema: z.ZodObject;
  metadata: z.ZodObject;
}

/** Every resource kind of `operator.metalbear.co/v1` (subresources share their parent's kind). */
export const apiResources: readonly ApiResource[] = Object.freeze([
  {
    kind: 'MirrordOperator',
    plural: 'mirrordoperators',
    namespaced: false,
    description: 'The operator: its version, licence, live sessions, statistics and copy targets.',
    schema: mirrordOperator,
    metadata: metadata(false),
  },
  {
    kind: 'Session',
    plural: 'sessions',
    namespaced: true,
    description: 'A mirrord session, from the ledger. Deleting it kills the session.',
    schema: session,
    metadata: metadata(true),
  },
  {
    kind: 'Target',
    plural: 'targets',
    namespaced: true,
    description: 'A workload a session can target (connect with ?connect=true).',
    schema: target,
    metadata: metadata(true),
  },
  {
    kind: 'CopyTarget',
    plural: 'copytargets',
    namespaced: true,
    description: "A copy of a workload's pod template that sessions run against (feature.copy_target).",
    schema: copyTarget,
    metadata: metadata(true),
  },
]);
