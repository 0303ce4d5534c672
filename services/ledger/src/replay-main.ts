import { loadConfig, str, oneOf } from '#shared/config/index.js';
import { openLedgerStore } from './adapters/sql/sql-store.js';
import { diffProjections, replayProjections } from './app/replay-projections.js';

/**
 * `npm run ledger:replay [-- --write]`: rebuilds every projection from the event table and
 * checks it equals the live one (exit 0), or prints the differences (exit 1). `--write`
 * replaces the live projections with the rebuilt ones.
 */
const cfg = loadConfig({
  LEDGER_DB: { parse: str, default: 'sqlite:./data/ledger.db', doc: 'ledger store URL' },
  LEDGER_SYNC: { parse: oneOf('normal', 'full'), default: 'normal' as const, doc: 'SQLite synchronous mode' },
});
const write = process.argv.includes('--write');
const store = await openLedgerStore(cfg.LEDGER_DB, cfg.LEDGER_SYNC);
const t0 = performance.now();
const { events, projections } = await replayProjections(store);
const ms = performance.now() - t0;
const diffs = await diffProjections(store, projections);
const live = [...projections.sessions.values()].filter((s) => s.status === 'live').length;
console.log(
  `replayed ${events} events in ${ms.toFixed(0)} ms: ${projections.sessions.size} sessions (${live} live), ${projections.ports.size} held ports`,
);
if (diffs.length === 0) console.log('projections equal the live ones');
else for (const d of diffs) console.log(`DIFF ${d}`);
if (write) {
  await store.replaceProjections(projections.sessions.values(), projections.ports.values());
  console.log('live projections replaced with the rebuilt ones');
}
await store.close();
process.exit(diffs.length === 0 || write ? 0 : 1);
