/**
 * What forwarding and draining share: reading a record's headers as a split's attributes, and
 * producing copies of records to other topics — acknowledged by every in-sync replica before the
 * caller commits the source offset, on the same partition number when the destination has as many
 * partitions (so one key's records stay in order), else by key.
 */
import type { Admin, IHeaders, KafkaMessage, Message, Producer, TopicMessages } from 'kafkajs';
import type { RoutedMessage } from '../../domain/broker.js';

/** Headers as strings; a header sent several times counts with its last value (what a filter sees). */
export function attributesOf(headers: IHeaders | undefined): RoutedMessage['attributes'] {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const value = Array.isArray(raw) ? raw.at(-1) : raw;
    if (value !== undefined) out[name] = value.toString();
  }
  return out;
}

/** A record to copy and the topics it goes to. */
export interface Copy {
  record: KafkaMessage;
  to: readonly string[];
}

/** Partition counts by topic, read once: a topic's partitions only grow, and the splitter makes its own. */
export class PartitionCounts {
  readonly #admin: () => Promise<Admin>;
  readonly #counts = new Map<string, Promise<number>>();

  constructor(admin: () => Promise<Admin>) {
    this.#admin = admin;
  }

  of(topic: string): Promise<number> {
    let count = this.#counts.get(topic);
    if (!count) {
      count = this.#admin()
        .then((a) => a.fetchTopicMetadata({ topics: [topic] }))
        .then((m) => m.topics[0]?.partitions.length ?? 0);
      // A failed look-up (the topic not there yet) is asked again next time.
      count.catch(() => this.#counts.delete(topic));
      this.#counts.set(topic, count);
    }
    return count;
  }

  forget(topic: string): void {
    this.#counts.delete(topic);
  }
}

/**
 * Produces every copy (key, value, headers and timestamp kept) in one request per call and
 * resolves once the broker acknowledged all of them; throws otherwise, and the caller commits
 * nothing. `partition` is the source partition of every record in `copies`.
 */
export async function produceCopies(
  producer: Producer,
  counts: PartitionCounts,
  source: { topic: string; partition: number },
  copies: readonly Copy[],
): Promise<void> {
  const sourceCount = await counts.of(source.topic);
  const byTopic = new Map<string, Message[]>();
  for (const { record, to } of copies) {
    for (const topic of to) {
      let messages = byTopic.get(topic);
      if (!messages) byTopic.set(topic, (messages = []));
      messages.push({
        key: record.key,
        value: record.value,
        headers: record.headers ?? {},
        timestamp: record.timestamp,
      });
    }
  }
  const topicMessages: TopicMessages[] = [];
  for (const [topic, messages] of byTopic) {
    // Same partition count: the same partition, so per-key order holds as in the source. Else
    // the default partitioner places it by key (a null key: anywhere).
    // (The bound check: a source that grew since its count was read must not name a partition
    // the destination lacks.)
    const count = await counts.of(topic);
    if (count === sourceCount && source.partition < count) for (const m of messages) m.partition = source.partition;
    topicMessages.push({ topic, messages });
  }
  if (topicMessages.length === 0) return;
  try {
    await producer.sendBatch({ topicMessages, acks: -1 });
  } catch (e) {
    // A topic re-created or grown under us: read the counts again before the retry.
    counts.forget(source.topic);
    for (const { topic } of topicMessages) counts.forget(topic);
    throw e;
  }
}

/** The offset to commit after `offset`: Kafka commits the position of the next record. */
export const nextOffset = (offset: string): string => (BigInt(offset) + 1n).toString();
