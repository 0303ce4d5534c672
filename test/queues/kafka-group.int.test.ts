/**
 * The forwarder shares the workload's consumer group with the workload itself: while a split runs,
 * the patched pods consume the fallback topic in the group the forwarder consumes the original
 * topic in. Here the workload is a real Java consumer (Kafka's own console consumer, from the
 * broker's jars): the group must accept both members, and each must get the partitions of the
 * topic it subscribed to.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { KafkaBroker } from '../../services/queue-splitter/src/adapters/kafka/kafka-broker.js';
import { brokerJars } from '../../scripts/brokers.js';
import { eventually } from '../support/eventually.js';
import { startJvm, type JvmProcess } from '../support/jvm-process.js';
import { setGroupOffsets, startKafka, type KafkaBroker as KafkaServer } from '../support/kafka-broker.js';

const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;
const LONG = 60_000;

describe('the forwarder in the workload’s consumer group, next to a Java workload', () => {
  let server: KafkaServer;
  let kafka: Kafka;
  let broker: KafkaBroker;
  let admin: Admin;
  const workloads: JvmProcess[] = [];

  before(async () => {
    server = await startKafka();
    kafka = server.client({ retry: { retries: 5 } });
    broker = new KafkaBroker(kafka, { sessionTimeout: 6000 });
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    for (const w of workloads) {
      w.proc.kill('SIGKILL');
      await w.waitExit();
    }
    await broker?.close();
    await admin?.disconnect();
    await server?.[Symbol.asyncDispose]();
  });

  /** The Java workload on `fallback` and the forwarder on `original`, both in `group`, joining in `order`. */
  const scenario = async (order: 'workload first' | 'forwarder first'): Promise<void> => {
    const group = unique('billing');
    const original = unique('orders');
    const fallback = unique('fallback');
    await admin.createTopics({ topics: [{ topic: original, numPartitions: 3 }], waitForLeaders: true });
    await setGroupOffsets(
      kafka,
      group,
      original,
      [0, 1, 2].map((partition) => ({ partition, offset: '0' })),
    );
    await broker.createLike(original, fallback);
    const members = (n: number) => async () => (await admin.describeGroups([group])).groups[0]?.members.length === n;

    const received: string[] = [];
    const startWorkload = (): void => {
      // The patched workload: a Java client with its default assignors (range, cooperative-sticky).
      const workload = startJvm(brokerJars('kafka'), 'org.apache.kafka.tools.consumer.ConsoleConsumer', [
        '--bootstrap-server',
        server.brokers[0]!,
        '--topic',
        fallback,
        '--group',
        group,
        '--from-beginning',
      ]);
      workloads.push(workload);
      let rest = '';
      workload.proc.stdout!.on('data', (d: Buffer) => {
        const lines = (rest + d.toString()).split('\n');
        rest = lines.pop()!;
        received.push(...lines.filter((l) => l.startsWith('record-')));
      });
    };
    const startForwarder = () => broker.forward(original, () => [{ name: fallback, kind: 'fallback' }], { group });

    let forwarder;
    if (order === 'workload first') {
      startWorkload();
      await eventually('the Java consumer to join the group', members(1), LONG);
      forwarder = startForwarder();
    } else {
      forwarder = startForwarder();
      await eventually('the forwarder to join the group', members(1), LONG);
      startWorkload();
    }
    try {
      const [described] = await eventually(
        'both members in the group',
        async () => {
          const { groups } = await admin.describeGroups([group]);
          return groups[0]?.state === 'Stable' && groups[0].members.length === 2 && groups;
        },
        LONG,
      );
      assert.equal(described?.protocol, 'range', 'the protocol the Java client speaks');

      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: original,
        messages: Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 7}`, value: `record-${i}` })),
      });
      await producer.disconnect();

      await eventually('the workload to print all 100 records', () => new Set(received).size === 100, LONG);
      assert.deepEqual(new Set(received), new Set(Array.from({ length: 100 }, (_, i) => `record-${i}`)));
      assert.equal(await broker.pending(original, group), 0, 'the forwarder committed the original in G');
    } finally {
      await forwarder.stop();
    }
  };

  it('given two sessions splitting at once, when their topics are made, measured and deleted together on one broker, then every call succeeds', async () => {
    // given originals with records (the splitter's admin calls for several sessions at once)
    const originals = [unique('orders'), unique('payments'), unique('audit')];
    await admin.createTopics({
      topics: originals.map((topic) => ({ topic, numPartitions: 3 })),
      waitForLeaders: true,
    });
    // when each session's copy is made, its lag read and the copy deleted, all side by side
    const copies = await Promise.all(
      originals.flatMap((o) =>
        [1, 2].map(async (i) => {
          const copy = `${o}-tmp-${i}`;
          await broker.createLike(o, copy);
          const pending = await broker.pending(copy);
          await broker.delete(copy);
          return { copy, pending, exists: await broker.exists(copy) };
        }),
      ),
    );
    // then each call answered, and no copy is left
    assert.equal(copies.length, 6);
    for (const c of copies) assert.deepEqual([c.pending, c.exists], [0, false], c.copy);
  });

  it('given a Java consumer in group G on the fallback, when the forwarder joins G on the original (the Java client leads), then the group takes both and the workload gets every record through the fallback', () =>
    scenario('workload first'));

  it('given the forwarder in group G on the original, when a Java consumer joins G on the fallback (the forwarder leads), then the Java consumer is assigned the fallback and gets every record', () =>
    scenario('forwarder first'));
});
