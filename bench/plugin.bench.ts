import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildPlugin, PLUGIN_OUT } from '../scripts/plugin-build.js';
import { startSystem } from '../test/support/system.js';
import { percentile, type Row } from './support/util.js';

/**
 * The plugin's cold start as a developer meets it (issue 28): the installed npm package's bin and
 * the single executable, for `--version` and for `operator status` against a running gateway,
 * each against `node -e 0` in the same rounds (alternated, so the machine's noise falls on all).
 */
export async function benchPlugin(log: (s: string) => void, rounds = 15): Promise<Row[]> {
  log('plugin cold start…');
  const built = await buildPlugin({ sea: true });
  const npmBin = join(PLUGIN_OUT, 'npm', 'dist', 'kubectl-mirrord.mjs');
  const sys = await startSystem();
  const env = { ...process.env, MIRRORD_GATEWAY: sys.url, MIRRORD_TOKEN: 'admin-token' };
  const cases: Array<{ name: string; file: string; args: string[] }> = [
    { name: 'node -e 0', file: process.execPath, args: ['-e', '0'] },
    { name: 'npm package: kubectl-mirrord --version', file: process.execPath, args: [npmBin, '--version'] },
    {
      name: 'npm package: kubectl-mirrord operator status',
      file: process.execPath,
      args: [npmBin, 'operator', 'status'],
    },
    { name: 'single executable: kubectl-mirrord --version', file: built.exe!, args: ['--version'] },
    { name: 'single executable: kubectl-mirrord operator status', file: built.exe!, args: ['operator', 'status'] },
  ];
  const times = cases.map(() => [] as number[]);
  try {
    for (let r = 0; r < rounds + 1; r++) {
      for (const [i, c] of r % 2 ? [...cases.entries()].reverse() : [...cases.entries()]) {
        const t0 = performance.now();
        const p = spawnSync(c.file, c.args, { env, encoding: 'utf8' });
        const ms = performance.now() - t0;
        if (p.status !== 0) throw new Error(`${c.name}: exit ${p.status}: ${p.stderr}`);
        if (r > 0) times[i]!.push(ms); // the first round warms the page cache
      }
    }
  } finally {
    await sys.stop();
  }
  const bare = percentile(times[0]!, 50);
  return cases.slice(1).map((c, i) => {
    const value = percentile(times[i + 1]!, 50);
    return {
      name: `plugin cold start p50, ${c.name} vs node -e 0`,
      value,
      unit: 'ms',
      baseline: bare,
      ratio: value / bare,
      target: '<= 3',
      pass: value / bare <= 3,
    };
  });
}
