/**
 * The queue-splitting e2e system: a real SQS server (ElasticMQ) and Kafka broker, the real
 * control plane with consumer workloads in namespace `queues` and their queue resources, and
 * the services (gateway with QUEUE_SPLITTING, ledger, agent-manager, policy, queue-splitter).
 */
import {
  CreateQueueCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import fc from 'fast-check';
import { AppsV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { Kafka } from 'kafkajs';
import { clientMessage, encode, type DaemonMessage } from '#shared/protocol/index.js';
import type { KubeObject } from '../kube/registry.js';
import { startClusterSystem, type ClusterSystem } from '../support/cluster.js';
import { consumerDeployment, demoQueueObjects, splitterRbac } from '../../scripts/demo/queue-objects.js';
import { eventually } from '../support/eventually.js';
import { startKafka, type KafkaBroker } from '../support/kafka-broker.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { startSqs, type SqsServer } from '../support/sqs-server.js';
import { freePort } from '../support/postgres.js';
import { SessionClient } from '../support/system.js';

export const NS = 'queues';

/**
 * What a platform team applies (the demo's objects: consumers `orders` and `payments`, their
 * queue resources, the Kafka client config, developers' read access) and a FIFO consumer.
 */
export function queueObjects(kafkaBrokers: string): KubeObject[] {
  return [
    ...demoQueueObjects(kafkaBrokers),
    consumerDeployment('ledger-writer', { LEDGER_QUEUE: 'ledger.fifo' }),
    {
      apiVersion: 'queues.mirrord.metalbear.co/v1alpha',
      kind: 'MirrordWorkloadQueueRegistry',
      metadata: { name: 'ledger-queues', namespace: NS },
      spec: {
        queues: { entries: { queueType: 'SQS', nameSource: { envVar: 'LEDGER_QUEUE' } } },
        consumer: { name: 'ledger-writer', workloadType: 'Deployment' },
        workloadRestartTimeout: 60,
      },
    },
  ];
}

export interface QueueSystem {
  all: ClusterSystem;
  sqs: SqsServer;
  kafka: KafkaBroker;
  sqsClient: SQSClient;
  kafkaClient: Kafka;
  splitter: ServiceProcess;
  splitterEnv: Record<string, string>;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  restartSplitter(): Promise<void>;
  stop(): Promise<void>;
}

export async function startQueueSystem(): Promise<QueueSystem> {
  // The brokers (JVMs) and the control plane start side by side; the queue resources are applied
  // once the broker's address is known (the splitter reads them when a session asks).
  const brokers = Promise.all([startSqs(), startKafka()]);
  const [[sqs, kafka], all] = await Promise.all([
    brokers,
    // The queue-splitter's identity and RBAC as the chart installs them with queueSplitting.enabled.
    startClusterSystem({ QUEUE_SPLITTING: 'true' }, async (c) => c.apply(await splitterRbac())),
  ]);
  const sqsClient = sqs.client();
  const kafkaClient = kafka.client();
  const splitterEnv = {
    ...all.sys.env,
    KUBECONFIG: all.cluster.kubeconfig,
    QUEUE_SPLITTER_KUBE_CONTEXT: 'mirrord-queue-splitter',
    OPERATOR_NAMESPACE: 'mirrord',
    QUEUE_SPLITTING_SQS: 'true',
    SQS_ENDPOINT: sqs.endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    QUEUE_DRAIN_TIMEOUT: '5',
    // What a kill -9 leaves in hand comes back after 5 s, not SQS's default 30.
    QUEUE_SQS_VISIBILITY_TIMEOUT: '5',
    QUEUE_SPLITTER_METRICS_ADDR: `127.0.0.1:${await freePort()}`,
  };
  // The splitter reads the queue resources when a session asks: it starts while they are
  // applied and the queues and topic made.
  const [splitter] = await Promise.all([
    startService('queue-splitter', splitterEnv),
    (async () => {
      await all.cluster.apply(queueObjects(kafka.brokers.join(',')));
      for (const q of ['orders', 'audit']) await sqsClient.send(new CreateQueueCommand({ QueueName: q }));
      await sqsClient.send(new CreateQueueCommand({ QueueName: 'ledger.fifo', Attributes: { FifoQueue: 'true' } }));
      const admin = kafkaClient.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'payments', numPartitions: 3 }], waitForLeaders: true });
      await admin.disconnect();
    })(),
  ]);
  const kc = new KubeConfig();
  kc.loadFromFile(all.cluster.kubeconfig);
  kc.setCurrentContext('admin');
  const qs: QueueSystem = {
    all,
    sqs,
    kafka,
    sqsClient,
    kafkaClient,
    splitter,
    splitterEnv,
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    async restartSplitter() {
      qs.splitter = await startService('queue-splitter', splitterEnv);
    },
    async stop() {
      await qs.splitter.stop();
      await all.stop();
      await sqs[Symbol.asyncDispose]();
      await kafka[Symbol.asyncDispose]();
    },
  };
  return qs;
}

/** A session on a consumer, as the CLI connects in direct mode (the splits in the query, or in the header). */
export async function splitSession(
  qs: QueueSystem,
  target: string,
  params: Record<string, unknown>,
  opts: { header?: boolean } = {},
) {
  const query = Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(JSON.stringify(v))}`)
    .join('&');
  return SessionClient.connect(qs.all.sys, {
    target,
    namespace: NS,
    token: 'jim-token',
    ...(opts.header
      ? {
          headers: {
            'x-mirrord-connect-params': Buffer.from(`connect=true&on_concurrent_steal=abort&${query}`).toString(
              'base64',
            ),
          },
        }
      : { query: `&${query}` }),
  });
}

/** The environment the session's local app gets (the CLI's GetEnvVarsRequest through the relay). */
export async function envOf(c: SessionClient, names: string[]): Promise<Record<string, string>> {
  const answer = new Promise<DaemonMessage>((resolve) =>
    c.socket.onMessage((m) => m.$ === 'GetEnvVarsResponse' && resolve(m)),
  );
  c.ws.send(encode(clientMessage, { $: 'GetEnvVarsRequest', v: { env_vars_filter: [], env_vars_select: names } }));
  const m = await answer;
  if (m.$ !== 'GetEnvVarsResponse' || m.v.$ !== 'Ok') throw new Error(`env request failed: ${JSON.stringify(m)}`);
  return Object.fromEntries(m.v.v);
}

/** The deployment's pod template env and labels, as its (patched) pods run it. */
export async function templateOf(qs: QueueSystem, name: string) {
  const d = await qs.apps.readNamespacedDeployment({ name, namespace: NS });
  const c = d.spec!.template.spec!.containers[0]!;
  return {
    env: Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ''])),
    labels: d.spec!.template.metadata?.labels ?? {},
    /** Bumped by every template change: one per rollout. */
    generation: d.metadata!.generation ?? 0,
  };
}

/** Takes every message that arrives in `queue` until `done(received)` says enough. */
export async function takeSqs(
  client: SQSClient,
  queue: string,
  into: Array<{ body: string; group?: string }>,
): Promise<void> {
  const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: queue }));
  const r = await client.send(
    new ReceiveMessageCommand({
      QueueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['MessageGroupId'],
    }),
  );
  const ms = r.Messages ?? [];
  if (ms.length === 0) return;
  for (const m of ms)
    into.push({ body: m.Body ?? '', ...(m.Attributes?.MessageGroupId ? { group: m.Attributes.MessageGroupId } : {}) });
  await client.send(
    new DeleteMessageBatchCommand({
      QueueUrl,
      Entries: ms.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
    }),
  );
}

export async function waitRestored(qs: QueueSystem, name: string, env: string, original: string): Promise<void> {
  await eventually(
    `${name} restored: ${env}=${original}, no patched label`,
    async () => {
      const t = await templateOf(qs, name);
      return t.env[env] === original && t.labels['operator.metalbear.co/patched'] === undefined;
    },
    60_000,
  );
}

/** The queue objects the splitter keeps (MirrordSQSSession, MirrordKafkaEphemeralTopic) in a namespace. */
export async function splitObjects(
  qs: QueueSystem,
  namespace: string,
  plural: 'mirrordsqssessions' | 'mirrordkafkaephemeraltopics',
): Promise<Array<{ metadata: { name: string }; spec: Record<string, unknown>; status?: Record<string, unknown> }>> {
  const r = (await qs.custom.listNamespacedCustomObject({
    group: 'queues.mirrord.metalbear.co',
    version: 'v1alpha',
    namespace,
    plural,
  })) as {
    items: Array<{ metadata: { name: string }; spec: Record<string, unknown>; status?: Record<string, unknown> }>;
  };
  return r.items;
}

/** One sample of the splitter's /metrics (0 when the series is absent). */
export async function splitterMetric(qs: QueueSystem, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://${qs.splitterEnv.QUEUE_SPLITTER_METRICS_ADDR}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').pop()) : 0;
}

export interface Msg {
  id: number;
  tenant: string;
  region: string;
}
/** 1,000 messages with mixed attributes, the same every run (fast-check's generator, seeded). */
export const messages = (n: number, seed: number): Msg[] =>
  fc
    .sample(fc.record({ tenant: fc.constantFrom('acme', 'beta', 'corp', 'ab'), region: fc.constantFrom('eu', 'us') }), {
      numRuns: n,
      seed,
    })
    .map((m, id) => ({ id, ...m }));

export async function sendSqs(qs: QueueSystem, queue: string, ms: Msg[], fifo = false): Promise<void> {
  const { QueueUrl } = await qs.sqsClient.send(new GetQueueUrlCommand({ QueueName: queue }));
  for (let i = 0; i < ms.length; i += 10)
    await qs.sqsClient.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: ms.slice(i, i + 10).map((m) => ({
          Id: String(m.id),
          MessageBody: JSON.stringify(m),
          MessageAttributes: {
            tenant: { DataType: 'String', StringValue: m.tenant },
            region: { DataType: 'String', StringValue: m.region },
          },
          ...(fifo ? { MessageGroupId: m.tenant, MessageDeduplicationId: String(m.id) } : {}),
        })),
      }),
    );
}

/** Reads `queues` until `n` messages arrived in all of them together; returns the ids per queue. */
export async function collect(
  qs: QueueSystem,
  queues: string[],
  n: number,
  what: string,
): Promise<Map<string, number[]>> {
  const got = new Map(queues.map((q) => [q, [] as Array<{ body: string }>]));
  await eventually(
    what,
    async () => {
      for (const q of queues) await takeSqs(qs.sqsClient, q, got.get(q)!);
      return [...got.values()].reduce((a, l) => a + l.length, 0) >= n;
    },
    90_000,
    50,
  );
  return new Map([...got].map(([q, l]) => [q, l.map((m) => (JSON.parse(m.body) as Msg).id)]));
}

/** The temporary SQS queues the splitter holds now. */
export const tmpQueues = async (qs: QueueSystem) =>
  ((await qs.sqsClient.send(new ListQueuesCommand({ QueueNamePrefix: 'mirrord-tmp' }))).QueueUrls ?? []).map((u) =>
    u.split('/').pop()!,
  );
