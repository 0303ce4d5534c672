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
import { SHORT, size } from './support/profile.js';

/** The big ledger the replay, audit and rss groups read (the short profile: a small one). */
const EVENTS = Number(process.env.BENCH_EVENTS ?? size(1_000_000, 3000));
/** BENCH_ONLY=commands,core,…: run only those groups (results.json is then left alone). */
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((x) => x.trim())) : undefined;
const log = (s: string) => process.stderr.write(`${s}\n`);
const rows: Row[] = [];
const failed: string[] = [];
const nats = await startNatsServer();
let bigLedger: Promise<string> | undefined;
const big = () => (bigLedger ??= ensureBigLedger(EVENTS, log));

/** Every group, in the order they run; each returns its rows. */
const GROUPS: [string, () => Promise<Row[]>][] = [
  ['commands', () => benchCommands(nats, size(2000, 50))],
  ['core', async () => [await benchCore(size(3000, 50))]],
  ['publish', async () => [await benchPublish(nats, size(20_000, 500))]],
  ['policy', async () => [benchPolicyDecisions(size(200_000, 2000)), await benchPolicyStartCost(nats, size(5000, 50))]],
  ['start', () => benchStart(nats, size(300, 20))],
  [
    'replicas',
    async () => [await benchTakeover(nats, size(3, 1)), await benchStatus(nats, size(10_000, 100), size(40, 5))],
  ],
  ['codec', async () => [benchCodec()]],
  ['license', async () => [...(await benchLicense(log, size(400, 20))), ...benchLicenseReport()]],
  ['auth', () => benchAuth(log, size(6, 1), size(2000, 20))],
  ['plugin', () => benchPlugin(log, size(15, 1))],
  ['relay', () => benchRelay(log)],
  ['slow-client', () => benchSlowClient(log)],
  ['governance', () => benchGovernance(log)],
  ['replay', async () => [await benchReplay(await big())]],
  ['audit', async () => [await benchAudit(await big(), size(40, 5))]],
  ['rss', async () => [await benchRss(await big(), nats, log)]],
  ['queues', () => benchQueues(log)],
];

/** A group still running after BENCH_GROUP_TIMEOUT_S (short profile: 240 s) fails as hung. */
const LIMIT_S = Number(process.env.BENCH_GROUP_TIMEOUT_S ?? size(7200, 240));
function withinLimit<T>(group: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${group} hung: still running after ${LIMIT_S} s`)), LIMIT_S * 1000);
  });
  return Promise.race([p, hung]).finally(() => clearTimeout(timer));
}

try {
  // A group that throws is named and the others still run: the whole bench always reaches its end.
  for (const [group, run] of GROUPS) {
    if (ONLY && !ONLY.has(group)) continue;
    log(`${group}…`);
    const t0 = performance.now();
    try {
      rows.push(...(await withinLimit(group, run())));
      log(`${group}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      failed.push(group);
      log(`${group}: failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
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
    SHORT ? '-' : r.pass ? 'yes' : 'NO',
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
if (failed.length > 0) {
  log(`failed groups: ${failed.join(', ')}`);
  process.exitCode = 1;
}
// The short profile's numbers mean nothing: they never replace the results of a real run.
if (!ONLY && !SHORT)
  writeFileSync(
    'bench/results.json',
    `${JSON.stringify(
      rows.map(({ name, value, unit, baseline, ratio, target }) => ({ name, value, unit, baseline, ratio, target })),
      null,
      2,
    )}\n`,
  );
// A hung group's timers and sockets would keep this process alive past its report.
if (failed.length > 0) process.exit(1);
