/**
 * Queue splitting: the splitter's forwarder (`SqsBroker.forward`, `KafkaBroker.forward`) against a
 * hand-written loop doing the same split with the broker's own client, on real brokers (ElasticMQ,
 * Apache Kafka in KRaft mode) started here once. Both sides split the same way (alice's and bob's
 * sessions steal theirs, the rest goes to the fallback), so the ratio is the adapter's cost, not
 * the cost of splitting. Throughput on a pre-loaded backlog; latency on a steady trickle, from the
 * send to the original to the receipt by a consumer of alice's session queue/topic.
 *
 * The machine is shared and the brokers are JVMs warming up: throughput runs alternate raw and
 * forwarder (which one goes first alternating too) and keep each side's best, and the latency
 * trickles of both sides are interleaved in one run, so neither side gets a quieter (or warmer)
 * moment than the other.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Kafka, Message as KafkaRecord, Producer } from 'kafkajs';
import type { Forwarder, Route } from '../services/queue-splitter/src/domain/broker.js';
import { routerFor } from '../services/queue-splitter/src/domain/routing.js';
import { SqsBroker } from '../services/queue-splitter/src/adapters/sqs/sqs-broker.js';
import { KafkaBroker } from '../services/queue-splitter/src/adapters/kafka/kafka-broker.js';
import { sendAll, startSqs } from '../test/support/sqs-server.js';
import { produceAll, startKafka } from '../test/support/kafka-broker.js';
import { percentile, type Row } from './support/util.js';
import { size } from './support/profile.js';

const ROUNDS = size(3, 1);
const LATENCY_SAMPLES = size(200, 10);
/** Each side gets one message every 15 ms (the other side's in between): a trickle, not a backlog. */
const LATENCY_GAP_MS = 7.5;
/** Long poll of every SQS receive (both sides): what stop() waits out. Any value answers at once when a message comes. */
const WAIT_S = 1;
/** Records produced and committed at a time by the raw Kafka loop: KafkaBroker's default maxBatch. */
const CHUNK = 100;
const PARTITIONS = 3;
const TENANTS = ['alice', 'bob', 'carol'] as const;
const BODY = (i: number) => `{"i":${i},"pad":"${'x'.repeat(200)}"}`;
const SIDES = ['raw', 'fwd'] as const;
type Side = (typeof SIDES)[number];

type Names = Record<'source' | 'alice' | 'bob' | 'fallback', string>;
const namesOf = (p: string): Names => ({
  source: `${p}-orders`,
  alice: `${p}-alice`,
  bob: `${p}-bob`,
  fallback: `${p}-fb`,
});
/** The forwarder's split: two steal sessions filtering on `tenant`, the fallback for the rest. */
const routeOf = (n: Names): Route =>
  routerFor(
    [
      { output: n.alice, message_filter: { tenant: '^alice$' }, mode: 'steal' },
      { output: n.bob, message_filter: { tenant: '^bob$' }, mode: 'steal' },
    ],
    n.fallback,
    () => 0,
  );
/** The same split written by hand, for the raw loops. */
const rawDest = (n: Names, tenant: string | undefined): string =>
  tenant === 'alice' ? n.alice : tenant === 'bob' ? n.bob : n.fallback;

/** A side at work: when its first message went out, whether `count` are finished (sent and deleted/committed). */
interface Running {
  first(): number;
  done(count: number): boolean;
  stop(): Promise<void>;
}

/** What differs between the brokers; `measure` does the rest. */
interface Bench {
  broker: 'SQS' | 'Kafka';
  label: string;
  /** The raw loop, for the row's name. */
  raw: string;
  count: number;
  /** Creates the queues/topics and pre-loads `count` messages, a third per tenant. */
  prepare(n: Names, group: string): Promise<void>;
  start(side: Side, n: Names, group: string): Promise<Running>;
  /** A consumer of `n.alice` noting each message's arrival (its body: an id); resolves once it reads only what comes next. */
  reader(n: Names, arrived: Map<string, number>): Promise<() => Promise<void>>;
  /** Sends one message for alice, body `id`, to `n.source`. */
  send(n: Names, id: string): Promise<unknown>;
}

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`queues bench: timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A running forwarder as a side: messages routed (each to one destination here) and nothing left in hand. */
function forwarding(start: (options: object) => Forwarder, log: (s: string) => void): Running {
  let routed = 0;
  let firstAt = 0;
  let errors = 0;
  const forwarder = start({
    onRouted: () => void (routed++ === 0 && (firstAt = performance.now())),
    onError: (e: unknown) =>
      void (errors++ === 0 && log(`queues: forwarder error (it retries): ${e instanceof Error ? e.message : e}`)),
  });
  return {
    first: () => firstAt,
    // Routed is counted after the send/produce; an empty hand means its delete/commit is done too.
    done: (count) => routed >= count && forwarder.lag().messages === 0,
    stop: () => forwarder.stop(),
  };
}

/**
 * Sends `2 × perSide` messages at a steady pace, alternating between the sides' sources (not
 * awaited one by one, so a slow send does not push the schedule back); waits until each arrived.
 * Returns each side's ms from just before the send to the receipt.
 */
async function trickle(b: Bench, prefix: string, perSide: number, arrived: Map<string, number>) {
  const sources = SIDES.map((s) => namesOf(`${s}-${ROUNDS - 1}`));
  const sentAt: [string, number][] = [];
  const sends: Promise<unknown>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < 2 * perSide; i++) {
    const wait = t0 + i * LATENCY_GAP_MS - performance.now();
    if (wait > 0) await sleep(wait);
    const id = `${prefix}-${i}`;
    sentAt.push([id, performance.now()]);
    sends.push(b.send(sources[i % 2]!, id));
  }
  await Promise.all(sends);
  await until(`${prefix} messages at alice's`, () => sentAt.every(([id]) => arrived.has(id)));
  const ms = sentAt.map(([id, t]) => arrived.get(id)! - t);
  return { raw: ms.filter((_, i) => i % 2 === 0), fwd: ms.filter((_, i) => i % 2 === 1) };
}

async function measure(b: Bench, log: (s: string) => void): Promise<Row[]> {
  const rate: Record<Side, number> = { raw: 0, fwd: 0 };
  for (let r = 0; r < ROUNDS; r++)
    // Alternating which side goes first: brokers and JIT still warming favour whichever runs later.
    for (const side of r % 2 === 0 ? SIDES : [...SIDES].reverse()) {
      const n = namesOf(`${side}-${r}`);
      await b.prepare(n, `${side}-${r}-group`);
      const what = `${b.broker} ${side === 'raw' ? 'raw loop' : 'forwarder'}`;
      const run = await b.start(side, n, `${side}-${r}-group`);
      await until(what, () => run.done(b.count));
      // From the first message out: a Kafka group join (seconds, once per start) is not throughput.
      const perSecond = b.count / ((performance.now() - run.first()) / 1000);
      log(`queues: ${what}, ${b.count} messages, round ${r + 1}/${ROUNDS}: ${perSecond.toFixed(0)} msg/s`);
      rate[side] = Math.max(rate[side], perSecond);
      await run.stop();
    }
  log(`queues: ${b.broker} latency, ${LATENCY_SAMPLES} messages per side, interleaved…`);
  const arrived = new Map<string, number>();
  const stops: (() => Promise<void>)[] = [];
  try {
    for (const side of SIDES) {
      const n = namesOf(`${side}-${ROUNDS - 1}`);
      const run = await b.start(side, n, `${side}-${ROUNDS - 1}-group`);
      stops.push(() => run.stop(), await b.reader(n, arrived));
    }
    // Untimed: Kafka groups joined and fetching, every connection open.
    await trickle(b, 'warm', 10, arrived);
    const lat = await trickle(b, 'lat', LATENCY_SAMPLES, arrived);
    // Reported, not judged: a shared 2-core machine's noise is larger than any fixed bound.
    const row = (name: string, value: number, unit: string, baseline: number, target: string): Row => ({
      name,
      value,
      unit,
      baseline,
      ratio: value / baseline,
      target,
      pass: true,
    });
    return [
      row(`queues: ${b.label}: forwarder (vs ${b.raw})`, rate.fwd, 'msg/s', rate.raw, 'report (vs raw loop)'),
      ...[50, 99].map((p) => {
        const [o, base] = [percentile(lat.fwd, p), percentile(lat.raw, p)];
        const name = `queues: ${b.broker} send → session consumer p${p}, forwarder (added ${(o - base).toFixed(1)} ms)`;
        return row(name, o, 'ms', base, 'report (added: ours − baseline)');
      }),
    ];
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

// ---- SQS ----

/** Receive 10, `handle` them, delete the batch, again, until stopped (what a plain SQS consumer does). */
function sqsLoop(client: SQSClient, url: string, handle: (ms: Message[]) => Promise<void>): Running {
  let [stopping, count, firstAt, error] = [false, 0, 0, undefined as unknown];
  const done = (async () => {
    while (!stopping) {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: WAIT_S,
          VisibilityTimeout: 30,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) continue;
      await handle(Messages);
      if (firstAt === 0) firstAt = performance.now();
      const Entries = Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle }));
      const r = await client.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries }));
      if (r.Failed?.length) throw new Error(`delete refused: ${JSON.stringify(r.Failed[0])}`);
      count += Messages.length;
    }
  })().catch((e: unknown) => void (error = e));
  return {
    first: () => firstAt,
    done: (n) => {
      if (error) throw error;
      return count >= n;
    },
    stop: async () => {
      stopping = true;
      await done;
    },
  };
}

function sqsBench(client: SQSClient, count: number, log: (s: string) => void): Bench {
  const urls = new Map<string, string>();
  const broker = new SqsBroker(client, { waitTimeSeconds: WAIT_S });
  /** The raw split of one batch: one SendMessageBatch per destination, in parallel (as the forwarder). */
  const split = (n: Names) => async (ms: Message[]) => {
    const byDest = new Map<string, Message[]>();
    for (const m of ms) {
      const url = urls.get(rawDest(n, m.MessageAttributes?.tenant?.StringValue))!;
      byDest.set(url, [...(byDest.get(url) ?? []), m]);
    }
    await Promise.all(
      [...byDest].map(async ([QueueUrl, batch]) => {
        const Entries = batch.map((m, i) => ({
          Id: String(i),
          MessageBody: m.Body ?? '',
          // Only the fields SendMessage takes (a received attribute carries empty list values).
          MessageAttributes: Object.fromEntries(
            Object.entries(m.MessageAttributes ?? {}).map(([k, v]): [string, MessageAttributeValue] => [
              k,
              { DataType: v.DataType, StringValue: v.StringValue },
            ]),
          ),
        }));
        const r = await client.send(new SendMessageBatchCommand({ QueueUrl, Entries }));
        if (r.Failed?.length) throw new Error(`send refused: ${JSON.stringify(r.Failed[0])}`);
      }),
    );
  };
  const tenant = (t: string) => ({ tenant: { DataType: 'String', StringValue: t } });
  return {
    broker: 'SQS',
    label: `SQS, ${count} msgs split 2 sessions + fallback`,
    raw: 'raw receive-send-delete loop',
    count,
    async prepare(n) {
      for (const q of Object.values(n) as string[])
        urls.set(q, (await client.send(new CreateQueueCommand({ QueueName: q }))).QueueUrl!);
      const entries = Array.from({ length: count }, (_, i) => ({
        MessageBody: BODY(i),
        MessageAttributes: tenant(TENANTS[i % 3]!),
      }));
      await sendAll(client, urls.get(n.source)!, entries);
    },
    start: async (side, n) =>
      side === 'raw'
        ? sqsLoop(client, urls.get(n.source)!, split(n))
        : forwarding((options) => broker.forward(n.source, routeOf(n), options), log),
    async reader(n, arrived) {
      // The throughput run left alice's third of the backlog there: read it off first.
      const r = sqsLoop(client, urls.get(n.alice)!, async (ms) => {
        const now = performance.now();
        for (const m of ms) arrived.set(m.Body ?? '', now);
      });
      await until(`${n.alice} read empty`, () => r.done(Math.ceil(count / 3)));
      return () => r.stop();
    },
    send: (n, id) =>
      client.send(
        new SendMessageCommand({ QueueUrl: urls.get(n.source)!, MessageBody: id, MessageAttributes: tenant('alice') }),
      ),
  };
}

// ---- Kafka ----

/**
 * The raw Kafka split: the workload's group (manual commits), eachBatch produces each chunk of
 * CHUNK records to its destinations (same partition, acks from every replica, idempotent with one
 * request in flight, as KafkaBroker's producer), then commits it.
 */
async function rawKafkaLoop(kafka: Kafka, producer: Producer, n: Names, group: string): Promise<Running> {
  const consumer = kafka.consumer({
    groupId: group,
    sessionTimeout: 30_000,
    heartbeatInterval: 6_000,
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
  });
  let [count, firstAt, error] = [0, 0, undefined as unknown];
  consumer.on(consumer.events.CRASH, (e) => void (error ??= e.payload.error));
  await consumer.connect();
  await consumer.subscribe({ topics: [n.source], fromBeginning: false });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const { topic, partition } = batch;
      for (let i = 0; i < batch.messages.length; i += CHUNK) {
        if (!isRunning() || isStale()) return;
        const chunk = batch.messages.slice(i, i + CHUNK);
        const byTopic = new Map<string, KafkaRecord[]>();
        for (const m of chunk) {
          const to = rawDest(n, m.headers?.tenant?.toString());
          const copy = { key: m.key, value: m.value, headers: m.headers ?? {}, timestamp: m.timestamp, partition };
          byTopic.set(to, [...(byTopic.get(to) ?? []), copy]);
        }
        const topicMessages = [...byTopic].map(([t, messages]) => ({ topic: t, messages }));
        await producer.sendBatch({ acks: -1, topicMessages });
        if (firstAt === 0) firstAt = performance.now();
        const last = chunk.at(-1)!.offset;
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(last) + 1n).toString() }]);
        resolveOffset(last);
        count += chunk.length;
        await heartbeat();
      }
    },
  });
  return {
    first: () => firstAt,
    done: (k) => {
      if (error) throw error;
      return count >= k;
    },
    stop: () => consumer.disconnect(),
  };
}

async function kafkaBench(kafka: Kafka, count: number, log: (s: string) => void) {
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  // Long-lived, as KafkaBroker's own producer is across the forwarder's rounds.
  const rawProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await Promise.all([admin.connect(), producer.connect(), rawProducer.connect()]);
  const broker = new KafkaBroker(kafka);
  const bench: Bench = {
    broker: 'Kafka',
    label: `Kafka, ${count} records/${PARTITIONS} partitions split 2 sessions + fallback`,
    raw: 'raw eachBatch-produce-commit loop',
    count,
    async prepare(n, group) {
      const topics = (Object.values(n) as string[]).map((topic) => ({ topic, numPartitions: PARTITIONS }));
      await admin.createTopics({ waitForLeaders: true, topics });
      const records = Array.from({ length: count }, (_, i) => ({
        key: `k${i}`,
        value: BODY(i),
        headers: { tenant: TENANTS[i % 3]! },
      }));
      await produceAll(kafka, n.source, records);
      // The workload's group stopped at the start of the backlog: the forwarder takes over from there.
      const partitions = Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, offset: '0' }));
      await admin.setOffsets({ groupId: group, topic: n.source, partitions });
    },
    start: (side, n, group) =>
      side === 'raw'
        ? rawKafkaLoop(kafka, rawProducer, n, group)
        : Promise.resolve(forwarding((options) => broker.forward(n.source, routeOf(n), { ...options, group }), log)),
    async reader(n, arrived) {
      // A new group committed at the topic's end: it reads what comes next, not the backlog.
      const groupId = `${n.alice}-reader`;
      const ends = await admin.fetchTopicOffsets(n.alice);
      const partitions = ends.map((e) => ({ partition: e.partition, offset: e.high }));
      await admin.setOffsets({ groupId, topic: n.alice, partitions });
      const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
      const joined = new Promise((r) => consumer.on(consumer.events.GROUP_JOIN, r));
      await consumer.connect();
      await consumer.subscribe({ topics: [n.alice] });
      await consumer.run({
        eachMessage: async ({ message }) => void arrived.set(message.value?.toString() ?? '', performance.now()),
      });
      await joined;
      return () => consumer.disconnect();
    },
    send: (n, id) =>
      producer.send({ topic: n.source, acks: -1, messages: [{ key: id, value: id, headers: { tenant: 'alice' } }] }),
  };
  const close = async () => {
    await broker.close();
    await Promise.all([producer.disconnect(), rawProducer.disconnect(), admin.disconnect()]).catch(() => undefined);
  };
  return { bench, close };
}

/** The queues group: SQS rows, then Kafka rows; each broker started once here and stopped at the end. */
export async function benchQueues(
  log: (s: string) => void = (s) => void process.stderr.write(`${s}\n`),
): Promise<Row[]> {
  const rows: Row[] = [];
  log('queues: starting ElasticMQ…');
  const sqs = await startSqs();
  try {
    rows.push(...(await measure(sqsBench(sqs.client(), size(2_000, 50), log), log)));
  } finally {
    await sqs[Symbol.asyncDispose]();
  }
  log('queues: starting Kafka…');
  const kafka = await startKafka();
  try {
    const { bench, close } = await kafkaBench(kafka.client(), size(5_000, 100), log);
    try {
      rows.push(...(await measure(bench, log)));
    } finally {
      await close();
    }
  } finally {
    await kafka[Symbol.asyncDispose]();
  }
  return rows;
}
