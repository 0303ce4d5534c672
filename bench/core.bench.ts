import { tempDir } from '../test/support/tmp.js';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openLedgerStore } from '../services/ledger/src/adapters/sql/sql-store.js';
import { Ledger } from '../services/ledger/src/app/ledger.js';
import { silentLogger } from '../test/support/log.js';
import { newSessionId } from '#shared/ids/index.js';
import { runConcurrent, type Row } from './support/util.js';

const client = {
  client_user: 'bench',
  client_name: 'Bench',
  client_hostname: 'bench-host',
  client_id: '',
  user_id: '',
  client_cli_version: '3.150.0',
};

/**
 * The ledger's command path without NATS (decide, group commit, projections), 32 in flight, vs
 * a raw prepared better-sqlite3 insert of one event row per transaction into the same table.
 * It separates what the store costs from what serving over NATS costs.
 */
export async function benchCore(sessions = 3000): Promise<Row> {
  const dir = tempDir('bench-core');
  const store = await openLedgerStore(`sqlite:${join(dir, 'ledger.db')}`);
  const ledger = new Ledger(store, silentLogger(), { unusedTtlMs: 60_000 });
  await ledger.init();
  const one = async () => {
    const id = newSessionId();
    await ledger.execute({
      type: 'StartSession',
      session_id: id,
      target: `deployment/app-${id.slice(0, 1).toLowerCase()}`,
      namespace: 'default',
      client,
      agent: 'none',
    });
    await ledger.execute({
      type: 'SubscribePort',
      session_id: id,
      client_user: 'bench',
      port: 80,
      mode: 'steal',
      http_filter: `header=x-id: ${id}`,
      on_concurrent_steal: 'abort',
    });
    await ledger.execute({ type: 'EndSession', session_id: id, client_user: 'bench', reason: 'ClientClosed' });
  };
  await runConcurrent(300, 32, one);
  const ms = await runConcurrent(sessions, 32, one);
  await store.close();

  const raw = new BetterSqlite3(join(dir, 'ledger.db'));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  const ins = raw.prepare(
    'INSERT INTO events (id, session_id, version, type, time, client_user, target, namespace, v, body) VALUES (?,?,?,?,?,?,?,?,?,?)',
  );
  const tx = raw.transaction((i: number) =>
    ins.run(
      `raw-${i}`,
      newSessionId(),
      1,
      'SessionStarted',
      Date.now(),
      'bench',
      'deployment/app',
      'default',
      1,
      '{"actor":{},"data":{}}',
    ),
  );
  const n = sessions * 3;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) tx(i);
  const rawMs = performance.now() - t0;
  raw.close();
  const ours = (sessions * 3) / (ms / 1000);
  const base = n / (rawMs / 1000);
  return {
    name: 'ledger core in-process (no NATS), 32 in flight',
    value: ours,
    unit: 'cmd/s',
    baseline: base,
    ratio: ours / base,
    target: 'report',
    pass: true,
  };
}
