import * as z from 'zod';

/*
 * The operator API's reply bodies (api.md), as the gateway writes them and the kubectl plugin
 * reads them. Objects are loose: a plugin keeps (and prints with `-o json`) the fields a newer
 * gateway adds, and the Kubernetes-shaped ones carry fields only kubectl or the mirrord CLI read.
 */

const kubeTime = z.string();
const count = z.number().int();

/** One held port of a session: `filter` the rendered HTTP filter, `lock` false for a steal that shares it. */
const lockedPort = z.looseObject({
  port: count,
  kind: z.enum(['steal', 'mirror']),
  filter: z.string().optional(),
  lock: z.boolean(),
});

/** A split queue's names: the workload's queue and the session's temporary one. */
const queueNameUpdate = z.looseObject({ originalName: z.string(), outputName: z.string() });
/** `SqsSplitDetails`: queue id (`id` or `id::…`) → its names, and the env var rewrites. */
const sqsSplitDetails = z.looseObject({
  queueNames: z.record(z.string(), queueNameUpdate),
  envUpdates: z.record(z.string(), queueNameUpdate),
});

/**
 * The fields of the CLI's `MirrordSqsSession` that `operator status` reads: `spec` camelCase,
 * `status` the externally tagged `SqsSessionStatus` (one key, the variant: `Ready`, …; only the
 * variants with split details are read, others pass as they are).
 */
export const sqsSession = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z.looseObject({ name: z.string(), namespace: z.string() }).optional(),
  spec: z.looseObject({
    queueFilters: z.record(z.string(), z.record(z.string(), z.string())),
    queueJqFilters: z.record(z.string(), z.string()).optional(),
    queueConsumer: z.looseObject({ name: z.string(), container: z.string().nullish(), workloadType: z.string() }),
    sessionId: z.string(),
  }),
  status: z
    .looseObject({
      Ready: sqsSplitDetails.optional(),
      RegisteringFilters: sqsSplitDetails.optional(),
      CleanupError: z.looseObject({ details: sqsSplitDetails.nullish() }).optional(),
    })
    .nullish(),
});
export type SqsSession = z.output<typeof sqsSession>;

/** `MirrordKafkaEphemeralTopicSpec`: a name with `-fallback-` is the workload's fallback topic. */
export const kafkaTopic = z.looseObject({ name: z.string(), clientConfig: z.string() });
export type KafkaTopic = z.output<typeof kafkaTopic>;

/** The snake_case Session of api.md (what `mirrord operator status` reads). */
export const operatorSession = z.looseObject({
  id: z.string(),
  duration_secs: count,
  user: z.string(),
  target: z.string(),
  namespace: z.string(),
  locked_ports: z.array(lockedPort),
  user_id: z.string(),
  key: z.string().optional(),
  /** The CLI's `SessionHttpFilter`: a header filter only, camelCase. */
  http_filter: z.looseObject({ headerFilter: z.string() }).optional(),
  /** The session's SQS splits: `MirrordSQSSession` objects. */
  sqs: z.array(sqsSession).nullish(),
  /** The session's Kafka topics. */
  kafka: z.array(kafkaTopic).nullish(),
  /** Ours: seconds since a client was last seen connected (absent while one is). */
  idle_secs: count.optional(),
});
export type OperatorSession = z.output<typeof operatorSession>;

/**
 * A copy target as the CLI's `CopyTargetCrd`: the spec as the CLI created it, the creator
 * session's `user_id` (the CLI reuses only its own copies), `phase` InProgress / Ready / Failed.
 */
export const copyTargetObject = z.looseObject({
  apiVersion: z.string(),
  kind: z.literal('CopyTarget'),
  metadata: z.looseObject({ name: z.string(), namespace: z.string(), creationTimestamp: kubeTime }),
  spec: z.record(z.string(), z.unknown()),
  status: z.looseObject({
    creator_session: z.looseObject({
      id: z.string(),
      duration_secs: count,
      user: z.string(),
      target: z.string(),
      namespace: z.string(),
      user_id: z.string().optional(),
    }),
    phase: z.enum(['InProgress', 'Ready', 'Failed']),
    failure_message: z.string().optional(),
    /** Ours: when the copy's last session ended (it is kept for the idle TTL). */
    idle_since: kubeTime.optional(),
  }),
});
export type CopyTargetObject = z.output<typeof copyTargetObject>;

/** `GET …/mirrordoperators/operator`: what `operator status` and `license status` print. */
export const mirrordOperator = z.looseObject({
  apiVersion: z.string(),
  kind: z.literal('MirrordOperator'),
  metadata: z.looseObject({ name: z.string(), creationTimestamp: kubeTime.optional() }),
  spec: z.looseObject({
    /** The mirrord CLI compatibility version. */
    operator_version: z.string(),
    /** mirrord-teams' own version. */
    mirrord_teams_version: z.string().optional(),
    default_namespace: z.string(),
    supported_features: z.array(z.string()),
    features: z.array(z.string()),
    copy_target_enabled: z.boolean(),
    protocol_version: z.string(),
    license: z.looseObject({
      name: z.string(),
      organization: z.string(),
      expire_at: z.string(),
      fingerprint: z.string(),
      subscription_id: z.string().nullable(),
    }),
  }),
  status: z.looseObject({
    sessions: z.array(operatorSession),
    /** When the sessions were observed: now, or the `?at=` asked for (RFC 3339). */
    observed_at: kubeTime,
    statistics: z.looseObject({
      dau: count,
      mau: count,
      /** The seat fields are absent when the seats cannot be counted. */
      seat_mode: z.enum(['machine', 'user']).optional(),
      seats_used: count.optional(),
      seats_licensed: count.nullable().optional(),
      billing_period_start: z.string().optional(),
    }),
    copy_targets: z.array(z.looseObject({ pod_name: z.string(), copy_target: copyTargetObject })),
  }),
});
export type MirrordOperator = z.output<typeof mirrordOperator>;

/** One ledger event as the API lists it (`time` RFC 3339). */
export const eventItem = z.looseObject({
  id: z.string(),
  type: z.string(),
  session_id: z.string(),
  version: count,
  position: z.number(),
  time: kubeTime,
  actor: z.record(z.string(), z.unknown()),
  data: z.record(z.string(), z.unknown()),
});
export type EventItem = z.output<typeof eventItem>;

/** A Kubernetes list of `item`, `metadata.continue` the cursor of the next page. */
export const kubeList = <T extends z.ZodType>(item: T) =>
  z.looseObject({
    apiVersion: z.string(),
    kind: z.string(),
    metadata: z.looseObject({ continue: z.string().optional() }),
    items: z.array(item),
  });
export const eventList = kubeList(eventItem);

/**
 * The ledger's port locks as the `targets/port-locks` resource: one object per lock key
 * (namespace, target workload, port), listing every live session stealing that port.
 */
export const portLock = z.looseObject({
  apiVersion: z.string(),
  kind: z.literal('PortLock'),
  metadata: z.looseObject({ name: z.string(), namespace: z.string() }),
  spec: z.looseObject({ target: z.string(), port: count }),
  status: z.looseObject({
    /** An unfiltered steal holds the port: no other steal can share it. */
    exclusive: z.boolean(),
    holders: z.array(
      z.looseObject({
        session_id: z.string(),
        user: z.string(),
        filter: z.string().nullable(),
        /** True when this steal holds the lock (false: stealing under `continue`). */
        lock: z.boolean(),
        since: kubeTime,
      }),
    ),
  }),
});
export type PortLock = z.output<typeof portLock>;

/** A Kubernetes `Status` (what a delete answers, and every failure). */
export const kubeStatus = z.looseObject({
  kind: z.literal('Status'),
  apiVersion: z.string(),
  metadata: z.looseObject({}),
  status: z.enum(['Success', 'Failure']),
  message: z.string(),
  reason: z.string().optional(),
  code: count,
  details: z.record(z.string(), z.unknown()),
});
export type KubeStatus = z.output<typeof kubeStatus>;

/** The plugin's signed client certificate: its public key is the sessions' `user_id`. */
export const operatorCertificate = z.looseObject({
  apiVersion: z.string(),
  kind: z.literal('Certificate'),
  metadata: z.looseObject({ name: z.string() }),
  certificate: z.string().includes('BEGIN CERTIFICATE', { message: 'is not a PEM certificate' }),
  user_id: z.string(),
  client_id: z.string(),
  expires_at: kubeTime,
});

/** jira-reporter's answer to a retry, passed on as the gateway's body. */
export const jiraRetryReply = z.object({
  delivered: count,
  failed: count,
  errors: z.array(z.string()),
});
