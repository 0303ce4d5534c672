import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { System } from './system.js';

const BIN = new URL('../../cli/bin/kubectl-mirrord.js', import.meta.url).pathname;

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
