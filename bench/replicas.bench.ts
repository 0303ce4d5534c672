import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import BetterSqlite3 from 'better-sqlite3';
import type { NatsConnection } from '@nats-io/transport-node';
import { call, commandSubject } from '#shared/nats/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { tempDir } from '../test/support/tmp.js';
import type { NatsServer } from '../test/support/nats-server.js';
import { percentile, runConcurrent, spawnGateway, spawnTs, stop, type Row } from './support/util.js';

const client = { client_user: 'bench', client_name: 'Bench', client_hostname: 'b', client_cli_version: '3.250.0' };
const STANDBY = 'waiting to take over';

/** Until the ledger acknowledges a new session (100 ms timeout per try); ms since `t0`. */
async function firstAck(nc: NatsConnection, t0: number): Promise<number> {
  for (;;) {
    try {
      await call(
        nc,
        commandSubject('ledger', 'start'),
        { session_id: newSessionId(), target: 'deployment/t', namespace: 'b', client },
        200,
      );
      return performance.now() - t0;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const kill9 = async (p: ChildProcess) => {
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await done;
};

/**
 * Takeover: kill -9 of the active ledger with a hot standby (default 5 s lease; the standby sees
 * the dead holder's connection gone and need not wait it out) until a command
 * is acknowledged again, vs the same kill followed by an immediate cold restart of the one
 * ledger (what a single replica gets at best: its own process back at once, taking its own lease).
 */
export async function benchTakeover(nats: NatsServer, rounds = 3): Promise<Row> {
  const nc = await nats.connect();
  const env = { ...nats.env, LEDGER_DB: `sqlite:${join(tempDir('bench-takeover'), 'ledger.db')}` };
  const spawnLedger = (instance: string, ready: string) =>
    spawnTs('services/ledger/src/main.ts', { ...env, LEDGER_INSTANCE: instance }, ready);
  const takeovers: number[] = [];
  const restarts: number[] = [];
  let active = await spawnLedger('a', 'ledger ready');
  let standby = await spawnLedger('b', STANDBY);
  try {
    for (let i = 0; i < rounds; i++) {
      await firstAck(nc, performance.now());
      const t0 = performance.now();
      await kill9(active);
      takeovers.push(await firstAck(nc, t0));
      active = standby;
      standby = await spawnLedger(i % 2 === 0 ? 'a' : 'b', STANDBY);
    }
    await kill9(standby);
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await kill9(active);
      active = await spawnLedger('b', 'ledger');
      restarts.push(await firstAck(nc, t0));
    }
  } finally {
    await stop(active);
    await stop(standby);
    await nc.close();
  }
  const ours = percentile(takeovers, 50);
  const base = percentile(restarts, 50);
  return {
    name: 'ledger takeover after kill -9 of the active one (5 s lease; vs a cold restart)',
    value: ours,
    unit: 'ms',
    baseline: base,
    ratio: ours / base,
    target: '<= 1.5 s p50',
    pass: ours <= 1500,
  };
}

/**
 * `mirrord operator status` (GET mirrordoperators/operator through the gateway, which asks the
 * ledger) with 10,000 live sessions holding a port each, p99, vs a raw SELECT of the same rows
 * from the same SQLite file.
 */
export async function benchStatus(nats: NatsServer, live = 10_000, n = 40): Promise<Row> {
  const db = join(tempDir('bench-status'), 'ledger.db');
  const env = {
    ...nats.env,
    LEDGER_DB: `sqlite:${db}`,
    USER_MAX_SESSIONS: '0',
    GATEWAY_ADDR: '127.0.0.1:0',
    SESSION_UNUSED_TTL: '86400',
  };
  const nc = await nats.connect();
  const ledger = await spawnTs('services/ledger/src/main.ts', env, 'ledger ready');
  const { proc: gw, url } = await spawnGateway(env);
  try {
    await runConcurrent(live, 32, async (i) => {
      const id = newSessionId();
      const send = (verb: string, b: Record<string, unknown>) => call(nc, commandSubject('ledger', verb), b, 10_000);
      await send('start', { session_id: id, target: `deployment/app-${i}`, namespace: 'default', client });
      await send('port-subscribe', { session_id: id, client_user: 'bench', port: 80, mode: 'steal' });
    });
    const get = async () => {
      const t0 = performance.now();
      const res = await fetch(`${url}/apis/operator.metalbear.co/v1/mirrordoperators/operator`, {
        headers: { authorization: 'Bearer alice-token' },
      });
      const body = (await res.json()) as { status?: { sessions?: unknown[] } };
      if (body.status?.sessions?.length !== live + 0) throw new Error(`status shows ${body.status?.sessions?.length}`);
      return performance.now() - t0;
    };
    for (let i = 0; i < 5; i++) await get();
    const ours: number[] = [];
    for (let i = 0; i < n; i++) ours.push(await get());
    const raw = new BetterSqlite3(db, { readonly: true });
    const sessions = raw.prepare("SELECT * FROM sessions WHERE status = 'live'");
    const ports = raw.prepare('SELECT * FROM held_ports');
    const base: number[] = [];
    for (let i = 0; i < n + 5; i++) {
      const t0 = performance.now();
      if (sessions.all().length !== live || ports.all().length !== live) throw new Error('raw rows differ');
      if (i >= 5) base.push(performance.now() - t0);
    }
    raw.close();
    const o = percentile(ours, 99);
    const b = percentile(base, 99);
    return {
      name: `operator status with ${live.toLocaleString('en')} live sessions, p99 (vs a raw SELECT of the rows)`,
      value: o,
      unit: 'ms',
      baseline: b,
      ratio: o / b,
      target: '<= 50 ms',
      pass: o <= 50,
    };
  } finally {
    await stop(gw);
    await stop(ledger);
    await nc.close();
  }
}
