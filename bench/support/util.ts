import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundled } from '../../test/support/bundle.js';
import { tempDir } from '../../test/support/tmp.js';

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

/**
 * How to run a TypeScript entry: a service's main from the tests' bundle of its source (the same
 * code without tsx's loader, which costs each start seconds of CPU that the bench's own
 * measurements would share), anything else through tsx.
 */
async function entryArgs(file: string): Promise<string[]> {
  return /^services\/[\w-]+\/src\/main\.ts$/.test(file) ? [await bundled(file)] : ['--import', 'tsx', file];
}

/**
 * Starts a service as its own process. Its log goes to a file, as a deployed service's goes to
 * its collector: piping it into the load generator would bill the generator for parsing it.
 */
export async function spawnTs(file: string, env: Record<string, string>, readyText: string): Promise<ChildProcess> {
  const logFile = join(tempDir('bench-log'), 'service.log');
  const fd = openSync(logFile, 'w');
  const prof = process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  const p = spawn(process.execPath, [...prof, ...(await entryArgs(file))], {
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, 'inherit'],
  });
  closeSync(fd);
  let exited: number | null = null;
  p.once('exit', (c) => (exited = c ?? -1));
  for (;;) {
    if (exited !== null)
      throw new Error(`${file} exited with ${exited}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    if (readFileSync(logFile, 'utf8').includes(readyText)) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat(5); this slice starts at field 3.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** A connection to a process's V8 inspector (`--inspect`) and a call that awaits its answer. */
async function inspector(wsUrl: string) {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(wsUrl);
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  let id = 0;
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const mine = ++id;
      const on = (d: Buffer) => {
        const m = JSON.parse(d.toString()) as { id?: number; result?: Record<string, unknown> };
        if (m.id !== mine) return;
        ws.off('message', on);
        resolve(m.result ?? {});
      };
      ws.on('message', on);
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  return { ws, call };
}

/**
 * A process's memory after a full garbage collection, through its inspector (started with
 * `--inspect=127.0.0.1:0`; `wsUrl` is the "Debugger listening on" address): the V8 heap in use
 * and the RSS. Collecting first takes the collector's timing out of a before/after delta.
 */
export async function memoryAfterGc(
  wsUrl: string,
  pid: number,
): Promise<{ heapMb: number; externalMb: number; rssMb: number }> {
  const { ws, call } = await inspector(wsUrl);
  for (let i = 0; i < 3; i++) await call('HeapProfiler.collectGarbage');
  const heap = await call('Runtime.getHeapUsage');
  // Buffers, sockets' native parts: memory V8 does not hold but the process's objects do.
  const usage = await call('Runtime.evaluate', {
    expression: 'JSON.stringify(process.memoryUsage())',
    returnByValue: true,
  });
  const mem = JSON.parse(String((usage.result as { value?: string } | undefined)?.value ?? '{}')) as {
    external?: number;
  };
  ws.close();
  return {
    heapMb: Number(heap.usedSize) / (1024 * 1024),
    externalMb: Number(mem.external ?? NaN) / (1024 * 1024),
    rssMb: rssMb(pid),
  };
}

/**
 * Runs `fn` under the V8 CPU profiler of a process started with `--inspect=127.0.0.1:0` (the
 * services run bundled, where `--cpu-prof` cannot be passed through NODE_OPTIONS) and writes
 * `<BENCH_PROF>/<name>.cpuprofile` (open it in Chrome DevTools). Without BENCH_PROF: just `fn`.
 */
export async function profiled<T>(wsUrl: string, name: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_PROF;
  if (!dir) return fn();
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { ws, call } = await inspector(wsUrl);
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 100 });
  await call('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await call('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    ws.close();
  }
}

/** p50 and p99 rows of two latency samples (ms) in µs, reported with the difference to the baseline. */
export function latencyRows(name: string, detail: string, ours: number[], baseline: number[]): Row[] {
  return [50, 99].map((p) => {
    const o = percentile(ours, p) * 1000;
    const b = percentile(baseline, p) * 1000;
    return {
      name: `${name} p${p}${detail ? `, ${detail}` : ''}`,
      value: o,
      unit: 'µs',
      baseline: b,
      ratio: o / b,
      target: 'report (added: ours − baseline)',
      pass: true,
    };
  });
}

/** The gateway as its own process (BENCH_PROF profiles it too); its URL from its ready line. */
export async function spawnGateway(env: Record<string, string>): Promise<{ proc: ChildProcess; url: string }> {
  const prof = process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  const proc = spawn(process.execPath, [...prof, ...(await entryArgs('services/gateway/src/main.ts'))], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve) =>
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l.includes('"gateway ready"')) resolve(String((JSON.parse(l) as { url: string }).url));
    }),
  );
  return { proc, url };
}
