import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from 'pino';
import { invalid } from '#shared/errors/index.js';
import type { Brokers } from '../app/ports.js';
import type { QueueBroker } from '../domain/broker.js';
import type { QueueDecl } from '../domain/registry.js';
import { KafkaBroker } from './kafka/kafka-broker.js';
import { kafkaFrom, type KafkaClientProperty } from './kafka/kafka-client-config.js';
import { SqsBroker, type SqsBrokerOptions } from './sqs/sqs-broker.js';

/**
 * The brokers the declared queues live on: SQS is one account's (the splitter's credentials and
 * endpoint); each Kafka topic names a `MirrordKafkaClientConfig`, resolved once and reused.
 */
export class ClusterBrokers implements Brokers {
  #sqs: SqsBroker | undefined;
  #sqsClient: SQSClient | undefined;
  readonly #kafka = new Map<string, Promise<KafkaBroker>>();

  constructor(
    private readonly sqsClient: (() => SQSClient) | undefined,
    private readonly kafkaConfig: (name: string) => Promise<KafkaClientProperty[]>,
    private readonly log: Logger,
    private readonly sqsOptions: SqsBrokerOptions = {},
  ) {}

  async of(decl: Pick<QueueDecl, 'queue_type' | 'client_config'>): Promise<QueueBroker> {
    if (decl.queue_type === 'SQS') {
      if (!this.sqsClient)
        throw invalid(
          'SQS_ENDPOINT',
          'SQS queue splitting is not configured on this operator',
          'set AWS_REGION (and SQS_ENDPOINT for a non-AWS server) for the queue splitter',
        );
      this.#sqsClient ??= this.sqsClient();
      this.#sqs ??= new SqsBroker(this.#sqsClient, this.sqsOptions);
      return this.#sqs;
    }
    const name = decl.client_config!;
    let b = this.#kafka.get(name);
    if (!b) {
      b = this.kafkaConfig(name).then((props) => {
        const { kafka, ignored } = kafkaFrom(props, `mirrord-queue-splitter-${name}`);
        if (ignored.length)
          this.log.warn(
            { client_config: name, ignored },
            'Kafka client properties without a kafkajs equivalent were ignored',
          );
        return new KafkaBroker(kafka);
      });
      // A config that failed to resolve is asked again next time (the platform team may fix it).
      b.catch(() => this.#kafka.delete(name));
      this.#kafka.set(name, b);
    }
    return b;
  }

  async close(): Promise<void> {
    await this.#sqs?.close();
    // The client was made here (sqsClientFrom), so it is ours to end.
    this.#sqsClient?.destroy();
    for (const b of this.#kafka.values()) await (await b.catch(() => undefined))?.close();
  }
}
