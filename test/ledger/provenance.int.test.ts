import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SessionClient, startSystem, type System } from '../support/system.js';
import { startService } from '../support/service-process.js';
import { readEventStream } from '../support/jetstream.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/eventually.js';

/**
 * A ledger started on an empty database next to a stream that still holds another history
 * (`./data` deleted, the NATS store kept): it notices, refuses to publish into that stream
 * naming both positions, and /metrics never counts the other history's sessions.
 */
describe('provenance: a ledger whose database does not hold the stream it finds', () => {
  let sys: System;
  let nc: NatsConnection;
  before(async () => {
    sys = await startSystem({ OPERATOR_METRICS_ENABLED: 'true', OPERATOR_METRICS_ADDR: '127.0.0.1:0' });
    nc = await sys.nats.connect();
  });
  after(async () => {
    await nc?.close();
    await sys?.stop();
  });

  const scrapeCreated = async (): Promise<number> => {
    const url = String(sys.gateway.lines.findLast((l) => l.msg === 'gateway ready')?.metrics);
    const text = await (await fetch(url)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('mirrord_sessions_create_total{'))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  };

  it('refuses to publish, naming both positions; the metrics never count the other history', async () => {
    for (let i = 0; i < 3; i++) await (await SessionClient.connect(sys)).client!.close();
    await eventually('three sessions counted', async () => (await scrapeCreated()) === 3);
    const before = (await readEventStream(nc)).length;
    assert.ok(before >= 6);

    // The database goes; NATS keeps its stream.
    await sys.gateway.stop();
    await sys.ledger.stop();
    sys.env.LEDGER_DB = `sqlite:${join(tempDir('fresh'), 'ledger.db')}`;
    sys.ledger = await startService('ledger', sys.env);
    const refused = await sys.ledger.waitFor((l) => l.level === 'error' && /events stream holds events/.test(l.msg));
    assert.equal(refused.ledger_position, 0);
    assert.ok(Number(refused.stream_position) >= 6, JSON.stringify(refused));
    assert.match(refused.msg, /stream at position \d+, this ledger at 0/);

    await sys.restartGateway();
    const c = (await SessionClient.connect(sys)).client!;
    await c.close();
    await sys.ledger.waitFor((l) => l.msg === 'Session Ended');
    assert.equal((await readEventStream(nc)).length, before, 'nothing published into the other history');
    // The old history's sessions are not this ledger's: /metrics does not count them (and the
    // new one reaches the totals once it is published, after the stream is sorted out).
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await scrapeCreated(), 0);
  });
});
