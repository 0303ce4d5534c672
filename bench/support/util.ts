import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';

export interface Row {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  ratio: number;
  target: string;
  pass: boolean;
}

/** Runs `fn(i)` for i in [0, n) with `inFlight` workers; returns elapsed ms. */
export async function runConcurrent(n: number, inFlight: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  return performance.now() - t0;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export function spawnTs(file: string, env: Record<string, string>, readyText: string): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: p.stdout! });
    rl.on('line', (l) => {
      if (l.includes(readyText)) resolve(p);
    });
    p.once('exit', (c) => reject(new Error(`${file} exited with ${c}`)));
  });
}

export async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
