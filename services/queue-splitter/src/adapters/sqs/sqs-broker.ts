import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListQueueTagsCommand,
  QueueNameExists,
  SQSClient,
  type QueueAttributeName,
} from '@aws-sdk/client-sqs';
import { invalid, notFound, unavailable } from '#shared/errors/index.js';
import type { ForwardOptions, Forwarder, QueueBroker, Route } from '../../domain/broker.js';
import { Delivery, receive, type ReceiveConfig } from './sqs-delivery.js';
import { SqsForwarder } from './sqs-forwarder.js';
import { isFifoName, isMissingQueue, SqsQueues } from './sqs-queues.js';

export interface SqsBrokerOptions {
  /** Long poll of each receive, in seconds (0–20). Default 5. */
  waitTimeSeconds?: number;
  /** Messages per receive (1–10). Default 10. */
  batch?: number;
  /**
   * How long a received message stays ours before SQS hands it out again, in seconds: the bound
   * on how late a message in hand at a crash arrives. Default 30 (SQS's own default).
   */
  visibilityTimeout?: number;
}

/**
 * An SQS client from the environment: `SQS_ENDPOINT` overrides the endpoint (ElasticMQ, moto,
 * LocalStack; region us-east-1 unless `AWS_REGION` says otherwise), `AWS_REGION` picks the region;
 * credentials come from the SDK's default chain (env, web identity/IRSA, profile, instance role).
 */
export function sqsClientFrom(env: { SQS_ENDPOINT?: string; AWS_REGION?: string }): SQSClient {
  const region = env.AWS_REGION || (env.SQS_ENDPOINT ? 'us-east-1' : undefined);
  return new SQSClient({
    ...(region ? { region } : {}),
    ...(env.SQS_ENDPOINT ? { endpoint: env.SQS_ENDPOINT } : {}),
  });
}

/** The attributes a temporary queue copies from its original (not RedrivePolicy, Policy: they name other resources). */
const COPIED: readonly QueueAttributeName[] = [
  'VisibilityTimeout',
  'MessageRetentionPeriod',
  'DelaySeconds',
  'MaximumMessageSize',
  'ReceiveMessageWaitTimeSeconds',
];
const COPIED_IF_FIFO: readonly QueueAttributeName[] = [
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
];

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * `QueueBroker` over SQS. Queues are named, never addressed by URL outside this adapter; a name's
 * URL is looked up once. The client is injected and left open by `close()`, unless the broker made
 * it (`SqsBroker.fromEnv`).
 */
export class SqsBroker implements QueueBroker {
  readonly type = 'SQS' as const;
  readonly #client: SQSClient;
  readonly #config: Readonly<ReceiveConfig>;
  readonly #queues: SqsQueues;
  readonly #forwarders = new Set<Forwarder>();
  #ownsClient = false;

  constructor(client: SQSClient, options: SqsBrokerOptions = {}) {
    const { waitTimeSeconds = 5, batch = 10, visibilityTimeout = 30 } = options;
    if (!Number.isInteger(batch) || batch < 1 || batch > 10)
      throw invalid('batch', `${batch} is not a number of messages SQS receives at once`, 'use 1 to 10');
    if (!Number.isInteger(waitTimeSeconds) || waitTimeSeconds < 0 || waitTimeSeconds > 20)
      throw invalid('waitTimeSeconds', `${waitTimeSeconds} is not an SQS long poll`, 'use 0 to 20 seconds');
    if (!Number.isInteger(visibilityTimeout) || visibilityTimeout < 1 || visibilityTimeout > 43_200)
      throw invalid('visibilityTimeout', `${visibilityTimeout} is not an SQS visibility timeout`, 'use 1 to 43200');
    this.#client = client;
    this.#config = Object.freeze({ waitTimeSeconds, batch, visibilityTimeout });
    this.#queues = new SqsQueues(client);
  }

  /** A broker with its own client (`sqsClientFrom(env)`), destroyed by `close()`. */
  static fromEnv(env: { SQS_ENDPOINT?: string; AWS_REGION?: string }, options: SqsBrokerOptions = {}): SqsBroker {
    const broker = new SqsBroker(sqsClientFrom(env), options);
    broker.#ownsClient = true;
    return broker;
  }

  async exists(name: string): Promise<boolean> {
    try {
      await this.#queues.url(name);
      return true;
    } catch (e) {
      if (isMissingQueue(e)) return false;
      throw e;
    }
  }

  async createLike(original: string, name: string): Promise<void> {
    const url = await this.#urlOf(original);
    const [{ Attributes: attrs = {} }, { Tags: tags }] = await Promise.all([
      this.#client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })),
      this.#client.send(new ListQueueTagsCommand({ QueueUrl: url })),
    ]);
    const fifo = attrs.FifoQueue === 'true';
    if (fifo !== isFifoName(name))
      throw invalid(
        'name',
        `SQS queue "${name}" cannot be made like "${original}", a ${fifo ? 'FIFO' : 'standard'} queue`,
        fifo ? 'a FIFO queue needs a name ending in ".fifo"' : 'only a FIFO queue has a name ending in ".fifo"',
      );
    const copy: Partial<Record<QueueAttributeName, string>> = {};
    for (const a of [...COPIED, ...(fifo ? COPIED_IF_FIFO : [])]) if (attrs[a] !== undefined) copy[a] = attrs[a];
    if (fifo) copy.FifoQueue = 'true';
    if (attrs.KmsMasterKeyId) {
      copy.KmsMasterKeyId = attrs.KmsMasterKeyId;
      if (attrs.KmsDataKeyReusePeriodSeconds) copy.KmsDataKeyReusePeriodSeconds = attrs.KmsDataKeyReusePeriodSeconds;
    } else if (attrs.SqsManagedSseEnabled === 'true') copy.SqsManagedSseEnabled = 'true';
    try {
      await this.#client.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: copy,
          ...(tags && Object.keys(tags).length > 0 ? { tags } : {}),
        }),
      );
    } catch (e) {
      // It exists with other attributes: kept as it is (idempotent, as the port says).
      if (!(e instanceof QueueNameExists) && (e as { name?: string }).name !== 'QueueNameExists') throw e;
    }
  }

  async delete(name: string): Promise<void> {
    try {
      const QueueUrl = await this.#queues.url(name);
      await this.#client.send(new DeleteQueueCommand({ QueueUrl }));
    } catch (e) {
      if (!isMissingQueue(e)) throw e;
    } finally {
      this.#queues.forget(name);
    }
  }

  async pending(name: string): Promise<number> {
    const { Attributes: a = {} } = await this.#client.send(
      new GetQueueAttributesCommand({
        QueueUrl: await this.#urlOf(name),
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return (
      Number(a.ApproximateNumberOfMessages ?? 0) +
      Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  }

  forward(source: string, route: Route, options: ForwardOptions = {}): Forwarder {
    const forwarder = new SqsForwarder({
      client: this.#client,
      queues: this.#queues,
      source,
      route,
      options,
      config: this.#config,
    });
    this.#forwarders.add(forwarder);
    return {
      lag: () => forwarder.lag(),
      stop: async () => {
        await forwarder.stop();
        this.#forwarders.delete(forwarder);
      },
    };
  }

  /**
   * Drains `from` into `to` until two receives in a row come back empty (what is in flight
   * elsewhere stays). FIFO copies get a fresh deduplication id (the message's id in `from`): moving
   * messages back into a queue they came from within 5 minutes must not be deduplicated away.
   * A failure rejects (unavailable, with how many moved); what was not sent stays in `from`.
   */
  async moveAll(from: string, to: string): Promise<number> {
    const url = await this.#urlOf(from);
    const delivery = new Delivery({
      client: this.#client,
      queues: this.#queues,
      source: from,
      route: () => [{ name: to, kind: 'fallback' }],
      dedup: 'fresh',
      visibilityMs: this.#config.visibilityTimeout * 1000,
    });
    const config = { ...this.#config, waitTimeSeconds: Math.min(this.#config.waitTimeSeconds, 1) };
    const control = { retry: false, stopping: () => false };
    let moved = 0;
    let empty = 0;
    try {
      while (empty < 2) {
        const messages = await receive(this.#client, url, config);
        if (messages.length === 0) {
          empty++;
          continue;
        }
        empty = 0;
        moved += await delivery.deliver(messages, control);
      }
    } catch (e) {
      throw unavailable(`moving SQS queue "${from}" to "${to}" stopped after ${moved} messages: ${message(e)}`, e);
    }
    return moved;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#forwarders].map((f) => f.stop()));
    this.#forwarders.clear();
    if (this.#ownsClient) this.#client.destroy();
  }

  async #urlOf(name: string): Promise<string> {
    try {
      return await this.#queues.url(name);
    } catch (e) {
      if (isMissingQueue(e)) throw notFound(`SQS queue "${name}" does not exist`);
      throw e;
    }
  }
}
