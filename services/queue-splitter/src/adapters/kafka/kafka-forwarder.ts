/**
 * The Kafka forwarder: consumes the original topic in the workload's own consumer group (so the
 * committed offsets continue where the workload stopped, and the workload resumes where the
 * forwarder stopped), produces each record to the topics its route names, and commits a record's
 * offset only after every copy of it was acknowledged. A crash between produce and commit sends
 * the records in hand again (at most one chunk of `maxBatch` per partition): duplicates, never loss.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { Destination, ForwardOptions, Forwarder, Route, RoutedMessage } from '../../domain/broker.js';
import { groupAssigners } from './kafka-assigner.js';
import { attributesOf, nextOffset, produceCopies, type PartitionCounts } from './kafka-relay.js';

export interface KafkaForwarderDeps {
  kafka: Kafka;
  producer: () => Promise<Producer>;
  counts: PartitionCounts;
  sessionTimeout: number;
  maxBatch: number;
}

/** Records fetched on one partition and not committed yet, and the oldest one's timestamp. */
interface InHand {
  count: number;
  oldest: number;
}

export class KafkaForwarder implements Forwarder {
  readonly #deps: KafkaForwarderDeps;
  readonly #source: string;
  readonly #route: Route;
  readonly #group: string;
  readonly #options: ForwardOptions;
  readonly #inHand = new Map<number, InHand>();
  /** The highest offset produced per partition, to count what a retried batch sends again. */
  readonly #producedUpTo = new Map<number, bigint>();
  readonly #stopping = new AbortController();
  #consumer: Consumer | undefined;
  #lastBatchError: unknown;
  readonly #running: Promise<void>;

  constructor(deps: KafkaForwarderDeps, source: string, route: Route, group: string, options: ForwardOptions) {
    this.#deps = deps;
    this.#source = source;
    this.#route = route;
    this.#group = group;
    this.#options = options;
    this.#running = this.#run();
  }

  /**
   * Joins the group and runs until stopped. kafkajs restarts the consumer itself after a retriable
   * error; anything else (broker unreachable at start, a route that throws) is reported and the
   * consumer started again, with a growing pause.
   */
  async #run(): Promise<void> {
    const aborted = new Promise<void>((resolve) => this.#stopping.signal.addEventListener('abort', () => resolve()));
    for (let attempt = 0; !this.#stopping.signal.aborted; attempt++) {
      const consumer = this.#deps.kafka.consumer({
        groupId: this.#group,
        sessionTimeout: this.#deps.sessionTimeout,
        heartbeatInterval: Math.max(500, Math.floor(this.#deps.sessionTimeout / 5)),
        maxWaitTimeInMs: 500,
        allowAutoTopicCreation: false,
        partitionAssigners: groupAssigners,
        retry: { retries: 5, restartOnFailure: async () => !this.#stopping.signal.aborted },
      });
      this.#consumer = consumer;
      // Every crash is reported (the broker gone, a produce refused); kafkajs restarts the
      // consumer after a retriable one, this loop after any other.
      const crashed = new Promise<void>((resolve) =>
        consumer.on(consumer.events.CRASH, (e) => {
          if (!this.#reported(e.payload.error)) this.#options.onError?.(e.payload.error);
          if (!e.payload.restart) resolve();
        }),
      );
      // Joined: the next failure starts the back-off from its shortest pause again.
      consumer.on(consumer.events.GROUP_JOIN, () => (attempt = 0));
      try {
        await consumer.connect();
        // fromBeginning only matters for a group without a committed offset: then the forwarder
        // takes what is produced from now on, as the workload's consumer would have.
        await consumer.subscribe({ topics: [this.#source], fromBeginning: false });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: (payload) => this.#eachBatch(consumer, payload),
        });
        await Promise.race([crashed, aborted]);
        if (this.#stopping.signal.aborted) return;
      } catch (err) {
        if (this.#stopping.signal.aborted) return;
        this.#options.onError?.(err);
      }
      await consumer.disconnect().catch(() => undefined);
      await sleep(Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)), undefined, {
        signal: this.#stopping.signal,
      }).catch(() => undefined);
    }
  }

  /** Was `err` (or what it wraps: kafkajs wraps a batch's error once its retries ran out) reported already? */
  #reported(err: unknown): boolean {
    for (let e = err; e; e = (e as { cause?: unknown }).cause) if (e === this.#lastBatchError) return true;
    return false;
  }

  async #eachBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { partition, topic } = batch;
    const { maxBatch, counts } = this.#deps;
    const messages = batch.messages;
    this.#inHand.set(partition, { count: messages.length, oldest: Number(messages[0]?.timestamp ?? Date.now()) });
    try {
      const producer = await this.#deps.producer();
      for (let i = 0; i < messages.length; i += maxBatch) {
        // Stopping or rebalanced away: what is not committed is fetched again by whoever owns it.
        if (!isRunning() || isStale()) return;
        const chunk = messages.slice(i, i + maxBatch);
        const routed = chunk.map((record) => {
          const message: RoutedMessage = { attributes: attributesOf(record.headers) };
          const destinations = this.#route(message);
          // Committing a record that went nowhere would lose it: a route must name the fallback at least.
          if (destinations.length === 0)
            throw new Error(`the route of "${this.#source}" returned no destination for offset ${record.offset}`);
          return { record, message, destinations };
        });
        await produceCopies(
          producer,
          counts,
          { topic, partition },
          routed.map((r) => ({ record: r.record, to: r.destinations.map((d: Destination) => d.name) })),
        );
        for (const r of routed) for (const d of r.destinations) this.#options.onRouted?.(d, r.message);
        // Records this process produced before (a batch that failed after its produce, fetched
        // again): duplicates in the destinations. A crashed process's re-sends are not seen here.
        const producedUpTo = this.#producedUpTo.get(partition) ?? -1n;
        const again = chunk.filter((m) => BigInt(m.offset) <= producedUpTo).length;
        if (again > 0) this.#options.onRetry?.(again);
        const last = chunk.at(-1)!.offset;
        if (BigInt(last) > producedUpTo) this.#producedUpTo.set(partition, BigInt(last));
        await consumer.commitOffsets([{ topic, partition, offset: nextOffset(last) }]);
        resolveOffset(last);
        const next = messages[i + maxBatch];
        this.#inHand.set(partition, {
          count: messages.length - i - chunk.length,
          oldest: Number(next?.timestamp ?? Date.now()),
        });
        await heartbeat();
      }
      // Control records (transaction markers) after the last data record: step over them too,
      // or the group's lag would never reach 0 on a transactional topic.
      const lastOffset = batch.lastOffset();
      const lastRecord = messages.at(-1)?.offset;
      if (isRunning() && !isStale() && (lastRecord === undefined || BigInt(lastOffset) > BigInt(lastRecord))) {
        if (BigInt(lastOffset) >= 0n) {
          await consumer.commitOffsets([{ topic, partition, offset: nextOffset(lastOffset) }]);
          resolveOffset(lastOffset);
        }
      }
    } catch (err) {
      this.#lastBatchError = err;
      this.#options.onError?.(err);
      throw err;
    } finally {
      this.#inHand.delete(partition);
    }
  }

  lag(): { messages: number; oldestMs: number } {
    let messages = 0;
    let oldest = Infinity;
    for (const h of this.#inHand.values()) {
      if (h.count === 0) continue;
      messages += h.count;
      oldest = Math.min(oldest, h.oldest);
    }
    return { messages, oldestMs: messages === 0 ? 0 : Math.max(0, Date.now() - oldest) };
  }

  /** Leaves the group once the chunk in hand is produced and committed (kafkajs waits for eachBatch). */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running;
    await this.#consumer?.disconnect();
  }
}
