import type { Message, MessageAttributeValue, SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import type { RoutedMessage } from '../../domain/broker.js';

/** What a forwarded copy keeps of a received message: everything but the SQS `Id` of a batch entry. */
export type Copy = Omit<SendMessageBatchRequestEntry, 'Id'>;

/**
 * Which deduplication id a FIFO copy carries. `keep`: the received message's own (the producer's,
 * or SQS's content hash), so a consumer reading it sees what it would have seen on the original.
 * `fresh`: the received message's MessageId — for moving messages back into a queue that may have
 * seen their original id within the 5-minute deduplication window, where `keep` would be dropped
 * silently. Both are stable across redeliveries, so a resend after a crash is deduplicated too.
 */
export type DedupPolicy = 'keep' | 'fresh';

/**
 * What a split filters on: the String and Number message attributes (custom types such as
 * `String.tenant`, `Number.int` included), as strings. Binary attributes are not filterable.
 */
export function routedMessageOf(m: Message): RoutedMessage {
  const attributes: Record<string, string> = {};
  for (const [name, v] of Object.entries(m.MessageAttributes ?? {})) {
    const type = v.DataType ?? '';
    if ((type.startsWith('String') || type.startsWith('Number')) && v.StringValue !== undefined) {
      attributes[name] = v.StringValue;
    }
  }
  return { attributes: Object.freeze(attributes) };
}

/** The FIFO group of a received message (undefined on a standard queue). */
export const groupOf = (m: Message): string | undefined => m.Attributes?.MessageGroupId;

/** When the producer sent it (ms since the epoch), else `fallback`. */
export function sentAtOf(m: Message, fallback: number): number {
  const t = Number(m.Attributes?.SentTimestamp);
  return Number.isFinite(t) && t > 0 ? t : fallback;
}

/** How many times SQS has handed this message out (1 the first time). */
export const receiveCountOf = (m: Message): number => Number(m.Attributes?.ApproximateReceiveCount ?? '1') || 1;

/**
 * The copy of `m` sent to a destination: body and message attributes unchanged (only the fields
 * SendMessage takes: list values are reserved by SQS), the X-Ray trace header, and for a FIFO
 * destination the group and a deduplication id (one is always given, so a destination without
 * content-based deduplication takes it too). A standard source's message has no group: its
 * MessageId stands in (no order existed to keep).
 */
export function copyOf(m: Message, fifoDestination: boolean, dedup: DedupPolicy): Copy {
  const copy: Copy = { MessageBody: m.Body ?? '' };
  if (m.MessageAttributes && Object.keys(m.MessageAttributes).length > 0) {
    const attrs: Record<string, MessageAttributeValue> = {};
    for (const [name, v] of Object.entries(m.MessageAttributes)) {
      attrs[name] =
        v.BinaryValue !== undefined
          ? { DataType: v.DataType, BinaryValue: v.BinaryValue }
          : { DataType: v.DataType, StringValue: v.StringValue };
    }
    copy.MessageAttributes = attrs;
  }
  const trace = m.Attributes?.AWSTraceHeader;
  if (trace) copy.MessageSystemAttributes = { AWSTraceHeader: { DataType: 'String', StringValue: trace } };
  if (fifoDestination) {
    copy.MessageGroupId = groupOf(m) ?? m.MessageId;
    copy.MessageDeduplicationId =
      dedup === 'keep' ? (m.Attributes?.MessageDeduplicationId ?? m.MessageId) : m.MessageId;
  }
  return copy;
}

/** SendMessageBatch's limits: 10 entries, and (the classic limit, the safe one) 256 KiB in all. */
const BATCH_ENTRIES = 10;
const BATCH_BYTES = 256 * 1024;

/** A copy's size as SQS counts it: body, and each attribute's name, type and value. */
export function sizeOf(copy: Copy): number {
  let n = Buffer.byteLength(copy.MessageBody ?? '');
  for (const [name, v] of Object.entries(copy.MessageAttributes ?? {})) {
    n += Buffer.byteLength(name) + Buffer.byteLength(v.DataType ?? '');
    n += v.BinaryValue ? v.BinaryValue.byteLength : Buffer.byteLength(v.StringValue ?? '');
  }
  return n;
}

/** Splits items into SendMessageBatch-sized chunks, order kept; an item too big for a batch goes alone. */
export function chunks<T>(items: readonly T[], size: (item: T) => number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = size(item);
    if (current.length > 0 && (current.length === BATCH_ENTRIES || bytes + n > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}
