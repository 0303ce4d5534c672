import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { storeUnderTest, type StoreUnderTest } from '../support/ledger-stores.js';
import { call, commandSubject, querySubject } from '#shared/nats/index.js';
import { ledgerCommands, type CommandBody } from '#shared/contracts/index.js';
import { isAppError } from '#shared/errors/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { assertPartial } from '../support/decider-spec.js';
import type { QueueSplitRecord, SessionView } from '#shared/ledger/index.js';

type Verb = 'queue-split-start' | 'queue-split-end' | 'workload-patch' | 'workload-restore' | 'start' | 'end';
const cmd = <V extends Verb>(nc: NatsConnection, verb: V, body: CommandBody<V>) =>
  call<{ events: Array<{ type: string }>; warnings: string[] }>(nc, commandSubject('ledger', verb), body);
const query = <T>(nc: NatsConnection, what: string, body: Record<string, unknown> = {}) =>
  call<T>(nc, querySubject('ledger', what), body);

describe('ledger: queue split commands over real NATS and SQLite', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let ledger: ServiceProcess;
  let under: StoreUnderTest;

  before(async () => {
    nats = await startNatsServer();
    under = await storeUnderTest('sqlite');
    ledger = await startService('ledger', { ...nats.env, LEDGER_DB: await under.newDatabase('ledger') });
    nc = await nats.connect();
  });
  after(async () => {
    await nc?.close();
    await ledger?.stop();
    await nats?.[Symbol.asyncDispose]();
    await under?.stop();
  });

  it('records a split, shows it live and at a past moment, ends it once after the session ended', async () => {
    const id = newSessionId();
    const workload = {
      session_id: id,
      namespace: 'shop',
      target: 'deployment/orders',
      queue_type: 'SQS',
      queue_id: 'orders',
      env: 'ORDERS_QUEUE',
    } as const;
    await cmd(nc, 'start', {
      session_id: id,
      target: 'deployment/orders',
      namespace: 'shop',
      client: { client_user: 'alice' },
    });
    await cmd(nc, 'workload-patch', { ...workload, original: 'orders-q', fallback: 'mirrord-tmp-fb-orders-q' });
    const started = await cmd(nc, 'queue-split-start', {
      session_id: id,
      queue_type: 'SQS',
      queue_id: 'orders',
      original: 'orders-q',
      output: 'mirrord-tmp-1-orders-q',
      filter: 'tenant=^alice$',
      message_filter: { tenant: '^alice$' },
      mode: 'steal',
    });
    assert.deepEqual(
      started.events.map((e) => e.type),
      ['QueueSplitStarted'],
    );
    const line = await ledger.waitFor((l) => l.msg === 'Queue Split Started' && l.session_id === id);
    assert.deepEqual(
      [line.queue_id, line.output, line.filter, line.client_user],
      ['orders', 'mirrord-tmp-1-orders-q', 'tenant=^alice$', 'alice'],
    );

    // the live sessions and the one session show the split, as the gateway reads them
    const live = await query<{ sessions: SessionView[] }>(nc, 'sessions');
    const expected: Partial<QueueSplitRecord> = {
      queue_type: 'SQS',
      queue_id: 'orders',
      original: 'orders-q',
      output: 'mirrord-tmp-1-orders-q',
      mode: 'steal',
      message_filter: { tenant: '^alice$' },
    };
    assertPartial(live.sessions.find((s) => s.id === id)?.splits?.[0], expected);
    const one = await query<{ session: SessionView }>(nc, 'session', { id });
    assertPartial(one.session.splits?.[0], expected);
    const at = Date.now();

    await cmd(nc, 'end', { session_id: id, client_user: 'alice' });
    const afterEnd = await query<{ sessions: SessionView[] }>(nc, 'sessions');
    assert.equal(
      afterEnd.sessions.find((s) => s.id === id),
      undefined,
    );
    // status --at the moment the split was live still shows it
    const past = await query<{ sessions: SessionView[] }>(nc, 'sessions-at', { at });
    assertPartial(past.sessions.find((s) => s.id === id)?.splits?.[0], expected);

    // cleanup after the end: the split's end lands once, the restore on the same stream
    const end = {
      session_id: id,
      queue_type: 'SQS',
      queue_id: 'orders',
      output: 'mirrord-tmp-1-orders-q',
      messages: 2,
      reason: 'SessionEnded',
    } as const;
    assert.deepEqual(
      (await cmd(nc, 'queue-split-end', end)).events.map((e) => e.type),
      ['QueueSplitEnded'],
    );
    const again = await cmd(nc, 'queue-split-end', end);
    assert.deepEqual([again.events.length, /not open/.test(again.warnings[0] ?? '')], [0, true]);
    await cmd(nc, 'workload-restore', { ...workload, drained: 5 });
    const trail = await query<{ events: Array<{ type: string; actor: Record<string, unknown> }> }>(nc, 'events', {
      session_id: id,
    });
    assert.deepEqual(
      trail.events.map((e) => e.type),
      ['SessionStarted', 'WorkloadPatched', 'QueueSplitStarted', 'SessionEnded', 'QueueSplitEnded', 'WorkloadRestored'],
    );
    assert.deepEqual(trail.events[5]!.actor, { system: 'queue-splitter' });
  });

  it('names the field and the fix of a malformed body', async () => {
    const body = {
      session_id: newSessionId(),
      namespace: 'shop',
      target: 'orders',
      queue_type: 'SQS',
      queue_id: 'q',
      env: 'Q',
      drained: 0,
    };
    assert.ok(ledgerCommands['workload-restore']);
    await assert.rejects(cmd(nc, 'workload-restore', body as CommandBody<'workload-restore'>), (e: unknown) => {
      assert.ok(isAppError(e, 'Invalid'), String(e));
      assert.match(e.message, /target.*workload path <kind>\/<name>, e\.g\. deployment\/orders/);
      return true;
    });
  });
});
