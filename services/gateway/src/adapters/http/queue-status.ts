import type { QueueSplitRecord, SessionView } from '#shared/ledger/index.js';
import { parseTarget } from '#shared/targets/index.js';
import type { KafkaTopic, OperatorSession, SqsSession } from '#shared/contracts/index.js';

/** The real operator's queue resources' group-version (mirrord `crd.rs`, `crd/kafka.rs`). */
const QUEUES_API_VERSION = 'queues.mirrord.metalbear.co/v1alpha';

/**
 * The CLI's `QueueConsumer` for a session's target: `workloadType` is its enum `Deployment` |
 * `Rollout` (any other string deserializes as its `Unsupported`); `container` only when the
 * target names one (serde treats a missing `Option` as none).
 */
function queueConsumer(target: string): { name: string; container?: string; workloadType: string } {
  const t = parseTarget(target);
  if (t.kind === 'targetless') return { name: '', workloadType: 'Unsupported' };
  const workloadType = t.type === 'deployment' ? 'Deployment' : t.type === 'rollout' ? 'Rollout' : 'Unsupported';
  return t.container ? { name: t.name, container: t.container, workloadType } : { name: t.name, workloadType };
}

/**
 * A session's SQS splits as one `MirrordSQSSession` (what the real operator keeps per session
 * and consumer), in the exact shape the CLI's `MirrordSqsSession` deserializes: `spec`
 * camelCase with `queueFilters` (queue id → attribute → regex), `queueConsumer` and the hex
 * `sessionId`; `status` the externally tagged `SqsSessionStatus::Ready(SqsSplitDetails)`, whose
 * `queueNames` and `envUpdates` are both required. `operator status` prints one row per filter
 * entry from `queueNames` joined with `queueFilters`.
 */
function sqsSessionObject(v: SessionView, splits: readonly QueueSplitRecord[]): SqsSession {
  const queueFilters: Record<string, Record<string, string>> = {};
  const queueNames: Record<string, { originalName: string; outputName: string }> = {};
  for (const s of splits) {
    queueFilters[s.queue_id] = { ...s.message_filter };
    queueNames[s.queue_id] = { originalName: s.original, outputName: s.output };
  }
  return {
    apiVersion: QUEUES_API_VERSION,
    kind: 'MirrordSQSSession',
    metadata: { name: `mirrord-sqs-${v.id.toLowerCase()}`, namespace: v.namespace },
    spec: { queueFilters, queueConsumer: queueConsumer(v.target), sessionId: v.id },
    // The workload's env var is rewritten for the deployed workload (WorkloadPatched), not here.
    status: { Ready: { queueNames, envUpdates: {} } },
  };
}

/**
 * A session's Kafka splits as the CLI's `MirrordKafkaEphemeralTopicSpec` list: `name` (a name
 * with `-fallback-` prints as type Fallback, any other as Filtered) and `clientConfig`.
 */
function kafkaTopicSpecs(splits: readonly QueueSplitRecord[]): KafkaTopic[] {
  return splits.flatMap((s) => [
    { name: s.output, clientConfig: s.client_config ?? '' },
    // The workload's fallback topic, as the real operator lists it beside the session's.
    ...(s.fallback ? [{ name: s.fallback, clientConfig: s.client_config ?? '' }] : []),
  ]);
}

/** `sqs` and `kafka` of the status' Session, each only when the session splits that broker. */
export function queueStatus(v: SessionView): Pick<OperatorSession, 'sqs' | 'kafka'> {
  const sqs = (v.splits ?? []).filter((s) => s.queue_type === 'SQS');
  const kafka = (v.splits ?? []).filter((s) => s.queue_type === 'Kafka');
  return {
    ...(sqs.length ? { sqs: [sqsSessionObject(v, sqs)] } : {}),
    ...(kafka.length ? { kafka: kafkaTopicSpecs(kafka) } : {}),
  };
}
