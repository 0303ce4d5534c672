import { tempDir } from '../test/support/tmp.js';
import { get } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import type { NatsServer } from '../test/support/nats-server.js';
import { percentile, spawnGateway, spawnTs, stop, type Row } from './support/util.js';
import { size } from './support/profile.js';

/**
 * One WebSocket session start through the gateway: the upgrade is answered (101) only once the
 * ledger has committed Session Started, so `open` is the start. The gateway sends nothing before
 * the agent (here: none) speaks. The session stays open until the run ends, so each start is
 * measured alone (not racing the previous one's end).
 */
function startOnce(url: string, open: WebSocket[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const ws = new WebSocket(url, { headers: { authorization: 'Bearer alice-token' } });
    ws.once('open', () => {
      resolve(performance.now() - t0);
      open.push(ws);
    });
    ws.once('error', reject);
  });
}

function bareOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - t0));
    }).on('error', reject);
  });
}

/** Session start p50/p99 through gateway + ledger vs a bare HTTP→NATS request round trip. */
export async function benchStart(nats: NatsServer, n = 300): Promise<Row[]> {
  const echo = await spawnTs('bench/support/echo-responder.ts', { ...nats.env }, 'ready');
  const bare2 = await spawnBare(nats);
  const bareTimes: number[] = [];
  for (let i = 0; i < size(50, 5); i++) await bareOnce(bare2.port);
  for (let i = 0; i < n; i++) bareTimes.push(await bareOnce(bare2.port));
  await stop(bare2.proc);
  await stop(echo);

  const db = join(tempDir('bench-start'), 'ledger.db');
  const env = {
    ...nats.env,
    LEDGER_DB: `sqlite:${db}`,
    GATEWAY_ADDR: '127.0.0.1:0',
    USER_MAX_SESSIONS: '0',
    SESSION_MESSAGES_PER_SECOND: '100000',
  };
  const ledger = await spawnTs('services/ledger/src/main.ts', env, 'ledger ready');
  const gw = await spawnGateway(env);
  const url = `${gw.url.replace(/^http/, 'ws')}/apis/operator.metalbear.co/v1/namespaces/default/targets/deployment.bench?connect=true`;
  const open: WebSocket[] = [];
  for (let i = 0; i < size(30, 3); i++) await startOnce(url, open);
  const ours: number[] = [];
  for (let i = 0; i < n; i++) ours.push(await startOnce(url, open));
  await Promise.all(open.map((ws) => new Promise((r) => (ws.once('close', r), ws.close(1000)))));
  await stop(gw.proc);
  await stop(ledger);
  const row = (p: number): Row => {
    const o = percentile(ours, p);
    const b = percentile(bareTimes, p);
    return {
      name: `session start through the gateway, p${p}`,
      value: o,
      unit: 'ms',
      baseline: b,
      ratio: o / b,
      target: p === 50 ? '<= 2.0 (issue 29)' : 'report',
      pass: p === 50 ? o / b <= 2 : true,
    };
  };
  return [row(50), row(99)];
}

async function spawnBare(nats: NatsServer) {
  const { spawn } = await import('node:child_process');
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/support/bare-http.ts'], {
    env: { ...process.env, ...nats.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) =>
    createInterface({ input: proc.stdout! }).once('line', (l) => resolve(Number(l.split(' ')[1]))),
  );
  return { proc, port };
}
