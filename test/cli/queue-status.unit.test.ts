import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as z from 'zod';
import type { QueueSplitRecord, SessionView } from '#shared/ledger/index.js';
import { operatorObject } from '../../services/gateway/src/adapters/http/resources.js';
import { renderOperatorStatus } from '../../cli/src/render/status.js';

/**
 * The real CLI's types (metalbear-co/mirrord `operator/src/crd.rs` and `crd/kafka.rs` at
 * d9d87faa), field for field, strict so a misspelt or extra field fails here rather than being
 * ignored by serde. Required: what serde requires (no `Option`, no `#[serde(default)]`).
 */
const queueNameUpdate = z.strictObject({ originalName: z.string(), outputName: z.string() });
const sqsSplitDetails = z.strictObject({
  queueNames: z.record(z.string(), queueNameUpdate),
  envUpdates: z.record(z.string(), queueNameUpdate),
});
const sqsSessionStatus = z.union([
  z.strictObject({ Starting: z.strictObject({ start_time_utc: z.string() }) }),
  z.strictObject({ RegisteringFilters: sqsSplitDetails }),
  z.strictObject({ Ready: sqsSplitDetails }),
  z.strictObject({ StartError: z.strictObject({ statusCode: z.number().int(), reason: z.string() }) }),
]);
const mirrordSqsSession = z.strictObject({
  apiVersion: z.literal('queues.mirrord.metalbear.co/v1alpha'),
  kind: z.literal('MirrordSQSSession'),
  metadata: z.strictObject({ name: z.string(), namespace: z.string().optional() }),
  spec: z.strictObject({
    queueFilters: z.record(z.string(), z.record(z.string(), z.string())),
    queueJqFilters: z.record(z.string(), z.string()).optional(),
    queueConsumer: z.strictObject({
      name: z.string(),
      container: z.string().nullable().optional(),
      workloadType: z.enum(['Deployment', 'Rollout']),
    }),
    sessionId: z.string().regex(/^[0-9A-F]{16}$/),
    outputQueueNames: z.record(z.string(), z.string()).optional(),
  }),
  status: sqsSessionStatus.nullable().optional(),
});
const kafkaTopicSpec = z.strictObject({ name: z.string(), clientConfig: z.string() });
/** `Session`: every field the CLI declares; others (ours) are ignored by serde. */
const session = z.object({
  id: z.string().nullable().optional(),
  duration_secs: z.number().int().min(0),
  user: z.string(),
  target: z.string(),
  namespace: z.string().nullable().optional(),
  user_id: z.string().nullable().optional(),
  sqs: z.array(mirrordSqsSession).nullable().optional(),
  kafka: z.array(kafkaTopicSpec).nullable().optional(),
});

const view = (id: string, user: string, target: string, splits: QueueSplitRecord[]): SessionView => ({
  id,
  status: 'live',
  started_at: 1_000,
  ended_at: null,
  end_reason: null,
  killed_by: null,
  target,
  namespace: 'shop',
  client_user: user,
  client_name: user.toUpperCase(),
  client_hostname: 'mbp',
  client_id: '',
  user_id: '',
  client_cli_version: '3.250.0',
  key: null,
  profile: null,
  branch_name: null,
  seat: null,
  ci: null,
  admission: null,
  ports: [],
  ...(splits.length ? { splits } : {}),
});
const sqs = (id: string, original: string, output: string, filter: Record<string, string>): QueueSplitRecord => ({
  queue_type: 'SQS',
  queue_id: id,
  original,
  output,
  filter: Object.entries(filter)
    .map(([k, v]) => `${k}=${v}`)
    .join(', '),
  message_filter: filter,
  mode: 'steal',
  since: 1_000,
});
const kafka = (output: string): QueueSplitRecord => ({
  queue_type: 'Kafka',
  queue_id: 'payments',
  original: 'payments',
  output,
  filter: 'tenant=alice',
  message_filter: { tenant: 'alice' },
  mode: 'steal',
  client_config: 'base-config',
  since: 1_000,
});

function status(sessions: SessionView[]) {
  return operatorObject({
    version: '0.1.0',
    protocolVersion: '1.21.0',
    fingerprint: 'ab',
    organization: 'Acme',
    defaultNamespace: 'default',
    license: undefined,
    sessions,
    now: 5_000,
    dau: 1,
    mau: 1,
    copyTargets: [],
  });
}

describe('operator status: queue splits', () => {
  const a = view('00000000000000AA', 'alice', 'deployment/orders', [
    sqs('orders', 'orders-q', 'mirrord-tmp-aa-orders-q', { tenant: '^alice$', kind: 'paid' }),
    kafka('mirrord-tmp-aa-payments'),
  ]);
  const b = view('00000000000000BB', 'bob', 'deployment/orders/container/app', [
    sqs('refunds', 'refunds-q', 'mirrord-tmp-bb-refunds-q', { tenant: '^bob$' }),
  ]);
  const plain = view('00000000000000CC', 'carol', 'pod/web', []);

  it('serves sqs and kafka per session exactly as the real CLI deserializes them', () => {
    const o = status([a, b, plain]);
    const sessions = o.status.sessions.map((s) => session.parse(s));
    assert.deepEqual(sessions[0]!.sqs, [
      {
        apiVersion: 'queues.mirrord.metalbear.co/v1alpha',
        kind: 'MirrordSQSSession',
        metadata: { name: 'mirrord-sqs-00000000000000aa', namespace: 'shop' },
        spec: {
          queueFilters: { orders: { tenant: '^alice$', kind: 'paid' } },
          queueConsumer: { name: 'orders', workloadType: 'Deployment' },
          sessionId: '00000000000000AA',
        },
        status: {
          Ready: {
            queueNames: { orders: { originalName: 'orders-q', outputName: 'mirrord-tmp-aa-orders-q' } },
            envUpdates: {},
          },
        },
      },
    ]);
    assert.deepEqual(sessions[0]!.kafka, [{ name: 'mirrord-tmp-aa-payments', clientConfig: 'base-config' }]);
    assert.deepEqual(sessions[1]!.sqs![0]!.spec.queueConsumer, {
      name: 'orders',
      container: 'app',
      workloadType: 'Deployment',
    });
    assert.equal(sessions[1]!.kafka, undefined);
    assert.deepEqual([sessions[2]!.sqs, sessions[2]!.kafka], [undefined, undefined], 'no splits, no fields');
    // it survives the wire as JSON
    assert.deepEqual(JSON.parse(JSON.stringify(o.status.sessions[0])), o.status.sessions[0]);
  });

  it('prints the SQS and Kafka tables after the sessions, as mirrord operator status does', () => {
    const out = renderOperatorStatus(status([a, b, plain]));
    const tables = out.slice(out.indexOf('SQS Queue for'));
    // the first table byte for byte (prettytable's layout, as the sessions table)
    assert.equal(
      tables.slice(0, tables.indexOf('SQS Queue for', 1)),
      [
        'SQS Queue for deployment/orders',
        '+------------------+----------+-----------------+---------------+-------------------------+----------------+',
        '| Session ID       | Queue ID | User            | Original Name | Output Name             | Filter         |',
        '+------------------+----------+-----------------+---------------+-------------------------+----------------+',
        '| 00000000000000AA | orders   | ALICE/alice@mbp | orders-q      | mirrord-tmp-aa-orders-q | kind:paid      |',
        '+------------------+----------+-----------------+---------------+-------------------------+----------------+',
        '| 00000000000000AA | orders   | ALICE/alice@mbp | orders-q      | mirrord-tmp-aa-orders-q | tenant:^alice$ |',
        '+------------------+----------+-----------------+---------------+-------------------------+----------------+',
        '',
      ].join('\n'),
    );
    const lines = tables.split('\n');
    assert.equal(lines[0], 'SQS Queue for deployment/orders');
    assert.match(lines[2]!, /^\| Session ID +\| Queue ID +\| User +\| Original Name +\| Output Name +\| Filter +\|$/);
    // one row per filter entry, `name:regex`, sorted by name as the CLI's BTreeMap is
    assert.match(
      lines[4]!,
      /^\| 00000000000000AA \| orders +\| ALICE\/alice@mbp \| orders-q +\| mirrord-tmp-aa-orders-q \| kind:paid +\|$/,
    );
    assert.match(
      lines[6]!,
      /^\| 00000000000000AA \| orders +\| ALICE\/alice@mbp \| orders-q +\| mirrord-tmp-aa-orders-q \| tenant:\^alice\$ \|$/,
    );
    assert.ok(
      tables.includes('SQS Queue for deployment/orders/container/app\n'),
      'a container is part of the consumer',
    );
    assert.match(
      tables,
      /\| 00000000000000BB \| refunds +\| BOB\/bob@mbp +\| refunds-q +\| mirrord-tmp-bb-refunds-q \| tenant:\^bob\$ \|/,
    );
    assert.match(
      tables,
      /Kafka Topics for deployment\/orders\n\+[-+]+\n\| Session ID +\| Topic Name +\| User +\| Client Config +\| Type +\|/,
    );
    assert.match(
      tables,
      /\| 00000000000000AA \| mirrord-tmp-aa-payments \| ALICE\/alice@mbp \| base-config +\| Filtered \|/,
    );
  });

  it('types a fallback topic Fallback and prints no queue tables without splits', () => {
    const fb = view('00000000000000DD', 'dan', 'deployment/pay', [kafka('mirrord-tmp-x-fallback-payments')]);
    assert.match(renderOperatorStatus(status([fb])), /\| base-config +\| Fallback \|/);
    const none = renderOperatorStatus(status([plain]));
    assert.doesNotMatch(none, /SQS Queue|Kafka Topics/);
  });
});
