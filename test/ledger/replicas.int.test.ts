import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { call, commandSubject } from '#shared/nats/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startService, type LogLine, type ServiceProcess } from '../support/service-process.js';
import { storeNames, storeUnderTest, type StoreUnderTest } from '../support/ledger-stores.js';
import { eventually } from '../support/eventually.js';

const client = { client_user: 'rep', client_name: 'Rep', client_hostname: 'h', client_cli_version: '3.250.0' };
const up = (l: LogLine) =>
  l.msg === 'ledger ready' || l.msg === 'ledger standby: another ledger holds the writer lease; waiting to take over';
const isActive = (p: ServiceProcess) => p.lines.some((l) => l.msg === 'ledger ready');

/**
 * Ledger replicas: one active writer holding the lease, hot standbys that take over, and a
 * deposed writer that can never commit beside the new one. Over every store both replicas share.
 */
for (const name of storeNames())
  describe(`ledger replicas on ${name}`, () => {
    let nats: NatsServer;
    let nc: NatsConnection;
    let under: StoreUnderTest;
    const procs: ServiceProcess[] = [];
    before(async () => {
      nats = await startNatsServer();
      nc = await nats.connect(undefined, { maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      under = await storeUnderTest(name);
    });
    after(async () => {
      await nc?.close();
      for (const p of procs) await p.stop();
      await under?.stop();
      await nats?.[Symbol.asyncDispose]();
    });

    const start = async (env: Record<string, string>, instance: string) => {
      const p = await startService('ledger', { ...env, LEDGER_INSTANCE: instance }, up);
      procs.push(p);
      return p;
    };
    const startSession = (target: string) => {
      const id = newSessionId();
      return call(
        nc,
        commandSubject('ledger', 'start'),
        { session_id: id, target, namespace: 'rep', client },
        3000,
      ).then(() => id);
    };
    const steal = (id: string) =>
      call(nc, commandSubject('ledger', 'port-subscribe'), {
        session_id: id,
        client_user: 'rep',
        port: 80,
        mode: 'steal',
      });

    it('a standby takes over after kill -9 of the active ledger and keeps its locks', async () => {
      // given an active ledger and a standby on one store, the active one holding a port lock
      const env = { ...nats.env, LEDGER_DB: await under.newDatabase('replicas_kill'), LEDGER_LEASE_MS: '1500' };
      const a = await start(env, 'ledger-a');
      const b = await start(env, 'ledger-b');
      assert.ok(isActive(a) && !isActive(b), 'the first is active, the second waits');
      const holder = await startSession('deployment/locked');
      await steal(holder);
      // when the active one is killed
      await a.kill9();
      // then the standby takes over and answers
      const took = await b.waitFor((l) => l.msg === 'ledger writer lease acquired', 30_000);
      assert.ok(Number(took.epoch) > 1, 'the new writer claimed a newer epoch');
      const other = await eventually('the standby answers', () => startSession('deployment/locked'));
      // and the lock taken through the old writer still holds
      await assert.rejects(steal(other), (e: { code?: string; message: string }) => {
        assert.equal(e.code, 'PortAlreadyStolen');
        assert.match(e.message, new RegExp(holder));
        return true;
      });
      await b.stop();
    });

    it('SIGTERM hands the lease over at once (no wait for its time to live)', async () => {
      // given a lease that would take five minutes to expire
      const env = {
        ...nats.env,
        LEDGER_DB: await under.newDatabase('replicas_term'),
        LEDGER_LEASE_MS: '300000',
      };
      const a = await start(env, 'ledger-c');
      const b = await start(env, 'ledger-d');
      // when the active one drains
      assert.equal(await a.stop(), 0);
      // then the standby holds the lease (only a release can have freed it) and answers
      await b.waitFor((l) => l.msg === 'ledger ready', 30_000);
      await startSession('deployment/after-term');
      await b.stop();
    });

    it('a writer paused past its lease steps down when it wakes and commits nothing', async () => {
      // given an active ledger and a standby, with a short lease
      const env = { ...nats.env, LEDGER_DB: await under.newDatabase('replicas_stop'), LEDGER_LEASE_MS: '1000' };
      const a = await start(env, 'ledger-e');
      const b = await start(env, 'ledger-f');
      // when the active one is paused (SIGSTOP) until the standby took over, then resumed
      a.proc.kill('SIGSTOP');
      await b.waitFor((l) => l.msg === 'ledger ready', 30_000);
      const exited = new Promise<number | null>((r) => a.proc.once('exit', (code) => r(code)));
      a.proc.kill('SIGCONT');
      // then it finds its lease taken, says so and exits; the new writer goes on
      const down = await a.waitFor((l) => /^ledger stepping down/.test(l.msg), 30_000);
      assert.match(down.msg, /writer lease|epoch/);
      assert.equal(await exited, 1);
      // the new writer serves (one request may still meet the queue group settling after the exit)
      await eventually('the new writer takes a session', () => startSession('deployment/after-pause'), 15_000);
      await b.stop();
    });
  });
