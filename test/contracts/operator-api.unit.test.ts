import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiPath, operatorApi } from '#shared/contracts/http.js';
import { policyApi } from '#shared/contracts/policy-api.js';
import { AppError, ErrorCode } from '#shared/errors/index.js';
import type { LedgerEvent } from '#shared/events/index.js';
import type { CopyTargetView, SessionView } from '#shared/ledger/index.js';
import {
  copyTargetCrd,
  eventItem,
  failureStatus,
  list,
  operatorObject,
  successStatus,
} from '../../services/gateway/src/adapters/http/resources.js';
import { portLocks } from '../../services/gateway/src/adapters/http/port-locks.js';

const session = (id: string, over: Partial<SessionView> = {}): SessionView => ({
  id,
  status: 'live',
  started_at: 1_000,
  ended_at: null,
  end_reason: null,
  killed_by: null,
  target: 'deployment/orders/container/app',
  namespace: 'shop',
  client_user: 'alice',
  client_name: 'Alice',
  client_hostname: 'mbp',
  client_id: 'fp',
  user_id: 'pk',
  client_cli_version: '3.250.0',
  key: 'run-1',
  profile: null,
  branch_name: null,
  seat: null,
  ci: null,
  admission: null,
  ports: [
    { port: 80, mode: 'steal', http_filter: 'header=x-tenant: alice', lock: 1, since: 1_000 },
    { port: 81, mode: 'mirror', http_filter: null, lock: 0, since: 1_000 },
  ],
  ...over,
});

const copy = (name: string, over: Partial<CopyTargetView> = {}): CopyTargetView => ({
  name,
  namespace: 'shop',
  target: 'deployment/orders',
  scale_down: false,
  creator_session: '00000000000000AA',
  phase: 'Ready',
  created_at: 2_000,
  idle_ttl: 60,
  ...over,
});

/** Parses with the plugin's contract and checks nothing the gateway sent was lost on the way. */
function readsAsSent(schema: { parse(v: unknown): unknown }, body: unknown): void {
  const wire: unknown = JSON.parse(JSON.stringify(body));
  assert.deepEqual(schema.parse(wire), wire);
}

describe("the operator API's contract: the gateway's bodies are what the plugin reads", () => {
  it('given every field the operator object can carry, the plugin parses it whole (operator status, license status)', () => {
    // given sessions with ports, a header filter, SQS and Kafka splits and a quiet client; seats; copies
    const body = operatorObject({
      version: '0.1.0',
      protocolVersion: '1.25.0',
      fingerprint: 'ab',
      organization: 'Acme',
      defaultNamespace: 'default',
      license: {
        name: 'Acme dev',
        organization: 'Acme',
        expire_at: '2027-06-30',
        seats: 25,
        seat_mode: 'user',
        billing_day: 1,
        subscription_id: 'sub-1',
      },
      sessions: [
        session('00000000000000AA', {
          splits: [
            {
              queue_type: 'SQS',
              queue_id: 'orders',
              original: 'orders-q',
              output: 'mirrord-tmp-aa-orders-q',
              filter: 'tenant=^alice$',
              message_filter: { tenant: '^alice$' },
              mode: 'steal',
              since: 1_000,
            },
            {
              queue_type: 'Kafka',
              queue_id: 'payments',
              original: 'payments',
              output: 'mirrord-tmp-aa-payments',
              filter: 'tenant=alice',
              message_filter: { tenant: 'alice' },
              mode: 'steal',
              client_config: 'base',
              fallback: 'payments-fallback-x',
              since: 1_000,
            },
          ],
        }),
        session('00000000000000BB', { ports: [], key: null, target: 'targetless' }),
      ],
      now: 9_000,
      quiet: { '00000000000000BB': 4_000 },
      dau: 2,
      mau: 5,
      seats: { used: 3, period_start: '2026-12-01' },
      copyTargets: [copy('orders-copy'), copy('orders-old', { phase: 'Failed', idle_since: 5_000, user_id: 'pk' })],
      startedAt: 500,
      queueSplitting: true,
    });
    // then the plugin's contract reads it as it was sent, every field kept
    readsAsSent(operatorApi.operator.reply, body);
  });

  it('given events, a copy target, port locks and the Statuses a delete answers, the plugin parses them whole', () => {
    const started = {
      v: 1,
      id: 'e1',
      type: 'SessionStarted',
      session_id: '00000000000000AA',
      version: 1,
      position: 7,
      time: 1_000,
      actor: { client_user: 'alice' },
      data: { target: 'deployment/orders', namespace: 'shop', client_user: 'alice' },
    } as unknown as LedgerEvent;
    readsAsSent(operatorApi.events.reply, list('Event', [eventItem(started)], 'cursor'));
    readsAsSent(operatorApi.sessionEvents.reply, list('Event', [eventItem(started)]));
    readsAsSent(operatorApi.createCopyTarget.reply, copyTargetCrd(copy('orders-copy')));
    const locks = portLocks([session('00000000000000AA'), session('00000000000000BB', { client_user: 'bob' })]);
    assert.equal(locks[0]!.status.holders.length, 2, 'two filtered steals share port 80');
    readsAsSent(operatorApi.portLocks.reply, list('PortLock', locks));
    readsAsSent(operatorApi.killSessions.reply, successStatus('2 session(s) killed', { killed: ['A', 'B'] }));
    readsAsSent(operatorApi.killSession.reply, failureStatus(new AppError(ErrorCode.NotFound, 'no session "X"')));
  });

  it('fills a route path from its params, each encoded, and refuses one it lacks', () => {
    assert.equal(
      apiPath(policyApi.explain, { namespace: 'shop', name: 'deployment.orders.container.a b' }),
      '/apis/operator.metalbear.co/v1/namespaces/shop/targets/deployment.orders.container.a%20b/explain',
    );
    assert.equal(apiPath(operatorApi.killSession, { id: '../x' }), '/apis/operator.metalbear.co/v1/sessions/..%2Fx');
    assert.throws(() => apiPath(operatorApi.sessionEvents), /no value for :id/);
  });
});
