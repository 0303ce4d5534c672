/**
 * `npm start`'s supervisor (issue 12, item 3): one crash must not become an outage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../support/eventually.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { tempDir } from '../support/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** A port free right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

type Line = {
  level?: string | number;
  msg?: string;
  service?: string;
  pid?: number;
  url?: string;
  child?: string;
  [k: string]: unknown;
};

/** scripts/start.ts on a test NATS and private data, its JSON lines collected. */
function supervise(
  nats: NatsServer,
  env: Record<string, string> = {},
): { proc: ChildProcess; lines: Line[]; stderr: string[]; exit: Promise<number | null> } {
  const dir = tempDir('mirrord-supervisor');
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...nats.env,
      LEDGER_DB: `sqlite:${join(dir, 'ledger.db')}`,
      OPERATOR_CA_DIR: join(dir, 'ca'),
      GATEWAY_ADDR: '127.0.0.1:0',
      GATEWAY_AUTH: 'token-file',
      KUBECONFIG: '',
      JIRA_WEBTRIGGER_URL: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Line);
    } catch {
      lines.push({ msg: l });
    }
  });
  const stderr: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, lines, stderr, exit };
}

describe('supervisor: a crashed service is restarted, the rest keep serving', () => {
  let nats: NatsServer;
  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  it('given the system is up, when the ledger is killed -9, then it is restarted with a log line and the gateway is ready again', async () => {
    const s = supervise(nats);
    try {
      await eventually('the system is up', () => s.lines.find((l) => l.msg === 'mirrord-teams is up'), 60_000);
      const gateway = s.lines.find((l) => l.msg === 'gateway ready')!;
      const first = s.lines.find((l) => l.msg === 'ledger ready')!;
      process.kill(first.pid!, 'SIGKILL');
      const said = await eventually('the supervisor says it restarts the ledger', () =>
        s.lines.find(
          (l) =>
            l.service === 'supervisor' && /^ledger exited \(SIGKILL\); restarting it in \d+ ms/.test(String(l.msg)),
        ),
      );
      assert.equal(said.level, 'warn');
      await eventually(
        'a new ledger is ready',
        () => s.lines.find((l) => l.msg === 'ledger ready' && l.pid !== first.pid),
        30_000,
      );
      assert.equal(
        s.lines.find((l) => l.msg === 'gateway ready' && l.pid !== gateway.pid),
        undefined,
        'the gateway was not restarted',
      );
      await eventually(
        'the gateway is ready (it reaches the new ledger)',
        async () => (await fetch(`${gateway.url}/readyz`)).status === 200,
      );
      s.proc.kill('SIGTERM');
      assert.equal(await s.exit, 0);
    } finally {
      if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    }
  });

  it('given a gateway that does not act on SIGTERM, when the supervisor stops, then it kills it after SUPERVISOR_GRACE_MS and leaves no orphan', async (t) => {
    const s = supervise(nats, { SUPERVISOR_GRACE_MS: '1500' });
    let gateway: number | undefined;
    try {
      await eventually('the system is up', () => s.lines.find((l) => l.msg === 'mirrord-teams is up'), 60_000);
      gateway = s.lines.find((l) => l.msg === 'gateway ready')!.pid!;
      // Stopped, it cannot act on SIGTERM: as a hung gateway, or one that ignores the signal.
      process.kill(gateway, 'SIGSTOP');
      const t0 = Date.now();
      s.proc.kill('SIGTERM');
      assert.equal(await s.exit, 0);
      t.diagnostic(`supervisor stopped in ${Date.now() - t0} ms`);
      const said = s.lines.find((l) => l.msg === 'gateway did not exit within 1500 ms of SIGTERM; killing it');
      assert.equal(said?.level, 'warn', JSON.stringify(s.lines.slice(-5)));
      assert.throws(() => process.kill(gateway!, 0), /ESRCH/, 'the gateway process is gone');
      assert.ok(
        s.lines.some((l) => l.msg === 'ledger stopped'),
        'the others still drained',
      );
    } finally {
      if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
      if (gateway) {
        try {
          process.kill(gateway, 'SIGKILL');
        } catch {
          /* gone, as it should be */
        }
      }
    }
  });

  it('given a service that crashes at every start, when it fails fast again and again, then the supervisor stops the system and says why', async () => {
    // given a ledger whose database would be inside a file: it fails at start, for a reason no
    // setting's own rule can see beforehand
    const file = join(tempDir('not-a-dir'), 'file');
    writeFileSync(file, 'not a folder');
    const s = supervise(nats, { LEDGER_DB: `sqlite:${join(file, 'ledger.db')}` });
    // when it is restarted with backoff until the supervisor gives up
    const code = await s.exit;
    // then the system stops with a line saying which service could not run
    assert.equal(code, 1);
    const restarts = s.lines.filter((l) => /^ledger exited \(code 1\); restarting it/.test(String(l.msg)));
    assert.equal(restarts.length, 4);
    assert.ok(
      s.lines.some(
        (l) =>
          l.level === 'error' &&
          /^ledger exited \(code 1\) 5 times within 60 s; it cannot run, so the system stops$/.test(String(l.msg)),
      ),
      JSON.stringify(s.lines.slice(-5)),
    );
  });

  it('given bad settings, when npm start runs, then each is one line naming the variable, nothing starts and nothing is retried', async () => {
    // given a NATS_URL that is no URL and a ledger setting out of its range
    const s = supervise(nats, { NATS_URL: 'not a url', LEDGER_SYNC: 'sometimes' });
    // when it starts
    const code = await s.exit;
    // then it exits at once with one line per problem on stderr, and no service ever ran
    assert.equal(code, 78);
    assert.deepEqual(s.stderr, [
      'npm start: NATS_URL: expected nats://host:port (comma-separated for a cluster), got "not a url"',
      'npm start: LEDGER_SYNC: expected "normal" | "full", got "sometimes"',
    ]);
    assert.equal(s.lines.length, 0, JSON.stringify(s.lines));
  });

  it('given one npm start up, a second on the same NATS is refused with one line on its port, or waits as a standby; the first keeps its ledger', async () => {
    // given a first stack on a fixed gateway port
    const port = await freePort();
    const first = supervise(nats, { GATEWAY_ADDR: `127.0.0.1:${port}` });
    const second = [] as Array<ReturnType<typeof supervise>>;
    try {
      await eventually('the first is up', () => first.lines.find((l) => l.msg === 'mirrord-teams is up'), 60_000);
      assert.ok(first.stderr.some((l) => l.startsWith('mirrord-teams is up: ledger, gateway on NATS')));
      assert.ok(first.stderr.includes(`  gateway   http://127.0.0.1:${port}`), first.stderr.join('\n'));
      // when a second starts with the same settings
      second.push(supervise(nats, { GATEWAY_ADDR: `127.0.0.1:${port}` }));
      // then it says in one line that the port is taken, and exits without starting anything
      assert.equal(await second[0]!.exit, 78);
      assert.deepEqual(second[0]!.stderr, [
        `npm start: GATEWAY_ADDR=127.0.0.1:${port} is in use: another process listens there (a second npm start?); stop it or set GATEWAY_ADDR to a free host:port`,
      ]);
      // when a second starts on another port: its ledger waits as the first one's standby
      second.push(supervise(nats, { GATEWAY_ADDR: '127.0.0.1:0' }));
      await eventually('the second says its ledger is a standby', () =>
        second[1]!.stderr.find((l) => / holds the ledger's writer lease on .*; this ledger is its standby/.test(l)),
      );
      // then the first keeps its ledger and its gateway answers
      const ledger = first.lines.find((l) => l.msg === 'ledger ready')!;
      const url = String(first.lines.find((l) => l.msg === 'gateway ready')!.url);
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      assert.equal(
        first.lines.filter((l) => /^ledger (exited|stepping down)/.test(String(l.msg))).length,
        0,
        JSON.stringify(first.lines.slice(-5)),
      );
      assert.equal(first.lines.filter((l) => l.msg === 'ledger ready').length, 1);
      assert.doesNotThrow(() => process.kill(ledger.pid!, 0));
      assert.equal(second[1]!.lines.filter((l) => l.msg === 'ledger writer lease acquired').length, 0);
    } finally {
      for (const p of [first, ...second]) if (p.proc.exitCode === null) p.proc.kill('SIGTERM');
      await Promise.all([first, ...second].map((p) => p.exit));
    }
  });
});
