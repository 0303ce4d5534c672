import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { call, commandSubject } from '#shared/nats/index.js';
import { http, API, SessionClient, startSystem, type System } from '../support/system.js';
import { PLUGIN_BIN } from '../support/plugin.js';
import { eventually } from '../support/eventually.js';

const BIN = PLUGIN_BIN;

/** History from the ledger: `kubectl mirrord audit` and `operator status --at`. */
describe('audit and status --at, rebuilt from events', () => {
  let sys: System;
  const run = (args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args], {
      env: { ...process.env, MIRRORD_GATEWAY: sys.url, MIRRORD_TOKEN: 'admin-token' },
      encoding: 'utf8',
      timeout: 30_000,
    });
  before(async () => {
    sys = await startSystem();
  });
  after(async () => {
    await sys?.stop();
  });

  it('status --at a past moment prints the table captured live at that moment', async () => {
    const a = (await SessionClient.connect(sys, { token: 'aviram-token', target: 'deployment.audit-a' })).client!;
    const idA = await a.sessionId();
    await a.subscribe('steal', 80, { $: 'Header', v: 'x-user: avi' });
    const b = (await SessionClient.connect(sys, { token: 'alice-token', target: 'pod.audit-b' })).client!;
    await b.sessionId();
    await b.subscribe('mirror', 9090);

    // Once the ledger holds both subscriptions, the live status is the moment to ask about.
    const live = await eventually('the live status shows both sessions’ ports', async () => {
      const r = await http(sys, 'GET', `${API}/mirrordoperators/operator`, 'admin-token');
      const rows = JSON.stringify((r.body.status as { sessions: unknown[] }).sessions);
      return rows.includes('9090') && rows.includes('x-user: avi') && r;
    });
    const observedAt = String((live.body.status as { observed_at: string }).observed_at);
    const liveTable = run(['operator', 'status', '--at', observedAt]).stdout; // same moment, asked through history
    const liveNow = (live.body.status as { sessions: unknown[] }).sessions;

    // Things change afterwards: A is killed, B ends, C starts.
    assert.equal((await http(sys, 'DELETE', `${API}/sessions/${idA}`, 'admin-token')).status, 200);
    await b.close();
    const c = (await SessionClient.connect(sys, { token: 'alice-token', target: 'deployment.audit-c' })).client!;
    await c.sessionId();

    const then = await http(
      sys,
      'GET',
      `${API}/mirrordoperators/operator?at=${encodeURIComponent(observedAt)}`,
      'admin-token',
    );
    assert.deepEqual(
      (then.body.status as { sessions: unknown[] }).sessions,
      liveNow,
      'the JSON rows equal the live ones',
    );
    const again = run(['operator', 'status', '--at', observedAt]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, liveTable);
    assert.match(again.stdout, /Port: 80, Type: steal, Filter: header=x-user: avi/);
    assert.match(again.stdout, /Port: 9090, Type: mirror/);
    assert.ok(!again.stdout.includes('deployment/audit-c'));
    await c.close();
  });

  it('audit lists who did what when: starts, steals with filters, kills with who killed, refusals with the policy', async () => {
    const nc = await sys.nats.connect();
    await call(nc, commandSubject('ledger', 'reject'), {
      session_id: '00000000000000BB',
      target: 'deployment/audit-a',
      namespace: 'default',
      client: {
        client_user: 'aviram@metalbear.co',
        client_name: 'Aviram',
        client_hostname: 'mbp',
        client_id: '',
        user_id: '',
        client_cli_version: '',
      },
      asked: 'port',
      port: 80,
      mode: 'steal',
      code: 'Forbidden',
      message: 'steal is forbidden',
      policy: 'default/no-steal',
    });
    await nc.close();
    const text = run(['audit', '--user', 'aviram@metalbear.co', '--since', '1h']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(
      text.stdout,
      /\| aviram@metalbear\.co \| started +\| deployment\/audit-a \| default +\| [0-9A-F]{16} \|/,
    );
    assert.match(text.stdout, /stole port 80 with filter header=x-user: avi/);
    assert.match(text.stdout, /released port 80 \(SessionEnded\)|released port 80/);
    assert.match(text.stdout, /ended after \d+s: killed by admin/);
    assert.match(text.stdout, /refused steal on port 80: Forbidden by policy default\/no-steal/);
    assert.ok(!text.stdout.includes('alice'), 'filtered by user');
    const json = JSON.parse(run(['audit', '--target', 'pod/audit-b', '-o', 'json']).stdout) as {
      items: Array<{ type: string }>;
    };
    assert.deepEqual(
      json.items.map((e) => e.type),
      ['SessionStarted', 'PortMirrored', 'PortReleased', 'SessionEnded'],
    );
    const paged = JSON.parse(run(['audit', '--limit', '3', '-o', 'json']).stdout) as { items: unknown[] };
    assert.equal(paged.items.length, 3);
  });
});

describe('audit: a steal refused because another session holds the port', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem();
  });
  after(async () => {
    await sys?.stop();
  });

  it('given alice holds port 80, when bob is refused it, then kubectl mirrord audit shows who asked, which port and who held it', async () => {
    const a = (await SessionClient.connect(sys, { token: 'alice-token', target: 'deployment.held' })).client!;
    const idA = await a.sessionId();
    assert.deepEqual(await a.subscribe('steal', 80), { ok: true });
    const b = (await SessionClient.connect(sys, { token: 'bob-token', target: 'deployment.held' })).client!;
    const idB = await b.sessionId();
    assert.equal(((await b.subscribe('steal', 80)).error as { code: string }).code, 'PortAlreadyStolen');
    const out = spawnSync(process.execPath, [BIN, 'audit', '--target', 'deployment/held'], {
      env: { ...process.env, MIRRORD_GATEWAY: sys.url, MIRRORD_TOKEN: 'admin-token' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(out.status, 0, out.stderr);
    const line = out.stdout.split('\n').find((l) => l.includes(idB) && l.includes('refused'));
    assert.ok(line, out.stdout);
    assert.match(line, /bob/);
    assert.match(
      line,
      new RegExp(`refused steal on port 80: PortAlreadyStolen held by session ${idA} \\(user alice\\)`),
    );
    await b.close();
    await a.close();
  });
});
