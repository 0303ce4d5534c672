import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  type Message,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs';
import { brokerJars } from '../../scripts/brokers.js';
import { startJvm, waitReady, type JvmProcess } from './jvm-process.js';
import { freePort } from './postgres.js';

export interface SqsServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`: the SQS endpoint override for a client. */
  endpoint: string;
  /** A client of this server (dummy credentials; ElasticMQ does not check them). */
  client(): SQSClient;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  /** Starts it again on the same port. ElasticMQ keeps queues and messages in memory: none survive. */
  restart(): Promise<void>;
}

/** What a test's SQS client needs to reach `endpoint`: a region and credentials it never checks. */
export function sqsClient(endpoint: string): SQSClient {
  return new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    // One attempt: readiness polls and tests wait with their own loop, not the SDK's backoff.
    maxAttempts: 1,
  });
}

/**
 * A real SQS server, ElasticMQ (`npm run brokers:fetch`), on a free loopback port: bound to
 * 127.0.0.1 only, AWS's limits enforced (`sqs-limits = strict`, so a message the real SQS refuses
 * is refused here too), the stats endpoint off. Ready once a ListQueues call succeeds.
 */
export async function startSqs(): Promise<SqsServer> {
  const jars = brokerJars('elasticmq');
  const dir = mkdtempSync(join(tmpdir(), 'mirrord-sqs-'));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const conf = join(dir, 'elasticmq.conf');
  writeFileSync(
    conf,
    `include classpath("application.conf")
node-address { protocol = http, host = 127.0.0.1, port = ${port}, context-path = "" }
generate-node-address = false
rest-sqs { enabled = true, bind-port = ${port}, bind-hostname = "127.0.0.1", sqs-limits = strict }
rest-stats { enabled = false }
`,
  );
  const probeClient = sqsClient(endpoint);
  let jvm: JvmProcess | undefined;
  const launch = async (): Promise<void> => {
    jvm = startJvm(jars, 'org.elasticmq.server.Main', [], { flags: [`-Dconfig.file=${conf}`], cwd: dir });
    await waitReady(`ElasticMQ on ${endpoint}`, jvm, () => probeClient.send(new ListQueuesCommand({})));
  };
  await launch();
  const clients: SQSClient[] = [];
  const server: SqsServer = {
    endpoint,
    client() {
      const c = sqsClient(endpoint);
      clients.push(c);
      return c;
    },
    async stop() {
      jvm?.proc.kill('SIGTERM');
      await jvm?.waitExit();
    },
    async kill9() {
      jvm?.proc.kill('SIGKILL');
      await jvm?.waitExit();
    },
    restart: launch,
    async [Symbol.asyncDispose]() {
      for (const c of [probeClient, ...clients]) c.destroy();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Sends `entries` to `queueUrl` in order, ten per SendMessageBatch; throws if SQS refused any. */
export async function sendAll(
  client: SQSClient,
  queueUrl: string,
  entries: readonly Omit<SendMessageBatchRequestEntry, 'Id'>[],
): Promise<void> {
  for (let i = 0; i < entries.length; i += 10) {
    const Entries = entries.slice(i, i + 10).map((e, j) => ({ Id: String(j), ...e }));
    const r = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries }));
    if (r.Failed?.length) throw new Error(`SQS refused a test message: ${JSON.stringify(r.Failed[0])}`);
  }
}

/** Visible + in flight + delayed messages of a queue. */
export async function queueDepth(client: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes: a = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return (
    Number(a.ApproximateNumberOfMessages) +
    Number(a.ApproximateNumberOfMessagesNotVisible) +
    Number(a.ApproximateNumberOfMessagesDelayed)
  );
}

/**
 * Reads a queue empty the way a consumer does (receive, then delete each batch), with every
 * attribute; returns the messages in the order received. Ends when a receive is empty and the
 * queue holds nothing, in flight included (so a message a crashed reader held is waited for).
 * The first receive of a round does not wait (ElasticMQ answers a short poll with every visible
 * message), so an empty queue ends the read at once instead of after a long poll; while
 * messages are in flight elsewhere, it long-polls for them.
 */
export async function drainQueue(client: SQSClient, queueUrl: string, timeoutMs = 60_000): Promise<Message[]> {
  const out: Message[] = [];
  const end = Date.now() + timeoutMs;
  let wait = 0;
  for (;;) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: wait,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) {
      if ((await queueDepth(client, queueUrl)) === 0) return out;
      if (Date.now() > end) throw new Error(`${queueUrl} still holds messages after ${timeoutMs} ms of reading`);
      wait = 1;
      continue;
    }
    wait = 0;
    out.push(...Messages);
    const Entries = Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle }));
    await client.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries }));
  }
}
