/**
 * Issue 25: a 4-byte message published by hand onto the event stream, then a ledger restart,
 * stopped event publishing for good (the outbox took the junk as the stream's newest event, of
 * no known store: "another ledger's history"), so agents were no longer cleaned up and the
 * metrics froze. Now the junk is skipped with a warning and kept in MIRRORD_EVENTS_DEAD, and
 * publishing, the durable consumers and the gateway's metrics follower all go on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/eventually.js';
import {
  call,
  commandSubject,
  connectNats,
  consumeEventType,
  EVENTS_DEAD_STREAM,
  EVENTS_STREAM,
  deadEventSubject,
  eventSubject,
  unpackValue,
} from '#shared/nats/index.js';
import { validateEvent } from '#shared/events/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { DURATION_BUCKETS } from '#shared/ledger/index.js';
import { silentLogger } from '../support/log.js';
import { MetricsState } from '../../services/gateway/src/domain/metrics-state.js';
import { followMetrics, type MetricsFollower } from '../../services/gateway/src/adapters/metrics/follower.js';

const client = { client_user: 'carol', client_name: 'Carol', client_hostname: 'box', client_cli_version: '3.150.0' };
const JUNK = new Uint8Array([0xc1, 0xde, 0xad, 0x00]);

describe('a message on the event stream that is not an event', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let ledger: ServiceProcess | undefined;
  let consumer: ConsumerMessages | undefined;
  let follower: MetricsFollower | undefined;
  let gatewayNc: NatsConnection | undefined;
  before(async () => {
    nats = await startNatsServer();
    nc = await nats.connect();
  });
  after(async () => {
    await follower?.close();
    await gatewayNc?.close();
    await consumer?.close();
    await nc?.close();
    await ledger?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it('given junk on mirrord.events.X.Y and on a Session Ended subject, when the ledger restarts, then new sessions are published and consumed and the junk is in MIRRORD_EVENTS_DEAD', async () => {
    const env = { ...nats.env, LEDGER_DB: `sqlite:${tempDir('ledger-poison')}/ledger.db` };
    ledger = await startService('ledger', env);
    const session = async () => {
      const id = newSessionId();
      await call(nc, commandSubject('ledger', 'start'), {
        session_id: id,
        target: 'deployment/a',
        namespace: 'n',
        client,
      });
      await call(nc, commandSubject('ledger', 'end'), { session_id: id, client_user: 'carol', reason: 'ClientClosed' });
      return id;
    };
    // A durable Session Ended consumer as agent-manager's and jira-reporter's (the same helper),
    // and the gateway's metrics follower, both running across the junk and the restart.
    const ended: string[] = [];
    const skipped: number[] = [];
    consumer = await consumeEventType(nc, 'test-poison', 'SessionEnded', 5000, 16);
    void (async () => {
      for await (const m of consumer!) {
        try {
          ended.push(validateEvent(unpackValue(m.data)).session_id);
          m.ack();
        } catch {
          skipped.push(m.seq);
          m.term();
        }
      }
    })();
    const metrics = new MetricsState(DURATION_BUCKETS);
    // As the gateway itself: its own identity and permissions.
    gatewayNc = await connectNats({
      url: nats.url,
      name: 'gateway',
      ...(nats.credsDir ? { credsDir: nats.credsDir } : {}),
    });
    follower = await followMetrics(gatewayNc, metrics, silentLogger());
    const endedCount = () => [...metrics.sessions.values()].reduce((n, s) => n + s.ended, 0);

    const first = await session();
    await eventually('the first Session Ended is consumed', () => ended.includes(first));
    await eventually('the metrics count it', () => endedCount() === 1);

    const js = jetstream(nc);
    const junkA = await js.publish('mirrord.events.X.Y', JUNK);
    const junkB = await js.publish(eventSubject('SessionEnded', '0000000000000000'), JUNK);
    // Restarted twice before any new event: each start walks over the junk again, and keeping
    // it is idempotent (dead letters are keyed by stream and sequence).
    for (let i = 0; i < 2; i++) {
      await ledger.stop();
      ledger = await startService('ledger', env);
    }

    const second = await session();
    const jsm = await jetstreamManager(nc);
    await eventually(
      'the new session is published',
      async () =>
        (await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: eventSubject('SessionEnded', second) })) ?? false,
    );
    await eventually('and consumed by the durable consumer', () => ended.includes(second));
    assert.ok(skipped.includes(junkB.seq), 'the consumer was handed the junk and skipped it');
    await eventually('and counted by the metrics', () => endedCount() === 2);

    const warned = ledger.lines.filter((l) => /is not an event: skipped/.test(l.msg));
    assert.deepEqual(
      warned.map((l) => [l.level, l.seq]),
      [
        ['warn', junkB.seq],
        ['warn', junkA.seq],
      ],
    );
    for (const [seq, subject] of [
      [junkA.seq, 'mirrord.events.X.Y'],
      [junkB.seq, eventSubject('SessionEnded', '0000000000000000')],
    ] as const) {
      const dead = await jsm.streams.getMessage(EVENTS_DEAD_STREAM, { last_by_subj: deadEventSubject(subject) });
      assert.ok(dead, `${subject} is kept`);
      assert.deepEqual([...dead.data], [...JUNK]);
      assert.equal(dead.header.get('Mirrord-Dead-Seq'), String(seq));
      assert.equal(dead.header.get('Mirrord-Dead-Stream'), EVENTS_STREAM);
    }
    assert.equal(deadEventSubject('mirrord.events.X.Y'), 'mirrord.dead.events.X.Y');
    assert.equal((await jsm.streams.info(EVENTS_DEAD_STREAM)).state.messages, 2, 'each junk message kept once');
  });
});
