import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every JVM the tests started, killed when the test process exits (a broker must not outlive its suite). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/**
 * Small-heap, quick-start flags: the tests run next to other suites on two cores, and a broker
 * that lives for one suite gains nothing from the C2 compiler or a parallel collector.
 */
export const JVM_FLAGS = ['-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];

export interface JvmProcess {
  readonly proc: ChildProcess;
  /** The last lines it printed (stdout and stderr), for error messages. */
  tail(): string;
  exited(): boolean;
  /** Resolves once it has exited (at once if it already has). */
  waitExit(): Promise<void>;
}

/** Starts `java <flags> -cp <jars>/* <main> <args>`; its output is kept only as a short tail. */
export function startJvm(jars: string, main: string, args: string[], opts: { flags?: string[]; cwd?: string } = {}) {
  const proc = spawn('java', [...JVM_FLAGS, ...(opts.flags ?? []), '-cp', join(jars, '*'), main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  running.add(proc);
  const lines: string[] = [];
  const keep = (d: Buffer): void => {
    lines.push(...d.toString().split('\n').filter(Boolean));
    if (lines.length > 60) lines.splice(0, lines.length - 60);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let spawnError: Error | undefined;
  proc.on('error', (e) => (spawnError = e));
  proc.on('exit', () => running.delete(proc));
  const exited = (): boolean => proc.exitCode !== null || proc.signalCode !== null || !!spawnError;
  const jvm: JvmProcess = {
    proc,
    tail: () => (spawnError ? `cannot run java: ${spawnError.message}` : lines.join('\n')),
    exited,
    waitExit: () =>
      new Promise<void>((resolve) => {
        if (exited()) return resolve();
        proc.once('exit', () => resolve());
        proc.once('error', () => resolve());
      }),
  };
  return jvm;
}

/**
 * Polls `probe` (a real client call) until it succeeds; fails early, with the JVM's last output,
 * if the process exits, and after `timeoutMs` otherwise.
 */
export async function waitReady(
  what: string,
  jvm: JvmProcess,
  probe: () => Promise<unknown>,
  timeoutMs = 90_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (jvm.exited()) throw new Error(`${what} exited before it was ready:\n${jvm.tail()}`);
    try {
      await probe();
      return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      jvm.proc.kill('SIGKILL');
      const why = last instanceof Error ? last.message : String(last);
      throw new Error(`${what} was not ready within ${timeoutMs} ms (last error: ${why}):\n${jvm.tail()}`);
    }
    await sleep(250);
  }
}
