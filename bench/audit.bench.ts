import BetterSqlite3 from 'better-sqlite3';
import { openLedgerStore } from '../services/ledger/src/adapters/sql/sql-store.js';
import { LedgerQueries } from '../services/ledger/src/app/ledger-queries.js';
import { percentile, type Row } from './support/util.js';

/**
 * History at 1M events: `kubectl mirrord audit` pages (by user and time, by target, by
 * namespace and range) and `status --at` through the ledger's query handler, p99 of each
 * mix; baseline: the raw time-range page straight from SQLite.
 */
export async function benchAudit(file: string, rounds = 40): Promise<Row> {
  const raw = new BetterSqlite3(file, { readonly: true });
  const s = raw.prepare('SELECT min(time) AS a, max(time) AS b FROM events').get() as { a: number; b: number };
  const span = { a: Number(s.a), b: Number(s.b) };
  const page = raw.prepare('SELECT * FROM events WHERE time >= ? AND time <= ? ORDER BY position LIMIT 101');
  const rawMs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const from = span.a + ((span.b - span.a) * i) / rounds;
    const t0 = performance.now();
    page.all(from, from + 3_600_000);
    rawMs.push(performance.now() - t0);
  }
  raw.close();

  const store = await openLedgerStore(`sqlite:${file}`);
  const q = new LedgerQueries(store, () => span.b);
  const ours: number[] = [];
  const time = async (body: Record<string, unknown>, what = 'events') => {
    const t0 = performance.now();
    const r = (await q.handle(what, body)) as { events?: unknown[]; sessions?: unknown[] };
    ours.push(performance.now() - t0);
    return r;
  };
  let found = 0;
  for (let i = 0; i < rounds; i++) {
    const mid = Math.round(span.a + ((span.b - span.a) * (i + 0.5)) / rounds);
    found += (
      (await time({ client_user: `user-${(i * 7) % 50}`, since: span.b - 2 * 3_600_000, limit: 100 })).events ?? []
    ).length;
    found += ((await time({ target: `deployment/app-${i % 97}`, limit: 100 })).events ?? []).length;
    found += ((await time({ namespace: `ns-${i % 7}`, since: mid, until: mid + 600_000, limit: 100 })).events ?? [])
      .length;
    await time({ at: mid }, 'sessions-at');
  }
  await store.close();
  if (found === 0) throw new Error('bench setup: the audit queries found nothing');
  const p99 = percentile(ours, 99);
  const base = percentile(rawMs, 99);
  return {
    name: 'audit / status --at at 1M events, p99 (user, target, namespace+range, at)',
    value: p99,
    unit: 'ms',
    baseline: base,
    ratio: p99 / base,
    target: '≤ 50 ms',
    pass: p99 <= 50,
  };
}
