import { tempDir } from '../support/tmp.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startSystem, type System } from '../support/system.js';
import { PLUGIN_BIN } from '../support/plugin.js';
import { eventually } from '../support/eventually.js';

const BIN = PLUGIN_BIN;

describe('kubectl-mirrord against a running system', () => {
  let sys: System;
  let env: NodeJS.ProcessEnv;
  const certDir = tempDir('certs');
  before(async () => {
    sys = await startSystem();
    env = {
      ...process.env,
      MIRRORD_GATEWAY: sys.url,
      MIRRORD_TOKEN: 'aviram-token',
      MIRRORD_CLIENT_NAME: 'Aviram Hassan',
      MIRRORD_CERT_DIR: certDir,
    };
  });
  after(async () => {
    await sys?.stop();
  });

  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [BIN, ...args], { env: { ...env, ...extra }, encoding: 'utf8', timeout: 30_000 });

  function startSession(
    args: string[],
    token = 'aviram-token',
  ): { proc: ChildProcess; firstLine: Promise<string>; exit: Promise<{ code: number | null; stderr: string }> } {
    const proc = spawn(process.execPath, [BIN, 'session', 'start', ...args], {
      env: { ...env, MIRRORD_TOKEN: token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const firstLine = new Promise<string>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).once('line', resolve);
      proc.once('exit', () => reject(new Error(`exited before printing an id: ${stderr}`)));
    });
    const exit = new Promise<{ code: number | null; stderr: string }>((resolve) =>
      proc.once('exit', (code) => resolve({ code, stderr })),
    );
    return { proc, firstLine, exit };
  }

  it('start → status shows the seed row → kill makes it exit saying who killed it', async () => {
    const s = startSession([
      '--target',
      'deployment/ip-visit-counter',
      '--steal',
      '80',
      '--header-filter',
      'X-PG-Tenant: Avi.+',
    ]);
    const id = await s.firstLine;
    assert.match(id, /^[0-9A-F]{16}$/);
    await sys.ledger.waitFor((l) => l.msg === 'Port Stolen' && l.session_id === id);
    const status = run(['operator', 'status']);
    assert.equal(status.status, 0, status.stderr);
    const host = (await import('node:os')).hostname();
    const row = status.stdout.split('\n').find((l) => l.includes(id))!;
    assert.match(
      row,
      new RegExp(
        `^\\| ${id} \\| deployment/ip-visit-counter \\| default   \\| Aviram Hassan/aviram@metalbear\\.co@${host.replace(/\./g, '\\.')} \\| Port: 80, Type: steal, Filter: header=X-PG-Tenant: Avi\\.\\+ \\| \\d+s +\\|$`,
      ),
    );
    assert.match(status.stdout, /^Operator version: 0\.1\.0$/m);
    const json = JSON.parse(run(['operator', 'status', '-o', 'json']).stdout) as {
      status: { sessions: Array<{ id: string }> };
    };
    assert.ok(json.status.sessions.some((x) => x.id === id));
    assert.match(run(['operator', 'status', '-o', 'yaml']).stdout, /kind: MirrordOperator/);
    assert.ok(!run(['operator', 'status', '-n', 'elsewhere']).stdout.includes(id));

    const kill = run(['operator', 'session', 'kill', '--id', id], { MIRRORD_TOKEN: 'admin-token' });
    assert.equal(kill.status, 0, kill.stderr);
    const ended = await s.exit;
    assert.notEqual(ended.code, 0);
    assert.match(ended.stderr, new RegExp(`session ${id} was killed by admin`));
    const released = sys.ledger.lines.findIndex((l) => l.msg === 'Port Released' && l.session_id === id);
    const endLine = sys.ledger.lines.findIndex((l) => l.msg === 'Session Ended' && l.session_id === id);
    assert.ok(released >= 0 && released < endLine, 'Port Released, then Session Ended');
    assert.equal(typeof sys.ledger.lines[endLine]!.session_duration, 'number');
    assert.ok(!run(['operator', 'status']).stdout.includes(id));
    const trail = run(['session', 'events', '--id', id]);
    assert.match(
      trail.stdout,
      /SessionStarted[\s\S]*PortStolen[\s\S]*PortReleased[\s\S]*SessionEnded +reason=Killed by=admin/,
    );
  });

  it('sessions carry the plugin certificate: user_id is its public key, client_id its fingerprint; cached, renewed when refused', async () => {
    const startedIdentity = async () => {
      const s = startSession(['--target', 'deployment/ip-visit-counter']);
      const id = await s.firstLine;
      const line = await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === id);
      s.proc.kill('SIGINT');
      await s.exit;
      return { user_id: String(line.user_id), client_id: String(line.client_id) };
    };
    const first = await startedIdentity();
    assert.match(first.user_id, /^[A-Za-z0-9+/]{80,}$/, 'base64 public key without padding');
    assert.match(first.client_id, /^[0-9a-f]{64}$/);
    assert.deepEqual(await startedIdentity(), first, 'the cached certificate is reused');
    // A certificate from another CA in the cache: refused, replaced by a new one, session starts.
    const { createCa, issue } = await import('#shared/pki/index.js');
    const foreign = await issue(await createCa('elsewhere'), { commonName: 'x', usage: 'client' });
    const { readdirSync } = await import('node:fs');
    for (const f of readdirSync(certDir).filter((x) => x.endsWith('.json')))
      writeFileSync(join(certDir, f), JSON.stringify({ certPem: foreign.certPem, keyPem: foreign.keyPem }));
    const renewed = await startedIdentity();
    assert.notEqual(renewed.client_id, first.client_id);
    assert.match(renewed.client_id, /^[0-9a-f]{64}$/);
    // and the renewal kept this machine's key: the same user_id, so the same seat
    assert.equal(renewed.user_id, first.user_id);
  });

  it('one machine is one seat: localhost or 127.0.0.1, two tokens, a renewal', async () => {
    // given a machine whose plugin has never run (its own config directory)
    const machine = tempDir('machine');
    const port = new URL(sys.url).port;
    const seatsBefore = (JSON.parse(run(['license', 'status', '-o', 'json']).stdout) as { seats_used: number | null })
      .seats_used;
    const started = async (gateway: string, token: string) => {
      const proc = spawn(process.execPath, [BIN, 'session', 'start', '--target', 'deployment/ip-visit-counter'], {
        env: { ...env, MIRRORD_GATEWAY: gateway, MIRRORD_TOKEN: token, MIRRORD_CERT_DIR: machine },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const id = await new Promise<string>((resolve) => createInterface({ input: proc.stdout! }).once('line', resolve));
      const line = await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === id);
      proc.kill('SIGINT');
      await new Promise((r) => proc.once('exit', r));
      return String(line.user_id);
    };
    // when the same user account addresses the gateway two ways, with two tokens, then renews
    const ids = [
      await started(`http://127.0.0.1:${port}`, 'aviram-token'),
      await started(`http://localhost:${port}`, 'aviram-token'),
      await started(`http://localhost:${port}/`, 'alice-token'),
    ];
    const { readdirSync, rmSync } = await import('node:fs');
    const certs = readdirSync(machine).filter((f) => f.endsWith('.json'));
    assert.equal(certs.length, 3, 'one certificate per gateway spelling and token');
    for (const f of certs) rmSync(join(machine, f));
    ids.push(await started(`http://127.0.0.1:${port}`, 'aviram-token'));
    // then every session has the machine's one key, and the licence counts one more seat
    assert.equal(new Set(ids).size, 1, 'one key for every gateway, token and renewal');
    const seatsAfter = (JSON.parse(run(['license', 'status', '-o', 'json']).stdout) as { seats_used: number | null })
      .seats_used;
    assert.equal(seatsAfter, (seatsBefore ?? 0) + 1);
  });

  it('status marks a session whose client is gone until it reconnects or ends', async () => {
    // given a session whose plugin dies without ending it (kill -9: no goodbye on the socket)
    const s = startSession(['--target', 'deployment/ip-visit-counter']);
    const id = await s.firstLine;
    s.proc.kill('SIGKILL');
    await s.exit;
    // when status is asked once no gateway has reported a client for a few seconds
    const json = await eventually('the session is marked idle', () => {
      const o = JSON.parse(run(['operator', 'status', '-o', 'json']).stdout) as {
        status: { sessions: Array<{ id: string; idle_secs?: number }> };
      };
      return o.status.sessions.find((x) => x.id === id && x.idle_secs !== undefined);
    });
    // then the API says since when, and the table says it in the session's row
    assert.ok(json.idle_secs! >= 3, JSON.stringify(json));
    const table = run(['operator', 'status']).stdout.split('\n');
    const row = table.findIndex((l) => l.includes(id));
    assert.ok(row >= 0, table.join('\n'));
    assert.ok(
      table.slice(row, row + 3).some((l) => /\| no client for \d+s +\|/.test(l)),
      table.join('\n'),
    );
    // and a live session with its client connected is not marked, once a control session
    // started with it and dropped at once is: the silence a mark needs has passed for both
    const live = startSession(['--target', 'deployment/ip-visit-counter']);
    const control = startSession(['--target', 'deployment/ip-visit-counter']);
    const [liveId, controlId] = [await live.firstLine, await control.firstLine];
    control.proc.kill('SIGKILL');
    await control.exit;
    const o = await eventually('the dropped control session is marked idle', () => {
      const r = JSON.parse(run(['operator', 'status', '-o', 'json']).stdout) as {
        status: { sessions: Array<{ id: string; idle_secs?: number }> };
      };
      return r.status.sessions.some((x) => x.id === controlId && x.idle_secs !== undefined) && r;
    });
    assert.equal(o.status.sessions.find((x) => x.id === liveId)?.idle_secs, undefined);
    assert.equal(run(['operator', 'session', 'kill', '--id', controlId], { MIRRORD_TOKEN: 'admin-token' }).status, 0);
    live.proc.kill('SIGINT');
    await live.exit;
  });

  it('a refused port prints the refusal and exits non-zero; Ctrl-C ends cleanly', async () => {
    const holder = startSession(['--target', 'deploy/shop', '--steal', '8080']);
    const hid = await holder.firstLine;
    await sys.ledger.waitFor((l) => l.msg === 'Port Stolen' && l.session_id === hid);
    const other = startSession(['--target', 'deployment/shop', '--steal', '8080'], 'bob-token');
    await other.firstLine;
    const refused = await other.exit;
    assert.equal(refused.code, 1);
    // then the one refusal line names the holder (session and user), and nothing repeats it
    const lines = refused.stderr.split('\n').filter((l) => l.includes('already stolen'));
    assert.deepEqual(lines, [
      `refused: steal port 8080: port 8080 of deployment/shop in namespace default is already stolen by session ${hid} (user aviram@metalbear.co) without a filter; use on_concurrent_steal "continue" or "override", or a different HTTP filter`,
    ]);
    holder.proc.kill('SIGINT');
    const done = await holder.exit;
    assert.equal(done.code, 0, done.stderr);
    const ended = await sys.ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === hid);
    assert.equal(ended.reason, 'ClientClosed');
  });

  it('port locks: the targets/port-locks resource and status -o wide; a shadowed filter is warned', async () => {
    const a = startSession(['--target', 'deployment/locks-demo', '--steal', '8080', '--header-filter', 'x-user: .+']);
    const idA = await a.firstLine;
    await sys.ledger.waitFor((l) => l.msg === 'Port Stolen' && l.session_id === idA);
    const b = startSession(
      ['--target', 'deployment/locks-demo/container/app', '--steal', '8080', '--header-filter', 'x-user: bob'],
      'admin-token',
    );
    const idB = await b.firstLine;
    await sys.ledger.waitFor((l) => l.msg === 'Port Stolen' && l.session_id === idB);

    const res = await fetch(
      `${sys.url}/apis/operator.metalbear.co/v1/namespaces/default/targets/deployment.locks-demo/port-locks`,
      { headers: { authorization: 'Bearer aviram-token' } },
    );
    const body = (await res.json()) as {
      kind: string;
      items: Array<{
        metadata: { name: string };
        spec: { target: string; port: number };
        status: { exclusive: boolean; holders: Array<{ session_id: string; filter: string }> };
      }>;
    };
    assert.equal(body.kind, 'PortLockList');
    assert.equal(body.items.length, 1, 'one lock key for the deployment and its container');
    assert.equal(body.items[0]!.metadata.name, 'deployment.locks-demo.8080');
    assert.deepEqual(
      body.items[0]!.status.holders.map((h) => [h.session_id, h.filter]),
      [
        [idA, 'header=x-user: .+'],
        [idB, 'header=x-user: bob'],
      ],
    );
    assert.equal(body.items[0]!.status.exclusive, false);

    const wide = run(['operator', 'status', '-o', 'wide']);
    assert.equal(wide.status, 0, wide.stderr);
    assert.match(wide.stdout, /^Port locks:$/m);
    assert.match(
      wide.stdout,
      new RegExp(
        `^\\| default +\\| deployment/locks-demo \\| 8080 \\| header=x-user: \\.\\+ +\\| holds +\\| ${idA} \\|`,
        'm',
      ),
    );
    assert.match(wide.stdout, new RegExp(`\\| header=x-user: bob +\\| holds +\\| ${idB} \\|`, 'm'));
    a.proc.kill('SIGINT');
    b.proc.kill('SIGINT');
    const [ea, eb] = await Promise.all([a.exit, b.exit]);
    assert.match(
      eb.stderr,
      new RegExp(`warning: session ${idA} already steals port 8080 with filter header=x-user: \\.\\+`),
    );
    assert.equal(ea.code, 0);
  });

  it('kill-all, and one-line errors with a non-zero exit', async () => {
    const s = startSession(['--target', 'targetless']);
    await s.firstLine;
    const all = run(['operator', 'session', 'kill-all']);
    assert.equal(all.status, 0, all.stderr);
    assert.match(all.stdout, /1 session\(s\) killed/);
    assert.notEqual((await s.exit).code, 0);

    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['operator', 'status'], { MIRRORD_TOKEN: 'wrong' }, /^error: Unauthorized.*--token/],
      // (the client certificate asked first is refused too: no warning line before the error)
      [['session', 'start', '--target', 'targetless'], { MIRRORD_TOKEN: 'wrong' }, /^error: Unauthorized.*--token/],
      [
        ['operator', 'session', 'kill', '--id', '00000000000000AB'],
        {},
        /^error: sessions.operator.metalbear.co "00000000000000AB" not found/,
      ],
      [['operator', 'session', 'kill', '--id', 'zz!'], {}, /^error: --id: "zz!" is not a session id/],
      [['session', 'start', '--target', 'ingress/x'], {}, /^error: --target: unknown target type "ingress"/],
      [
        ['operator', 'status'],
        { MIRRORD_GATEWAY: 'http://127.0.0.1:1' },
        /^error: cannot reach the gateway at http:\/\/127.0.0.1:1 \(MIRRORD_GATEWAY\)/,
      ],
      // usage errors: one line with where to look, never the whole help
      [['session', 'start'], {}, /^error: required option '-t, --target <target>' not specified \(see --help\)\n$/],
      [['opertor', 'status'], {}, /^error: unknown command 'opertor' \(Did you mean operator\?\) \(see --help\)\n$/],
      [
        ['license', 'usage', '--server', 'http://127.0.0.1:1', '--key', 'k'],
        {},
        /^error: cannot reach the license server at http:\/\/127.0.0.1:1 \(--server\)/,
      ],
    ];
    for (const [args, extra, re] of cases) {
      const r = run(args, extra);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
  });

  it('takes the gateway and token from the kubeconfig context, and runs as `kubectl mirrord`', () => {
    const dir = tempDir('kcfg');
    const kubeconfig = join(dir, 'config');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: dev\n  cluster:\n    server: ${sys.url}\nusers:\n- name: alice\n  user:\n    token: alice-token\ncontexts:\n- name: dev\n  context: {cluster: dev, user: alice}\ncurrent-context: dev\n`,
    );
    const noEnv = { MIRRORD_GATEWAY: '', MIRRORD_TOKEN: '', KUBECONFIG: kubeconfig };
    const r = spawnSync(process.execPath, [BIN, 'operator', 'status'], {
      env: { ...process.env, ...noEnv, MIRRORD_GATEWAY: undefined, MIRRORD_TOKEN: undefined },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Active sessions:/);
    const kubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
    if (kubectl.status !== 0) return; // the plugin itself was exercised above
    const bin = join(dir, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    symlinkSync(BIN, join(bin, 'kubectl-mirrord'));
    const viaKubectl = spawnSync('kubectl', ['mirrord', 'operator', 'status'], {
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig,
        MIRRORD_GATEWAY: undefined,
        MIRRORD_TOKEN: undefined,
        PATH: `${bin}:${process.env.PATH}`,
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(viaKubectl.status, 0, viaKubectl.stderr);
    assert.match(viaKubectl.stdout, /Operator version: 0\.1\.0/);
  });
});
