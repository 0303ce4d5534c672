import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '#shared/errors/index.js';
import {
  queueSplitRequest,
  renderFilter,
  splitsFromConnectParams,
  type QueueSplitRequest,
} from '#shared/queues/index.js';
import { parseConnectRequest } from '../../services/gateway/src/domain/connect-request.js';

/**
 * Connect URLs exactly as mirrord 3.250.0 builds them: the expected strings of its
 * `target_connect_url` rstest cases (`mirrord/operator/src/client.rs`), which that test pins
 * "for backward compatibility".
 */
const CLI = {
  sqs:
    '/apis/operator.metalbear.co/v1/proxy/namespaces/default/targets/deployment.py-serv-deployment.container.py-serv' +
    '?connect=true&on_concurrent_steal=abort&sqs_splits=%7B%22topic-id%22%3A%7B%22header-1%22%3A%22filter-1%22%2C%22header-2%22%3A%22filter-2%22%7D%7D&key=sqs-key',
  kafka:
    '/apis/operator.metalbear.co/v1/proxy/namespaces/default/targets/deployment.py-serv-deployment.container.py-serv' +
    '?connect=true&on_concurrent_steal=abort&kafka_splits=%7B%22topic-id%22%3A%7B%22header-1%22%3A%22filter-1%22%2C%22header-2%22%3A%22filter-2%22%7D%7D',
  rmq:
    '/apis/operator.metalbear.co/v1/proxy/namespaces/default/targets/deployment.py-serv-deployment.container.py-serv' +
    '?connect=true&on_concurrent_steal=abort&rmq_splits=%7B%22topic-id%22%3A%7B%22header-1%22%3A%22filter-1%22%2C%22header-2%22%3A%22filter-2%22%7D%7D&key=sqs-key',
  sqsJq:
    '/apis/operator.metalbear.co/v1/namespaces/default/targets/deployment.py-serv-deployment?connect=true&on_concurrent_steal=abort' +
    '&sqs_splits=%7B%22some-topic-id%22%3A%7B%22header-1%22%3A%22filter-1%22%2C%22header-2%22%3A%22filter-2%22%7D%7D&sqs_jq_filters=%7B%22some-topic-id%22%3A%22' +
    '.message_body+%7C+fromjson+%7C+.user_id+%7C+test%28%5C%22%5E%28cookie%7C%5C%5C%5C%5Cd%2B%29%24%5C%22%29%22%7D',
};

/** `x-mirrord-connect-params` for CLI.sqs / CLI.kafka, derived by hand with coreutils `base64` (standard, padded). */
const HEADER = {
  sqs: 'Y29ubmVjdD10cnVlJm9uX2NvbmN1cnJlbnRfc3RlYWw9YWJvcnQmc3FzX3NwbGl0cz0lN0IlMjJ0b3BpYy1pZCUyMiUzQSU3QiUyMmhlYWRlci0xJTIyJTNBJTIyZmlsdGVyLTElMjIlMkMlMjJoZWFkZXItMiUyMiUzQSUyMmZpbHRlci0yJTIyJTdEJTdEJmtleT1zcXMta2V5',
  kafka:
    'Y29ubmVjdD10cnVlJm9uX2NvbmN1cnJlbnRfc3RlYWw9YWJvcnQma2Fma2Ffc3BsaXRzPSU3QiUyMnRvcGljLWlkJTIyJTNBJTdCJTIyaGVhZGVyLTElMjIlM0ElMjJmaWx0ZXItMSUyMiUyQyUyMmhlYWRlci0yJTIyJTNBJTIyZmlsdGVyLTIlMjIlN0QlN0Q=',
};

const FILTER = { 'header-1': 'filter-1', 'header-2': 'filter-2' };
const split = (queue_type: 'SQS' | 'Kafka', mode: 'steal' | 'mirror' = 'steal'): QueueSplitRequest => ({
  queue_id: 'topic-id',
  queue_type,
  message_filter: FILTER,
  mode,
});

/** The connect as the gateway sees it: path params, the URL query (as the HTTP server parses it), headers. */
function connect(url: string, headers: Record<string, string> = {}) {
  const u = new URL(url, 'https://operator.invalid');
  const name = u.pathname.split('/').at(-1)!;
  return parseConnectRequest(
    { namespace: 'default', name },
    Object.fromEntries(u.searchParams),
    headers,
    () => '00000000000000AA',
  );
}

/** What `make_operator_session` does with ConnectParamsInHeader: `?connect=true` plus the query in the header. */
function inHeader(url: string): [string, Record<string, string>] {
  const [path, query] = url.split('?') as [string, string];
  return [`${path}?connect=true`, { 'x-mirrord-connect-params': Buffer.from(query).toString('base64') }];
}

function refused(f: () => unknown, field: string | RegExp, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(isAppError(e, 'Invalid'), `expected Invalid, got ${String(e)}`);
    if (typeof field === 'string') assert.equal(e.field, field);
    else assert.match(e.field ?? '', field);
    assert.match(e.message, message);
    return true;
  });
}

describe('queue splits in the real CLI’s connect query', () => {
  it('given the CLI’s sqs_splits URL, then one SQS split in steal mode, and the other parameters still read', () => {
    const cr = connect(CLI.sqs);
    assert.deepEqual(cr.queue_splits, [split('SQS')]);
    assert.equal(cr.key, 'sqs-key');
    assert.equal(cr.on_concurrent_steal, 'abort');
    assert.equal(cr.target.kind === 'workload' && cr.target.container, 'py-serv');
  });

  it('given the CLI’s kafka_splits URL, then one Kafka split', () => {
    assert.deepEqual(connect(CLI.kafka).queue_splits, [split('Kafka')]);
  });

  it('given a connect with no queue parameters, then queue_splits is empty', () => {
    assert.deepEqual(connect('/x/targets/deployment.web?connect=true&on_concurrent_steal=abort').queue_splits, []);
  });

  it('given queue_modes {"topic-id":"mirror"}, then that queue is mirrored on every broker it is split on', () => {
    const modes = encodeURIComponent(JSON.stringify({ 'topic-id': 'mirror' }));
    const both = `${CLI.kafka}&sqs_splits=${encodeURIComponent(JSON.stringify({ 'topic-id': FILTER, other: {} }))}&queue_modes=${modes}`;
    assert.deepEqual(connect(both).queue_splits, [
      { queue_id: 'other', queue_type: 'SQS', message_filter: {}, mode: 'steal' },
      split('SQS', 'mirror'),
      split('Kafka', 'mirror'),
    ]);
  });

  it('given `*` as the queue id, then the split applies to all queues of that type (kept as `*`)', () => {
    const p = new URLSearchParams({ sqs_splits: JSON.stringify({ '*': { tenant: '^eu-' } }) });
    assert.deepEqual(splitsFromConnectParams(p), [
      { queue_id: '*', queue_type: 'SQS', message_filter: { tenant: '^eu-' }, mode: 'steal' },
    ]);
  });

  it('every split read is a valid wire value for the queue splitter', () => {
    for (const s of connect(CLI.sqs).queue_splits) assert.deepEqual(queueSplitRequest.parse(s), s);
    assert.equal(queueSplitRequest.safeParse({ ...split('SQS'), message_filter: { a: '(' } }).success, false);
  });

  it('renders a filter sorted by name', () => {
    assert.equal(renderFilter({ zone: 'b$', 'header-1': '^a' }), 'header-1=^a, zone=b$');
    assert.equal(renderFilter({}), '');
  });
});

describe('x-mirrord-connect-params (ConnectParamsInHeader)', () => {
  it('given the hand-derived header for the sqs URL, then the same request as the query form', () => {
    const viaHeader = connect(
      '/apis/operator.metalbear.co/v1/proxy/namespaces/default/targets/deployment.py-serv-deployment.container.py-serv?connect=true',
      { 'x-mirrord-connect-params': HEADER.sqs },
    );
    const viaQuery = connect(CLI.sqs);
    assert.deepEqual(viaHeader, viaQuery);
    assert.deepEqual(viaHeader.queue_splits, [split('SQS')]);
    assert.equal(viaHeader.key, 'sqs-key');
  });

  it('given the kafka header, then the Kafka split', () => {
    const [url, headers] = inHeader(CLI.kafka);
    assert.deepEqual(headers['x-mirrord-connect-params'], HEADER.kafka);
    assert.deepEqual(connect(url, headers).queue_splits, [split('Kafka')]);
  });

  it('given the header, then its profile, branch, on_concurrent_steal and session_ci_info are read, not the URL’s', () => {
    const ci = encodeURIComponent(JSON.stringify({ provider: 'gh', triggeredBy: 'me' }));
    const [url, headers] = inHeader(
      `/x/targets/deployment.web?connect=true&on_concurrent_steal=override&profile=no-steal&branch_name=feat%2Fq&session_ci_info=${ci}&key=k1`,
    );
    const cr = connect(`${url}&profile=ignored`, headers);
    assert.equal(cr.on_concurrent_steal, 'override');
    assert.equal(cr.profile, 'no-steal');
    assert.equal(cr.branch_name, 'feat/q');
    assert.equal(cr.key, 'k1');
    assert.deepEqual(cr.ci, { provider: 'gh', triggeredBy: 'me' });
  });

  it('given the header with a bad value inside, then the error names the parameter, not the header', () => {
    const [url, headers] = inHeader('/x/targets/deployment.web?connect=true&on_concurrent_steal=maybe');
    refused(() => connect(url, headers), 'on_concurrent_steal', /abort/);
  });

  it('given a header that is not base64, or not a query string, then it is refused naming the header', () => {
    refused(
      () => connect('/x/targets/deployment.web?connect=true', { 'x-mirrord-connect-params': 'not base64!' }),
      'x-mirrord-connect-params',
      /not base64/,
    );
    const notQuery = Buffer.from('{"connect": true}').toString('base64');
    refused(
      () => connect('/x/targets/deployment.web?connect=true', { 'x-mirrord-connect-params': notQuery }),
      'x-mirrord-connect-params',
      /query string/,
    );
  });
});

describe('refusals name the parameter, the queue and the fix', () => {
  const sqs = (v: unknown) => ({ sqs_splits: JSON.stringify(v) });

  it('a bad regex names sqs_splits["orders"].tenant', () => {
    refused(
      () => splitsFromConnectParams(sqs({ orders: { tenant: '(eu' } })),
      'sqs_splits["orders"].tenant',
      /invalid regex "\(eu"/,
    );
    // Every message of the queue is matched against it: nested repetition is refused.
    refused(
      () => splitsFromConnectParams(sqs({ orders: { tenant: '^(a+)+$' } })),
      'sqs_splits["orders"].tenant',
      /nests one repetition/,
    );
    // A Rust-only inline flag is not read differently in silence: it is refused.
    refused(
      () => splitsFromConnectParams(sqs({ orders: { tenant: '(?i)eu' } })),
      'sqs_splits["orders"].tenant',
      /no inline flags/,
    );
  });

  it('a filter value that is not a string, or a queue that is not an object, names it', () => {
    refused(
      () => splitsFromConnectParams(sqs({ orders: { tenant: 1 } })),
      'sqs_splits["orders"].tenant',
      /regex string/,
    );
    refused(() => splitsFromConnectParams({ kafka_splits: '{"t": "x"}' }), 'kafka_splits["t"]', /object of name/);
  });

  it('non-JSON names the parameter', () => {
    refused(() => splitsFromConnectParams({ kafka_splits: '{t:1}' }), 'kafka_splits', /is not JSON/);
    refused(() => splitsFromConnectParams({ sqs_splits: '[]' }), 'sqs_splits', /JSON object/);
    refused(() => connect('/x/targets/deployment.web?connect=true&queue_modes=mirror'), 'queue_modes', /is not JSON/);
  });

  it('the CLI’s sqs_jq_filters URL is refused: jq is not supported', () => {
    refused(
      () => connect(CLI.sqsJq),
      'sqs_jq_filters',
      /jq filters are not supported by this operator; use message_filter/,
    );
    refused(
      () => splitsFromConnectParams({ kafka_jq_filters: '{"t":"true"}' }),
      'kafka_jq_filters',
      /use message_filter/,
    );
  });

  it('queue_modes naming a queue in no split is refused with the fix', () => {
    const p = { ...sqs({ orders: {} }), queue_modes: JSON.stringify({ payments: 'mirror' }) };
    refused(
      () => splitsFromConnectParams(p),
      'queue_modes["payments"]',
      /not in sqs_splits or kafka_splits.*message_filter/,
    );
    refused(
      () => splitsFromConnectParams({ ...sqs({ orders: {} }), queue_modes: '{"orders":"copy"}' }),
      'queue_modes["orders"]',
      /"steal" \| "mirror"/,
    );
  });

  it('the CLI’s rmq_splits URL, and other brokers, are refused naming the parameter', () => {
    refused(() => connect(CLI.rmq), 'rmq_splits', /not supported by this operator \(SQS and Kafka only\)/);
    refused(() => splitsFromConnectParams({ gcp_pubsub_splits: '{}' }), 'gcp_pubsub_splits', /not supported/);
    refused(() => splitsFromConnectParams({ kafka_protobuf_decoding: '{}' }), 'kafka_protobuf_decoding', /protobuf/);
  });

  it('a parameter sent twice is refused', () => {
    const p = new URLSearchParams('sqs_splits=%7B%7D&sqs_splits=%7B%7D');
    refused(() => splitsFromConnectParams(p), 'sqs_splits', /one value/);
  });
});
