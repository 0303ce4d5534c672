import { invalid } from '../errors/index.js';
import {
  idPath,
  messageFilterRegexError,
  namePath,
  REGEX_HINT,
  sortSplits,
  type QueueMode,
  type QueueSplitRequest,
  type QueueType,
} from './split-request.js';

/** One problem in a `split_queues` value: `at` continues the caller's path (`["orders"].queue_type`). */
export interface SplitQueuesIssue {
  at: string;
  message: string;
  hint: string;
}

/** Queue types mirrord knows (`QueueFilter` in `config/src/feature/split_queues.rs`) but this operator does not split. */
const OTHER_BROKERS = new Set(['RMQ', 'GCPPubSub', 'RedisPubSub', 'AzureServiceBus', 'Temporal', 'BullMQ']);
const FIELDS = new Set(['queue_type', 'message_filter', 'jq_filter', 'queue_mode', 'payload_protobuf']);
const JQ = 'jq filters are not supported by this operator; use message_filter';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => (Array.isArray(v) ? 'a list' : isObject(v) ? 'an object' : JSON.stringify(v));

/** One entry (map value or list item) at `at`; pushes its problems, returns the split when it has none. */
function entry(id: string, v: unknown, at: string, issues: SplitQueuesIssue[]): QueueSplitRequest | undefined {
  const before = issues.length;
  const bad = (sub: string, message: string, hint: string) => issues.push({ at: `${at}${sub}`, message, hint });
  if (!isObject(v)) {
    bad('', `expected an object, got ${show(v)}`, '{"queue_type": "SQS", "message_filter": {"<name>": "<regex>"}}');
    return undefined;
  }
  for (const k of Object.keys(v))
    if (!FIELDS.has(k) && k !== 'queue_id')
      bad(
        namePath(k),
        'unknown field',
        'fields: queue_type, message_filter, queue_mode (and queue_id in the list form)',
      );
  const type = v.queue_type;
  if (type !== 'SQS' && type !== 'Kafka') {
    if (typeof type === 'string' && OTHER_BROKERS.has(type))
      bad('.queue_type', `"${type}" is not supported by this operator`, 'split SQS or Kafka queues only');
    else
      bad(
        '.queue_type',
        `expected "SQS" | "Kafka", got ${type === undefined ? 'nothing' : show(type)}`,
        'set queue_type',
      );
  }
  if (v.jq_filter != null) bad('.jq_filter', JQ, 'replace jq_filter with message_filter');
  if (v.payload_protobuf != null)
    bad('.payload_protobuf', 'protobuf payload decoding is not supported by this operator', 'remove payload_protobuf');
  const mode = v.queue_mode ?? 'steal';
  if (mode !== 'steal' && mode !== 'mirror')
    bad('.queue_mode', `expected "steal" | "mirror", got ${show(mode)}`, 'steal (the default) or mirror');
  const filter: Record<string, string> = {};
  const mf = v.message_filter ?? {};
  if (!isObject(mf))
    bad('.message_filter', `expected an object of name → regex, got ${show(mf)}`, 'e.g. {"tenant": "^eu-"}');
  else
    for (const [name, re] of Object.entries(mf)) {
      const sub = `.message_filter${namePath(name)}`;
      if (typeof re !== 'string') bad(sub, `expected a regex string, got ${show(re)}`, REGEX_HINT);
      else {
        const why = messageFilterRegexError(re);
        if (why !== undefined) bad(sub, `invalid regex ${JSON.stringify(re)}: ${why}`, REGEX_HINT);
        else filter[name] = re;
      }
    }
  if (issues.length > before) return undefined;
  return { queue_id: id, queue_type: type as QueueType, message_filter: filter, mode: mode as QueueMode };
}

/**
 * A user's `feature.split_queues` in either of mirrord's forms: the map `{"<id>": {queue_type,
 * message_filter, queue_mode}}` or the list `[{queue_id, queue_type, …}]` (one id may repeat
 * across brokers). Every problem is returned, each with its path below the value, for
 * verify-config; an entry without `message_filter` (or with `{}`) is valid and matches nothing.
 */
export function checkSplitQueues(value: unknown): { splits: QueueSplitRequest[]; issues: SplitQueuesIssue[] } {
  const issues: SplitQueuesIssue[] = [];
  const splits: QueueSplitRequest[] = [];
  if (value == null) return { splits, issues };
  if (Array.isArray(value)) {
    const seen = new Map<string, number>();
    value.forEach((item, i) => {
      const at = `[${i}]`;
      const id = isObject(item) ? item.queue_id : undefined;
      if (isObject(item) && (typeof id !== 'string' || id === ''))
        issues.push({
          at: `${at}.queue_id`,
          message: `expected a queue id, got ${show(id)}`,
          hint: 'name the queue registry id, or "*"',
        });
      const s = entry(typeof id === 'string' ? id : '', item, at, issues);
      if (s === undefined || s.queue_id === '') return;
      const key = `${s.queue_type}\0${s.queue_id}`;
      const first = seen.get(key);
      if (first !== undefined)
        issues.push({
          at: `${at}.queue_id`,
          message: `"${s.queue_id}" is split twice for ${s.queue_type} (also at [${first}])`,
          hint: 'merge the two message_filter objects into one entry',
        });
      else {
        seen.set(key, i);
        splits.push(s);
      }
    });
  } else if (isObject(value)) {
    for (const [id, v] of Object.entries(value)) {
      if (id === '') {
        issues.push({ at: idPath(id), message: 'a queue id is empty', hint: 'name the queue registry id, or "*"' });
        continue;
      }
      if (isObject(v) && 'queue_id' in v)
        issues.push({
          at: `${idPath(id)}.queue_id`,
          message: 'unknown field in the map form',
          hint: 'the key is the queue id; remove queue_id',
        });
      const s = entry(id, v, idPath(id), issues);
      if (s) splits.push(s);
    }
  } else
    issues.push({
      at: '',
      message: `expected a map of queue id → split or a list of splits, got ${show(value)}`,
      hint: '{"<queue id>": {"queue_type": "SQS", "message_filter": {"<name>": "<regex>"}}}',
    });
  return { splits: issues.length ? [] : sortSplits(splits), issues };
}

/**
 * The splits of a `split_queues` value (`CopyTarget.spec.split_queues`, a config's
 * `feature.split_queues`), or an Invalid error naming `${path}…` and the fix for its first problem.
 */
export function splitsFromConfig(splitQueues: unknown, path: string): QueueSplitRequest[] {
  const { splits, issues } = checkSplitQueues(splitQueues);
  const first = issues[0];
  if (first !== undefined) throw invalid(`${path}${first.at}`, first.message, first.hint);
  return splits;
}
