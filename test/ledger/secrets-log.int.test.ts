/**
 * Issue 25: the ledger logged LEDGER_DB, password included, at INFO ("ledger ready"). No line
 * it writes — ready, debug, or the one that says why it cannot start — carries the password.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startPostgres, type Postgres } from '../support/postgres.js';
import { startService, type ServiceProcess } from '../support/service-process.js';

const SECRET = 's3cret-Pa55';

describe('the ledger never logs its database password', () => {
  let nats: NatsServer;
  let pg: Postgres;
  const started: ServiceProcess[] = [];
  before(async () => {
    nats = await startNatsServer();
    pg = await startPostgres();
  });
  after(async () => {
    for (const s of started) await s.stop();
    await pg?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const everything = (s: ServiceProcess) => `${s.lines.map((l) => JSON.stringify(l)).join('\n')}\n${s.stderr}`;

  it('given LEDGER_DB=postgres://postgres:<password>@…, when it starts and serves at debug level, then the password appears nowhere and the ready line still names the database', async () => {
    // The test server trusts local connections: any password is accepted, and must not be printed.
    const db = (await pg.createDatabase('secrets')).replace('postgres://postgres@', `postgres://postgres:${SECRET}@`);
    const ledger = await startService('ledger', { ...nats.env, LEDGER_DB: db, LOG_LEVEL: 'debug' });
    started.push(ledger);
    const ready = ledger.lines.find((l) => l.msg === 'ledger ready')!;
    assert.equal(ready.db, db.replace(SECRET, '***'));
    await ledger.stop();
    assert.ok(!everything(ledger).includes(SECRET), 'the password is in the log');
  });

  it('given an unreachable database, when the ledger waits for it, then the line that says so has no password', async () => {
    const url = `postgres://postgres:${SECRET}@127.0.0.1:1/ledger`;
    const ledger = await startService('ledger', { ...nats.env, LEDGER_DB: url }, (l) => l.level === 'warn');
    started.push(ledger);
    const waiting = await ledger.waitFor((l) => l.msg === 'waiting for the ledger database');
    assert.equal(waiting.db, url.replace(SECRET, '***'));
    await ledger.stop();
    assert.ok(!everything(ledger).includes(SECRET), everything(ledger));
  });

  it('given a URL that does not parse, when the ledger cannot start, then the line that says why has no password', async () => {
    const url = `postgres://postgres:${SECRET}@[not-a-host/ledger`;
    const ledger = await startService('ledger', { ...nats.env, LEDGER_DB: url }, (l) => l.level === 'fatal');
    started.push(ledger);
    const code = await new Promise<number | null>((r) =>
      ledger.proc.exitCode !== null ? r(ledger.proc.exitCode) : ledger.proc.once('exit', r),
    );
    assert.equal(code, 1);
    assert.ok(!everything(ledger).includes(SECRET), everything(ledger));
  });
});
