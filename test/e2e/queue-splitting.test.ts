/**
 * Issue 27, on the real SQS server (ElasticMQ), the real Kafka broker and the real control plane:
 * sessions split a queue their target consumes, each gets exactly the messages its filters
 * match, the deployed workload (its patched pods, reading the fallback) the rest; the workload is
 * patched on the first session and restored after the last; nothing is lost when the forwarder
 * is killed; a FIFO queue keeps order per group; bad asks are refused at connect.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/eventually.js';
import { API, http } from '../support/system.js';
import {
  collect,
  envOf,
  messages,
  sendSqs,
  splitObjects,
  splitSession,
  splitterMetric,
  startQueueSystem,
  takeSqs,
  templateOf,
  tmpQueues,
  waitRestored,
  type Msg,
  type QueueSystem,
} from './queue-splitting-fixture.js';

describe('queue splitting (real ElasticMQ, Kafka and kube-apiserver)', { timeout: 600_000 }, () => {
  let qs: QueueSystem;
  before(async () => {
    qs = await startQueueSystem();
  });
  after(async () => {
    await qs?.stop();
  });

  // The Kafka split runs next to the SQS ones: different brokers, workloads and queue objects,
  // so neither sees the other's; its waits (group joins) overlap theirs. The SQS splits take
  // turns: the first checks every MirrordSQSSession and temporary queue in the namespace.
  describe('the SQS and Kafka splits side by side', { concurrency: true }, () => {
    // concurrency 1: a nested suite would inherit its parent's.
    describe('SQS, one split at a time', { concurrency: 1 }, () => {
      it('two steal sessions on one SQS queue: each gets exactly its matches, the patched workload the rest; restored after the last', async () => {
        const before = await templateOf(qs, 'orders');
        const a = await splitSession(qs, 'deployment.orders', { sqs_splits: { orders: { tenant: '^a' } } });
        assert.ok(a.client, JSON.stringify(a.body));
        // The second session asks as the CLI does when ConnectParamsInHeader is advertised.
        const b = await splitSession(
          qs,
          'deployment.orders',
          { sqs_splits: { orders: { tenant: '^b', region: 'eu' } } },
          { header: true },
        );
        assert.ok(b.client, JSON.stringify(b.body));
        const envA = await envOf(a.client, ['ORDERS_QUEUE', 'AUDIT_QUEUE', 'LOG_LEVEL']);
        const envB = await envOf(b.client, ['ORDERS_QUEUE', 'AUDIT_QUEUE']);
        assert.match(envA.ORDERS_QUEUE!, /^mirrord-tmp-[0-9a-f]+-orders$/);
        assert.match(
          envA.AUDIT_QUEUE!,
          /^mirrord-tmp-[0-9a-f]+-audit$/,
          'a declared queue the session did not name gets a queue of its own',
        );
        assert.equal(envA.LOG_LEVEL, 'info', 'other variables are the workload’s');
        assert.notEqual(envA.ORDERS_QUEUE, envB.ORDERS_QUEUE);
        // The workload reads the fallback now: patched on the first session, once.
        const patched = await templateOf(qs, 'orders');
        assert.match(patched.env.ORDERS_QUEUE!, /^mirrord-tmp-[0-9a-f]+-fallback-orders$/);
        assert.equal(patched.labels['operator.metalbear.co/patched'], 'true');
        assert.match(patched.env.AUDIT_QUEUE!, /^mirrord-tmp-[0-9a-f]+-fallback-audit$/);
        assert.equal(patched.generation, before.generation + 1, 'both queues patched in one rollout');
        await qs.all.sys.ledger.waitFor((l) => l.msg === 'Workload Patched' && l.queue_id === 'orders');

        const sent = messages(1000, 27);
        await sendSqs(qs, 'orders', sent);
        const got = await collect(
          qs,
          [envA.ORDERS_QUEUE!, envB.ORDERS_QUEUE!, patched.env.ORDERS_QUEUE!],
          1000,
          '1,000 messages routed',
        );
        const want = (m: Msg) => (/^a/.test(m.tenant) ? 'a' : /^b/.test(m.tenant) && m.region === 'eu' ? 'b' : 'f');
        const ids = (k: string) => sent.filter((m) => want(m) === k).map((m) => m.id);
        assert.deepEqual(
          got.get(envA.ORDERS_QUEUE!)!.sort((x, y) => x - y),
          ids('a'),
        );
        assert.deepEqual(
          got.get(envB.ORDERS_QUEUE!)!.sort((x, y) => x - y),
          ids('b'),
        );
        assert.deepEqual(
          got.get(patched.env.ORDERS_QUEUE!)!.sort((x, y) => x - y),
          ids('f'),
        );
        assert.ok(
          ids('a').length > 100 && ids('b').length > 50 && ids('f').length > 100,
          'the mix exercises every route',
        );
        // The forwarder counted what it routed, per destination.
        const counted = (destination: string) =>
          splitterMetric(qs, 'mirrord_teams_queue_messages_total', {
            queue_type: 'SQS',
            queue_id: 'orders',
            destination,
          });
        assert.equal(await counted('session'), ids('a').length + ids('b').length);
        assert.equal(await counted('fallback'), ids('f').length);

        // The operator status shows the splits as the real CLI reads them.
        const op = await http(qs.all.sys, 'GET', `${API}/mirrordoperators/operator`, 'jim-token');
        const sessions = (
          op.body.status as {
            sessions: Array<{
              id: string;
              sqs?: Array<{ status: { Ready: { queueNames: Record<string, { outputName: string }> } } }>;
            }>;
          }
        ).sessions;
        const outputs = sessions
          .flatMap((s) => s.sqs ?? [])
          .flatMap((q) => Object.values(q.status.Ready.queueNames).map((n) => n.outputName));
        assert.ok(
          outputs.includes(envA.ORDERS_QUEUE!) && outputs.includes(envB.ORDERS_QUEUE!),
          JSON.stringify(outputs),
        );

        // Kept in the cluster too: a MirrordSQSSession per session and queue, Ready with its names.
        const objs = await splitObjects(qs, 'queues', 'mirrordsqssessions');
        assert.equal(objs.length, 4, 'two sessions × (orders, audit)');
        const ready = objs.map(
          (o) => (o.status as { Ready: { queueNames: Record<string, { outputName: string }> } }).Ready,
        );
        assert.ok(ready.some((r) => r.queueNames.orders?.outputName === envA.ORDERS_QUEUE));

        await a.client.close();
        await b.client.close();
        await waitRestored(qs, 'orders', 'ORDERS_QUEUE', 'orders');
        await eventually('temporary queues deleted', async () => (await tmpQueues(qs)).length === 0, 60_000);
        assert.deepEqual(await splitObjects(qs, 'queues', 'mirrordsqssessions'), []);
        const restored = await templateOf(qs, 'orders');
        assert.deepEqual(restored.env, before.env, 'the template is as it was');
        assert.equal(restored.generation, before.generation + 2, 'and restored in one rollout');
        await qs.all.sys.ledger.waitFor((l) => l.msg === 'Workload Restored' && l.queue_id === 'orders', 30_000);
        const ended = qs.all.sys.ledger.lines.filter((l) => l.msg === 'Queue Split Ended' && l.queue_id === 'orders');
        assert.equal(ended.length, 2);
      });

      it('mirror: the session gets its matches and the deployed workload gets every message', async () => {
        const m = await splitSession(qs, 'deployment.orders', {
          sqs_splits: { orders: { tenant: '^a' } },
          queue_modes: { orders: 'mirror' },
        });
        assert.ok(m.client, JSON.stringify(m.body));
        const env = await envOf(m.client, ['ORDERS_QUEUE']);
        const fallback = (await templateOf(qs, 'orders')).env.ORDERS_QUEUE!;
        const sent = messages(100, 3);
        await sendSqs(qs, 'orders', sent);
        const matches = sent.filter((x) => /^a/.test(x.tenant)).length;
        const got = await collect(qs, [env.ORDERS_QUEUE!, fallback], 100 + matches, 'mirrored messages');
        assert.deepEqual(
          got.get(fallback)!.sort((x, y) => x - y),
          sent.map((x) => x.id),
        );
        assert.equal(got.get(env.ORDERS_QUEUE!)!.length, matches);
        await m.client.close();
        await waitRestored(qs, 'orders', 'ORDERS_QUEUE', 'orders');
      });

      it('a FIFO queue keeps the order of each message group', async () => {
        const s = await splitSession(qs, 'deployment.ledger-writer', { sqs_splits: { entries: { region: 'eu' } } });
        assert.ok(s.client, JSON.stringify(s.body));
        const env = await envOf(s.client, ['LEDGER_QUEUE']);
        assert.match(env.LEDGER_QUEUE!, /^mirrord-tmp-[0-9a-f]+-ledger\.fifo$/);
        const fallback = (await templateOf(qs, 'ledger-writer')).env.LEDGER_QUEUE!;
        const sent = messages(200, 5);
        await sendSqs(qs, 'ledger.fifo', sent, true);
        const got = new Map([
          [env.LEDGER_QUEUE!, [] as Array<{ body: string; group?: string }>],
          [fallback, []],
        ]);
        await eventually(
          'all 200 FIFO messages routed',
          async () => {
            for (const [q, l] of got) await takeSqs(qs.sqsClient, q, l);
            return [...got.values()].reduce((a, l) => a + l.length, 0) >= 200;
          },
          90_000,
          50,
        );
        for (const [q, l] of got) {
          const byGroup = new Map<string, number[]>();
          for (const m of l) {
            const msg = JSON.parse(m.body) as Msg;
            assert.equal(m.group, msg.tenant, 'the group id is kept');
            byGroup.set(msg.tenant, [...(byGroup.get(msg.tenant) ?? []), msg.id]);
          }
          for (const [g, ids] of byGroup)
            assert.deepEqual(
              ids,
              [...ids].sort((x, y) => x - y),
              `${q} group ${g} in order`,
            );
        }
        await s.client.close();
        await waitRestored(qs, 'ledger-writer', 'LEDGER_QUEUE', 'ledger.fifo');
      });
    });

    it('two sessions on one Kafka topic: each topic gets exactly its matches, the patched workload (its own group) the rest', async () => {
      const a = await splitSession(qs, 'deployment.payments', { kafka_splits: { payments: { tenant: '^a' } } });
      assert.ok(a.client, JSON.stringify(a.body));
      const b = await splitSession(qs, 'deployment.payments', {
        kafka_splits: { payments: { tenant: '^b', region: 'eu' } },
      });
      assert.ok(b.client, JSON.stringify(b.body));
      const envA = await envOf(a.client, ['PAYMENTS_TOPIC', 'PAYMENTS_GROUP']);
      const envB = await envOf(b.client, ['PAYMENTS_TOPIC', 'PAYMENTS_GROUP']);
      assert.match(envA.PAYMENTS_TOPIC!, /^mirrord-tmp-[0-9a-f]+-payments$/);
      assert.match(
        envA.PAYMENTS_GROUP!,
        /^mirrord-tmp-[0-9a-f]+-payments-svc$/,
        'its local app reads with a group of its own',
      );
      const patched = await templateOf(qs, 'payments');
      assert.match(patched.env.PAYMENTS_TOPIC!, /^mirrord-tmp-[0-9a-f]+-fallback-payments$/);
      assert.match(patched.env.PAYMENTS_GROUP!, /^mirrord-tmp-[0-9a-f]+-fallback-payments-svc$/);

      const topics = await splitObjects(qs, 'mirrord', 'mirrordkafkaephemeraltopics');
      assert.deepEqual(
        topics.map((t) => [t.spec.name, t.spec.role, t.spec.clientConfig]).sort(),
        [
          [envA.PAYMENTS_TOPIC, 'session', 'local-kafka'],
          [envB.PAYMENTS_TOPIC, 'session', 'local-kafka'],
          [patched.env.PAYMENTS_TOPIC, 'fallback', 'local-kafka'],
        ].sort(),
      );
      // The operator status lists each session's topic and the workload's fallback, as the CLI prints them.
      const op = await http(qs.all.sys, 'GET', `${API}/mirrordoperators/operator`, 'jim-token');
      const kafka = (op.body.status as { sessions: Array<{ kafka?: Array<{ name: string }> }> }).sessions.flatMap(
        (x) => x.kafka ?? [],
      );
      assert.ok(
        [envA.PAYMENTS_TOPIC, envB.PAYMENTS_TOPIC, patched.env.PAYMENTS_TOPIC].every((t) =>
          kafka.some((k) => k.name === t),
        ),
        JSON.stringify(kafka),
      );
      const sent = messages(300, 11);
      const producer = qs.kafkaClient.producer();
      await producer.connect();
      await producer.send({
        topic: 'payments',
        messages: sent.map((m) => ({
          key: m.tenant,
          value: JSON.stringify(m),
          headers: { tenant: m.tenant, region: m.region },
        })),
      });
      await producer.disconnect();
      // Each reader as its app would read: the session's local app and the workload's patched pods.
      const got = new Map<string, number[]>();
      const readers = await Promise.all(
        [
          [envA.PAYMENTS_TOPIC!, envA.PAYMENTS_GROUP!],
          [envB.PAYMENTS_TOPIC!, envB.PAYMENTS_GROUP!],
          [patched.env.PAYMENTS_TOPIC!, patched.env.PAYMENTS_GROUP!],
        ].map(async ([topic, group]) => {
          got.set(topic!, []);
          const c = qs.kafkaClient.consumer({ groupId: group!, sessionTimeout: 6000 });
          await c.connect();
          await c.subscribe({ topic: topic!, fromBeginning: true });
          await c.run({
            eachMessage: async ({ message }) =>
              void got.get(topic!)!.push((JSON.parse(String(message.value)) as Msg).id),
          });
          return c;
        }),
      );
      try {
        await eventually(
          '300 records routed',
          () => [...got.values()].reduce((n, l) => n + l.length, 0) >= 300,
          120_000,
        );
      } finally {
        await Promise.all(readers.map((c) => c.disconnect()));
      }
      const want = (m: Msg) => (/^a/.test(m.tenant) ? 'a' : /^b/.test(m.tenant) && m.region === 'eu' ? 'b' : 'f');
      const ids = (k: string) => sent.filter((m) => want(m) === k).map((m) => m.id);
      const sorted = (t: string) => [...got.get(t)!].sort((x, y) => x - y);
      assert.deepEqual(sorted(envA.PAYMENTS_TOPIC!), ids('a'));
      assert.deepEqual(sorted(envB.PAYMENTS_TOPIC!), ids('b'));
      assert.deepEqual(sorted(patched.env.PAYMENTS_TOPIC!), ids('f'));
      // The forwarder read with the workload's own group: its committed offsets are at the end.
      const admin = qs.kafkaClient.admin();
      await admin.connect();
      try {
        const [committed] = await admin.fetchOffsets({ groupId: 'payments-svc', topics: ['payments'] });
        const ends = await admin.fetchTopicOffsets('payments');
        const behind = committed!.partitions.reduce(
          (n, p) => n + Number(ends.find((e) => e.partition === p.partition)!.high) - Math.max(0, Number(p.offset)),
          0,
        );
        assert.equal(behind, 0, 'the original group continues where the forwarder stopped');
        await a.client.close();
        await b.client.close();
        await waitRestored(qs, 'payments', 'PAYMENTS_TOPIC', 'payments');
        assert.equal((await templateOf(qs, 'payments')).env.PAYMENTS_GROUP, 'payments-svc');
        await eventually(
          'temporary topics deleted',
          async () => (await admin.listTopics()).filter((t) => t.startsWith('mirrord-tmp')).length === 0,
          60_000,
        );
        assert.deepEqual(await splitObjects(qs, 'mirrord', 'mirrordkafkaephemeraltopics'), []);
      } finally {
        await admin.disconnect();
      }
    });
  });

  // Alone: it kills the splitter every split goes through.
  it('kill -9 of the forwarder mid-stream loses nothing', async () => {
    const s = await splitSession(qs, 'deployment.orders', { sqs_splits: { orders: { tenant: '^c' } } });
    assert.ok(s.client, JSON.stringify(s.body));
    const env = await envOf(s.client, ['ORDERS_QUEUE']);
    const fallback = (await templateOf(qs, 'orders')).env.ORDERS_QUEUE!;
    const sent = messages(400, 9);
    const sending = sendSqs(qs, 'orders', sent);
    const got = new Map([
      [env.ORDERS_QUEUE!, [] as Array<{ body: string }>],
      [fallback, []],
    ]);
    await eventually('some routed', async () => {
      for (const [q, l] of got) await takeSqs(qs.sqsClient, q, l);
      return [...got.values()].reduce((a, l) => a + l.length, 0) > 50;
    });
    await qs.splitter.kill9();
    await sending;
    await qs.restartSplitter();
    const ids = new Set<number>();
    await eventually(
      'every message at its destination after the restart',
      async () => {
        for (const [q, l] of got) await takeSqs(qs.sqsClient, q, l);
        for (const l of got.values()) for (const m of l) ids.add((JSON.parse(m.body) as Msg).id);
        return ids.size === sent.length;
      },
      120_000,
      100,
    );
    const total = [...got.values()].reduce((a, l) => a + l.length, 0);
    // A message in hand at the kill is sent again after its visibility timeout: bounded by one batch.
    assert.ok(total - sent.length <= 10, `duplicates ${total - sent.length}`);
    for (const m of got.get(env.ORDERS_QUEUE!)!) assert.match((JSON.parse(m.body) as Msg).tenant, /^c/);
    await s.client.close();
    await waitRestored(qs, 'orders', 'ORDERS_QUEUE', 'orders');
  });

  it('bad asks are refused at connect, naming the field: unknown queue id, invalid regex, a target with no registry', async () => {
    const unknown = await splitSession(qs, 'deployment.orders', { sqs_splits: { nope: { tenant: 'x' } } });
    assert.equal(unknown.status, 422, JSON.stringify(unknown.body));
    assert.match(String(unknown.body!.message), /sqs_splits\["nope"\].*declare "audit", "orders"/s);
    const regex = await splitSession(qs, 'deployment.orders', { sqs_splits: { orders: { tenant: '(' } } });
    assert.equal(regex.status, 422, JSON.stringify(regex.body));
    assert.match(String(regex.body!.message), /sqs_splits\["orders"\]\.tenant/);
    const none = await splitSession(qs, 'deployment.payments', { sqs_splits: { orders: { tenant: 'x' } } });
    assert.equal(none.status, 404, JSON.stringify(none.body));
    assert.match(
      String(none.body!.message),
      /no MirrordWorkloadQueueRegistry in namespace queues names deployment\/payments/,
    );
    // Nothing was left behind by the refusals.
    assert.deepEqual(await tmpQueues(qs), []);
    assert.equal((await templateOf(qs, 'orders')).env.ORDERS_QUEUE, 'orders');
  });
});
