/**
 * The demo's consumer pods. The node simulator runs no container processes, so this plays the
 * pods of each Deployment a queue registration names (MirrordWorkloadQueueRegistry for SQS,
 * MirrordKafkaTopicsConsumer for Kafka) in namespace `queues`: it watches the Deployment's pod
 * template and consumes the queue / topic its env names NOW — the fallback while the
 * queue-splitter has the workload patched, the original after it is restored — logging each
 * message it consumes as one JSON line (`service: "demo-consumer"`).
 *
 * Run by scripts/start.ts in the demo, with KUBECONFIG (the demo's) and the brokers from
 * data/demo-brokers.json.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { AppsV1Api, CustomObjectsApi, KubeConfig, makeInformer, type V1Deployment } from '@kubernetes/client-node';
import type { Kafka } from 'kafkajs';
import { sqsClient } from '../../test/support/sqs-server.js';
import { kafkaClient } from '../../test/support/kafka-broker.js';
import { readDemoBrokers } from './brokers.js';

// The SDK's notice about future Node versions is not the demo's business; it would clutter its output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const log = (level: string, msg: string, extra: Record<string, unknown> = {}) =>
  process.stdout.write(
    `${JSON.stringify({ level, time: new Date().toISOString(), service: 'demo-consumer', pid: process.pid, ...extra, msg })}\n`,
  );

/** The namespace of the demo's consumer workloads (queue-objects.ts applies them). */
export const QUEUES_NS = 'queues';

/** Where a workload's pods read from: an SQS queue named by an env var, or a topic and group named by two. */
type Source = { kind: 'sqs'; queueVar: string } | { kind: 'kafka'; topicVar: string; groupVar: string };

interface Runner {
  stop(): Promise<void>;
}

const GROUP = 'queues.mirrord.metalbear.co';
const VERSION = 'v1alpha';

/** Each consumer workload's sources, from the queue resources the platform team applied. */
async function plans(kc: KubeConfig): Promise<Map<string, Source[]>> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const list = async <T>(plural: string) =>
    (
      (await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: QUEUES_NS, plural })) as {
        items: T[];
      }
    ).items;
  const out = new Map<string, Source[]>();
  const add = (w: string, s: Source) => out.set(w, [...(out.get(w) ?? []), s]);
  type Registry = {
    spec: { consumer: { name: string }; queues: Record<string, { nameSource?: { envVar?: string } }> };
  };
  for (const r of await list<Registry>('mirrordworkloadqueueregistries'))
    for (const q of Object.values(r.spec.queues))
      if (q.nameSource?.envVar) add(r.spec.consumer.name, { kind: 'sqs', queueVar: q.nameSource.envVar });
  type Var = { directEnvVar?: { variable: string } };
  type Topics = { spec: { consumerName: string; topics: Array<{ nameSources: Var[]; groupIdSources: Var[] }> } };
  for (const c of await list<Topics>('mirrordkafkatopicsconsumers'))
    for (const t of c.spec.topics) {
      const topicVar = t.nameSources[0]?.directEnvVar?.variable;
      const groupVar = t.groupIdSources[0]?.directEnvVar?.variable;
      if (topicVar && groupVar) add(c.spec.consumerName, { kind: 'kafka', topicVar, groupVar });
    }
  return out;
}

/** Receives, logs and deletes until stopped; a queue that vanishes (a deleted fallback) is retried quietly. */
function consumeSqs(client: SQSClient, workload: string, queue: string): Runner {
  let stopped = false;
  let lastError = '';
  const abort = new AbortController();
  // A long poll on a queue deleted meanwhile (the fallback, once restored) may never answer:
  // every call is bounded, and stop() cuts the one in flight.
  const opts = () => ({ abortSignal: AbortSignal.any([abort.signal, AbortSignal.timeout(5000)]) });
  const loop = (async () => {
    let url: string | undefined;
    while (!stopped) {
      try {
        url ??= (await client.send(new GetQueueUrlCommand({ QueueName: queue }), opts())).QueueUrl;
        const { Messages = [] } = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageAttributeNames: ['All'],
          }),
          opts(),
        );
        for (const m of Messages) {
          const attributes = Object.fromEntries(
            Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
          );
          log('info', 'consumed', { workload, queue, attributes, body: m.Body ?? '' });
        }
        if (Messages.length)
          await client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
            }),
            opts(),
          );
        lastError = '';
      } catch (e) {
        url = undefined;
        const why = e instanceof Error ? e.message : String(e);
        if (stopped) break;
        if (why !== lastError) log('warn', `cannot read SQS queue ${queue}: ${why}`, { workload, queue });
        lastError = why;
        await sleep(1000);
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      abort.abort();
      await loop;
    },
  };
}

/** A member of `group` on `topic`, logging each record, until stopped. */
async function consumeKafka(kafka: Kafka, workload: string, topic: string, group: string): Promise<Runner> {
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 500 });
  consumer.on(consumer.events.CRASH, (e) =>
    log('warn', `kafka consumer of ${topic} crashed: ${e.payload.error.message}`, { workload, topic, group }),
  );
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers = Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v ?? '')]),
      );
      log('info', 'consumed', {
        workload,
        topic,
        group,
        partition,
        headers,
        body: message.value?.toString() ?? '',
      });
    },
  });
  return { stop: () => consumer.disconnect() };
}

const main = async (): Promise<void> => {
  const brokers = readDemoBrokers();
  const kc = new KubeConfig();
  kc.loadFromDefault();
  // The pods' view is the cluster's: the admin context reads the Deployments and queue resources.
  kc.setCurrentContext(process.env.DEMO_CONSUMER_KUBE_CONTEXT || 'admin');
  const sqs = sqsClient(brokers.sqsEndpoint);
  const kafka = kafkaClient(brokers.kafkaBrokers, { clientId: 'demo-consumer' });
  const byWorkload = await plans(kc);
  /** Per workload: what its pods read now (`sqs:<queue>` / `kafka:<topic>:<group>`) and the runners. */
  const running = new Map<string, Map<string, Runner>>();
  /** Per workload, switches run one after another (a patch and a restore can come quickly). */
  const chains = new Map<string, Promise<void>>();

  const reconcile = async (workload: string, env: Record<string, string>): Promise<void> => {
    const want = new Map<string, () => Promise<Runner>>();
    for (const s of byWorkload.get(workload) ?? []) {
      if (s.kind === 'sqs') {
        const q = env[s.queueVar];
        if (q) want.set(`sqs:${q}`, async () => consumeSqs(sqs, workload, q));
      } else {
        const [topic, group] = [env[s.topicVar], env[s.groupVar]];
        if (topic && group) want.set(`kafka:${topic}:${group}`, () => consumeKafka(kafka, workload, topic, group));
      }
    }
    const now = running.get(workload) ?? new Map<string, Runner>();
    running.set(workload, now);
    for (const [key, r] of now)
      if (!want.has(key)) {
        await r.stop();
        now.delete(key);
      }
    for (const [key, start] of want)
      if (!now.has(key)) {
        now.set(key, await start());
        log('info', `${workload} pods consume ${key.replace(/^(sqs|kafka):/, '$1 ')}`, { workload });
      }
  };

  const onDeployment = (d: V1Deployment) => {
    const name = d.metadata?.name ?? '';
    if (!byWorkload.has(name)) return;
    const c = d.spec?.template.spec?.containers[0];
    const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? '']));
    const next = (chains.get(name) ?? Promise.resolve())
      .then(() => reconcile(name, env))
      .catch((e: unknown) => void log('error', `${name}: ${(e as Error).message}`, { workload: name }));
    chains.set(name, next);
  };

  const apps = kc.makeApiClient(AppsV1Api);
  const informer = makeInformer<V1Deployment>(kc, `/apis/apps/v1/namespaces/${QUEUES_NS}/deployments`, () =>
    apps.listNamespacedDeployment({ namespace: QUEUES_NS }),
  );
  let stopping = false;
  informer.on('add', onDeployment);
  informer.on('update', onDeployment);
  informer.on('error', (err) => {
    if (stopping) return;
    log('warn', `watch of deployments failed (${String(err)}); restarting in 2s`);
    setTimeout(() => void (stopping ? undefined : informer.start().catch(() => undefined)), 2000).unref();
  });
  await informer.start();
  await Promise.all(chains.values());
  log('info', 'demo-consumer ready', { workloads: [...byWorkload.keys()] });

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await informer.stop();
    await Promise.all([...running.values()].flatMap((m) => [...m.values()].map((r) => r.stop().catch(() => {}))));
    sqs.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
};

/** The file start.ts runs as the demo consumer. */
export const QUEUE_CONSUMERS_SCRIPT = fileURLToPath(import.meta.url);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  await main().catch((e: unknown) => {
    log('error', `demo-consumer cannot start: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
