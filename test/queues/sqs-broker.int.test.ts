/**
 * SqsBroker's queue management on a real ElasticMQ: temporary queues made like the original
 * (attributes and tags the workload's consumers rely on, FIFO kept, no dead-letter redirect),
 * existence, depth, deletion, and moveAll — the drain at the last session, which must not lose a
 * FIFO message moved back into a queue that saw its deduplication id minutes ago.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { isAppError } from '#shared/errors/index.js';
import { SqsBroker } from '../../services/queue-splitter/src/adapters/sqs/sqs-broker.js';
import { eventually } from '../support/eventually.js';
import { drainQueue, queueDepth, sendAll, startSqs, type SqsServer } from '../support/sqs-server.js';

const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;
const idOf = (m: Message): number => (JSON.parse(m.Body!) as { id: number }).id;

// Every test uses queues of its own and mostly waits on ElasticMQ (long polls): side by side.
describe('SQS broker (SqsBroker) queue management on ElasticMQ', { concurrency: true }, () => {
  let sqs: SqsServer;
  let client: SQSClient;
  let broker: SqsBroker;
  before(async () => {
    sqs = await startSqs();
    client = sqs.client();
    broker = new SqsBroker(client, { waitTimeSeconds: 1 });
  });
  after(async () => {
    await broker?.close();
    await sqs?.[Symbol.asyncDispose]();
  });

  const queue = async (name: string, Attributes?: Record<string, string>, tags?: Record<string, string>) =>
    (await client.send(new CreateQueueCommand({ QueueName: name, Attributes, tags }))).QueueUrl!;
  const attributesOf = async (name: string): Promise<Record<string, string>> => {
    const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: name }));
    const r = await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
    return r.Attributes ?? {};
  };

  it('given a standard queue with settings, a dead-letter queue and tags, when createLike runs (twice), then the copy has its settings and tags and no redrive policy', async () => {
    const dlqUrl = await queue(unique('dlq'));
    const { Attributes: dlq } = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
    );
    const original = unique('orders');
    // ElasticMQ 1.7.1 neither keeps nor reports MessageRetentionPeriod and MaximumMessageSize:
    // the copy of those (AWS reports them) is not observable here.
    const settings: Record<string, string> = {
      VisibilityTimeout: '17',
      DelaySeconds: '2',
      ReceiveMessageWaitTimeSeconds: '3',
    };
    const origUrl = await queue(
      original,
      { ...settings, RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq!.QueueArn, maxReceiveCount: 3 }) },
      { team: 'payments', env: 'staging' },
    );
    assert.ok((await attributesOf(original)).RedrivePolicy, 'the original has a dead-letter queue');

    const copy = unique('mirrord-tmp-orders');
    await broker.createLike(original, copy);
    await broker.createLike(original, copy); // idempotent: the session's retry after a crash

    const attrs = await attributesOf(copy);
    for (const [k, v] of Object.entries(settings)) assert.equal(attrs[k], v, k);
    assert.equal(attrs.RedrivePolicy, undefined, 'a temporary queue does not dead-letter into the original DLQ');
    assert.equal(attrs.FifoQueue, undefined);
    const { QueueUrl: copyUrl } = await client.send(new GetQueueUrlCommand({ QueueName: copy }));
    const { Tags } = await client.send(new ListQueueTagsCommand({ QueueUrl: copyUrl }));
    assert.deepEqual(Tags, { team: 'payments', env: 'staging' });
    assert.ok(origUrl !== copyUrl);
  });

  it('given a FIFO queue, when createLike runs, then the copy is FIFO with its deduplication; a name without .fifo is refused naming the queue and the fix; a missing original is NotFound', async () => {
    const tag = randomUUID().slice(0, 8);
    const original = `orders-${tag}.fifo`;
    await queue(original, { FifoQueue: 'true', ContentBasedDeduplication: 'true', VisibilityTimeout: '9' });

    await broker.createLike(original, `session-${tag}.fifo`);
    const attrs = await attributesOf(`session-${tag}.fifo`);
    assert.equal(attrs.FifoQueue, 'true');
    assert.equal(attrs.ContentBasedDeduplication, 'true');
    assert.equal(attrs.VisibilityTimeout, '9');

    await assert.rejects(broker.createLike(original, `session-${tag}`), (e: unknown) => {
      assert.ok(isAppError(e, 'Invalid'), String(e));
      assert.match(e.message, new RegExp(`session-${tag}`));
      assert.match(e.message, /\.fifo/);
      return true;
    });
    assert.equal(await broker.exists(`session-${tag}`), false, 'nothing was created');
    await assert.rejects(broker.createLike(unique('nowhere'), unique('copy')), (e: unknown) =>
      isAppError(e, 'NotFound'),
    );
  });

  it('given a queue, then exists, pending (visible, in flight, delayed) and delete answer for it; deleting a missing queue is fine', async () => {
    const name = unique('depth');
    assert.equal(await broker.exists(name), false);
    const url = await queue(name);
    assert.equal(await broker.exists(name), true);
    await sendAll(client, url, [
      { MessageBody: 'visible' },
      { MessageBody: 'in flight' },
      { MessageBody: 'delayed', DelaySeconds: 60 },
    ]);
    await eventually('one message in flight', async () => {
      const r = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1 }));
      return (r.Messages?.length ?? 0) > 0;
    });
    assert.equal(await broker.pending(name), 3);

    await broker.delete(name);
    assert.equal(await broker.exists(name), false);
    await broker.delete(name); // cleanup runs again after a crash
    await assert.rejects(broker.pending(name), (e: unknown) => isAppError(e, 'NotFound'));
  });

  it('given a fallback holding messages, when moveAll runs, then the target gets every one and the fallback is empty', async () => {
    const [from, to] = [unique('fallback'), unique('orders')];
    const fromUrl = await queue(from);
    const toUrl = await queue(to);
    await sendAll(
      client,
      fromUrl,
      Array.from({ length: 25 }, (_, id) => ({
        MessageBody: JSON.stringify({ id }),
        MessageAttributes: { tenant: { DataType: 'String', StringValue: `t${id}` } },
      })),
    );
    assert.equal(await broker.moveAll(from, to), 25);
    assert.equal(await queueDepth(client, fromUrl), 0);
    const moved = await drainQueue(client, toUrl);
    assert.deepEqual(
      moved.map(idOf).sort((a, b) => a - b),
      Array.from({ length: 25 }, (_, id) => id),
    );
    assert.ok(moved.every((m) => m.MessageAttributes?.tenant?.StringValue === `t${idOf(m)}`));
  });

  it('given FIFO messages forwarded from the original to the fallback, when moveAll moves them back within the deduplication window, then none is deduplicated away and each group keeps its order', async () => {
    const tag = randomUUID().slice(0, 8);
    const original = `orders-${tag}.fifo`;
    const fallback = `fallback-${tag}.fifo`;
    const origUrl = await queue(original, { FifoQueue: 'true' });
    await broker.createLike(original, fallback);
    const sent = Array.from({ length: 30 }, (_, id) => ({ id, group: `g${id % 3}` }));
    await sendAll(
      client,
      origUrl,
      sent.map((m) => ({
        MessageBody: JSON.stringify(m),
        MessageGroupId: m.group,
        MessageDeduplicationId: `order-${m.id}`,
      })),
    );
    let routed = 0;
    const forwarder = broker.forward(original, () => [{ name: fallback, kind: 'fallback' }], {
      onRouted: () => routed++,
    });
    await eventually('all in the fallback', async () => routed === 30 && (await queueDepth(client, origUrl)) === 0);
    await forwarder.stop();

    assert.equal(await broker.moveAll(fallback, original), 30);
    const back = await drainQueue(client, origUrl);
    const byGroup: Record<string, number[]> = {};
    for (const m of back) (byGroup[m.Attributes!.MessageGroupId!] ??= []).push(idOf(m));
    assert.deepEqual(byGroup, {
      g0: sent.filter((m) => m.group === 'g0').map((m) => m.id),
      g1: sent.filter((m) => m.group === 'g1').map((m) => m.id),
      g2: sent.filter((m) => m.group === 'g2').map((m) => m.id),
    });
  });

  it('given an injected client, when the broker closes, then the client still works (it is the caller’s)', async () => {
    const mine = new SqsBroker(client);
    await mine.close();
    const r = await client.send(new ListQueuesCommand({}));
    assert.ok(Array.isArray(r.QueueUrls));
  });
});
