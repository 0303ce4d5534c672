import { splitsFromConfig, type QueueSplitRequest } from '#shared/queues/index.js';

/**
 * The splits a session config asks for (`feature.split_queues`, either of mirrord's forms),
 * checked as verify-config checks them; an Invalid error names the entry and the fix.
 */
export function configSplits(config: Record<string, unknown> | undefined): QueueSplitRequest[] {
  const feature = config?.feature as Record<string, unknown> | undefined;
  return splitsFromConfig(feature?.split_queues, 'feature.split_queues');
}

/**
 * The connect query parameters the real mirrord CLI sends for these splits in direct mode
 * (`operator/src/client/connect_params.rs`): `sqs_splits` and `kafka_splits` map each queue id to
 * its filter, `queue_modes` names the queues in mirror mode (steal is the default and is not
 * sent); each a JSON string, form-url-encoded, omitted when empty. Returns `&…` to append, or ''.
 */
export function queueConnectQuery(splits: readonly QueueSplitRequest[]): string {
  const sqs: Record<string, Record<string, string>> = {};
  const kafka: Record<string, Record<string, string>> = {};
  const modes: Record<string, 'mirror'> = {};
  for (const s of splits) {
    (s.queue_type === 'SQS' ? sqs : kafka)[s.queue_id] = s.message_filter;
    if (s.mode === 'mirror') modes[s.queue_id] = 'mirror';
  }
  const params = new URLSearchParams();
  for (const [name, value] of [
    ['sqs_splits', sqs],
    ['kafka_splits', kafka],
    ['queue_modes', modes],
  ] as const)
    if (Object.keys(value).length) params.set(name, JSON.stringify(value));
  const q = params.toString();
  return q ? `&${q}` : '';
}
