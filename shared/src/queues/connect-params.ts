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

/**
 * The queue parameters of the real CLI's connect (`operator/src/client/connect_params.rs`):
 * each a JSON string (serde's `force_json_ser`), form-url-encoded, omitted when empty.
 */
const SPLIT_PARAMS: Readonly<Record<string, QueueType>> = { sqs_splits: 'SQS', kafka_splits: 'Kafka' };

/** Any connect parameter about queues: what a caller hands to `splitsFromConnectParams`. */
export const QUEUE_CONNECT_PARAM = /(_splits|_jq_filters|_protobuf_decoding)$|^queue_modes$/;

const JQ_REFUSAL = 'jq filters are not supported by this operator; use message_filter';

type Params = URLSearchParams | Readonly<Record<string, string>>;

function entries(params: Params): [string, string][] {
  if (!(params instanceof URLSearchParams)) return Object.entries(params);
  const seen = new Set<string>();
  const out: [string, string][] = [];
  for (const [k, v] of params) {
    if (seen.has(k)) throw invalid(k, 'expected one value', 'send the parameter once, as the mirrord CLI does');
    seen.add(k);
    out.push([k, v]);
  }
  return out;
}

function jsonObject(param: string, raw: string, shape: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalid(param, 'is not JSON', `send ${shape} as a JSON string, as the mirrord CLI does`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalid(param, `expected a JSON object, got ${Array.isArray(v) ? 'a list' : JSON.stringify(v)}`, shape);
  return v as Record<string, unknown>;
}

function messageFilter(param: string, id: string, v: unknown): Record<string, string> {
  const at = `${param}${idPath(id)}`;
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalid(at, 'expected an object of name → regex', 'e.g. {"tenant": "^eu-"}');
  const out: Record<string, string> = {};
  for (const [name, re] of Object.entries(v)) {
    if (typeof re !== 'string') throw invalid(`${at}${namePath(name)}`, 'expected a regex string', REGEX_HINT);
    const why = messageFilterRegexError(re);
    if (why !== undefined)
      throw invalid(`${at}${namePath(name)}`, `invalid regex ${JSON.stringify(re)}: ${why}`, REGEX_HINT);
    out[name] = re;
  }
  return out;
}

/**
 * The splits a direct-mode connect asks for. Every refusal names the parameter (and the queue
 * and filter entry) and the fix; queues of brokers or features this operator does not
 * advertise are refused rather than ignored, so a session never runs unsplit by surprise.
 */
export function splitsFromConnectParams(params: Params): QueueSplitRequest[] {
  const splits: QueueSplitRequest[] = [];
  let modes: [string, string] | undefined;
  for (const [param, raw] of entries(params)) {
    const type = SPLIT_PARAMS[param];
    if (type !== undefined) {
      for (const [id, filter] of Object.entries(jsonObject(param, raw, '{"<queue id>": {"<name>": "<regex>"}}'))) {
        if (id === '') throw invalid(`${param}${idPath(id)}`, 'a queue id is empty', 'name the queue registry id');
        splits.push({
          queue_id: id,
          queue_type: type,
          message_filter: messageFilter(param, id, filter),
          mode: 'steal',
        });
      }
    } else if (param.endsWith('_jq_filters')) throw invalid(param, JQ_REFUSAL, 'replace jq_filter with message_filter');
    else if (param.endsWith('_protobuf_decoding'))
      throw invalid(param, 'protobuf payload decoding is not supported by this operator', 'remove payload_protobuf');
    else if (param.endsWith('_splits'))
      throw invalid(
        param,
        'this queue type is not supported by this operator (SQS and Kafka only)',
        'remove these queues from split_queues or use queue_type "SQS" or "Kafka"',
      );
    else if (param === 'queue_modes') modes = [param, raw];
  }
  if (modes !== undefined) {
    for (const [id, mode] of Object.entries(jsonObject(modes[0], modes[1], '{"<queue id>": "mirror"}'))) {
      const at = `queue_modes${idPath(id)}`;
      if (mode !== 'steal' && mode !== 'mirror')
        throw invalid(
          at,
          `expected "steal" | "mirror", got ${JSON.stringify(mode)}`,
          'set queue_mode to steal or mirror',
        );
      const named = splits.filter((s) => s.queue_id === id);
      if (named.length === 0)
        throw invalid(
          at,
          'names a queue that is not in sqs_splits or kafka_splits',
          `give queue "${id}" a message_filter in split_queues (an entry without one is not sent), or drop its queue_mode`,
        );
      for (const s of named) s.mode = mode as QueueMode;
    }
  }
  return sortSplits(splits);
}
