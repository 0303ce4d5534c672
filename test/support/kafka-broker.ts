import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin, type KafkaConfig, type KafkaMessage, type Message } from 'kafkajs';
import { eventually } from './eventually.js';
import { brokerJars } from '../../scripts/brokers.js';
import { startJvm, waitReady, type JvmProcess } from './jvm-process.js';
import { freePort } from './postgres.js';

export interface KafkaBroker extends AsyncDisposable {
  /** `['127.0.0.1:<port>']`: what a client's `brokers` takes. */
  brokers: string[];
  /** The log dir (topics, offsets, the KRaft metadata log): kept across kill9/restart. */
  dataDir: string;
  /** A kafkajs client of this broker (quiet, no retries of its own beyond `more`). */
  client(more?: Partial<KafkaConfig>): Kafka;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  /** Starts it again on the same ports and log dir: topics, records and committed offsets survive. */
  restart(): Promise<void>;
}

/** A kafkajs client of `brokers` for tests: no log noise, quick to give up on a dead broker. */
export function kafkaClient(brokers: string[], more: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'mirrord-teams-test',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 2, initialRetryTime: 200 },
    ...more,
  });
}

/**
 * A real Apache Kafka broker (`npm run brokers:fetch`) in KRaft mode, one process acting as
 * broker and controller, on free loopback ports with a private log dir: formatted once with
 * `StorageTool format`, then `kafka.Kafka server.properties`. Single-node settings (replication
 * factor 1 for the internal topics, one offsets partition, no initial rebalance delay) keep a
 * consumer group's first join to a second. Ready once the admin client can describe the cluster.
 */
export async function startKafka(): Promise<KafkaBroker> {
  const jars = brokerJars('kafka');
  const dir = mkdtempSync(join(tmpdir(), 'mirrord-kafka-'));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const [port, controllerPort] = [await freePort(), await freePort()];
  const brokers = [`127.0.0.1:${port}`];
  const props = join(dir, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${dataDir}`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      // A test names its topics; a typo should fail, not create one.
      'auto.create.topics.enable=false',
      '',
    ].join('\n'),
  );
  // Kafka logs through slf4j-reload4j, and a few classes through log4j2 directly: both get a
  // configuration (warnings only, to stdout, where the launcher keeps a tail) so neither complains.
  const log4j = join(dir, 'log4j.properties');
  writeFileSync(
    log4j,
    [
      'log4j.rootLogger=WARN, out',
      'log4j.appender.out=org.apache.log4j.ConsoleAppender',
      'log4j.appender.out.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n',
      '',
    ].join('\n'),
  );
  const log4j2 = join(dir, 'log4j2.properties');
  writeFileSync(
    log4j2,
    [
      'appender.out.type=Console',
      'appender.out.name=out',
      'appender.out.layout.type=PatternLayout',
      'appender.out.layout.pattern=[%d] %p %m (%c)%n',
      'rootLogger.level=warn',
      'rootLogger.appenderRef.out.ref=out',
      '',
    ].join('\n'),
  );
  const flags = [`-Dlog4j.configuration=file:${log4j}`, `-Dlog4j2.configurationFile=${log4j2}`];

  // Formatting writes the cluster id and the node's meta.properties: once, before the first start.
  const clusterId = randomBytes(16).toString('base64url');
  const format = startJvm(
    jars,
    'kafka.tools.StorageTool',
    [
      'format',
      // `=`: a base64url id may start with `-`, which argparse would take for an option.
      `--cluster-id=${clusterId}`,
      '--config',
      props,
    ],
    { flags },
  );
  await format.waitExit();
  if (format.proc.exitCode !== 0) throw new Error(`kafka StorageTool format failed:\n${format.tail()}`);

  const probe = kafkaClient(brokers, { retry: { retries: 0 } });
  let jvm: JvmProcess | undefined;
  const launch = async (): Promise<void> => {
    jvm = startJvm(jars, 'kafka.Kafka', [props], { flags, cwd: dir });
    await waitReady(`Kafka on ${brokers[0]}`, jvm, async () => {
      const admin = probe.admin();
      await admin.connect();
      try {
        await admin.describeCluster();
      } finally {
        await admin.disconnect();
      }
    });
  };
  await launch();
  const broker: KafkaBroker = {
    brokers,
    dataDir,
    client: (more) => kafkaClient(brokers, more),
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
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return broker;
}

/** A record read back from a topic, with the partition it was in. */
export type ReadRecord = KafkaMessage & { partition: number };

/**
 * Every record `topic` holds (low to high watermark at the call), read from the start by a
 * throwaway consumer group that is deleted afterwards.
 */
export async function readTopic(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<ReadRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `read-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const expected = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
    const seen: ReadRecord[] = [];
    if (expected === 0) return seen;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({ ...message, partition });
      },
    });
    await eventually(`${expected} records read from ${topic}`, () => seen.length >= expected, timeoutMs);
    return seen;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

/** Produces `messages` to `topic` (in requests of 250) and disconnects. */
export async function produceAll(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 250) await producer.send({ topic, messages: messages.slice(i, i + 250) });
  } finally {
    await producer.disconnect();
  }
}

/**
 * Commits `partitions`' offsets of `topic` for `group` (which must have no running member), as
 * kafkajs' `admin.setOffsets` does — a paused member that seeks (kafkajs commits a seek) and leaves
 * at its first fetch — but with a 100 ms fetch wait: the admin's member waits 5 s for that fetch.
 */
export async function setGroupOffsets(
  kafka: Kafka,
  group: string,
  topic: string,
  partitions: Array<{ partition: number; offset: string }>,
): Promise<void> {
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.FETCH, () => void consumer.stop().then(resolve, reject));
      consumer.run({ eachBatchAutoResolve: false, eachBatch: async () => undefined }).catch(reject);
      consumer.pause([{ topic }]);
      for (const p of partitions) consumer.seek({ topic, ...p });
    });
  } finally {
    await consumer.disconnect();
  }
}

/** Has `group` committed the end offset of every partition of `topic` (consumed all it holds)? */
export async function groupAtEnd(admin: Admin, group: string, topic: string): Promise<boolean> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return ends.every((e) => committed?.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
}
