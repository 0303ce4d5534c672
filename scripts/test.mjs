#!/usr/bin/env node
// Runs node:test over the tiers by suffix: *.unit.test.ts, *.int.test.ts, test/e2e/**.
// Node 20's --test takes no globs, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const tier = process.argv[2];
const files = [];
const walk = (dir) => {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.test.ts')) files.push(p);
  }
};
walk('test');
const pick = files.sort().filter((f) => {
  if (!tier) return true;
  if (tier === 'e2e') return f.startsWith(join('test', 'e2e'));
  return f.endsWith(`.${tier}.test.ts`);
});
if (pick.length === 0) {
  console.error(`no test files for tier "${tier}"`);
  process.exit(1);
}
// Files run one at a time: the durability tests kill processes and measure a 2-core machine.
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...pick],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
