import safeRegex from 'safe-regex2';
import * as z from 'zod';

/**
 * One queue a session splits, as the operator acts on it: read from the real CLI's connect
 * parameters (`sqs_splits`, `kafka_splits`, `queue_modes`) or from a `split_queues` config
 * (`CopyTarget.spec.split_queues`, `x-mirrord-config`). Only SQS and Kafka are split here: the
 * operator advertises no other queue feature, so no other broker is accepted.
 */
export type QueueType = 'SQS' | 'Kafka';
export const QUEUE_TYPES: readonly QueueType[] = ['SQS', 'Kafka'];

/** `steal` (mirrord's default): matched messages go to the session only; `mirror`: to both. */
export type QueueMode = 'steal' | 'mirror';

export interface QueueSplitRequest {
  /** The id in the workload's queue registry; `*` is every queue of that type. */
  queue_id: string;
  queue_type: QueueType;
  /** Attribute (SQS) or header (Kafka) name → regex; all must match. Empty: matches nothing. */
  message_filter: Record<string, string>;
  mode: QueueMode;
}

/**
 * The regex of one `message_filter` entry, compiled as the queue splitter compiles it
 * (JavaScript RegExp, `u` flag, unanchored search). Validation uses this same function, so a
 * pattern accepted here never fails later in the splitter.
 */
export function messageFilterRegex(pattern: string): RegExp {
  return new RegExp(pattern, 'u');
}

/**
 * Undefined when the pattern compiles and is cheap to match, else why not (without the pattern
 * repeated). The splitter runs every filter on every message of a shared queue, so nested
 * repetition (`(a+)+`, exponential on a near-miss) would stall the queue for every consumer:
 * it is refused as the HTTP filters refuse it (look-behinds checked as plain groups).
 */
export function messageFilterRegexError(pattern: string): string | undefined {
  try {
    messageFilterRegex(pattern);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return msg.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
  }
  if (!safeRegex(pattern.replace(/\(\?<[=!]/g, '(?:'), { limit: 1000 }))
    return 'it nests one repetition inside another (like (a+)+), which can take exponential time to match';
  return undefined;
}

/** The fix for a pattern JavaScript refuses; Rust-only inline flags are the usual cause. */
export const REGEX_HINT =
  'write a JavaScript regular expression (unanchored search, no inline flags such as (?i)); "" accepts any value';

/** The wire form (over NATS to the queue splitter): validated again on the receiving side. */
export const queueSplitRequest = z.object({
  queue_id: z.string().min(1, 'is required'),
  queue_type: z.enum(['SQS', 'Kafka']),
  message_filter: z.record(
    z.string(),
    z.string().check((ctx) => {
      const why = messageFilterRegexError(ctx.value);
      if (why !== undefined)
        ctx.issues.push({
          code: 'custom',
          message: `invalid regex ${JSON.stringify(ctx.value)}: ${why}`,
          input: ctx.value,
        });
    }),
  ),
  mode: z.enum(['steal', 'mirror']),
}) satisfies z.ZodType<QueueSplitRequest>;

/**
 * A split as Queue Split Started records it (the splitter's answer, the ledger's live view):
 * declared once for both wires.
 */
export const startedSplit = z.object({
  queue_type: z.enum(['SQS', 'Kafka']),
  queue_id: z.string(),
  original: z.string(),
  output: z.string(),
  filter: z.string(),
  message_filter: z.record(z.string(), z.string()),
  mode: z.enum(['steal', 'mirror']),
  /** Kafka: the MirrordKafkaClientConfig its topics are made with. */
  client_config: z.string().optional(),
  /** The deployed workload's temporary queue or topic meanwhile. */
  fallback: z.string().optional(),
});

/**
 * A filter as the operator status and events show it: `name=<re>, name2=<re>`, sorted by name
 * so the same filter always reads the same. An empty filter renders as "" (it matches nothing).
 */
export function renderFilter(filter: Readonly<Record<string, string>>): string {
  return Object.keys(filter)
    .sort()
    .map((name) => `${name}=${filter[name]}`)
    .join(', ');
}

/** Splits in one order whatever order the CLI's HashMaps produced: by type, then id. */
export function sortSplits(splits: QueueSplitRequest[]): QueueSplitRequest[] {
  return splits.sort(
    (a, b) =>
      QUEUE_TYPES.indexOf(a.queue_type) - QUEUE_TYPES.indexOf(b.queue_type) ||
      (a.queue_id < b.queue_id ? -1 : a.queue_id > b.queue_id ? 1 : 0),
  );
}

/** `["orders"]`: a queue id as it appears in error paths (ids may be `*` or contain dots). */
export const idPath = (id: string): string => `[${JSON.stringify(id)}]`;

/** `.tenant`, or `["x.y"]` for a name that would read as a path. */
export const namePath = (name: string): string =>
  /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
