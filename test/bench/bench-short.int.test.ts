/**
 * The bench's short profile (BENCH_PROFILE=short: tiny sizes, no goal judged): every group of
 * `npm run bench` runs to its end, so a group that hangs or throws fails CI here rather than
 * in the next long run. Its numbers are not looked at (a shared machine is too noisy).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

/** Far above the short profile's minute or so: a hang is caught per group inside (BENCH_GROUP_TIMEOUT_S). */
const LIMIT_MS = 20 * 60_000;

describe('npm run bench, short profile', () => {
  it('runs every group to its end and prints a row for each', { timeout: LIMIT_MS + 30_000 }, async (t) => {
    // given the bench in its short profile, as its own process group (killed whole if it hangs)
    const p = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts'], {
      env: { ...process.env, BENCH_PROFILE: 'short', BENCH_ONLY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const killer = setTimeout(() => process.kill(-p.pid!, 'SIGKILL'), LIMIT_MS);
    // when it runs
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    clearTimeout(killer);
    const tail = `\n--- stderr (last lines) ---\n${err.split('\n').slice(-60).join('\n')}`;
    // then every group that started finished, none failed, and the table has their rows
    const started = [...err.matchAll(/^([\w-]+)…$/gm)].map((m) => m[1]!);
    const finished = [...err.matchAll(/^([\w-]+): [\d.]+ s$/gm)].map((m) => m[1]!);
    t.diagnostic(`groups: ${[...err.matchAll(/^[\w-]+: [\d.]+ s$/gm)].map((m) => m[0]).join(', ')}`);
    assert.ok(started.length >= 10, `only ${started.length} groups started${tail}`);
    assert.deepEqual(
      finished,
      started,
      `groups that did not finish: ${started.filter((g) => !finished.includes(g)).join(', ')}${tail}`,
    );
    assert.doesNotMatch(err, /failed groups:/, tail);
    assert.equal(code, 0, `exit code ${code}${tail}`);
    const rows = out.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| scenario'));
    assert.ok(rows.length >= started.length, `${rows.length} rows for ${started.length} groups\n${out}`);
  });
});
