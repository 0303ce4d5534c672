/**
 * `npm start`'s supervisor (issue 12, item 3): one crash must not become an outage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../support/eventually.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { tempDir } from '../support/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
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
): { proc: ChildProcess; lines: Line[]; exit: Promise<number | null> } {
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
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, lines, exit };
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

  it('given a service that cannot start, when it fails fast again and again, then the supervisor stops the system and says why', async () => {
    const s = supervise(nats, { LEDGER_SYNC: 'sometimes' });
    const code = await s.exit;
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
});
