import { tempDir } from '../support/tmp.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { readEventStream } from '../support/jetstream.js';
import { call, commandSubject } from '#shared/nats/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { openLedgerStore } from '../../services/ledger/src/adapters/sql/sql-store.js';
import { eventually } from '../support/eventually.js';
import { storeNames, storeUnderTest } from '../support/ledger-stores.js';

type Reply = { events: Array<{ id: string }> };
const client = { client_user: 'load', client_name: 'Load', client_hostname: 'bench', client_cli_version: '3.150.0' };

/**
 * Drives `total` commands (start / steal / end per session) with `inFlight` concurrent workers,
 * recording the ids of every event the ledger acknowledged. Failures (while a process is
 * down) are retried with the same command until acknowledged or until the command is refused.
 */
async function drive(
  nc: NatsConnection,
  total: number,
  inFlight: number,
  midway: () => Promise<void>,
): Promise<Set<string>> {
  const acked = new Set<string>();
  let issued = 0;
  let triggered = false;
  const send = async (verb: string, body: Record<string, unknown>): Promise<boolean> => {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        const r = await call<Reply>(nc, commandSubject('ledger', verb), body, 2000);
        for (const e of r.events) acked.add(e.id);
        return true;
      } catch (e) {
        lastErr = e;
        const code = (e as { code?: string }).code;
        // A retried start or end whose first attempt committed before the crash is refused now:
        // its events were acknowledged to nobody, and are checked separately.
        if (code === 'Conflict' || code === 'NotFound' || code === 'Forbidden') return false;
        if (code === 'Invalid') throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`${verb} never succeeded: ${String(lastErr)}`);
  };
  const worker = async () => {
    while (issued < total) {
      const id = newSessionId();
      issued += 3;
      if (!triggered && issued >= total / 2) {
        triggered = true;
        void midway();
      }
      if (
        !(await send('start', {
          session_id: id,
          target: `deployment/app-${id.slice(0, 2).toLowerCase()}`,
          namespace: 'default',
          client,
        }))
      )
        continue;
      await send('port-subscribe', {
        session_id: id,
        client_user: 'load',
        port: 80,
        mode: 'steal',
        http_filter: `header=x-id: ${id}`,
      });
      await send('end', { session_id: id, client_user: 'load' });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return acked;
}

/** The stream once it holds `expected` messages (or what it holds after 20 s, for the assertions to show). */
async function settleStream(nc: NatsConnection, expected: number) {
  let msgs = await readEventStream(nc);
  await eventually(
    'the stream catches up with the table',
    async () => (msgs = await readEventStream(nc)).length >= expected,
  ).catch(() => undefined);
  return msgs;
}

describe('durability: kill -9 mid-run loses no acknowledged event', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let ledger: ServiceProcess | undefined;
  before(async () => {
    nats = await startNatsServer();
    nc = await nats.connect(undefined, { maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });
  after(async () => {
    await nc?.close();
    await ledger?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  async function check(dbUrl: string, acked: Set<string>) {
    const store = await openLedgerStore(dbUrl);
    const all = (await store.readAll(0, 1_000_000)).map((s) => s.event);
    await store.close();
    const inTable = new Set(all.map((e) => e.id));
    assert.equal(inTable.size, all.length, 'event ids are unique in the table');
    const missing = [...acked].filter((id) => !inTable.has(id));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged events missing from the table`);
    const msgs = await settleStream(nc, all.length);
    const ids = msgs.map((m) => m.msgId!);
    assert.equal(new Set(ids).size, ids.length, 'no event is on JetStream twice');
    assert.equal(ids.length, all.length, 'every event of the table is on JetStream');
    assert.deepEqual(
      ids,
      all.map((e) => e.id),
      'JetStream order is ledger position order',
    );
  }

  it('ledger kill -9 in the middle of 5,000 commands', async () => {
    const dbUrl = `sqlite:${join(tempDir('dur'), 'ledger.db')}`;
    // One load user runs 32 sessions at once: no per-user limit here.
    const env = { ...nats.env, LEDGER_DB: dbUrl, EVENTS_STREAM: 'MIRRORD_EVENTS', USER_MAX_SESSIONS: '0' };
    ledger = await startService('ledger', env);
    const acked = await drive(nc, 5000, 32, async () => {
      await ledger!.kill9();
      ledger = await startService('ledger', env);
    });
    assert.ok(acked.size >= 4000, `only ${acked.size} events acknowledged`);
    await check(dbUrl, acked);
    await ledger.stop();
  });

  it('nats-server kill -9 and restart mid-run', async () => {
    // A fresh stream so the count check covers this run only.
    const { jetstreamManager } = await import('@nats-io/jetstream');
    await (await jetstreamManager(nc)).streams.delete('MIRRORD_EVENTS').catch(() => undefined);
    const dbUrl = `sqlite:${join(tempDir('dur'), 'ledger.db')}`;
    ledger = await startService('ledger', { ...nats.env, LEDGER_DB: dbUrl, USER_MAX_SESSIONS: '0' });
    const acked = await drive(nc, 3000, 32, async () => {
      await nats.kill9();
      await new Promise((r) => setTimeout(r, 1000));
      await nats.restart();
    });
    assert.ok(acked.size >= 2000, `only ${acked.size} events acknowledged`);
    await check(dbUrl, acked);
  });

  it(
    'on PostgreSQL: the database and then the ledger killed -9 mid-run',
    { skip: !storeNames().includes('postgres') },
    async () => {
      const { jetstreamManager } = await import('@nats-io/jetstream');
      await (await jetstreamManager(nc)).streams.delete('MIRRORD_EVENTS').catch(() => undefined);
      await ledger?.stop();
      const pg = await storeUnderTest('postgres');
      try {
        const dbUrl = await pg.newDatabase('durability');
        const env = { ...nats.env, LEDGER_DB: dbUrl, USER_MAX_SESSIONS: '0' };
        ledger = await startService('ledger', env);
        const acked = await drive(nc, 3000, 32, async () => {
          await pg.server!.kill9();
          await new Promise((r) => setTimeout(r, 1000));
          await pg.server!.restart();
        });
        // And the ledger itself, on the same database.
        const more = await drive(nc, 1500, 32, async () => {
          await ledger!.kill9();
          ledger = await startService('ledger', env);
        });
        for (const id of more) acked.add(id);
        assert.ok(acked.size >= 3000, `only ${acked.size} events acknowledged`);
        await check(dbUrl, acked);
        await ledger.stop();
      } finally {
        await pg.stop();
      }
    },
  );
});
