/**
 * Sends to and reads from the running demo's brokers (data/demo-brokers.json, written by
 * `npm run start:demo`), for the README's queue-splitting walkthrough:
 *   npm run demo:send -- sqs orders --attr tenant=acme 'hello'
 *   npm run demo:send -- kafka payments --header tenant=acme 'hello'
 *   npm run demo:receive -- sqs mirrord-tmp-…-orders      (reads and deletes, as a consumer does)
 *   npm run demo:receive -- kafka mirrord-tmp-…-payments  (every record the topic holds)
 */
import { Command } from 'commander';
import {
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { kafkaClient, produceAll, readTopic } from '../../test/support/kafka-broker.js';
import { sqsClient } from '../../test/support/sqs-server.js';
import { readDemoBrokers, type DemoBrokerEndpoints } from './brokers.js';

// The SDK's notice about future Node versions is not the demo's business; it would clutter its output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

type Broker = 'sqs' | 'kafka';

const pairs =
  (flag: string) =>
  (v: string, prev: Record<string, string> = {}) => {
    const i = v.indexOf('=');
    if (i <= 0) throw new Error(`${flag} "${v}": expected NAME=VALUE, e.g. ${flag} tenant=acme`);
    return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
  };

function broker(v: string): Broker {
  if (v !== 'sqs' && v !== 'kafka') throw new Error(`broker "${v}": expected sqs or kafka`);
  return v;
}

/** A refused connection means the file outlived its demo (a killed supervisor): say so. */
function explain(e: unknown, b: DemoBrokerEndpoints): Error {
  const msg = e instanceof Error ? e.message : String(e);
  const name = e instanceof Error ? e.name : '';
  if (/ECONNREFUSED|Connection error|KafkaJSNumberOfRetriesExceeded|KafkaJSConnectionError/.test(`${name} ${msg}`))
    return new Error(
      `the demo's brokers do not answer (SQS ${b.sqsEndpoint}, Kafka ${b.kafkaBrokers.join(',')}): is \`npm run start:demo\` running?`,
    );
  return e instanceof Error ? e : new Error(msg);
}

async function queueUrl(client: SQSClient, name: string): Promise<string> {
  try {
    return (await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
  } catch (e) {
    if ((e as Error).name !== 'QueueDoesNotExist' && (e as Error).name !== 'AWS.SimpleQueueService.NonExistentQueue')
      throw e;
    const urls = (await client.send(new ListQueuesCommand({}))).QueueUrls ?? [];
    throw new Error(
      `no SQS queue "${name}"; the demo has: ${urls.map((u) => u.split('/').pop()).join(', ') || 'none'}`,
    );
  }
}

async function send(
  b: Broker,
  name: string,
  body: string,
  o: { attr?: Record<string, string>; header?: Record<string, string> },
) {
  const ends = readDemoBrokers();
  try {
    if (b === 'sqs') {
      if (o.header) throw new Error('--header is for kafka; SQS messages carry --attr NAME=VALUE');
      const client = sqsClient(ends.sqsEndpoint);
      const r = await client.send(
        new SendMessageCommand({
          QueueUrl: await queueUrl(client, name),
          MessageBody: body,
          MessageAttributes: Object.fromEntries(
            Object.entries(o.attr ?? {}).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
          ),
        }),
      );
      process.stdout.write(`sent to SQS queue ${name}: ${r.MessageId}\n`);
    } else {
      if (o.attr) throw new Error('--attr is for sqs; Kafka records carry --header NAME=VALUE');
      await produceAll(kafkaClient(ends.kafkaBrokers), name, [{ value: body, headers: o.header ?? {} }]);
      process.stdout.write(`sent to Kafka topic ${name}\n`);
    }
  } catch (e) {
    throw explain(e, ends);
  }
}

async function receive(b: Broker, name: string) {
  const ends = readDemoBrokers();
  try {
    if (b === 'kafka') {
      for (const r of await readTopic(kafkaClient(ends.kafkaBrokers), name, 10_000)) {
        const headers = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, String(v)]));
        process.stdout.write(
          `${JSON.stringify({ topic: name, partition: r.partition, headers, body: r.value?.toString() })}\n`,
        );
      }
      return;
    }
    const client = sqsClient(ends.sqsEndpoint);
    const url = await queueUrl(client, name);
    // Until a 2 s long poll comes back empty: what the session's app would read now.
    for (;;) {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 2,
          MessageAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) return;
      for (const m of Messages) {
        const attributes = Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
        );
        process.stdout.write(`${JSON.stringify({ queue: name, attributes, body: m.Body })}\n`);
      }
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
  } catch (e) {
    throw explain(e, ends);
  }
}

const program = new Command('queue-send').description("the demo's queues: send a message, read a queue");
program
  .command('send')
  .argument('<broker>', 'sqs | kafka', broker)
  .argument('<name>', 'queue (sqs) or topic (kafka)')
  .argument('<body>', 'message body')
  .option('--attr <name=value>', 'SQS message attribute (repeatable)', pairs('--attr'))
  .option('--header <name=value>', 'Kafka record header (repeatable)', pairs('--header'))
  .action(send);
program
  .command('receive')
  .argument('<broker>', 'sqs | kafka', broker)
  .argument('<name>', 'queue (sqs) or topic (kafka)')
  .action(receive);
await program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
process.exit(0);
