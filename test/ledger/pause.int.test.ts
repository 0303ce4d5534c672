/**
 * Issue 25: a ledger that was itself paused (SIGSTOP, a frozen VM, a long GC) used to end every
 * connected session as Unused on its first tick after it: the gateways' reports of the pause
 * were never heard. It now treats the pause like a NATS outage — every live session gets a
 * full TTL from when it resumes. A single ledger keeps its writer lease across the pause.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/eventually.js';
import { call, commandSubject, querySubject } from '#shared/nats/index.js';
import { newSessionId } from '#shared/ids/index.js';

const client = { client_user: 'bob', client_name: 'Bob', client_hostname: 'laptop', client_cli_version: '3.150.0' };
const TTL_S = 6;
/** Over three TTLs: without the fix every session is past its TTL on the first tick after it. */
const PAUSE_MS = 20_000;

describe('a paused ledger keeps its connected sessions', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let ledger: ServiceProcess | undefined;
  before(async () => {
    nats = await startNatsServer();
    nc = await nats.connect();
  });
  after(async () => {
    if (ledger?.proc.exitCode === null) ledger.proc.kill('SIGCONT');
    await nc?.close();
    await ledger?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it('given sessions reported every second, when the ledger is SIGSTOPped for over three TTLs and continued, then they are still live and none ended Unused', async (t) => {
    ledger = await startService('ledger', {
      ...nats.env,
      LEDGER_DB: `sqlite:${tempDir('ledger-pause')}/ledger.db`,
      SESSION_UNUSED_TTL: String(TTL_S),
      // A lease outliving the pause: a holder paused past its lease's TTL steps down (writer-lease.ts).
      LEDGER_LEASE_MS: String(PAUSE_MS * 3),
    });
    const sessions = [newSessionId(), newSessionId(), newSessionId()];
    for (const [i, id] of sessions.entries())
      await call(nc, commandSubject('ledger', 'start'), {
        session_id: id,
        target: `deployment/app-${i}`,
        namespace: 'default',
        client,
      });
    let reporting = true;
    let answered = 0;
    const reports = (async () => {
      while (reporting) {
        await call(nc, commandSubject('ledger', 'activity'), { session_ids: sessions }, 1000)
          .then(() => answered++)
          .catch(() => undefined);
        await sleep(1000);
      }
    })();
    try {
      await sleep(1500);
      ledger.proc.kill('SIGSTOP');
      await sleep(PAUSE_MS);
      const before = answered;
      ledger.proc.kill('SIGCONT');
      const said = await ledger.waitFor(
        (l) => l.msg === 'the ledger was paused: every live session gets a full unused TTL',
      );
      assert.equal(said.level, 'warn');
      assert.equal(said.live, sessions.length);
      assert.ok(Number(said.paused_ms) >= PAUSE_MS - 1000, `paused_ms ${String(said.paused_ms)}`);
      t.diagnostic(`pause detected: ${String(said.paused_ms)} ms`);
      // A report answered after the pause: the ledger runs again and has heard from the gateway.
      await eventually('a report is answered after the pause', () => answered > before);
      for (const id of sessions) {
        const r = await call<{ session: { status: string; end_reason: string | null } | null }>(
          nc,
          querySubject('ledger', 'session'),
          { id },
        );
        assert.equal(r.session?.status, 'live', `session ${id}: ${JSON.stringify(r.session)}`);
      }
      const ended = ledger.lines.filter((l) => l.msg === 'Session Ended' || l.type === 'SessionEnded');
      assert.deepEqual(ended, [], 'no session ended');
      assert.equal(ledger.proc.exitCode, null, 'a single ledger keeps its lease across the pause');
    } finally {
      reporting = false;
      await reports;
    }
  });
});
