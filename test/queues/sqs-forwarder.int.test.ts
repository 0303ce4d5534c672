/**
 * The SQS side of queue splitting (SqsBroker.forward) on a real ElasticMQ: a forwarder consumes
 * the original queue and sends each message where the split's route says — a session's queue,
 * the workload's fallback, or both (mirror) — then deletes it from the original. What a user
 * relies on: every message reaches exactly the queue its filter picks, with body and attributes
 * intact; a forwarder killed -9 mid-stream loses nothing when started again (duplicates bounded
 * by what it held); FIFO groups keep their order; a message it could not send stays.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  CreateQueueCommand,
  GetQueueUrlCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import fc from 'fast-check';
import { SqsBroker } from '../../services/queue-splitter/src/adapters/sqs/sqs-broker.js';
import type { Destination, RoutedMessage } from '../../services/queue-splitter/src/domain/broker.js';
import { eventually } from '../support/eventually.js';
import { drainQueue, queueDepth, sendAll, startSqs, type SqsServer } from '../support/sqs-server.js';
import { filterRoute, type FilterRule } from './fixtures/sqs-forwarder-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;
const idOf = (m: Message): number => (JSON.parse(m.Body!) as { id: number }).id;

/** Attributes as a comparable value (binary as hex). */
const attrsOf = (attrs: Record<string, MessageAttributeValue> | undefined): Record<string, string> =>
  Object.fromEntries(
    Object.entries(attrs ?? {}).map(([k, v]) => [
      k,
      `${v.DataType}:${v.BinaryValue ? Buffer.from(v.BinaryValue).toString('hex') : v.StringValue}`,
    ]),
  );

/** The split of tests 1 and 3: tenant ^a → A; tenant ^b in region eu → B; anything else → the fallback. */
const rulesFor = (a: string, b: string): FilterRule[] => [
  { name: a, filter: { tenant: '^a' } },
  { name: b, filter: { tenant: '^b', region: '^eu$' } },
];
/** The same split written out by hand: the expectation does not reuse the code under test. */
const expectedQueue = (tenant: string | undefined, region: string | undefined): 'A' | 'B' | 'F' =>
  tenant?.startsWith('a') ? 'A' : tenant?.startsWith('b') && region === 'eu' ? 'B' : 'F';

const messageSpec = fc.record({
  tenant: fc.option(fc.constantFrom('alice', 'anna', 'bob', 'bea', 'carol', 'zed'), { nil: undefined }),
  region: fc.option(fc.constantFrom('eu', 'us', 'eu-west', 'ap'), { nil: undefined }),
  priority: fc.option(fc.integer({ min: -5, max: 1000 }), { nil: undefined }),
  blob: fc.option(fc.uint8Array({ minLength: 1, maxLength: 16 }), { nil: undefined }),
  text: fc.string({ maxLength: 40 }),
});
type MessageSpec = typeof messageSpec extends fc.Arbitrary<infer T> ? T : never;

/** `n` deterministic messages (fast-check with a fixed seed) with mixed attribute types. */
function generate(n: number, seed: number) {
  return fc.sample(messageSpec, { seed, numRuns: n }).map((s: MessageSpec, id) => {
    const attrs: Record<string, MessageAttributeValue> = {};
    if (s.tenant) attrs.tenant = { DataType: 'String', StringValue: s.tenant };
    if (s.region) attrs.region = { DataType: 'String.region', StringValue: s.region };
    if (s.priority !== undefined) attrs.priority = { DataType: 'Number', StringValue: String(s.priority) };
    if (s.blob) attrs.blob = { DataType: 'Binary', BinaryValue: s.blob };
    return {
      id,
      expected: expectedQueue(s.tenant, s.region),
      entry: {
        MessageBody: JSON.stringify({ id, text: s.text }),
        ...(Object.keys(attrs).length ? { MessageAttributes: attrs } : {}),
      },
    };
  });
}

describe('SQS forwarder (SqsBroker.forward) on ElasticMQ', () => {
  let sqs: SqsServer;
  let client: SQSClient;
  let broker: SqsBroker;
  const children: ChildProcess[] = [];
  before(async () => {
    sqs = await startSqs();
    client = sqs.client();
    broker = new SqsBroker(client, { waitTimeSeconds: 1 });
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await broker?.close();
    await sqs?.[Symbol.asyncDispose]();
  });

  const queue = async (name: string, attributes?: Record<string, string>): Promise<string> => {
    const r = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return r.QueueUrl!;
  };

  /** An original, two sessions' queues and the fallback, of this test's own. */
  const twoSessions = async () => {
    const [orig, a, b, f] = ['orders', 'session-a', 'session-b', 'fallback'].map(unique) as [
      string,
      string,
      string,
      string,
    ];
    const urls = { orig: await queue(orig), A: await queue(a), B: await queue(b), F: await queue(f) };
    return { orig, a, b, f, urls };
  };

  // These use queues of their own (the outage test an ElasticMQ of its own) and mostly wait (long
  // polls, visibility timeouts, processes starting): side by side, their waits overlap.
  describe('side by side', { concurrency: true }, () => {
    it('given 1,000 messages with mixed attributes, when forwarded, then A, B and the fallback get exactly their matches, once, attributes intact, and the original is empty', async () => {
      const { orig, a, b, f, urls } = await twoSessions();
      const messages = generate(1000, 20261207);
      for (const q of ['A', 'B', 'F'] as const)
        assert.ok(
          messages.some((m) => m.expected === q),
          `the sample sends some to ${q}`,
        );
      await sendAll(
        client,
        urls.orig,
        messages.map((m) => m.entry),
      );

      let routed = 0;
      let heldWhileRouting = 0;
      const errors: unknown[] = [];
      const forwarder = broker.forward(orig, filterRoute(rulesFor(a, b), f), {
        onRouted: () => {
          routed++;
          // A routed message is in hand until it is deleted: the lag counts it.
          heldWhileRouting = Math.max(heldWhileRouting, forwarder.lag().messages);
        },
        onError: (e) => errors.push(e),
      });
      await eventually(
        'every message routed and the original empty',
        async () => routed >= 1000 && (await queueDepth(client, urls.orig)) === 0,
        60_000,
      );
      await forwarder.stop();
      assert.deepEqual(forwarder.lag(), { messages: 0, oldestMs: 0 });
      assert.ok(heldWhileRouting >= 1 && heldWhileRouting <= 10, `lag counted the batch in hand (${heldWhileRouting})`);
      assert.deepEqual(errors, []);

      const seen = new Map<number, string>();
      for (const q of ['A', 'B', 'F'] as const) {
        for (const m of await drainQueue(client, urls[q])) {
          const id = idOf(m);
          assert.equal(seen.get(id), undefined, `message ${id} arrived twice (in ${seen.get(id)} and ${q})`);
          seen.set(id, q);
          const sent = messages[id]!;
          assert.equal(q, sent.expected, `message ${id} went to ${q}`);
          assert.equal(m.Body, sent.entry.MessageBody);
          assert.deepEqual(attrsOf(m.MessageAttributes), attrsOf(sent.entry.MessageAttributes), `attributes of ${id}`);
        }
      }
      assert.equal(seen.size, 1000, 'every message arrived');
      assert.equal(routed, 1000);
    });

    it('given a mirror route (session and fallback), when forwarded, then both queues get every matching message', async () => {
      const [orig, s, f] = ['orders', 'session', 'fallback'].map(unique) as [string, string, string];
      const urls = { orig: await queue(orig), s: await queue(s), f: await queue(f) };
      const mirrored = (tenant: string) => tenant.startsWith('m');
      const tenants = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? `other-${i}` : `mia-${i}`));
      await sendAll(
        client,
        urls.orig,
        tenants.map((t, id) => ({
          MessageBody: JSON.stringify({ id }),
          MessageAttributes: { tenant: { DataType: 'String', StringValue: t } },
        })),
      );
      const both: Destination[] = [
        { name: s, kind: 'session' },
        { name: f, kind: 'fallback' },
      ];
      const route = (m: RoutedMessage): Destination[] => (mirrored(m.attributes.tenant ?? '') ? both : [both[1]!]);
      const byKind = { session: 0, fallback: 0 };
      const forwarder = broker.forward(orig, route, { onRouted: (d) => byKind[d.kind]++ });
      await eventually(
        'the original empty',
        async () => byKind.fallback === 40 && (await queueDepth(client, urls.orig)) === 0,
      );
      await forwarder.stop();

      const inSession = (await drainQueue(client, urls.s)).map(idOf).sort((x, y) => x - y);
      const inFallback = (await drainQueue(client, urls.f)).map(idOf).sort((x, y) => x - y);
      const want = tenants.flatMap((t, id) => (mirrored(t) ? [id] : []));
      assert.deepEqual(inSession, want);
      assert.deepEqual(
        inFallback,
        tenants.map((_, id) => id),
      );
      assert.deepEqual(byKind, { session: want.length, fallback: 40 });
    });

    it('given a forwarder in its own process, when it is killed -9 mid-stream twice and started again, then every message reaches its queue at least once and duplicates stay within a batch per kill', async (t) => {
      const { orig, a, b, f, urls } = await twoSessions();
      const N = 2000;
      const BATCH = 10;
      const messages = generate(N, 7);
      await sendAll(
        client,
        urls.orig,
        messages.map((m) => m.entry),
      );

      const start = async (): Promise<ChildProcess> => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/queues/fixtures/sqs-forwarder-child.ts'], {
          cwd: ROOT,
          env: {
            ...process.env,
            SQS_ENDPOINT: sqs.endpoint,
            AWS_REGION: 'us-east-1',
            AWS_ACCESS_KEY_ID: 'test',
            AWS_SECRET_ACCESS_KEY: 'test',
            SOURCE: orig,
            ROUTES: JSON.stringify(rulesFor(a, b)),
            FALLBACK: f,
            BATCH: String(BATCH),
            VISIBILITY_TIMEOUT: '5',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        await eventually('the forwarder process ready', () => {
          if (child.exitCode !== null) throw new Error(`forwarder process exited: ${out}`);
          return out.includes('ready');
        });
        return child;
      };
      const delivered = async () =>
        (await queueDepth(client, urls.A)) + (await queueDepth(client, urls.B)) + (await queueDepth(client, urls.F));
      const kill9 = async (child: ChildProcess) => {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      };

      let kills = 0;
      for (const threshold of [300, 1000]) {
        const child = await start();
        await eventually(
          `more than ${threshold} messages delivered`,
          async () => (await delivered()) > threshold,
          60_000,
          20,
        );
        await kill9(child);
        kills++;
        assert.ok((await queueDepth(client, urls.orig)) > 0, 'killed while messages were still flowing');
      }
      const last = await start();
      await eventually('the original empty', async () => (await queueDepth(client, urls.orig)) === 0, 60_000);
      last.kill('SIGTERM');
      await once(last, 'exit');

      const arrivals = new Map<number, number>();
      for (const q of ['A', 'B', 'F'] as const)
        for (const m of await drainQueue(client, urls[q])) {
          const id = idOf(m);
          assert.equal(q, messages[id]!.expected, `message ${id} went to ${q}`);
          arrivals.set(id, (arrivals.get(id) ?? 0) + 1);
        }
      assert.equal(arrivals.size, N, 'every message arrived at least once');
      const duplicates = [...arrivals.values()].reduce((n, c) => n + c - 1, 0);
      t.diagnostic(`${duplicates} duplicates after ${kills} kills`);
      assert.ok(duplicates <= BATCH * kills, `${duplicates} duplicates, at most ${BATCH} per kill`);
    });

    it('given a FIFO original with several groups, when forwarded to FIFO queues, then each queue holds every group in send order', async () => {
      const tag = randomUUID().slice(0, 8);
      const orig = `orders-${tag}.fifo`;
      const a = `session-${tag}.fifo`;
      const f = `fallback-${tag}.fifo`;
      const origUrl = await queue(orig, { FifoQueue: 'true', ContentBasedDeduplication: 'true' });
      await broker.createLike(orig, a);
      // No content-based deduplication here: the forwarder must give each copy a deduplication id.
      const fUrl = await queue(f, { FifoQueue: 'true' });
      const aUrl = (await client.send(new GetQueueUrlCommand({ QueueName: a }))).QueueUrl!;

      const groups = ['g0', 'g1', 'g2', 'g3', 'g4'];
      const sent = Array.from({ length: 300 }, (_, seq) => {
        const group = groups[(seq * 7 + (seq >> 3)) % groups.length]!;
        const tenant = seq % 4 === 0 ? 'bob' : 'anna';
        return { seq, group, tenant };
      });
      await sendAll(
        client,
        origUrl,
        sent.map((m) => ({
          MessageBody: JSON.stringify({ id: m.seq, group: m.group }),
          MessageGroupId: m.group,
          MessageAttributes: { tenant: { DataType: 'String', StringValue: m.tenant } },
        })),
      );
      let routed = 0;
      const forwarder = broker.forward(orig, filterRoute([{ name: a, filter: { tenant: '^a' } }], f), {
        onRouted: () => routed++,
      });
      await eventually(
        'the FIFO original empty',
        async () => routed === 300 && (await queueDepth(client, origUrl)) === 0,
        60_000,
      );
      await forwarder.stop();

      const order = (ms: Message[]) => {
        const byGroup: Record<string, number[]> = {};
        for (const m of ms) (byGroup[m.Attributes!.MessageGroupId!] ??= []).push(idOf(m));
        return byGroup;
      };
      const want = (pick: (tenant: string) => boolean) => {
        const byGroup: Record<string, number[]> = {};
        for (const m of sent) if (pick(m.tenant)) (byGroup[m.group] ??= []).push(m.seq);
        return byGroup;
      };
      assert.deepEqual(
        order(await drainQueue(client, aUrl)),
        want((t) => t.startsWith('a')),
      );
      assert.deepEqual(
        order(await drainQueue(client, fUrl)),
        want((t) => !t.startsWith('a')),
      );
    });

    it('given a destination that does not exist, when a message is routed there, then it stays in the original (reported, handed out again) and arrives once the queue exists', async () => {
      const [orig, ghost] = ['orders', 'ghost'].map(unique) as [string, string];
      const origUrl = await queue(orig);
      await sendAll(client, origUrl, [{ MessageBody: JSON.stringify({ id: 1 }) }]);
      const impatient = new SqsBroker(client, { waitTimeSeconds: 1, visibilityTimeout: 2 });
      const errors: unknown[] = [];
      let retried = 0;
      const forwarder = impatient.forward(orig, () => [{ name: ghost, kind: 'session' }], {
        onError: (e) => errors.push(e),
        onRetry: (n) => (retried += n),
      });
      try {
        await eventually('the send failure reported', () => errors.length > 0);
        await eventually('the message handed out again after its visibility timeout', () => retried > 0);
        assert.equal(await queueDepth(client, origUrl), 1, 'the message is still in the original');

        const ghostUrl = await queue(ghost);
        await eventually('the original empty', async () => (await queueDepth(client, origUrl)) === 0);
        assert.deepEqual((await drainQueue(client, ghostUrl)).map(idOf), [1]);
      } finally {
        await forwarder.stop();
        await impatient.close();
      }
    });

    // On an ElasticMQ of its own, which it kills (and which keeps nothing through a restart): so
    // it runs next to the others. The names below are that server's.
    it('given the broker goes down under a running forwarder, then it reports the failures, keeps trying, and forwards again once the broker is back', async () => {
      const sqs = await startSqs();
      const client = sqs.client();
      const broker = new SqsBroker(client, { waitTimeSeconds: 1 });
      const queue = async (name: string): Promise<string> =>
        (await client.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
      const [orig, f] = ['orders', 'fallback'].map(unique) as [string, string];
      await queue(orig);
      await queue(f);
      const errors: unknown[] = [];
      let routed = 0;
      const forwarder = broker.forward(orig, () => [{ name: f, kind: 'fallback' }], {
        onError: (e) => errors.push(e),
        onRouted: () => routed++,
      });
      try {
        await sqs.kill9();
        await eventually('failures reported while the broker is down', () => errors.length >= 2);
        await sqs.restart();
        // ElasticMQ lost its queues: they come back as the operator would make them again.
        const origUrl = await queue(orig);
        const fUrl = await queue(f);
        await sendAll(
          client,
          origUrl,
          Array.from({ length: 20 }, (_, id) => ({ MessageBody: JSON.stringify({ id }) })),
        );
        await eventually(
          'the original emptied by the same forwarder',
          async () => routed === 20 && (await queueDepth(client, origUrl)) === 0,
          30_000,
        );
        assert.deepEqual(
          (await drainQueue(client, fUrl)).map(idOf).sort((a, b) => a - b),
          Array.from({ length: 20 }, (_, id) => id),
        );
      } finally {
        await forwarder.stop();
        await broker.close();
        await sqs[Symbol.asyncDispose]();
      }
    });
  });
});
