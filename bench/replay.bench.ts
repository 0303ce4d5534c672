import { tempDir } from '../test/support/tmp.js';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import BetterSqlite3 from 'better-sqlite3';
import { call, commandSubject } from '#shared/nats/index.js';
import { newSessionId } from '#shared/ids/index.js';
import type { NatsServer } from '../test/support/nats-server.js';
import { openLedgerStore } from '../services/ledger/src/adapters/sql/sql-store.js';
import { replayProjections } from '../services/ledger/src/app/replay-projections.js';
import { generateEvents } from './support/generate.js';
import { rssMb, runConcurrent, spawnTs, stop, type Row } from './support/util.js';

const DIR = join(process.cwd(), 'bench', '.data');

async function eventCount(file: string): Promise<number> {
  const d = new BetterSqlite3(file, { readonly: true });
  const n = (d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  d.close();
  return n;
}

/** A ledger database with `events` events, generated once and kept under bench/.data/. */
export async function ensureBigLedger(events: number, log: (s: string) => void): Promise<string> {
  mkdirSync(DIR, { recursive: true });
  const file = join(DIR, `ledger-${events}.db`);
  if (existsSync(file)) return file;
  log(`generating ${events} events into ${file} (once)…`);
  const tmp = `${file}.partial`;
  const store = await openLedgerStore(`sqlite:${tmp}`);
  const t0 = performance.now();
  const n = await generateEvents(store, events);
  await store.close();
  const { renameSync, rmSync } = await import('node:fs');
  for (const sfx of ['-wal', '-shm']) rmSync(`${tmp}${sfx}`, { force: true });
  renameSync(tmp, file);
  log(
    `  ${n} events in ${((performance.now() - t0) / 1000).toFixed(1)} s (${Math.round(n / ((performance.now() - t0) / 1000))} events/s through the store)`,
  );
  return file;
}

/** Replay of every event into the projections vs a raw better-sqlite3 scan of the same table. */
export async function benchReplay(file: string): Promise<Row> {
  const raw = new BetterSqlite3(file, { readonly: true });
  const t0 = performance.now();
  let rows = 0;
  let bytes = 0;
  for (const r of raw.prepare('SELECT * FROM events ORDER BY position').iterate() as Iterable<{ body: string }>) {
    rows++;
    bytes += r.body.length;
  }
  const rawMs = performance.now() - t0;
  raw.close();
  void bytes;
  const store = await openLedgerStore(`sqlite:${file}`);
  const t1 = performance.now();
  const { events } = await replayProjections(store);
  const oursMs = performance.now() - t1;
  await store.close();
  if (events !== rows) throw new Error(`replay saw ${events} events, scan ${rows}`);
  const ratio = oursMs / rawMs;
  return {
    name: `replay of ${rows} events into projections`,
    value: oursMs / 1000,
    unit: 's',
    baseline: rawMs / 1000,
    ratio,
    target: '<= 1.2',
    pass: ratio <= 1.2,
  };
}

/**
 * RSS of a ledger process that has published a 1M-event ledger to JetStream (its outbox caught
 * up from an empty stream) and then served 1,000 commands, vs a bare Node process holding the
 * same database open. Runs on a copy, so the cached database stays as generated.
 */
export async function benchRss(source: string, nats: NatsServer, log: (s: string) => void): Promise<Row> {
  const file = join(tempDir('bench-rss'), 'ledger.db');
  copyFileSync(source, file);
  const nc = await nats.connect();
  const jsm = await jetstreamManager(nc);
  // An earlier group of the same run filled MIRRORD_EVENTS from a store of its own: the outbox's
  // provenance guard refuses a stream its store does not hold (it never caught up: the group hung).
  await jsm.streams.delete('MIRRORD_EVENTS').catch(() => undefined);
  const ledger = await spawnTs(
    'services/ledger/src/main.ts',
    { ...nats.env, LEDGER_DB: `sqlite:${file}`, USER_MAX_SESSIONS: '0' },
    'ledger ready',
  );
  const events = await eventCount(file);
  const t0 = performance.now();
  for (;;) {
    const info = await jsm.streams.info('MIRRORD_EVENTS').catch(() => undefined);
    if ((info?.state.messages ?? 0) >= events) break;
    if (ledger.exitCode !== null) throw new Error(`the ledger exited with ${ledger.exitCode}`);
    if (performance.now() - t0 > 300_000)
      throw new Error(
        `the outbox did not catch up within 5 minutes: ${info?.state.messages ?? 0} of ${events} published`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
  log(`  outbox published ${events} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const client = { client_user: 'rss', client_name: 'rss', client_hostname: 'h', client_cli_version: '' };
  await runConcurrent(333, 16, async () => {
    const id = newSessionId();
    await call(nc, commandSubject('ledger', 'start'), {
      session_id: id,
      target: 'deployment/rss',
      namespace: 'default',
      client,
    });
    await call(nc, commandSubject('ledger', 'port-subscribe'), {
      session_id: id,
      client_user: 'rss',
      port: 80,
      mode: 'mirror',
    });
    await call(nc, commandSubject('ledger', 'end'), { session_id: id, client_user: 'rss' });
  });
  const ours = rssMb(ledger.pid!);
  await stop(ledger);
  await nc.close();
  const bare = spawn(
    process.execPath,
    [
      '-e',
      `const D=require('better-sqlite3');const d=new D(${JSON.stringify(file)});d.prepare('select count(*) from sessions').get();console.log('ready');setInterval(()=>{},1000)`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise((r) => bare.stdout!.once('data', r));
  const base = rssMb(bare.pid!);
  bare.kill('SIGKILL');
  rmSync(dirname(file), { recursive: true, force: true });
  return {
    name: `ledger RSS after publishing ${events} events + 1,000 commands`,
    value: ours,
    unit: 'MB',
    baseline: base,
    ratio: ours / base,
    target: '<= 250 MB',
    pass: ours <= 250,
  };
}
