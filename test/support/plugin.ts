import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { System } from './system.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Newest modification time under a folder (the plugin's sources). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * The plugin as users install it: the bundled npm package's bin (`npm run build:plugin`), rebuilt
 * here when the sources are newer, so a single test file run after an edit tests the edit.
 */
export const PLUGIN_BIN = ((): string => {
  const bin = join(ROOT, 'dist', 'plugin', 'npm', 'dist', 'kubectl-mirrord.mjs');
  const sources = Math.max(newest(join(ROOT, 'cli', 'src')), newest(join(ROOT, 'shared', 'src')));
  if (!existsSync(bin) || statSync(bin).mtimeMs < sources)
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'plugin-build.ts')], { stdio: 'inherit' });
  return bin;
})();
const BIN = PLUGIN_BIN;

/**
 * `kubectl mirrord …` against a running system, asynchronously: the node simulator and its agents
 * run in the test's own process, and a blocking spawn would stall them.
 */
export async function runPlugin(
  sys: System,
  args: string[],
  token = 'admin-token',
): Promise<{ status: number; stdout: string; stderr: string }> {
  const env = { ...process.env, MIRRORD_GATEWAY: sys.url, MIRRORD_TOKEN: token };
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 30_000 });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { status: x.code ?? 1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}
