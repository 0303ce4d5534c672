import { invalid, notFound } from '#shared/errors/index.js';
import type { QueueMode, QueueSplitRequest, QueueType } from '#shared/queues/index.js';

export type { QueueType };
export type WorkloadKind = 'Deployment' | 'Rollout';

/** Where a workload's pod template names a queue, topic or group: a container's variable. */
export interface EnvLocation {
  /** Absent: the workload's first container (a registry that names none applies to any). */
  container?: string;
  variable: string;
}

/**
 * One splittable queue of a workload, from a `MirrordWorkloadQueueRegistry` (SQS) or a
 * `MirrordKafkaTopicsConsumer` (Kafka) — what the splitter needs, whatever resource said it.
 */
export interface QueueDecl {
  queue_type: QueueType;
  queue_id: string;
  /** `<namespace>/<name>` of the resource that declares it (errors and status name it). */
  resource: string;
  /** Every place the queue's name is read from; the first is the one whose value is the original. */
  names: EnvLocation[];
  /** Kafka: where the consumer group id is read (rewritten so nobody shares the workload's group). */
  groups: EnvLocation[];
  /** SQS `fallbackName`: the original when the variable is absent from the template. */
  fallback_name?: string;
  /** SQS: tags set on every temporary queue, over the original's. */
  tags?: Record<string, string>;
  /** Kafka: the `MirrordKafkaClientConfig` (operator namespace) used to reach the broker. */
  client_config?: string;
  /** Seconds to wait for the patched workload's pods (registry `workloadRestartTimeout` 120, Kafka 60). */
  restart_timeout_s: number;
}

/** What a session asked for one queue, after the registry filled the gaps. */
export interface PlannedSplit {
  decl: QueueDecl;
  message_filter: Record<string, string>;
  mode: QueueMode;
}

/** A session's ask as the gateway passes it on (the CLI's `sqs_splits`/`kafka_splits`/`queue_modes`). */
export type AskedSplit = QueueSplitRequest;

const PARAM: Record<QueueType, string> = { SQS: 'sqs_splits', Kafka: 'kafka_splits' };
const RESOURCE: Record<QueueType, string> = {
  SQS: 'MirrordWorkloadQueueRegistry',
  Kafka: 'MirrordKafkaTopicsConsumer',
};

/**
 * The splits a session gets on its target (queues.md): for every queue type it asked for, every
 * declared queue of that type — the ones it named with its filter (`*` for all), the others with
 * an empty filter, so its local app reads a queue of its own that receives nothing instead of
 * stealing from the original. An id no resource declares is refused, naming the field and what
 * is declared.
 */
export function planSplits(
  target: string,
  namespace: string,
  decls: readonly QueueDecl[],
  asked: readonly AskedSplit[],
): PlannedSplit[] {
  const types = [...new Set(asked.map((a) => a.queue_type))];
  const out: PlannedSplit[] = [];
  for (const type of types) {
    const mine = decls.filter((d) => d.queue_type === type);
    const param = PARAM[type];
    if (mine.length === 0)
      throw notFound(
        `${param}: no ${RESOURCE[type]} in namespace ${namespace} names ${target} as its consumer; ask your platform team to register its queues (see the README's queue splitting section), or remove ${type} entries from feature.split_queues`,
      );
    const byId = new Map(asked.filter((a) => a.queue_type === type).map((a) => [a.queue_id, a]));
    for (const id of byId.keys())
      if (id !== '*' && !mine.some((d) => d.queue_id === id))
        throw invalid(
          `${param}["${id}"]`,
          `no queue "${id}" is declared for ${target} (${[...new Set(mine.map((d) => d.resource))].join(', ')} declare ${mine.map((d) => `"${d.queue_id}"`).join(', ')})`,
          'use one of the declared queue ids in feature.split_queues',
        );
    for (const decl of mine) {
      const a = byId.get(decl.queue_id) ?? byId.get('*');
      out.push({ decl, message_filter: a ? { ...a.message_filter } : {}, mode: a?.mode ?? 'steal' });
    }
  }
  return out;
}
