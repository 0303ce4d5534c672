import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clientMessage, encode, type DaemonMessage, type HttpFilterValue } from '#shared/protocol/index.js';
import { API, http, SessionClient, type System } from '../support/system.js';
import {
  agentOfSession,
  runKubectl,
  startClusterSystem,
  type ClusterSystem,
  type TestCluster,
} from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import type { TestAgent } from '../agent/test-agent.js';
import { tempDir } from '../support/tmp.js';
import { runPlugin } from '../support/plugin.js';
import { openFrame } from '../support/file-requests.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceProcess } from '../support/service-process.js';

/**
 * The Policies and Profiles documents' YAML, applied unchanged with the real kubectl, enforced
 * on real sessions through gateway → policy (informers) → ledger.
 */
describe("governance: the seeds' policies and profiles on live sessions", () => {
  let all: ClusterSystem;
  let cluster: TestCluster;
  let sys: System;
  let policy: ServiceProcess;
  const clients: SessionClient[] = [];
  before(async () => {
    all = await startClusterSystem({}, async (c) => {
      const applied = await runKubectl(c, 'admin', 'apply', '-f', 'test/fixtures/governance/');
      assert.equal(applied.code, 0, applied.err);
    });
    ({ cluster, sys, policy } = all);
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await all?.stop();
  });

  const plugin = (args: string[]) => runPlugin(sys, args);

  async function connect(target: string, namespace: string, opts: { config?: unknown; query?: string } = {}) {
    const r = await SessionClient.connect(sys, {
      token: 'admin-token',
      target,
      namespace,
      ...(opts.query ? { query: opts.query } : {}),
      ...(opts.config
        ? { headers: { 'x-mirrord-config': Buffer.from(JSON.stringify(opts.config)).toString('base64') } }
        : {}),
    });
    if (r.client) {
      clients.push(r.client);
      await r.client.sessionId();
    }
    return r;
  }
  const subscribe = (c: SessionClient, port: number, mode: 'steal' | 'mirror', filter?: HttpFilterValue) =>
    c.subscribe(mode, port, filter);

  it('block-stealing-from-boats-deployment: steal on deploy/boats is refused and recorded; one of its pods is not covered', async () => {
    const c = (await connect('deployment.boats', 'default')).client!;
    const id = await c.sessionId();
    const a = await subscribe(c, 80, 'steal');
    assert.equal(a.ok, false);
    const err = a.error as { code: string; message: string; wire: string; policy: string };
    assert.equal(err.code, 'Forbidden');
    // On the wire: ForbiddenWithReason (protocol 1.29 has it), naming the policy once: the
    // reason is only why, since the CLI's sentence names the action and the policy itself.
    assert.equal(err.wire, 'ForbiddenWithReason');
    assert.equal(err.policy, 'default/block-stealing-from-boats-deployment');
    assert.equal(err.message, 'steal is blocked on deploy/boats in namespace default');
    const rejected = await sys.ledger.waitFor((l) => l.msg === 'Session Rejected' && l.session_id === id);
    assert.equal(rejected.policy, 'default/block-stealing-from-boats-deployment');
    assert.equal((await subscribe(c, 81, 'mirror')).ok, true, 'mirror is not blocked');
    const locks = await http(
      sys,
      'GET',
      `${API}/namespaces/default/targets/deployment.boats/port-locks`,
      'admin-token',
    );
    assert.equal(locks.status, 200);
    assert.deepEqual(locks.body.items, [], 'a blocked steal never takes a lock');

    const pods = await runKubectl(
      cluster,
      'admin',
      'get',
      'pods',
      '-n',
      'default',
      '-l',
      'app=boats',
      '-o',
      'jsonpath={.items[0].metadata.name}',
    );
    const p = (await connect(`pod.${pods.out}`, 'default')).client!;
    assert.equal((await subscribe(p, 80, 'steal')).ok, true, 'the pod targeted directly may be stolen from');
  });

  it('a config that steals is refused at connect (403 naming the policy), before any agent exists', async () => {
    const r = await connect('deployment.boats', 'default', { config: { feature: { network: { incoming: 'steal' } } } });
    assert.equal(r.status, 403);
    assert.match(
      String(r.body!.message),
      /^steal is forbidden by the mirrord policy "default\/block-stealing-from-boats-deployment"/,
    );
  });

  it('block-unfiltered-stealing-from-webserver-deployments: mirror and unfiltered steal refused on the labelled deployment only', async () => {
    const web = (await connect('deployment.webserver', 'books')).client!;
    const m = await subscribe(web, 80, 'mirror');
    assert.match(
      String((m.error as { message: string }).message),
      /^mirror is blocked on deploy\/webserver in namespace books$/,
    );
    assert.equal((m.error as { policy: string }).policy, 'books/block-unfiltered-stealing-from-webserver-deployments');
    const s = await subscribe(web, 80, 'steal');
    assert.match(
      String((s.error as { message: string }).message),
      /^steal-without-filter is blocked on deploy\/webserver in namespace books; set an HTTP filter/,
    );
    assert.equal((await subscribe(web, 80, 'steal', { $: 'Header', v: 'x-user: me' })).ok, true);
    const worker = (await connect('deployment.worker', 'books')).client!;
    assert.equal((await subscribe(worker, 80, 'mirror')).ok, true);
  });

  it('the ^username: .+ header filter policy: plain, all_of and any_of filters', async () => {
    const c = (await connect('deployment.app', 'header-example')).client!;
    assert.equal((await subscribe(c, 80, 'steal', { $: 'Header', v: 'username: foobar' })).ok, true);
    assert.equal(
      (
        await subscribe(c, 81, 'steal', {
          $: 'Composite',
          v: {
            all: true,
            filters: [
              { $: 'Header', v: 'username: foobar' },
              { $: 'Path', v: '/api.*' },
            ],
          },
        })
      ).ok,
      true,
    );
    assert.equal(
      (
        await subscribe(c, 82, 'steal', {
          $: 'Composite',
          v: {
            all: false,
            filters: [
              { $: 'Header', v: 'username: foobar' },
              { $: 'Header', v: 'username: baz2000' },
            ],
          },
        })
      ).ok,
      true,
    );
    const bad = await subscribe(c, 83, 'steal', {
      $: 'Composite',
      v: {
        all: false,
        filters: [
          { $: 'Header', v: 'username: foobar' },
          { $: 'Path', v: '/api' },
        ],
      },
    });
    assert.match(
      String((bad.error as { message: string }).message),
      /every any_of filter must be a header filter matching \^username: \.\+/,
    );
    assert.equal((await subscribe(c, 84, 'steal')).ok, false);
  });

  it('requireProfile + profileAllowlist across two policies; unknown profiles are named', async () => {
    const none = await connect('deployment.app', 'profile-example');
    assert.equal(none.status, 403);
    assert.match(
      String(none.body!.message),
      /a mirrord profile is required by the mirrord policy "profile-example\/require-profile"/,
    );
    const one = await connect('deployment.app', 'profile-example', { query: '&profile=my-profile-1' });
    assert.equal(one.status, 403);
    assert.match(
      String(one.body!.message),
      /profile "my-profile-1" is not allowed by the mirrord policy "profile-example\/narrow-profiles"/,
    );
    const two = await connect('deployment.app', 'profile-example', { config: { profile: 'my-profile-2' } });
    assert.ok(two.client, JSON.stringify(two.body));
    const unknown = await connect('deployment.app', 'profile-example', { query: '&profile=nope' });
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body!.message), /profile "nope" not found: no MirrordClusterProfile named "nope"/);
  });

  it('policy explain against the cluster (through the gateway) names the policies and the effective config', async () => {
    const r = await plugin(['policy', 'explain', '--target', 'deploy/webserver', '-n', 'books', '-o', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { allowed: boolean; applied: string[]; blocked: Array<{ feature: string }> };
    assert.equal(out.allowed, true, 'no config given: nothing is asked yet');
    assert.deepEqual(out.applied, ['books/block-unfiltered-stealing-from-webserver-deployments']);
    assert.deepEqual(out.blocked.map((b) => b.feature).sort(), ['mirror', 'steal-without-filter']);
    const worker = await plugin(['policy', 'explain', '--target', 'deploy/worker', '-n', 'books', '-o', 'json']);
    assert.deepEqual(
      (JSON.parse(worker.stdout) as { applied: string[] }).applied,
      [],
      "the label selector uses the live workload's labels",
    );
  });

  it('exclude-url-env: *_URL variables never reach the client, even when its config includes them; explain names them', async () => {
    const r = await connect('deployment.app', 'env-example', {
      config: { feature: { env: { include: 'DB_URL;API_URL;LOG_LEVEL' } } },
    });
    assert.ok(r.client, JSON.stringify(r.body));
    const c = r.client;
    const answer = new Promise<DaemonMessage>((resolve) =>
      c.socket.onMessage((m) => m.$ === 'GetEnvVarsResponse' && resolve(m)),
    );
    // What the CLI's layer sends for that include (its select list): the relay answers for the policy.
    c.ws.send(
      encode(clientMessage, {
        $: 'GetEnvVarsRequest',
        v: { env_vars_filter: [], env_vars_select: ['DB_URL', 'API_URL', 'LOG_LEVEL'] },
      }),
    );
    const m = await answer;
    assert.ok(m.$ === 'GetEnvVarsResponse' && m.v.$ === 'Ok', JSON.stringify(m));
    assert.deepEqual(Object.fromEntries(m.v.v), { LOG_LEVEL: 'debug' });
    await sys.gateway.waitFor(
      (l) => l.msg === 'environment variables withheld by policy' && String(l.withheld) === 'DB_URL,API_URL',
    );
    // policy explain states the same withholding, from the decision the relay enforces.
    const explained = (await plugin(['policy', 'explain', '--target', 'deploy/app', '-n', 'env-example', '-o', 'json']))
      .stdout;
    assert.deepEqual((JSON.parse(explained) as { enforce: { env_exclude: string[] } }).enforce.env_exclude, ['*_URL']);
  });

  it('fs: read-only-json refuses a write open of a .json file and serves a read open; notFound and local are answered by the gateway, in request order', async () => {
    /** Sends the opens at once; the File answers, in the order they arrive. */
    const opens = async (c: SessionClient, ...frames: Uint8Array[]) => {
      const got: DaemonMessage[] = [];
      c.socket.onMessage((m) => m.$ === 'File' && got.push(m));
      for (const f of frames) c.ws.send(f);
      await eventually(`${frames.length} file answers`, async () => got.length === frames.length);
      return got.map((m) => (m.$ === 'File' && m.v.$ === 'Open' ? (m.v.v.$ === 'Ok' ? 'fd' : m.v.v.v.$) : m.$));
    };
    const opensOf = (a: TestAgent, path: string) =>
      a.received.filter((m) => m.$ === 'FileRequest' && m.v.$ === 'Open' && m.v.v.path === path);

    const r = await connect('deployment.app', 'fs-example');
    assert.ok(r.client, JSON.stringify(r.body));
    assert.deepEqual(await opens(r.client, openFrame('/app/config.json', true), openFrame('/app/config.json')), [
      'RemoteIO',
      'fd',
    ]);
    const agent = await agentOfSession(cluster, r.client.id);
    assert.equal(opensOf(agent, '/app/config.json').length, 1, 'only the read open reached the agent');
    await r.client.close();

    // A policy applied mid-run with notFound and local rules: the next session gets them.
    const file = join(tempDir('fs-policy'), 'fs-secrets.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: policies.mirrord.metalbear.co/v1alpha',
        'kind: MirrordPolicy',
        'metadata: {name: fs-secrets, namespace: fs-example}',
        'spec:',
        '  fs:',
        '    notFound: ["^/etc/secret/"]',
        '    local: ["^/app/local\\\\.conf$"]',
        '',
      ].join('\n'),
    );
    const applied = await runKubectl(cluster, 'admin', 'apply', '-f', file);
    assert.equal(applied.code, 0, applied.err);
    await eventually('the policy service has fs-secrets', async () => {
      const e = await plugin(['policy', 'explain', '--target', 'deploy/app', '-n', 'fs-example', '-o', 'json']);
      const enforce = (JSON.parse(e.stdout || '{}') as { enforce?: { fs: { not_found: string[] } } }).enforce;
      return enforce?.fs.not_found.includes('^/etc/secret/') ?? false;
    });
    const s = await connect('deployment.app', 'fs-example');
    assert.ok(s.client, JSON.stringify(s.body));
    // The agent's answer to the first open comes first, though the gateway could answer the others at once.
    assert.deepEqual(
      await opens(
        s.client,
        openFrame('/app/config.json'),
        openFrame('/etc/secret/token'),
        openFrame('/app/local.conf'),
      ),
      ['fd', 'RemoteIO', 'OpenLocal'],
    );
    const agent2 = await agentOfSession(cluster, s.client.id);
    assert.equal(opensOf(agent2, '/etc/secret/token').length, 0);
    assert.equal(opensOf(agent2, '/app/local.conf').length, 0);
    await s.client.close();
    assert.equal((await runKubectl(cluster, 'admin', 'delete', '-f', file)).code, 0);
  });

  it('a policy refusal through the plugin: one line naming the policy once', async () => {
    // when a session steals port 80 of deploy/boats, which a policy forbids
    const r = await plugin(['session', 'start', '--target', 'deployment/boats', '--steal', '80']);
    // then it exits 1 with one refusal line, the policy named once
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr,
      'refused: steal port 80: forbidden by the mirrord policy "default/block-stealing-from-boats-deployment" (steal is blocked on deploy/boats in namespace default)\n',
    );
  });

  it('a typo in a target name: the 404 says which names of that kind in the namespace it may have meant', async () => {
    // given the namespace books holds deployment/webserver and deployment/worker
    // when a session is started on deployment/webservr
    const r = await plugin(['session', 'start', '--target', 'deployment/webservr', '-n', 'books', '--mirror', '80']);
    // then it exits non-zero with one line naming the closest existing deployment
    assert.notEqual(r.status, 0);
    assert.equal(
      r.stderr,
      'error: target deployment "webservr" in namespace "books" not found; did you mean deployment/webserver?\n',
    );
    // and a name close to nothing keeps the hint to look for it
    const far = await plugin(['session', 'start', '--target', 'deployment/zzzzzzzz', '-n', 'books', '--mirror', '80']);
    assert.match(far.stderr, /not found; check its name and namespace \(kubectl get deployments -n books\)\n$/);
  });

  it('a policy deleted with kubectl stops applying (informer), and one created starts', async () => {
    const del = await runKubectl(
      cluster,
      'admin',
      'delete',
      'mirrordpolicy',
      'block-stealing-from-boats-deployment',
      '-n',
      'default',
    );
    assert.equal(del.code, 0, del.err);
    await policy.waitFor((l) => l.msg === 'MirrordPolicy default/block-stealing-from-boats-deployment removed');
    const c = (await connect('deployment.boats', 'default')).client!;
    assert.equal((await subscribe(c, 80, 'steal')).ok, true);
  });
});
