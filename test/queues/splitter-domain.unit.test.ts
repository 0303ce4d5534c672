/**
 * The queue splitter's pure decisions: where a message goes, which queues a session gets on its
 * target, the temporary names, and the workload patch that a restore undoes exactly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { routerFor, type SessionSplit } from '../../services/queue-splitter/src/domain/routing.js';
import { planSplits, type QueueDecl } from '../../services/queue-splitter/src/domain/registry.js';
import { temporaryGroup, temporaryName } from '../../services/queue-splitter/src/domain/names.js';
import {
  envValue,
  restoreEnv,
  setEnv,
  withPatchedLabel,
  type PodTemplate,
} from '../../services/queue-splitter/src/domain/workload.js';
import { isAppError } from '#shared/errors/index.js';

const share = (
  output: string,
  message_filter: Record<string, string>,
  mode: 'steal' | 'mirror' = 'steal',
): SessionSplit => ({
  output,
  message_filter,
  mode,
});
const names = (ds: readonly { name: string }[]) => ds.map((d) => d.name);

describe('routing', () => {
  it('every filter entry must match; a message nobody wants goes to the fallback', () => {
    const route = routerFor([share('a', { tenant: '^a', region: 'eu' })], 'F', () => 0);
    assert.deepEqual(names(route({ attributes: { tenant: 'acme', region: 'eu-west' } })), ['a']);
    assert.deepEqual(names(route({ attributes: { tenant: 'acme', region: 'us' } })), ['F']);
    assert.deepEqual(names(route({ attributes: { tenant: 'acme' } })), ['F'], 'a missing attribute does not match');
  });

  it('an empty filter matches nothing (a queue the session did not name)', () => {
    const route = routerFor([share('a', {})], 'F', () => 0);
    assert.deepEqual(names(route({ attributes: { anything: 'x' } })), ['F']);
  });

  it('steal: one matching session, chosen at random, never two; mirror: the session and the workload', () => {
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom('acme', 'beta'), (seed, tenant) => {
        const route = routerFor(
          [share('s1', { tenant: '.' }), share('s2', { tenant: '^a' }), share('m', { tenant: '^b' }, 'mirror')],
          'F',
          (n) => seed % n,
        );
        const out = route({ attributes: { tenant } });
        const stolen = out.filter((d) => d.name === 's1' || d.name === 's2');
        assert.equal(stolen.length, 1, 'exactly one steal session');
        if (tenant === 'beta')
          assert.deepEqual(names(out).sort(), ['m', 's1'].sort(), 'a mirror copy, and a stealer took it');
        return !out.some((d) => d.kind === 'fallback');
      }),
    );
    const mirrorOnly = routerFor([share('m', { tenant: '^b' }, 'mirror')], 'F', () => 0);
    assert.deepEqual(names(mirrorOnly({ attributes: { tenant: 'beta' } })), ['m', 'F']);
  });
});

const decl = (queue_id: string, queue_type: 'SQS' | 'Kafka' = 'SQS'): QueueDecl => ({
  queue_type,
  queue_id,
  resource: 'queues/orders-queues',
  names: [{ variable: `${queue_id.toUpperCase()}_QUEUE` }],
  groups: [],
  restart_timeout_s: 120,
});

describe('planSplits', () => {
  const decls = [decl('orders'), decl('audit'), decl('payments', 'Kafka')];
  it('every declared queue of an asked type, the unnamed ones with a filter that matches nothing; `*` for all', () => {
    const plan = planSplits('deployment/orders', 'queues', decls, [
      { queue_id: 'orders', queue_type: 'SQS', message_filter: { t: 'a' }, mode: 'mirror' },
    ]);
    assert.deepEqual(
      plan.map((p) => [p.decl.queue_id, p.message_filter, p.mode]),
      [
        ['orders', { t: 'a' }, 'mirror'],
        ['audit', {}, 'steal'],
      ],
    );
    const star = planSplits('deployment/orders', 'queues', decls, [
      { queue_id: '*', queue_type: 'SQS', message_filter: { t: 'b' }, mode: 'steal' },
    ]);
    assert.deepEqual(
      star.map((p) => p.message_filter),
      [{ t: 'b' }, { t: 'b' }],
    );
  });

  it('an undeclared id is Invalid naming the parameter and what is declared; a type with no resource is NotFound', () => {
    assert.throws(
      () =>
        planSplits('deployment/orders', 'queues', decls, [
          { queue_id: 'nope', queue_type: 'SQS', message_filter: {}, mode: 'steal' },
        ]),
      (e) => isAppError(e, 'Invalid') && /sqs_splits\["nope"\]/.test(e.message) && /"orders", "audit"/.test(e.message),
    );
    assert.throws(
      () =>
        planSplits(
          'deployment/orders',
          'queues',
          [decl('orders')],
          [{ queue_id: 'x', queue_type: 'Kafka', message_filter: {}, mode: 'steal' }],
        ),
      (e) =>
        isAppError(e, 'NotFound') && /kafka_splits: no MirrordKafkaTopicsConsumer in namespace queues/.test(e.message),
    );
  });
});

describe('temporary names', () => {
  it('keep the original recognisable, FIFO suffixes and the brokers’ length limits', () => {
    assert.equal(temporaryName('SQS', 'orders', 'ab12', false), 'mirrord-tmp-ab12-orders');
    assert.equal(temporaryName('SQS', 'orders.fifo', 'ab12', true), 'mirrord-tmp-ab12-fallback-orders.fifo');
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9-]{1,80}$/), fc.boolean(), (orig, fifo) => {
        const n = temporaryName('SQS', fifo ? `${orig.slice(0, 75)}.fifo` : orig, 'ab12cd34', true);
        return n.length <= 80 && n.endsWith('.fifo') === fifo;
      }),
    );
    assert.equal(temporaryGroup('svc', 'ab12', false), 'mirrord-tmp-ab12-svc');
  });
});

describe('workload patch', () => {
  const template: PodTemplate = {
    metadata: { labels: { app: 'orders' } },
    spec: {
      containers: [
        {
          name: 'app',
          env: [
            { name: 'Q', valueFrom: { configMapKeyRef: { name: 'c', key: 'q' } } },
            { name: 'X', value: '1' },
          ],
        },
      ],
    },
  };
  it('sets the variable (over a valueFrom) and the label; a restore puts back exactly what was there', () => {
    const { template: patched, replaced } = setEnv(template, { variable: 'Q' }, 'mirrord-tmp-1-fallback-q', 'q');
    assert.equal(envValue(patched, { variable: 'Q' }, 'q'), 'mirrord-tmp-1-fallback-q');
    const labelled = withPatchedLabel(patched, true);
    assert.equal(labelled.metadata?.labels?.['operator.metalbear.co/patched'], 'true');
    const restored = withPatchedLabel(restoreEnv(labelled, { variable: 'Q' }, replaced, 'q'), false);
    assert.deepEqual(restored, template);
    // An absent variable is added by the patch and removed by the restore.
    const added = setEnv(template, { variable: 'NEW' }, 'v', 'q');
    assert.deepEqual(restoreEnv(added.template, { variable: 'NEW' }, added.replaced, 'q'), template);
  });

  it('a variable set from a ConfigMap cannot be read as the original: the error says to set fallbackName', () => {
    assert.throws(
      () => envValue(template, { variable: 'Q' }, 'queues/r queue "q"'),
      (e) => isAppError(e, 'Invalid') && /fallbackName/.test(e.message),
    );
  });
});
