/**
 * Issue 27 (build item 5): the real brokers queue splitting is tested against, started the way
 * the splitter's tests will start them (test/support/sqs-server.ts, kafka-broker.ts; the jars come
 * from `npm run brokers:fetch`). What this pins: the clients the splitter will use reach them,
 * message attributes and record headers (what a split filters on) arrive intact, and what each
 * broker keeps through a kill -9: ElasticMQ nothing (in memory), Kafka its log and the committed
 * offsets (its data dir).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { eventually } from '../support/eventually.js';
import { startKafka, type KafkaBroker } from '../support/kafka-broker.js';
import { startSqs, type SqsServer } from '../support/sqs-server.js';

const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

describe('a real SQS server (ElasticMQ)', () => {
  let sqs: SqsServer;
  let client: SQSClient;
  before(async () => {
    sqs = await startSqs();
    client = sqs.client();
  });
  after(async () => {
    await sqs?.[Symbol.asyncDispose]();
  });

  it('given a queue, when a message with an attribute is sent, then it is received with the attribute and gone once deleted', async () => {
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: unique('orders') }));
    await client.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: '{"order":1}',
        MessageAttributes: { tenant: { DataType: 'String', StringValue: 'alice' } },
      }),
    );

    const received = await eventually<Message>('the message on the queue', async () => {
      const r = await client.send(
        new ReceiveMessageCommand({ QueueUrl, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }),
      );
      return r.Messages?.[0];
    });
    assert.equal(received.Body, '{"order":1}');
    assert.deepEqual(received.MessageAttributes?.tenant, { DataType: 'String', StringValue: 'alice' });

    await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: received.ReceiptHandle }));
    const attrs = await client.send(
      new GetQueueAttributesCommand({
        QueueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    assert.equal(attrs.Attributes?.ApproximateNumberOfMessages, '0');
    assert.equal(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible, '0');
  });

  it('given a queue with a message, when the server is killed -9 and restarted, then it serves on the same endpoint and nothing survived (ElasticMQ keeps queues in memory)', async () => {
    const name = unique('lost');
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name }));
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'before the crash' }));

    await sqs.kill9();
    await sqs.restart();

    // What the splitter's tests must know: after a broker restart they recreate their queues.
    await assert.rejects(client.send(new GetQueueUrlCommand({ QueueName: name })), QueueDoesNotExist);
    const listed = await client.send(new ListQueuesCommand({}));
    assert.deepEqual(listed.QueueUrls ?? [], []);
    const again = await client.send(new CreateQueueCommand({ QueueName: name }));
    assert.ok(again.QueueUrl);
  });
});

describe('a real Kafka broker (KRaft)', () => {
  let kafka: KafkaBroker;
  const consumers: Consumer[] = [];
  before(async () => {
    kafka = await startKafka();
  });
  after(async () => {
    for (const c of consumers) await c.disconnect().catch(() => undefined);
    await kafka?.[Symbol.asyncDispose]();
  });

  /** A consumer in `groupId` that commits each record it is given, by hand, after keeping it. */
  const consume = async (groupId: string, topic: string): Promise<KafkaMessage[]> => {
    const seen: KafkaMessage[] = [];
    const consumer = kafka.client().consumer({ groupId, maxWaitTimeInMs: 500, retry: { retries: 2 } });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        seen.push(message);
        await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
      },
    });
    return seen;
  };
  const committed = async (groupId: string, topic: string): Promise<string | undefined> => {
    const admin = kafka.client().admin();
    await admin.connect();
    try {
      const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return t?.partitions[0]?.offset;
    } finally {
      await admin.disconnect();
    }
  };

  it('given a topic, when a record with a header is consumed and committed by a group, then a second consumer in the group does not see it again, and the commit survives a kill -9', async () => {
    const topic = unique('orders');
    const groupId = unique('billing');
    const admin = kafka.client().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.client().producer({ allowAutoTopicCreation: false });
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'first', headers: { tenant: 'alice' } }] });

    const first = await consume(groupId, topic);
    const [record] = await eventually('the first consumer to get the record', () => first.length > 0 && first);
    assert.equal(record!.value?.toString(), 'first');
    assert.equal(record!.headers?.tenant?.toString(), 'alice');
    await eventually('the commit of offset 1', async () => (await committed(groupId, topic)) === '1');
    await consumers.pop()!.disconnect();

    // The second consumer's first record is the one sent after the commit: the first is not redelivered.
    await producer.send({ topic, messages: [{ value: 'second' }] });
    const second = await consume(groupId, topic);
    const [next] = await eventually('the second consumer to get a record', () => second.length > 0 && second);
    assert.equal(next!.value?.toString(), 'second');
    assert.equal(next!.offset, '1');
    await eventually('the commit of offset 2', async () => (await committed(groupId, topic)) === '2');
    await consumers.pop()!.disconnect();
    await producer.disconnect();

    await kafka.kill9();
    await kafka.restart();

    assert.equal(await committed(groupId, topic), '2');
    const restarted = kafka.client().admin();
    await restarted.connect();
    const [partition] = await restarted.fetchTopicOffsets(topic);
    await restarted.disconnect();
    assert.equal(partition?.high, '2', 'both records are still in the log');
  });
});
