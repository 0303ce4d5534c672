import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeEvent, renderAudit, type AuditEvent } from '../../cli/src/render/audit.js';

const ev = (
  type: string,
  data: Record<string, unknown>,
  actor: Record<string, unknown> = { system: 'queue-splitter' },
): AuditEvent => ({
  time: '2026-12-07T17:00:00.000Z',
  type,
  session_id: '487F4F2B6D2376AD',
  actor,
  data,
});
const workload = {
  namespace: 'shop',
  target: 'deployment/orders',
  queue_type: 'SQS',
  queue_id: 'orders',
  env: 'ORDERS_QUEUE',
};

describe('audit: queue splitting events', () => {
  it('says what each queue event did', () => {
    assert.equal(
      describeEvent(
        ev('QueueSplitStarted', {
          client_user: 'alice',
          queue_type: 'SQS',
          queue_id: 'orders',
          original: 'orders-q',
          output: 'mirrord-tmp-1-orders-q',
          filter: 'tenant=^alice$',
          mode: 'steal',
        }),
      ),
      'split SQS queue orders (orders-q → mirrord-tmp-1-orders-q, steal) with filter tenant=^alice$',
    );
    assert.equal(
      describeEvent(
        ev('QueueSplitEnded', {
          queue_type: 'Kafka',
          queue_id: 'pay',
          output: 't',
          messages: 4,
          reason: 'SessionEnded',
        }),
      ),
      'ended the Kafka split of pay (t) after 4 messages: SessionEnded',
    );
    assert.equal(
      describeEvent(ev('WorkloadPatched', { ...workload, original: 'orders-q', fallback: 'mirrord-tmp-fb' })),
      'patched deployment/orders: ORDERS_QUEUE reads the fallback mirrord-tmp-fb instead of orders-q',
    );
    assert.equal(
      describeEvent(ev('WorkloadRestored', { ...workload, drained: 2 })),
      'restored deployment/orders: ORDERS_QUEUE reads its queue again (2 drained from the fallback)',
    );
  });
  it('names the queue-splitter as the user of its workload records', () => {
    const out = renderAudit([ev('WorkloadRestored', { ...workload, drained: 0 })]);
    assert.match(out, /\| queue-splitter \| restored deployment\/orders/);
  });
});
