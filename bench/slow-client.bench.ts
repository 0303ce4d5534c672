import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionClient, startSystem, type System } from '../test/support/system.js';
import { eventually } from '../test/support/eventually.js';
import { cpuMs, latencyRows, memoryAfterGc, type Row } from './support/util.js';
import { size } from './support/profile.js';

const MB = 1024 * 1024;
/** Non-reading clients at once (the trial had 5), and the refused requests each sends. */
const CLIENTS = size(5, 1);
const FRAMES = 400_000;

/** The gateway restarted with its inspector (and `env`), so memory is read after a full collection. */
async function inspectedGateway(sys: System, env: Record<string, string>): Promise<string> {
  await sys.gateway.stop();
  Object.assign(sys.env, env, { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  await sys.restartGateway();
  delete sys.env.NODE_OPTIONS;
  for (const k of Object.keys(env)) delete sys.env[k];
  return eventually('the gateway inspector listening', async () => {
    const url = /Debugger listening on (ws:\/\/\S+)/.exec(sys.gateway.stderr)?.[1];
    return url || undefined;
  });
}

/**
 * `clients` non-reading clients in their own process: their session ids, `done` once they
 * have sent everything (their sockets stay open), and `stop()`.
 */
async function nonReading(
  url: string,
  clients: number,
): Promise<{ ids: string[]; done: Promise<void>; stop(): Promise<void> }> {
  const p = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/support/non-reading-clients.ts', url, String(clients), String(FRAMES)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  const lines = createInterface({ input: p.stdout! });
  const said = (key: 'ids' | 'done') =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      lines.on('line', (l) => {
        const m = JSON.parse(l) as Record<string, unknown>;
        if (m[key] !== undefined) resolve(m);
      });
      void exited.then(() => reject(new Error(`the non-reading clients exited before "${key}"`)));
    });
  const done = said('done').then(() => undefined);
  const ids = (await said('ids')).ids as string[];
  return {
    ids,
    done,
    stop: async () => {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      await exited;
    },
  };
}

/** Until the gateway has worked through what it was sent: its CPU time still for 300 ms. */
async function settled(pid: number): Promise<void> {
  for (let last = cpuMs(pid); ;) {
    await sleep(300);
    const now = cpuMs(pid);
    if (now - last < 30) return;
    last = now;
  }
}

const heapAndExternal = async (inspector: string, pid: number) => {
  const m = await memoryAfterGc(inspector, pid);
  return m.heapMb + m.externalMb;
};

const connect = async (sys: System, token = 'alice-token') => {
  const r = await SessionClient.connect(sys, { token, target: 'deployment.slow-client' });
  if (!r.client) throw new Error(JSON.stringify(r.body));
  return r.client;
};

/** Another user's pings, one after another, until `until` settles; their round trips in ms. */
async function pings(reader: SessionClient, until: Promise<unknown>): Promise<number[]> {
  let going = true;
  void until.finally(() => (going = false));
  const out: number[] = [];
  while (going) {
    const t0 = performance.now();
    await reader.socket.ping();
    out.push(performance.now() - t0);
    await sleep(20);
  }
  return out;
}

/**
 * The gateway's memory per client that sends refused requests and never reads the answers
 * (issue 25: 1.2 GB in one socket, another user's ping 25 s with five of them). Ours: five
 * such clients on the default budget (PROTOCOL_MAX_MESSAGE_BYTES + 2 MiB), each closed 1008
 * once past it, with another client's ping timed meanwhile. Baseline, same run: one such
 * client on a gateway whose budget is out of reach (PROTOCOL_MAX_MESSAGE_BYTES = 1 GiB), the
 * unbounded growth of before.
 */
export async function benchSlowClient(log: (s: string) => void): Promise<Row[]> {
  const sys = await startSystem({ USER_MAX_SESSIONS: '0' });
  const children: Array<{ stop(): Promise<void> }> = [];
  try {
    log('slow client: unbounded baseline…');
    let inspector = await inspectedGateway(sys, { PROTOCOL_MAX_MESSAGE_BYTES: String(1024 * MB) });
    let pid = sys.gateway.proc.pid!;
    for (let i = 0; i < size(10, 1); i++) await (await connect(sys)).close();
    let before = await heapAndExternal(inspector, pid);
    const lone = await nonReading(sys.url, 1);
    children.push(lone);
    await lone.done;
    await settled(pid);
    const baseline = (await heapAndExternal(inspector, pid)) - before;
    await lone.stop();
    log(`slow client: without a reachable budget, ${baseline.toFixed(1)} MB held for one client (${FRAMES} refusals)`);

    log('slow client: five on the default budget…');
    inspector = await inspectedGateway(sys, {});
    pid = sys.gateway.proc.pid!;
    for (let i = 0; i < size(10, 1); i++) await (await connect(sys)).close();
    const reader = await connect(sys, 'bob-token');
    const idle = await pings(reader, sleep(size(3000, 300)));
    before = await heapAndExternal(inspector, pid);
    const spam = await nonReading(sys.url, CLIENTS);
    children.push(spam);
    const busy = await pings(reader, spam.done);
    // Memory while the closed sockets still hold what they were sent (ws waits 30 s for their close).
    const closes = await Promise.all(
      spam.ids.map((id) =>
        sys.gateway.waitFor((l) => l.session_id === id && /does not read what it is sent/.test(l.msg), 60_000),
      ),
    );
    const ours = ((await heapAndExternal(inspector, pid)) - before) / CLIENTS;
    await spam.stop();
    const budget = Number(closes[0]!.budget_bytes) / MB;
    log(
      `slow client: ${ours.toFixed(1)} MB per client (budget ${budget.toFixed(1)} MB; closed at ${closes.map((l) => (Number(l.held_bytes) / MB).toFixed(1)).join(', ')} MB held)`,
    );
    await reader.close();
    return [
      {
        name: `relay: gateway memory per non-reading client (${CLIENTS} at once, ${FRAMES} refused requests each)`,
        value: ours,
        unit: 'MB',
        baseline,
        ratio: ours / baseline,
        target: `≤ budget ${budget.toFixed(0)} MB`,
        pass: ours <= budget,
      },
      ...latencyRows(`relay: another client's ping during ${CLIENTS} non-reading clients`, 'vs idle', busy, idle),
    ];
  } finally {
    for (const c of children) await c.stop();
    await sys.stop();
  }
}
