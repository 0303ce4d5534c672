/**
 * Issue 25: no outage takes the ledger down. A PostgreSQL killed -9 for 15 s while sessions
 * are connected (a gateway reporting their activity every second) used to end the ledger with
 * an unhandled rejection from the expiry timer's activity flush.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startPostgres, type Postgres } from '../support/postgres.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { eventually } from '../support/eventually.js';
import { call, commandSubject, querySubject } from '#shared/nats/index.js';
import { isAppError } from '#shared/errors/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { openLedgerStore } from '../../services/ledger/src/adapters/sql/sql-store.js';

type Reply = { events: Array<{ id: string }> };
const client = { client_user: 'alice', client_name: 'Alice', client_hostname: 'laptop', client_cli_version: '3.150.0' };
const OUTAGE_MS = 15_000;

describe('ledger on PostgreSQL: a database outage with connected sessions', () => {
  let nats: NatsServer;
  let pg: Postgres;
  let nc: NatsConnection;
  let ledger: ServiceProcess | undefined;
  before(async () => {
    nats = await startNatsServer();
    pg = await startPostgres();
    nc = await nats.connect();
  });
  after(async () => {
    await nc?.close();
    await ledger?.stop();
    await pg?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('given sessions reporting activity, when PostgreSQL is killed -9 for 15 s, then the ledger stays up, answers Unavailable, and serves again after it returns with nothing acknowledged lost', async (t) => {
    const dbUrl = await pg.createDatabase('outage');
    ledger = await startService('ledger', { ...nats.env, LEDGER_DB: dbUrl, SESSION_UNUSED_TTL: '6' });
    const acked = new Set<string>();
    const command = async (verb: string, body: Record<string, unknown>) => {
      const r = await call<Reply>(nc, commandSubject('ledger', verb), body, 3000);
      for (const e of r.events) acked.add(e.id);
      return r;
    };
    const sessions = [newSessionId(), newSessionId(), newSessionId()];
    for (const [i, id] of sessions.entries()) {
      await command('start', { session_id: id, target: `deployment/app-${i}`, namespace: 'default', client });
      await command('port-subscribe', { session_id: id, client_user: 'alice', port: 80 + i, mode: 'steal' });
    }
    // A gateway's liveness reports, every second, all along.
    let reporting = true;
    const reports = (async () => {
      while (reporting) {
        await call(nc, commandSubject('ledger', 'activity'), { session_ids: sessions }, 2000).catch(() => undefined);
        await sleep(1000);
      }
    })();
    try {
      await sleep(1500); // activity recorded and flushed at least once
      await pg.kill9();
      const downAt = Date.now();
      const refused = await eventually('a command is answered Unavailable while the database is down', async () => {
        try {
          await command('start', { session_id: newSessionId(), target: 'deployment/x', namespace: 'default', client });
          return false;
        } catch (e) {
          return isAppError(e, 'Unavailable') ? e : false;
        }
      });
      assert.match(refused.message, /store/);
      await assert.rejects(
        call(nc, querySubject('ledger', 'events'), { session_id: sessions[0] }, 3000),
        (e: unknown) => isAppError(e, 'Unavailable'),
      );
      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
      assert.equal(ledger.proc.exitCode, null, `the ledger exited during the outage: ${ledger.stderr.slice(-800)}`);
      await pg.restart();
      const after = await eventually(
        'a new session starts once PostgreSQL is back',
        async () => {
          const id = newSessionId();
          await command('start', { session_id: id, target: 'deployment/y', namespace: 'default', client });
          return id;
        },
        30_000,
        250,
      );
      assert.equal(ledger.proc.exitCode, null, 'the same ledger process serves');
      // The connected sessions were reported throughout: none ended as Unused.
      for (const id of sessions) {
        const r = await call<{ session: { status: string; ports: unknown[] } | null }>(
          nc,
          querySubject('ledger', 'session'),
          { id },
          3000,
        );
        assert.equal(r.session?.status, 'live', `session ${id} is still live`);
        assert.equal(r.session?.ports.length, 1);
      }
      await command('end', { session_id: after, client_user: 'alice', reason: 'ClientClosed' });
      assert.doesNotMatch(ledger.stderr, /Unhandled|unhandled/);
      // One line when the outage starts and one when it ends, not one per failed operation.
      const said = (re: RegExp) => ledger!.lines.filter((l) => re.test(l.msg));
      assert.equal(said(/^ledger store unavailable/).length, 1, JSON.stringify(said(/^ledger store/)));
      const back = said(/^ledger store available again/);
      assert.equal(back.length, 1);
      t.diagnostic(`store down for ${String(back[0]!.down_ms)} ms, ${String(back[0]!.failures)} failed operations`);
      t.diagnostic(
        `warnings and errors logged: ${ledger.lines.filter((l) => l.level === 'warn' || l.level === 'error').length}`,
      );
    } finally {
      reporting = false;
      await reports;
    }
    await ledger.stop();
    ledger = undefined;
    const store = await openLedgerStore(dbUrl);
    const inTable = new Set((await store.readAll(0, 100_000)).map((s) => s.event.id));
    await store.close();
    const missing = [...acked].filter((id) => !inTable.has(id));
    assert.deepEqual(missing, [], 'every acknowledged event is in the database');
  });

  it('given PostgreSQL is down when the ledger starts, when it comes back, then the same ledger process starts serving (it used to exit, and a supervisor stopped the system)', async (t) => {
    const dbUrl = await pg.createDatabase('outage_start');
    await pg.kill9();
    const waitingLine = (l: { msg: string }) => l.msg === 'waiting for the ledger database';
    ledger = await startService('ledger', { ...nats.env, LEDGER_DB: dbUrl }, waitingLine);
    await ledger.waitFor((l) => waitingLine(l) && Number(l.attempt) >= 3);
    const upAt = Date.now();
    await pg.restart();
    await ledger.waitFor((l) => l.msg === 'ledger ready', 30_000);
    t.diagnostic(`ready ${Date.now() - upAt} ms after PostgreSQL was back`);
    assert.equal(ledger.proc.exitCode, null);
    await call(nc, commandSubject('ledger', 'start'), {
      session_id: newSessionId(),
      target: 'deployment/z',
      namespace: 'default',
      client,
    });
  });
});
