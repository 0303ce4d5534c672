/**
 * `session start -f split.json`: the connect query the plugin builds from `feature.split_queues`
 * (as the real CLI sends it in direct mode) and the lines it prints for the session's environment.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { splitsFromConnectParams } from '#shared/queues/index.js';
import { configSplits, queueConnectQuery } from '../../cli/src/client/queue-params.js';
import { splitQueueLines } from '../../cli/src/render/split-env.js';

const query = (config: unknown) => queueConnectQuery(configSplits(config as Record<string, unknown>));

describe('session start: queue splits in the connect query', () => {
  it('sends sqs_splits, kafka_splits and queue_modes as form-encoded JSON, as the CLI does', () => {
    const q = query({
      feature: {
        split_queues: {
          orders: { queue_type: 'SQS', message_filter: { tenant: '^acme$' } },
          payments: { queue_type: 'Kafka', message_filter: { tenant: 'acme' }, queue_mode: 'mirror' },
        },
      },
    });
    const params = new URLSearchParams(q.slice(1));
    assert.ok(q.startsWith('&'));
    assert.deepEqual([...params.keys()], ['sqs_splits', 'kafka_splits', 'queue_modes']);
    assert.deepEqual(JSON.parse(params.get('sqs_splits')!), { orders: { tenant: '^acme$' } });
    assert.deepEqual(JSON.parse(params.get('kafka_splits')!), { payments: { tenant: 'acme' } });
    assert.deepEqual(JSON.parse(params.get('queue_modes')!), { payments: 'mirror' }, 'steal (the default) is not sent');
    assert.ok(!q.includes('{'), 'the JSON is url-encoded');
  });

  it('what it sends is what the gateway reads back (list form, an empty filter, the * id)', () => {
    const config = {
      feature: {
        split_queues: [
          { queue_id: 'orders', queue_type: 'SQS', message_filter: { tenant: '^a', region: 'eu|us' } },
          { queue_id: 'audit', queue_type: 'SQS' },
          { queue_id: '*', queue_type: 'Kafka', message_filter: { 'x-user': 'me & you' }, queue_mode: 'mirror' },
        ],
      },
    };
    const sent = configSplits(config);
    const read = splitsFromConnectParams(new URLSearchParams(queueConnectQuery(sent).slice(1)));
    const key = (s: { queue_type: string; queue_id: string }) => `${s.queue_type}/${s.queue_id}`;
    assert.deepEqual(
      [...read].sort((a, b) => key(a).localeCompare(key(b))),
      [...sent].sort((a, b) => key(a).localeCompare(key(b))),
    );
  });

  it('adds nothing without split_queues', () => {
    assert.equal(query(undefined), '');
    assert.equal(query({ feature: { network: { incoming: 'mirror' } } }), '');
  });

  it('refuses a bad split before connecting, naming the field and the fix', () => {
    assert.throws(
      () =>
        query({ feature: { split_queues: { orders: { queue_type: 'SQS', message_filter: { tenant: '(a+)+' } } } } }),
      (e: Error) => /feature\.split_queues.*orders.*message_filter.*tenant/.test(e.message) && /nests/.test(e.message),
    );
    assert.throws(
      () => query({ feature: { split_queues: { orders: { queue_type: 'RMQ' } } } }),
      /feature\.split_queues.*queue_type.*not supported/,
    );
  });
});

describe('session start: the split queue lines', () => {
  it('one line per variable naming a temporary queue, sorted; other variables are not printed', () => {
    assert.deepEqual(
      splitQueueLines([
        ['ORDERS_QUEUE', 'mirrord-tmp-8f50df70-orders'],
        ['LOG_LEVEL', 'info'],
        ['AUDIT_QUEUE', 'mirrord-tmp-03e68536-audit'],
        ['QUEUE_PREFIX', 'orders-mirrord-tmp-'],
      ]),
      [
        'queue split: AUDIT_QUEUE → mirrord-tmp-03e68536-audit (your app reads this queue)',
        'queue split: ORDERS_QUEUE → mirrord-tmp-8f50df70-orders (your app reads this queue)',
      ],
    );
    assert.deepEqual(splitQueueLines([['ORDERS_QUEUE', 'orders']]), []);
  });
});
