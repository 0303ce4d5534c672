/**
 * `npm run bench`: each row measured against a raw baseline of the same work in the same run
 * (the pino pattern). Prints one table and writes bench/results.json. Timings vary on a shared
 * 2-core machine; compare ratios, not absolute numbers.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { startNatsServer } from '../test/support/nats-server.js';
import { benchCommands } from './commands.bench.js';
import { benchCore } from './core.bench.js';
import { benchPublish } from './publish.bench.js';
import { benchStart } from './start.bench.js';
import { benchPolicyDecisions, benchPolicyStartCost } from './policy.bench.js';
import { benchAudit } from './audit.bench.js';
import { benchReplay, benchRss, ensureBigLedger } from './replay.bench.js';
import { benchCodec, benchRelay } from './relay.bench.js';
import { benchSlowClient } from './slow-client.bench.js';
import { benchGovernance } from './governance.bench.js';
import { benchStatus, benchTakeover } from './replicas.bench.js';
import { benchLicense, benchLicenseReport } from './license.bench.js';
import { benchAuth } from './auth.bench.js';
import { benchQueues } from './queues.bench.js';
import { benchPlugin } from './plugin.bench.js';
import type { Row } from './support/util.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
/** BENCH_ONLY=commands,core,…: run only those groups (results.json is then left alone). */
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((x) => x.trim())) : undefined;
const want = (group: string) => !ONLY || ONLY.has(group);
const log = (s: string) => process.stderr.write(`${s}\n`);
const rows: Row[] = [];
const nats = await startNatsServer();
try {
  if (want('commands')) {
    log('commands…');
    rows.push(...(await benchCommands(nats)));
  }
  if (want('core')) {
    log('ledger core…');
    rows.push(await benchCore());
  }
  if (want('publish')) {
    log('outbox publish…');
    rows.push(await benchPublish(nats));
  }
  if (want('policy')) {
    log('policy…');
    rows.push(benchPolicyDecisions());
    rows.push(await benchPolicyStartCost(nats));
  }
  if (want('start')) {
    log('session start…');
    rows.push(...(await benchStart(nats)));
  }
  if (want('replicas')) {
    log('ledger takeover…');
    rows.push(await benchTakeover(nats));
    log('operator status with 10,000 live sessions…');
    rows.push(await benchStatus(nats));
  }
  if (want('codec')) {
    log('protocol codec…');
    rows.push(benchCodec());
  }
  if (want('license')) {
    log('licence seats across the fleet…');
    rows.push(...(await benchLicense(log)));
    rows.push(...benchLicenseReport());
  }
  if (want('auth')) rows.push(...(await benchAuth(log)));
  if (want('plugin')) rows.push(...(await benchPlugin(log)));
  if (want('relay')) rows.push(...(await benchRelay(log)));
  if (want('slow-client')) rows.push(...(await benchSlowClient(log)));
  if (want('governance')) rows.push(...(await benchGovernance(log)));
  if (want('replay') || want('audit') || want('rss')) {
    const file = await ensureBigLedger(EVENTS, log);
    if (want('replay')) {
      log('replay…');
      rows.push(await benchReplay(file));
    }
    if (want('audit')) {
      log('audit…');
      rows.push(await benchAudit(file));
    }
    if (want('rss')) {
      log('rss…');
      rows.push(await benchRss(file, nats, log));
    }
  }
  // Last, and its failure (a broker that would not start) reported without losing the rows above.
  if (want('queues')) {
    try {
      rows.push(...(await benchQueues(log)));
    } catch (e) {
      log(`queues: failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exitCode = 1;
    }
  }
} finally {
  await nats[Symbol.asyncDispose]();
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const table = [
  ['scenario', 'ours', 'baseline', 'unit', 'ratio', 'target', 'ok'],
  ...rows.map((r) => [
    r.name,
    fmt(r.value),
    fmt(r.baseline),
    r.unit,
    r.ratio.toFixed(2),
    r.target,
    r.pass ? 'yes' : 'NO',
  ]),
];
const w = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
console.log(line(table[0]!));
console.log(`|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`);
for (const r of table.slice(1)) console.log(line(r));
console.log(
  `machine: node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
);
if (!ONLY)
  writeFileSync(
    'bench/results.json',
    `${JSON.stringify(
      rows.map(({ name, value, unit, baseline, ratio, target }) => ({ name, value, unit, baseline, ratio, target })),
      null,
      2,
    )}\n`,
  );
