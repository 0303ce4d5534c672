import { tempDir } from '../test/support/tmp.js';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { startPostgres } from '../test/support/postgres.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { EVENTS_STREAM, call, commandSubject, encode } from '#shared/nats/index.js';
import { newSessionId } from '#shared/ids/index.js';
import type { NatsServer } from '../test/support/nats-server.js';
import { cpuMs, runConcurrent, spawnTs, stop, type Row } from './support/util.js';

const client = {
  client_user: 'bench',
  client_name: 'Bench',
  client_hostname: 'bench-host',
  client_cli_version: '3.150.0',
};

/** Ledger commands (start / steal / end), each durably committed, 32 in flight vs raw NATS req-reply. */
export async function benchCommands(nats: NatsServer, sessions = 2000): Promise<Row[]> {
  const nc = await nats.connect();
  const echo = await spawnTs('bench/support/echo-responder.ts', { ...nats.env }, 'ready');
  const body = encode({ session_id: 'ABCDEF0123456789', target: 'deployment/app', namespace: 'default', client });
  const total = sessions * 3;
  await runConcurrent(500, 32, () => nc.request('bench.echo', body));
  const e0 = cpuMs(echo.pid!);
  const rawMs = await runConcurrent(total, 32, () => nc.request('bench.echo', body, { timeout: 5000 }));
  const echoUsed = cpuMs(echo.pid!) - e0;
  const rawCpuUs = (echoUsed * 1000) / total;
  process.stderr.write(
    `  raw responder CPU: ${((echoUsed * 1000) / total).toFixed(0)} µs per request, ${((echoUsed / rawMs) * 100).toFixed(0)} % of a core\n`,
  );
  await stop(echo);

  const sqlite = await measureLedger(nc, `sqlite:${join(tempDir('bench-cmd'), 'ledger.db')}`, sessions, nats.env);
  // The same load on PostgreSQL (one active ledger), in the same run.
  const pg = await startPostgres();
  let onPg: Measured;
  try {
    onPg = await measureLedger(nc, await pg.createDatabase('bench'), sessions, nats.env);
  } finally {
    await pg[Symbol.asyncDispose]();
  }
  const oursMs = sqlite.ms;
  await nc.close();
  const ours = total / (oursMs / 1000);
  const raw = total / (rawMs / 1000);
  const pgRate = total / (onPg.ms / 1000);
  return [
    {
      name: 'ledger commands, 32 in flight (start/steal/end, committed)',
      value: ours,
      unit: 'cmd/s',
      baseline: raw,
      ratio: ours / raw,
      target: '>= 0.5 (issue 29)',
      pass: ours / raw >= 0.5,
    },
    {
      name: 'ledger commands on PostgreSQL vs SQLite (1 active ledger, same load)',
      value: pgRate,
      unit: 'cmd/s',
      baseline: ours,
      ratio: pgRate / ours,
      target: '>= 0.6 (issue 29)',
      pass: pgRate / ours >= 0.6,
    },
    {
      name: 'ledger CPU per command, SQLite (vs a raw NATS responder per request)',
      value: sqlite.cpuUs,
      unit: 'µs',
      baseline: rawCpuUs,
      ratio: sqlite.cpuUs / rawCpuUs,
      target: '<= 100 µs (issue 29)',
      pass: sqlite.cpuUs <= 100,
    },
    {
      name: 'ledger CPU per command, PostgreSQL (vs SQLite)',
      value: onPg.cpuUs,
      unit: 'µs',
      baseline: sqlite.cpuUs,
      ratio: onPg.cpuUs / sqlite.cpuUs,
      target: 'report',
      pass: true,
    },
  ];
}

interface Measured {
  ms: number;
  /** The ledger process's CPU per command. */
  cpuUs: number;
}

/**
 * One ledger on `dbUrl` driven with `sessions` × (start, steal, end), 32 in flight, timed until
 * every event is on JetStream too; the ledger's CPU per command goes to stderr. Returns ms.
 */
async function measureLedger(
  nc: NatsConnection,
  dbUrl: string,
  sessions: number,
  natsEnv: Record<string, string>,
): Promise<Measured> {
  const total = sessions * 3;
  // Each store starts a new history: a ledger refuses to publish into a stream another store
  // wrote (provenance), so the stream goes first.
  await (await jetstreamManager(nc)).streams.delete(EVENTS_STREAM).catch(() => undefined);
  // The ledger logs every event at INFO (the seed's lines): that cost is part of what is measured.
  const ledger = await spawnTs(
    'services/ledger/src/main.ts',
    { ...natsEnv, LEDGER_DB: dbUrl, USER_MAX_SESSIONS: '0' },
    'ledger ready',
  );
  let oursMs: number;
  let cpuUs: number;
  // A failure mid-run must not leave the ledger running (it holds the bench's stderr open).
  try {
    const jsm = await jetstreamManager(nc);
    const stored = async () => (await jsm.streams.info(EVENTS_STREAM)).state.messages;
    const before = await stored();
    const ids = Array.from({ length: sessions + 200 }, () => newSessionId());
    const send = (verb: string, b: Record<string, unknown>) => call(nc, commandSubject('ledger', verb), b, 10_000);
    const one = async (id: string) => {
      await send('start', {
        session_id: id,
        target: `deployment/app-${id.slice(0, 1).toLowerCase()}`,
        namespace: 'default',
        client,
      });
      await send('port-subscribe', {
        session_id: id,
        client_user: 'bench',
        port: 80,
        mode: 'steal',
        http_filter: `header=x-id: ${id}`,
      });
      await send('end', { session_id: id, client_user: 'bench' });
    };
    await runConcurrent(200, 32, (i) => one(ids[sessions + i]!));
    const cpu0 = cpuMs(ledger.pid!);
    const t0 = performance.now();
    await runConcurrent(sessions, 32, (i) => one(ids[i]!));
    // The clock stops when every event is on JetStream too: publishing is part of the work.
    const expected = before + (sessions + 200) * 4;
    while ((await stored()) < expected) await new Promise((r) => setTimeout(r, 5));
    oursMs = performance.now() - t0;
    // Where the time goes: the ledger's own CPU per command (less noisy than throughput here).
    const used = cpuMs(ledger.pid!) - cpu0;
    cpuUs = (used * 1000) / total;
    process.stderr.write(
      `  ledger CPU (${dbUrl.split(':')[0]}): ${((used * 1000) / total).toFixed(0)} µs per command, ${((used / oursMs) * 100).toFixed(0)} % of a core\n`,
    );
    if ((await stored()) !== expected) throw new Error(`stream holds ${await stored()} events, expected ${expected}`);
  } finally {
    await stop(ledger);
  }
  return { ms: oursMs, cpuUs };
}
