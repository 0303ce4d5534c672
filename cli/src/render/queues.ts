import type { OperatorSession, SqsSession } from '#shared/contracts/http.js';
import { renderTable } from './table.js';

/** What the queue tables read of a session (the API's Session, operator-api.ts). */
type QueueSession = Pick<OperatorSession, 'id' | 'user' | 'target' | 'sqs' | 'kafka'>;

/** `SqsSessionStatus::get_split_details`: Ready and RegisteringFilters, or a CleanupError's details. */
function queueNames(status: SqsSession['status']) {
  return (status?.Ready ?? status?.RegisteringFilters ?? status?.CleanupError?.details)?.queueNames;
}

/** The CLI's `QueueConsumer` Display: `deployment/x`, or `deployment/x/container/c`. */
function consumerName(c: SqsSession['spec']['queueConsumer']): string {
  const base = `${c.workloadType.toLowerCase()}/${c.name}`;
  return c.container ? `${base}/container/${c.container}` : base;
}

const byKey = <T>(o: Record<string, T>): Array<[string, T]> =>
  Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function group(into: Map<string, string[][]>, key: string, row: string[]): void {
  const rows = into.get(key);
  if (rows) rows.push(row);
  else into.set(key, [row]);
}

/**
 * The queue tables `mirrord operator status` prints after the sessions (mirrord
 * cli/src/operator/status.rs): per SQS consumer "SQS Queue for <consumer>" with one row per
 * filter entry (`name:regex`, and `jq:<program>`), keyed by the queue id before any `::`; then
 * the Kafka topics, per target, typed Fallback when the name holds `-fallback-`. Empty when no
 * session splits a queue. Groups are sorted (the CLI's HashMap order is arbitrary).
 */
export function renderQueueTables(sessions: readonly QueueSession[]): string {
  const sqs = new Map<string, string[][]>();
  const kafka = new Map<string, string[][]>();
  for (const s of sessions) {
    for (const q of s.sqs ?? []) {
      const names = queueNames(q.status);
      if (!names) continue;
      for (const [key, { originalName, outputName }] of byKey(names)) {
        const queueId = key.includes('::') ? key.slice(0, key.indexOf('::')) : key;
        const row = (filter: string) => [s.id, queueId, s.user, originalName, outputName, filter];
        const filters = q.spec.queueFilters[queueId] ?? q.spec.queueFilters['*'];
        for (const [name, re] of byKey(filters ?? {}))
          group(sqs, consumerName(q.spec.queueConsumer), row(`${name}:${re}`));
        const jq = q.spec.queueJqFilters?.[queueId] ?? q.spec.queueJqFilters?.['*'];
        if (jq !== undefined) group(sqs, consumerName(q.spec.queueConsumer), row(`jq:${jq}`));
      }
    }
    for (const t of s.kafka ?? [])
      group(kafka, s.target, [
        s.id,
        t.name,
        s.user,
        t.clientConfig,
        t.name.includes('-fallback-') ? 'Fallback' : 'Filtered',
      ]);
  }
  const out: string[] = [];
  for (const [consumer, rows] of byKey(Object.fromEntries(sqs)))
    out.push(
      `SQS Queue for ${consumer}\n${renderTable(['Session ID', 'Queue ID', 'User', 'Original Name', 'Output Name', 'Filter'], rows, 'mirrord')}`,
    );
  for (const [target, rows] of byKey(Object.fromEntries(kafka)))
    out.push(
      `Kafka Topics for ${target}\n${renderTable(['Session ID', 'Topic Name', 'User', 'Client Config', 'Type'], rows, 'mirrord')}`,
    );
  return out.join('');
}
