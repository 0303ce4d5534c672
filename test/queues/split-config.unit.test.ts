import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '#shared/errors/index.js';
import { renderIssues, verifyConfigText, verifyConfigValue } from '#shared/mirrord-config/index.js';
import { splitsFromConfig } from '#shared/queues/index.js';
import { copyTargetBody } from '#shared/contracts/index.js';
import { parseConnectRequest } from '../../services/gateway/src/domain/connect-request.js';

function refused(f: () => unknown, field: string, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(isAppError(e, 'Invalid'), `expected Invalid, got ${String(e)}`);
    assert.equal(e.field, field);
    assert.match(e.message, message);
    return true;
  });
}

describe('split_queues as the user writes it (map and list forms)', () => {
  it('given the map form of mirrord’s documentation, then one split per queue, steal by default', () => {
    const splits = splitsFromConfig(
      {
        'first-queue': { queue_type: 'SQS', message_filter: { wows: 'so wows', coolz: '^very' } },
        'second-queue': { queue_type: 'Kafka', message_filter: { who: 'you$' }, queue_mode: 'mirror' },
      },
      'spec.split_queues',
    );
    assert.deepEqual(splits, [
      {
        queue_id: 'first-queue',
        queue_type: 'SQS',
        message_filter: { wows: 'so wows', coolz: '^very' },
        mode: 'steal',
      },
      { queue_id: 'second-queue', queue_type: 'Kafka', message_filter: { who: 'you$' }, mode: 'mirror' },
    ]);
  });

  it('given the list form with one id on two brokers, then both splits', () => {
    const splits = splitsFromConfig(
      [
        { queue_id: 'orders', queue_type: 'Kafka', message_filter: { region: '^us' } },
        { queue_id: 'orders', queue_type: 'SQS', message_filter: { region: '^eu' }, queue_mode: 'steal' },
      ],
      'feature.split_queues',
    );
    assert.deepEqual(splits, [
      { queue_id: 'orders', queue_type: 'SQS', message_filter: { region: '^eu' }, mode: 'steal' },
      { queue_id: 'orders', queue_type: 'Kafka', message_filter: { region: '^us' }, mode: 'steal' },
    ]);
  });

  it('given `*`, an empty filter and no filter at all, then valid splits whose filter is empty (matching nothing)', () => {
    assert.deepEqual(
      splitsFromConfig(
        { '*': { queue_type: 'SQS', message_filter: {} }, audit: { queue_type: 'Kafka' } },
        'spec.split_queues',
      ),
      [
        { queue_id: '*', queue_type: 'SQS', message_filter: {}, mode: 'steal' },
        { queue_id: 'audit', queue_type: 'Kafka', message_filter: {}, mode: 'steal' },
      ],
    );
    assert.deepEqual(splitsFromConfig(null, 'spec.split_queues'), []);
  });

  it('given an unsupported or unknown queue_type, then the error names …queue_type', () => {
    refused(
      () => splitsFromConfig({ jobs: { queue_type: 'RMQ', message_filter: {} } }, 'spec.split_queues'),
      'spec.split_queues["jobs"].queue_type',
      /"RMQ" is not supported by this operator/,
    );
    refused(
      () => splitsFromConfig([{ queue_id: 'jobs', queue_type: 'sqs' }], 'feature.split_queues'),
      'feature.split_queues[0].queue_type',
      /expected "SQS" \| "Kafka", got "sqs"/,
    );
  });

  it('given a bad regex, jq_filter, a bad queue_mode or a duplicate, then each is named with its fix', () => {
    refused(
      () => splitsFromConfig({ q: { queue_type: 'SQS', message_filter: { 'x-tenant': '[a-' } } }, 'spec.split_queues'),
      'spec.split_queues["q"].message_filter.x-tenant',
      /invalid regex "\[a-"/,
    );
    refused(
      () => splitsFromConfig({ q: { queue_type: 'Kafka', jq_filter: '.headers.x == "1"' } }, 'spec.split_queues'),
      'spec.split_queues["q"].jq_filter',
      /jq filters are not supported by this operator; use message_filter/,
    );
    refused(
      () => splitsFromConfig({ q: { queue_type: 'SQS', queue_mode: 'copy' } }, 'spec.split_queues'),
      'spec.split_queues["q"].queue_mode',
      /"steal" \| "mirror"/,
    );
    refused(
      () =>
        splitsFromConfig(
          [
            { queue_id: 'q', queue_type: 'SQS' },
            { queue_id: 'q', queue_type: 'SQS' },
          ],
          'spec.split_queues',
        ),
      'spec.split_queues[1].queue_id',
      /split twice for SQS.*merge/,
    );
    refused(() => splitsFromConfig('orders', 'spec.split_queues'), 'spec.split_queues', /map of queue id/);
  });
});

describe('CopyTarget.spec.split_queues', () => {
  it('given the spec the CLI creates (split_queues as SplitQueuesConfig serialises it), then the body is accepted and the splits read', () => {
    const body = copyTargetBody.parse({
      apiVersion: 'operator.metalbear.co/v1',
      kind: 'CopyTarget',
      spec: {
        target: { deployment: 'consumer', container: null },
        scale_down: false,
        split_queues: {
          orders: { queue_type: 'SQS', message_filter: { tenant: '^(?<=)eu-' } },
          audit: { queue_type: 'Kafka', queue_mode: 'mirror' },
        },
        exclude_containers: [],
        exclude_init_containers: [],
      },
    });
    assert.deepEqual(splitsFromConfig(body.spec.split_queues, 'spec.split_queues'), [
      { queue_id: 'orders', queue_type: 'SQS', message_filter: { tenant: '^(?<=)eu-' }, mode: 'steal' },
      { queue_id: 'audit', queue_type: 'Kafka', message_filter: {}, mode: 'mirror' },
    ]);
  });
});

describe('verify-config and x-mirrord-config check split_queues the same way', () => {
  it('given a config file with a bad regex and a bad queue_type, then verify-config reports both by path', () => {
    const text = JSON.stringify({
      feature: {
        split_queues: {
          orders: { queue_type: 'SQS', message_filter: { tenant: '(eu' } },
          jobs: { queue_type: 'BullMQ', message_filter: {} },
        },
      },
    });
    const r = verifyConfigText(text, { fileName: 'mirrord.json' });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(
      r.issues.map((i) => i.path),
      ['feature.split_queues["orders"].message_filter.tenant', 'feature.split_queues["jobs"].queue_type'],
    );
    assert.match(
      renderIssues(r.issues),
      /feature\.split_queues\["orders"\]\.message_filter\.tenant: invalid regex "\(eu"/,
    );
  });

  it('given a valid split_queues, then verify-config accepts it and keeps it as written', () => {
    const split_queues = [{ queue_id: 'orders', queue_type: 'Kafka', message_filter: { tenant: '^eu' } }];
    const r = verifyConfigValue({ feature: { split_queues } });
    assert.ok(r.ok, r.ok ? '' : renderIssues(r.issues));
    assert.deepEqual(r.config.rest.feature, { split_queues });
  });

  it('given x-mirrord-config with jq_filter, then the connect is refused naming x-mirrord-config.feature.split_queues…', () => {
    const config = { feature: { split_queues: { q: { queue_type: 'SQS', jq_filter: 'true' } } } };
    refused(
      () =>
        parseConnectRequest(
          { namespace: 'default', name: 'deployment.web' },
          {},
          { 'x-mirrord-config': Buffer.from(JSON.stringify(config)).toString('base64') },
          () => '00000000000000AA',
        ),
      'x-mirrord-config.feature.split_queues["q"].jq_filter',
      /use message_filter/,
    );
  });
});
