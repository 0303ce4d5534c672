/**
 * The Kafka side of queue splitting against a real Kafka broker (KRaft, test/support/kafka-broker.ts):
 * the forwarder consumes the original topic in the workload's own consumer group and produces each
 * record to the session topic its headers match or to the workload's fallback, committing only what
 * was produced — so nothing is lost through a kill -9, per-key order holds, and the workload's
 * group resumes where the forwarder stopped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { logLevel, type Admin, type Kafka, type Message } from 'kafkajs';
import { isAppError } from '#shared/errors/index.js';
import { KafkaBroker } from '../../services/queue-splitter/src/adapters/kafka/kafka-broker.js';
import { kafkaConfigFrom, kafkaFrom } from '../../services/queue-splitter/src/adapters/kafka/kafka-client-config.js';
import type { Destination, Forwarder, Route } from '../../services/queue-splitter/src/domain/broker.js';
import { eventually } from '../support/eventually.js';
import { forwarderChild } from './fixtures/kafka-forwarder-child.js';
import { brokerOfItsOwn, idOf, lastHeader, originalTopic, records } from './fixtures/kafka-records.js';
import {
  groupAtEnd,
  produceAll,
  readTopic,
  setGroupOffsets,
  startKafka,
  type KafkaBroker as KafkaServer,
} from '../support/kafka-broker.js';

const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;
const LONG = 60_000;

describe('KafkaBroker against a real Kafka broker', () => {
  let server: KafkaServer;
  let kafka: Kafka;
  let broker: KafkaBroker;
  let admin: Admin;
  const forwarders: Forwarder[] = [];
  const children: ChildProcess[] = [];

  before(async () => {
    server = await startKafka();
    kafka = server.client({ retry: { retries: 5 } });
    broker = new KafkaBroker(kafka, { sessionTimeout: 6000, maxBatch: 50 });
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const f of forwarders) await f.stop().catch(() => undefined);
    await broker?.close();
    await admin?.disconnect();
    await server?.[Symbol.asyncDispose]();
  });

  const original = (partitions: number, group: string): Promise<string> =>
    originalTopic(kafka, admin, partitions, group);
  const produce = (topic: string, messages: Message[]): Promise<void> => produceAll(kafka, topic, messages);
  const caughtUp = (group: string, topic: string): Promise<boolean> => groupAtEnd(admin, group, topic);
  const sessionOf = (name: string): Destination => ({ name, kind: 'session' });

  // The kill -9 and broker outage tests run on brokers of their own, next to the others: they
  // mostly wait (session timeouts, a restart), as the others do (joins, processes starting).
  describe('side by side', { concurrency: true }, () => {
    // One at a time: they share the adapter's kafkajs admin, whose metadata concurrent topic
    // operations race (a TypeError inside kafkajs' fetchTopicOffsets).
    describe('on the shared broker', { concurrency: 1 }, () => {
      it('given records with mixed headers, when forwarded, then each session topic and the fallback get exactly their matches and the group commits to the end', async () => {
        const group = unique('billing');
        const source = await original(3, group);
        const [a, b, f] = [unique('tmp-a'), unique('tmp-b'), unique('fallback')];
        for (const t of [a, b, f]) await broker.createLike(source, t);
        const sent = records(1000, 42);
        await produce(source, sent);

        const route: Route = ({ attributes: h }) => {
          if (/^a/.test(h.tenant ?? '')) return [sessionOf(a)];
          if (/^b/.test(h.tenant ?? '') && h.region === 'eu') return [sessionOf(b)];
          return [{ name: f, kind: 'fallback' }];
        };
        const routed = new Map<string, number>();
        const forwarder = broker.forward(source, route, {
          group,
          onRouted: (d) => routed.set(d.name, (routed.get(d.name) ?? 0) + 1),
        });
        forwarders.push(forwarder);
        await eventually('the group to commit every record', () => caughtUp(group, source), LONG);
        await forwarder.stop();

        // Expected from the generated headers, independently of the adapter's header decoding.
        const expect = { [a]: new Set<number>(), [b]: new Set<number>(), [f]: new Set<number>() };
        sent.forEach((m, id) => {
          const [tenant, region] = [lastHeader(m, 'tenant') ?? '', lastHeader(m, 'region')];
          expect[tenant.startsWith('a') ? a : tenant.startsWith('b') && region === 'eu' ? b : f]!.add(id);
        });
        for (const t of [a, b, f]) {
          const got = (await readTopic(kafka, t)).map((r) => idOf(r.value));
          assert.ok(expect[t]!.size > 0, `the generator gives ${t} some records`);
          assert.equal(got.length, expect[t]!.size, `${t}: no record twice, none missing`);
          assert.deepEqual(new Set(got), expect[t], `${t} holds exactly its matches`);
          assert.equal(routed.get(t), expect[t]!.size, `onRouted counted ${t}'s records`);
        }
        assert.equal(await broker.pending(source, group), 0);
      });

      it('given a mirroring route, when a record matches, then both the session topic and the fallback get it', async () => {
        const group = unique('mirror');
        const source = await original(2, group);
        const [a, f] = [unique('tmp-a'), unique('fallback')];
        for (const t of [a, f]) await broker.createLike(source, t);
        const sent = records(200, 7);
        await produce(source, sent);
        const fallback: Destination = { name: f, kind: 'fallback' };
        const forwarder = broker.forward(
          source,
          ({ attributes }) => (attributes.tenant?.startsWith('a') ? [sessionOf(a), fallback] : [fallback]),
          { group },
        );
        forwarders.push(forwarder);
        await eventually('the group to commit every record', () => caughtUp(group, source), LONG);
        await forwarder.stop();

        const mirrored = new Set(sent.flatMap((m, id) => (lastHeader(m, 'tenant')?.startsWith('a') ? [id] : [])));
        const inA = (await readTopic(kafka, a)).map((r) => idOf(r.value));
        const inF = (await readTopic(kafka, f)).map((r) => idOf(r.value));
        assert.deepEqual(new Set(inA), mirrored);
        assert.equal(inA.length, mirrored.size);
        assert.deepEqual(new Set(inF), new Set(sent.map((_, id) => id)), 'the fallback gets every record');
        assert.equal(inF.length, sent.length);
      });

      it('given records of several keys, when forwarded to a topic with as many partitions, then each key stays on its partition in order', async () => {
        const group = unique('order');
        const source = await original(3, group);
        const dest = unique('tmp');
        await broker.createLike(source, dest);
        // 12 keys × 40 records, interleaved; `seq` counts per key. The producer places each key on a
        // partition of its own choosing (a custom partitioner), not where hashing the key would.
        const sent: Message[] = Array.from({ length: 480 }, (_, i) => ({
          key: `key-${i % 12}`,
          partition: Math.floor((i % 12) / 4),
          value: JSON.stringify({ id: i, seq: Math.floor(i / 12) }),
        }));
        await produce(source, sent);
        let inHandAtSend = 0;
        const forwarder: Forwarder = broker.forward(source, () => [sessionOf(dest)], {
          group,
          // Produced, not committed yet: the lag counts it.
          onRouted: () => (inHandAtSend = Math.max(inHandAtSend, forwarder.lag().messages)),
        });
        forwarders.push(forwarder);
        await eventually('the group to commit every record', () => caughtUp(group, source), LONG);
        await forwarder.stop();
        assert.ok(inHandAtSend > 0, 'lag() counted records sent and not committed');
        assert.deepEqual(forwarder.lag(), { messages: 0, oldestMs: 0 }, 'nothing in hand once stopped');

        const partitionInSource = new Map(
          (await readTopic(kafka, source)).map((r) => [r.key!.toString(), r.partition]),
        );
        const byKey = new Map<string, number[]>();
        const sorted = (await readTopic(kafka, dest)).sort((x, y) => Number(x.offset) - Number(y.offset));
        for (const r of sorted) {
          const key = r.key!.toString();
          assert.equal(r.partition, partitionInSource.get(key), `${key} is on the same partition as in the source`);
          byKey.set(key, [...(byKey.get(key) ?? []), (JSON.parse(r.value!.toString()) as { seq: number }).seq]);
        }
        assert.equal(byKey.size, 12);
        for (const [key, seqs] of byKey)
          assert.deepEqual(
            seqs,
            Array.from({ length: 40 }, (_, i) => i),
            `${key}'s records in the order produced`,
          );
      });

      it('given a topic with 4 partitions and its own retention, when created like it, then the copy has both; again, it is kept; deleted twice, it is gone', async () => {
        const source = unique('orders');
        await admin.createTopics({
          topics: [{ topic: source, numPartitions: 4, configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
          waitForLeaders: true,
        });
        const copy = unique('tmp');
        await broker.createLike(source, copy);
        await broker.createLike(source, copy);

        const { topics } = await admin.fetchTopicMetadata({ topics: [copy] });
        assert.equal(topics[0]?.partitions.length, 4);
        const { resources } = await admin.describeConfigs({
          resources: [{ type: 2, name: copy }],
          includeSynonyms: false,
        });
        const retention = resources[0]?.configEntries.find((e) => e.configName === 'retention.ms');
        assert.equal(retention?.configValue, '3600000');
        assert.equal(await broker.exists(copy), true);

        await broker.delete(copy);
        await broker.delete(copy);
        await eventually('the copy to be gone', async () => !(await broker.exists(copy)), LONG);
        await assert.rejects(broker.createLike(unique('missing'), unique('tmp')), (e) => isAppError(e, 'NotFound'));
      });

      it('given a group part-way through a topic, when pending and moveAll are asked, then the lag is counted and exactly the unconsumed records are moved', async () => {
        const group = unique('drain');
        const from = await original(2, group);
        const to = unique('fallback');
        await broker.createLike(from, to);
        await produce(from, records(300, 11));
        const ends = await admin.fetchTopicOffsets(from);
        // The group has consumed the first 20 records of each partition.
        await setGroupOffsets(
          kafka,
          group,
          from,
          ends.map((e) => ({ partition: e.partition, offset: '20' })),
        );
        assert.equal(await broker.pending(from, group), 300 - 40);
        assert.equal(await broker.pending(from, unique('new-group')), 300, 'a group without commits: everything');

        assert.equal(await broker.moveAll(from, to, { group }), 260);
        assert.equal(await broker.pending(from, group), 0);
        const unconsumed = (await readTopic(kafka, from))
          .filter((r) => Number(r.offset) >= 20)
          .map((r) => idOf(r.value));
        const moved = (await readTopic(kafka, to)).map((r) => idOf(r.value));
        assert.equal(moved.length, 260);
        assert.deepEqual(new Set(moved), new Set(unconsumed), 'exactly the records past the commits');
        assert.equal(await broker.moveAll(from, to, { group }), 0, 'nothing left to move');

        // While a consumer of `from` runs in the group, the move is refused rather than left waiting.
        const running = broker.forward(from, () => [{ name: to, kind: 'fallback' }], { group });
        forwarders.push(running);
        await eventually(
          'the forwarder to join',
          async () => (await admin.describeGroups([group])).groups[0]?.state === 'Stable',
          LONG,
        );
        await assert.rejects(broker.moveAll(from, to, { group }), (e) => isAppError(e, 'Conflict'));
        await running.stop();
      });

      it('given MirrordKafkaClientConfig properties, when a client is built, then it reaches the broker and reports what it ignored', async () => {
        const { kafka: client, ignored } = kafkaFrom(
          [
            { name: 'bootstrap.servers', value: server.brokers.join(',') },
            { name: 'security.protocol', value: 'PLAINTEXT' },
            { name: 'group.id', value: 'set by the operator' },
            { name: 'sasl.mechanism', value: 'GSSAPI' },
            { name: 'sasl.mechanism', value: null },
          ],
          'queue-splitter',
          { logLevel: logLevel.NOTHING },
        );
        assert.deepEqual(ignored, ['group.id']);
        const viaProps = new KafkaBroker(client);
        try {
          const topic = await original(1, unique('g'));
          assert.equal(await viaProps.exists(topic), true);
          assert.equal(await viaProps.exists(unique('missing')), false);
        } finally {
          await viaProps.close();
        }

        const sasl = kafkaConfigFrom(
          [
            { name: 'bootstrap.servers', value: 'kafka:9093' },
            { name: 'security.protocol', value: 'SASL_SSL' },
            { name: 'sasl.mechanism', value: 'SCRAM-SHA-512' },
            {
              name: 'sasl.jaas.config',
              value: 'org.apache.kafka.common.security.scram.ScramLoginModule required username="svc" password="p;w";',
            },
          ],
          'x',
        ).config;
        assert.deepEqual(sasl.sasl, { mechanism: 'scram-sha-512', username: 'svc', password: 'p;w' });
        assert.ok(sasl.ssl, 'SASL_SSL speaks TLS');
        const refused = (props: { name: string; value: string }[], field: string): void =>
          assert.throws(
            () => kafkaConfigFrom(props, 'x'),
            (e) => isAppError(e, 'Invalid') && e.field === field,
          );
        refused([], 'bootstrap.servers');
        refused(
          [
            { name: 'bootstrap.servers', value: 'k:1' },
            { name: 'security.protocol', value: 'SASL' },
          ],
          'security.protocol',
        );
        refused(
          [
            { name: 'bootstrap.servers', value: 'k:1' },
            { name: 'security.protocol', value: 'SASL_PLAINTEXT' },
          ],
          'sasl.jaas.config',
        );
      });

      it('given no consumer group, when a Kafka forwarder is asked for, then it is refused naming the field', () => {
        assert.throws(
          () => broker.forward(unique('orders'), () => []),
          (e) => isAppError(e, 'Invalid') && e.field === 'group',
        );
      });
    });

    // On a broker of its own: its killed forwarders hold their partitions for a session timeout
    // each, a wait the others need not share. The names below are that broker's.
    it('given a forwarder process, when it is killed -9 mid-stream twice and started again, then every record arrives and the duplicates are at most one chunk per kill', async (t) => {
      const { server, kafka, broker, admin, close } = await brokerOfItsOwn();
      const original = (partitions: number, group: string) => originalTopic(kafka, admin, partitions, group);
      const produce = (topic: string, messages: Message[]) => produceAll(kafka, topic, messages);
      const caughtUp = (group: string, topic: string) => groupAtEnd(admin, group, topic);
      try {
        const group = unique('crash');
        const source = await original(3, group);
        const dest = unique('tmp');
        await broker.createLike(source, dest);
        const total = 3000;
        const maxBatch = 50;
        await produce(source, records(total, 3));

        const start = (dieAfter?: number): { child: ChildProcess; routed: () => number } => {
          const child = spawn(process.execPath, ['--import', 'tsx', forwarderChild], {
            env: {
              ...process.env,
              KAFKA_BROKERS: server.brokers.join(','),
              KAFKA_SOURCE: source,
              KAFKA_DEST: dest,
              KAFKA_GROUP: group,
              KAFKA_MAX_BATCH: String(maxBatch),
              ...(dieAfter ? { KAFKA_DIE_AFTER: String(dieAfter) } : {}),
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          children.push(child);
          let routed = 0;
          let line = '';
          child.stdout!.on('data', (d: Buffer) => {
            const lines = (line + d.toString()).split('\n');
            line = lines.pop()!;
            if (lines.length > 0) routed = Number(lines.at(-1));
          });
          return { child, routed: () => routed };
        };
        const kill = async (child: ChildProcess): Promise<void> => {
          const exited = once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        };
        const inDest = async (): Promise<number> =>
          (await admin.fetchTopicOffsets(dest)).reduce((n, o) => n + Number(o.high), 0);

        // 1. It kills itself between a chunk's acknowledged produce and its commit (mid-chunk).
        const first = start(525);
        await once(first.child, 'exit');
        assert.equal(first.routed(), 525);
        // 2. Killed from outside, at whatever point it has reached.
        const second = start();
        await eventually('the second forwarder to route 500 records', () => second.routed() >= 500, LONG, 5);
        await kill(second.child);
        const beforeLast = await inDest();
        // 3. Runs to the end.
        const third = start();
        await eventually('the group to commit every record', () => caughtUp(group, source), LONG);
        await kill(third.child);
        t.diagnostic(`records in the destination before the last start: ${beforeLast} of ${total}`);
        assert.ok(beforeLast < total, 'the kills happened mid-stream');

        const got = (await readTopic(kafka, dest)).map((r) => idOf(r.value));
        const ids = new Set(got);
        assert.equal(ids.size, total, 'every record arrived at least once');
        const duplicates = got.length - total;
        t.diagnostic(`duplicates: ${duplicates}`);
        assert.ok(duplicates <= 2 * maxBatch, `${duplicates} duplicates: at most ${maxBatch} per kill`);
        // The chunk produced before the first kill was not committed, so it was sent again: the
        // forwarder never takes a produced record for a committed one.
        assert.ok(duplicates > 0, 'the chunk in hand at the first kill was re-sent');
      } finally {
        for (const c of children) c.kill('SIGKILL');
        await close();
      }
    });

    // On a broker of its own, which it kills and restarts: so it runs next to the others.
    it('given a running forwarder, when the broker is killed -9 and restarted, then the error is reported and every record still arrives', async () => {
      const { server: own, kafka: ownKafka, broker: ownBroker, admin: ownAdmin, close } = await brokerOfItsOwn();
      let forwarder: Forwarder | undefined;
      try {
        const group = unique('outage');
        const source = await originalTopic(ownKafka, ownAdmin, 3, group);
        const dest = unique('tmp');
        await ownBroker.createLike(source, dest);
        await produceAll(ownKafka, source, records(500, 5));
        const errors: unknown[] = [];
        forwarder = ownBroker.forward(source, () => [sessionOf(dest)], { group, onError: (e) => errors.push(e) });
        const caughtUp = (): Promise<boolean> => groupAtEnd(ownAdmin, group, source);
        await eventually('the first records to be committed', caughtUp, LONG);

        // Restarted at once: the broker's own start (5–18 s) is the outage the forwarder lives through.
        await own.kill9();
        await own.restart();
        const more = records(500, 6).map((m, i) => ({ ...m, value: JSON.stringify({ id: 500 + i }) }));
        await eventually(
          'the broker to take records again',
          () => produceAll(ownKafka, source, more).then(() => true),
          LONG,
        );
        await eventually('the group to commit every record', caughtUp, 2 * LONG);
        await forwarder.stop();
        assert.ok(errors.length > 0, 'the outage was reported');

        const got = new Set((await readTopic(ownKafka, dest)).map((r) => idOf(r.value)));
        assert.equal(got.size, 1000, 'every record, before and after the outage');
      } finally {
        await forwarder?.stop().catch(() => undefined);
        await close();
      }
    });
  });
});
