/**
 * The ledger's writer lease against a real NATS and a real store: a holder paused past its TTL
 * gives the lease up for good once another ledger claimed the store (it used to create the
 * expired key again and depose the ledger that had taken over, so both exited), takes it back
 * when nobody did (a NATS outage with no standby), and a holder whose connection is gone
 * (kill -9) is taken over without waiting out its TTL, while a live one is never taken over.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { WriterLease } from '../../services/ledger/src/adapters/nats/writer-lease.js';
import { openLedgerStore } from '../../services/ledger/src/adapters/sql/sql-store.js';
import type { LedgerStore } from '../../services/ledger/src/domain/store.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { silentLogger } from '../support/log.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/eventually.js';

/** Blocks this process's event loop, as SIGSTOP or a long GC pause would. */
const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('the ledger writer lease', () => {
  let nats: NatsServer;
  const conns: NatsConnection[] = [];
  const procs: ServiceProcess[] = [];
  const leases: WriterLease[] = [];
  const stores: LedgerStore[] = [];
  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    for (const l of leases) l.stop();
    for (const p of procs) await p.stop();
    for (const c of conns) await c.close().catch(() => undefined);
    for (const st of stores) await st.close();
    await nats?.[Symbol.asyncDispose]();
  });
  const open = async (instance: string, ttlMs: number) => {
    const nc = await nats.connect('ledger');
    conns.push(nc);
    const lease = await WriterLease.open(nc, { instance, ttlMs, log: silentLogger() });
    leases.push(lease);
    return { nc, lease };
  };
  /** One database, opened by each ledger process that shares it. */
  const database = () => {
    const url = `sqlite:${tempDir('writer-lease-db')}/ledger.db`;
    return async () => {
      const st = await openLedgerStore(url);
      await st.init();
      stores.push(st);
      return st;
    };
  };

  it('a holder paused past its TTL steps down on waking and never holds the key again; the ledger that took over keeps it', async () => {
    // given a holder of a 1 s lease, the store's writer, and a standby waiting for it
    const db = database();
    const [storeA, storeB] = [await db(), await db()];
    const a = await open('lease-a', 1000);
    await a.lease.acquire();
    await storeA.claimWriter();
    const lostA: string[] = [];
    a.lease.keep(
      (why) => lostA.push(why),
      () => storeA.stillWriter(),
    );
    const b = await open('lease-b', 1000);
    const bHolds = b.lease.acquire();
    await sleep(300);
    // when the holder is paused for twice its TTL (the key expires meanwhile), then wakes
    freeze(2000);
    // then the standby holds the lease, claims the store, and the paused holder says it lost it
    await bHolds;
    await storeB.claimWriter();
    const lostB: string[] = [];
    b.lease.keep(
      (why) => lostB.push(why),
      () => storeB.stillWriter(),
    );
    await eventually('the paused holder steps down', () => lostA.length === 1 || undefined);
    assert.match(lostA[0]!, /the writer lease last renewed/);
    // and over several of its renewal periods the key stays the new holder's, who keeps it
    await sleep(1500);
    assert.equal((await b.lease.holder())?.instance, 'lease-b');
    assert.deepEqual(lostB, []);
    b.lease.stop();
    await b.lease.release();
  });

  it('a holder paused past its TTL whose store another ledger claimed does not create the expired key again', async () => {
    // given a holder of a 1 s lease, and another ledger that has claimed the store since
    // (it took over and then went away too: its key expired)
    const db = database();
    const [storeC, storeD] = [await db(), await db()];
    const c = await open('lease-c', 1000);
    await c.lease.acquire();
    await storeC.claimWriter();
    const lost: string[] = [];
    c.lease.keep(
      (why) => lost.push(why),
      () => storeC.stillWriter(),
    );
    await storeD.claimWriter();
    // when the holder is paused past its TTL and wakes to a free key
    freeze(1800);
    // then it steps down, and the key stays free for whoever starts next
    await eventually('the paused holder steps down', () => lost.length === 1 || undefined);
    assert.match(lost[0]!, /another ledger has claimed the store/);
    await sleep(800);
    assert.equal(await c.lease.holder(), undefined);
  });

  it('a lone holder cut off past its TTL with nobody taking over takes its lease back and keeps writing', async () => {
    // given a lone holder of a 1 s lease, the store's writer
    const db = database();
    const store = await db();
    const a = await open('lease-d', 1000);
    await a.lease.acquire();
    await store.claimWriter();
    const lost: string[] = [];
    a.lease.keep(
      (why) => lost.push(why),
      () => store.stillWriter(),
    );
    // when it is paused past its TTL (as NATS being away that long would) and wakes
    freeze(1800);
    // then it holds the key again and has lost nothing
    await eventually('the holder holds its key again', async () =>
      (await a.lease.holder())?.instance === 'lease-d' ? true : undefined,
    );
    await sleep(1200);
    assert.deepEqual(lost, []);
    assert.equal((await a.lease.holder())?.instance, 'lease-d');
    a.lease.stop();
    await a.lease.release();
  });

  it('a live holder is never taken over; once its connection is gone a standby takes the key before its TTL', async () => {
    // given a holder of a five-minute lease and a standby
    const a = await open('lease-e', 300_000);
    await a.lease.acquire();
    a.lease.keep(
      () => assert.fail('the live holder lost its lease'),
      async () => true,
    );
    const b = await open('lease-f', 300_000);
    let bHeld = false;
    const bHolds = b.lease.acquire().then(() => (bHeld = true));
    // when the holder lives on, the standby waits
    await sleep(1500);
    assert.equal(bHeld, false, 'the standby took the lease of a live holder');
    assert.equal((await b.lease.holder())?.instance, 'lease-e');
    // and when the holder's connection is gone (its process died), the standby takes over
    a.lease.stop();
    await a.nc.close();
    await bHolds;
    assert.equal((await b.lease.holder())?.instance, 'lease-f');
    await b.lease.release();
  });

  it('kill -9 of the active ledger: a standby takes its five-minute lease without waiting it out', async () => {
    // given an active ledger process holding a five-minute lease, and a standby
    const env = {
      ...nats.env,
      LEDGER_DB: `sqlite:${tempDir('writer-lease')}/ledger.db`,
      LEDGER_LEASE_MS: '300000',
      LEDGER_INSTANCE: 'ledger-g',
    };
    const active = await startService('ledger', env, (l) => l.msg === 'ledger ready');
    procs.push(active);
    const standby = await open('ledger-h', 300_000);
    assert.equal((await standby.lease.holder())?.instance, 'ledger-g');
    // when it is killed -9
    await active.kill9();
    // then the standby holds the lease (the test's timeout is far below the TTL)
    await standby.lease.acquire();
    assert.equal((await standby.lease.holder())?.instance, 'ledger-h');
    await standby.lease.release();
  });
});
