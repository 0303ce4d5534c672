import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { bundled } from './bundle.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LogLine {
  level: string;
  msg: string;
  service?: string;
  [k: string]: unknown;
}

export interface ServiceProcess {
  proc: ChildProcess;
  lines: LogLine[];
  stderr: string;
  waitFor(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
}

/** Runs `services/<name>/src/main.ts` (bundled: test/support/bundle.ts) as its own process, collecting its JSON log lines. */
export async function startService(
  name: string,
  env: Record<string, string>,
  readyMsg: string | ((l: LogLine) => boolean) = `${name} ready`,
): Promise<ServiceProcess> {
  const proc = spawn(process.execPath, [await bundled(`services/${name}/src/main.ts`)], {
    cwd: ROOT,
    // A test's ledger restarted after kill -9 is its pod's container restarted: the same
    // LEDGER_INSTANCE, so it takes its own lease back at once (the default is one per process).
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      ...(name === 'ledger' ? { LEDGER_INSTANCE: 'test-ledger' } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  const sp: ServiceProcess = {
    proc,
    lines,
    stderr: '',
    waitFor(pred, timeoutMs = 15_000) {
      const hit = lines.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (l: LogLine) => (clearTimeout(t), resolve(l)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(
            new Error(
              `${name}: no matching log line within ${timeoutMs} ms; stderr: ${sp.stderr.slice(-800)}; last lines: ${JSON.stringify(lines.slice(-5))}`,
            ),
          );
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async kill9() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await done;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      const done = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      return done;
    },
  };
  proc.stderr!.on('data', (d: Buffer) => (sp.stderr += d.toString()));
  createInterface({ input: proc.stdout! }).on('line', (raw) => {
    let l: LogLine;
    try {
      l = JSON.parse(raw) as LogLine;
    } catch {
      l = { level: 'raw', msg: raw };
    }
    lines.push(l);
    for (const w of [...waiters])
      if (w.pred(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
  });
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) =>
      reject(new Error(`${name} exited with ${code} before it was ready: ${sp.stderr.slice(-1500)}`)),
    ),
  );
  exited.catch(() => undefined);
  const ready = typeof readyMsg === 'string' ? (l: LogLine) => l.msg === readyMsg : readyMsg;
  await Promise.race([sp.waitFor(ready, 30_000), exited]);
  return sp;
}
