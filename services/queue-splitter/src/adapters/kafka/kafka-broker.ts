/**
 * The Kafka side of queue splitting: the `QueueBroker` port over kafkajs. Topics are created like
 * the original (partitions, replication, topic-level configs), the forwarder consumes in the
 * workload's own group and commits only what was produced, and a topic's "pending" count is a
 * group's lag on it. The `Kafka` client is injected (built by `kafkaFrom` from a
 * `MirrordKafkaClientConfig`, or by a test).
 */
import type { Admin, ConfigResourceTypes, Kafka, Producer } from 'kafkajs';
import { invalid, notFound } from '#shared/errors/index.js';
import type { ForwardOptions, Forwarder, QueueBroker, Route } from '../../domain/broker.js';
import { KafkaForwarder } from './kafka-forwarder.js';
import { moveAll, positions } from './kafka-move.js';
import { PartitionCounts } from './kafka-relay.js';

export interface KafkaBrokerOptions {
  /** The forwarder's consumer session timeout (ms): how long a crashed forwarder holds its partitions. */
  sessionTimeout?: number;
  /** Records produced and committed at a time: the most a crash can send twice per partition. */
  maxBatch?: number;
}

/** kafkajs declares these enums in its types only; their wire values. */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;
/** A config set on the topic itself (`ConfigSource.TOPIC_CONFIG`), not inherited from the broker. */
const TOPIC_CONFIG_SOURCE = 1;

const isUnknownTopic = (e: unknown): boolean =>
  [e, (e as { cause?: unknown })?.cause].some(
    (x) => (x as { type?: string } | undefined)?.type === 'UNKNOWN_TOPIC_OR_PARTITION',
  );

/**
 * kafkajs' admin keeps one metadata cache for all its calls, and calls made at once (two sessions'
 * splits starting and ending together) read it mid-refresh: they fail inside kafkajs (a TypeError
 * in fetchTopicOffsets) and are retried, three sessions' start and end taking 11 s instead of
 * 1.4 s. Admin calls are rare (a split's start and end, a drain's lag), so they queue.
 */
function oneAtATime(admin: Admin): Admin {
  let tail: Promise<unknown> = Promise.resolve();
  return new Proxy(admin, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      // Connection and events are not calls on the cache: they pass straight through.
      if (typeof v !== 'function' || prop === 'disconnect' || prop === 'on' || prop === 'logger') return v;
      return (...args: unknown[]) => {
        const run = tail.then(() => (v as (...a: unknown[]) => unknown).apply(target, args));
        tail = run.catch(() => undefined);
        return run;
      };
    },
  });
}

export class KafkaBroker implements QueueBroker {
  readonly type = 'Kafka' as const;
  readonly #kafka: Kafka;
  readonly #config: Readonly<Required<KafkaBrokerOptions>>;
  readonly #counts: PartitionCounts;
  #admin: Promise<Admin> | undefined;
  #producer: Promise<Producer> | undefined;

  constructor(kafka: Kafka, options: KafkaBrokerOptions = {}) {
    const { sessionTimeout = 30_000, maxBatch = 100 } = options;
    // The broker refuses sessions under group.min.session.timeout.ms (6 s by default).
    if (!Number.isInteger(sessionTimeout) || sessionTimeout < 6000)
      throw invalid('sessionTimeout', `${sessionTimeout} is below 6000 ms`, 'Kafka brokers refuse shorter sessions');
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw invalid('maxBatch', `${maxBatch} is not a positive integer`);
    this.#kafka = kafka;
    this.#config = Object.freeze({ sessionTimeout, maxBatch });
    this.#counts = new PartitionCounts(() => this.#adminClient());
  }

  /**
   * One admin connection for the broker's life, its calls one at a time (oneAtATime); a failed
   * connect is tried again next call.
   */
  #adminClient(): Promise<Admin> {
    if (!this.#admin) {
      const admin = this.#kafka.admin();
      this.#admin = admin.connect().then(() => oneAtATime(admin));
      this.#admin.catch(() => (this.#admin = undefined));
    }
    return this.#admin;
  }

  /**
   * One producer shared by every forwarder: idempotent (a retried send is not written twice) with
   * one request in flight, so a partition's copies land in the order they were produced.
   */
  #producerClient(): Promise<Producer> {
    if (!this.#producer) {
      const producer = this.#kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      this.#producer = producer.connect().then(() => producer);
      this.#producer.catch(() => (this.#producer = undefined));
    }
    return this.#producer;
  }

  async exists(name: string): Promise<boolean> {
    const admin = await this.#adminClient();
    return (await admin.listTopics()).includes(name);
  }

  async createLike(original: string, name: string): Promise<void> {
    const admin = await this.#adminClient();
    if (!(await this.exists(original))) throw notFound(`Kafka topic "${original}" does not exist`);
    const { topics } = await admin.fetchTopicMetadata({ topics: [original] });
    const partitions = topics[0]?.partitions ?? [];
    const { resources } = await admin.describeConfigs({
      resources: [{ type: TOPIC_RESOURCE, name: original }],
      includeSynonyms: false,
    });
    // Only what was set on the original (cleanup.policy, retention.ms, …): the broker's defaults
    // apply to the copy by themselves, and some of them cannot be set per topic.
    const configEntries = (resources[0]?.configEntries ?? [])
      .filter((e) => Number(e.configSource) === TOPIC_CONFIG_SOURCE && !e.readOnly && e.configValue != null)
      .map((e) => ({ name: e.configName, value: e.configValue }));
    // false when it exists already: kept as it is (idempotent after a crash).
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: name,
          numPartitions: partitions.length,
          replicationFactor: partitions[0]?.replicas.length ?? 1,
          configEntries,
        },
      ],
    });
  }

  async delete(name: string): Promise<void> {
    const admin = await this.#adminClient();
    this.#counts.forget(name);
    // kafkajs retries an unknown topic as if it might appear: ask first, and still accept the race.
    if (!(await this.exists(name))) return;
    try {
      await admin.deleteTopics({ topics: [name] });
    } catch (e) {
      if (!isUnknownTopic(e)) throw e;
    }
  }

  /** A group's lag on `name` (no commit: every record the topic holds); without a group, every record. */
  async pending(name: string, group?: string): Promise<number> {
    const admin = await this.#adminClient();
    let total = 0n;
    for (const { from, to } of (await positions(admin, name, group)).values()) if (to > from) total += to - from;
    return Number(total);
  }

  forward(source: string, route: Route, options: ForwardOptions = {}): Forwarder {
    if (!options.group)
      throw invalid(
        'group',
        `forwarding Kafka topic "${source}" needs the workload's consumer group id`,
        'pass the group id the workload consumes with, so its committed offsets continue',
      );
    return new KafkaForwarder(
      {
        kafka: this.#kafka,
        producer: () => this.#producerClient(),
        counts: this.#counts,
        ...this.#config,
      },
      source,
      route,
      options.group,
      options,
    );
  }

  moveAll(from: string, to: string, options: { group?: string } = {}): Promise<number> {
    return moveAll(
      {
        kafka: this.#kafka,
        admin: () => this.#adminClient(),
        producer: () => this.#producerClient(),
        counts: this.#counts,
        ...this.#config,
      },
      from,
      to,
      options.group,
    );
  }

  async close(): Promise<void> {
    const [admin, producer] = [this.#admin, this.#producer];
    this.#admin = this.#producer = undefined;
    await Promise.all([
      admin?.then((a) => a.disconnect()).catch(() => undefined),
      producer?.then((p) => p.disconnect()).catch(() => undefined),
    ]);
  }
}
