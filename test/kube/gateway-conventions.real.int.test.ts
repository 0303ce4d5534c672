/**
 * The gateway's `operator.metalbear.co/v1` behind the real kube-apiserver's aggregation layer
 * (issue 26, item 7): what kubectl and client-go expect of an aggregated API. Kubernetes `Status`
 * reasons and codes (ServiceUnavailable 503, Invalid 422 naming the field once, 415
 * UnsupportedMediaType), creation timestamps (kubectl's AGE), and `list` wherever discovery
 * advertises it. The gateway runs in this process on a stub ledger; the apiserver, its front
 * proxy, RBAC and kubectl are the real ones.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { request } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { createCa, issue } from '#shared/pki/index.js';
import { silentLogger } from '../support/log.js';
import { unavailable } from '#shared/errors/index.js';
import type { SessionView } from '#shared/ledger/index.js';
import type { GatewayDeps } from '../../services/gateway/src/adapters/http/route-kit.js';
import { buildServer } from '../../services/gateway/src/adapters/http/server.js';
import { FrontProxyAuthenticator } from '../../services/gateway/src/adapters/auth/front-proxy-authenticator.js';
import { aggregatedService, startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';
import { eventually } from '../support/eventually.js';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const exec = promisify(execFile);
const GROUP = 'operator.metalbear.co';
const API = `/apis/${GROUP}/v1`;

const STARTED = Date.now() - 5 * 60_000;
const session = (id: string, namespace: string): SessionView =>
  ({
    id,
    status: 'live',
    started_at: STARTED,
    ended_at: null,
    end_reason: null,
    killed_by: null,
    target: 'deployment/web',
    namespace,
    client_user: 'jim',
    client_name: 'jim',
    client_hostname: 'laptop',
    client_id: 'c1',
    user_id: 'u1',
    client_cli_version: '3.0.0',
    key: null,
    profile: null,
    branch_name: null,
    seat: null,
    ci: null,
    admission: null,
    ports: [{ port: 80, mode: 'steal', lock: 0, http_filter: null }],
  }) as unknown as SessionView;

describe('the gateway as an aggregated API of the real kube-apiserver', { timeout: 300_000 }, () => {
  let kube: KubeApiServer;
  let gateway: FastifyInstance;
  let closed = false;
  /** When set, the ledger is away (every query fails Unavailable). */
  let ledgerDown = false;
  /** The ledger's sessions (tests add and end some). */
  const sessions = [session('A1B2C3D4E5F60718', 'default'), session('0807060504030201', 'other')];
  /** Sessions killed (the ledger still answers for them by id). */
  const ended: SessionView[] = [];

  const kubectl = async (args: string[], context = 'admin'): Promise<{ code: number; out: string; err: string }> => {
    try {
      const r = await exec(KUBECTL, ['--kubeconfig', kube.kubeconfig, '--context', context, ...args], {
        timeout: 60_000,
      });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
    }
  };
  const ok = async (args: string[], context = 'admin'): Promise<string> => {
    const r = await kubectl(args, context);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  /** A request to the real apiserver as admin (bearer token); status and parsed body. */
  const call = (
    method: string,
    path: string,
    body?: { type: string; text: string },
  ): Promise<{ status: number; body: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const req = request(
        new URL(path, kube.url),
        {
          method,
          ca: kube.caPem,
          headers: {
            authorization: `Bearer ${kube.users.admin!.token}`,
            accept: 'application/json',
            ...(body ? { 'content-type': body.type } : {}),
          },
          timeout: 15_000,
        },
        (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) as Record<string, unknown> });
            } catch {
              resolve({ status: res.statusCode ?? 0, body: { raw: b } });
            }
          });
        },
      );
      req.on('error', reject);
      req.end(body?.text);
    });

  before(async () => {
    kube = await startKubeApiServer({
      users: [
        { name: 'admin', groups: ['system:masters'] },
        { name: 'jim', groups: ['developers'] },
      ],
    });
    const ca = await createCa('mirrord-gateway-test-ca');
    const serving = await issue(ca, {
      commonName: 'mirrord-gateway.mirrord.svc',
      dnsNames: ['mirrord-gateway.mirrord.svc'],
      usage: 'server',
    });
    const ledger = {
      sessions: async (ns?: string) => {
        if (ledgerDown) throw unavailable('message bus unavailable: ledger did not answer');
        return {
          now: Date.now(),
          sessions: sessions.filter((s) => ns === undefined || s.namespace === ns).map((s) => ({ ...s })),
        };
      },
      statistics: async () => ({ dau: 1, mau: 1 }),
      seats: async () => 1,
      // as the ledger: an ended session is still there by id, but not in the live list
      session: async (id: string) => ({
        now: Date.now(),
        session: sessions.find((s) => s.id === id) ?? ended.find((s) => s.id === id) ?? null,
      }),
      command: async (name: string, body: { session_id: string }) => {
        assert.equal(name, 'kill');
        const [s] = sessions.splice(
          sessions.findIndex((x) => x.id === body.session_id),
          1,
        );
        ended.push({ ...s!, status: 'ended', ended_at: Date.now(), end_reason: 'Killed', killed_by: 'jim' });
        return { events: [] };
      },
      events: async () => ({ events: [] }),
    };
    const deps = {
      log: silentLogger(),
      authn: new FrontProxyAuthenticator(
        { authenticate: async () => undefined },
        new X509Certificate(kube.frontProxy.caPem).fingerprint256,
        [kube.frontProxy.clientCommonName],
      ),
      authz: { authorize: async () => ({ allowed: true }) },
      agents: { copyTargets: async () => [] },
      ledger,
      version: '0.0.0-test',
      license: undefined,
      defaultNamespace: 'default',
      activityIntervalMs: 1000,
      ready: async () => true,
      https: { key: serving.keyPem, cert: serving.certPem, ca: [kube.frontProxy.caPem] },
    } as unknown as GatewayDeps;
    gateway = await buildServer(deps);
    await gateway.listen({ port: 0, host: '127.0.0.1' });
    const port = (gateway.server.address() as { port: number }).port;
    const items = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mirrord' } },
      aggregatedService('mirrord-gateway', 'mirrord', port),
      {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: `v1.${GROUP}` },
        spec: {
          group: GROUP,
          version: 'v1',
          groupPriorityMinimum: 1000,
          versionPriority: 15,
          caBundle: Buffer.from(ca.certPem).toString('base64'),
          service: { name: 'mirrord-gateway', namespace: 'mirrord', port },
        },
      },
    ];
    const applied = exec(KUBECTL, ['--kubeconfig', kube.kubeconfig, '--context', 'admin', 'apply', '-f', '-']);
    applied.child.stdin!.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    await applied;
    await eventually(
      'the APIService is Available',
      async () =>
        (await ok([
          'get',
          'apiservice',
          `v1.${GROUP}`,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Available")].status}',
        ])) === 'True',
      60_000,
      250,
    );
  });
  after(async () => {
    if (!closed) await gateway?.close();
    await kube?.[Symbol.asyncDispose]();
  });

  it('a field error is 422 Invalid naming the field once; our code stays in details.error_code', async () => {
    const r = await call('GET', `${API}/events?since=yesterday`);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.reason, 'Invalid');
    assert.equal(r.body.code, 422);
    const details = r.body.details as { error_code: string; causes: { field: string; message: string }[] };
    assert.equal(details.error_code, 'Invalid');
    assert.equal(details.causes[0]?.field, 'since');
    assert.doesNotMatch(details.causes[0]!.message, /^since:/);
    const k = await kubectl(['get', '--raw', `${API}/events?since=yesterday`]);
    assert.notEqual(k.code, 0);
    assert.doesNotMatch(k.err, /since: since:/);
    assert.match(k.err, /since/);
  });

  it('a wrong content type is 415 UnsupportedMediaType', async () => {
    const r = await call('POST', `${API}/namespaces/default/copytargets`, { type: 'text/plain', text: 'hello' });
    assert.equal(r.status, 415, JSON.stringify(r.body));
    assert.equal(r.body.reason, 'UnsupportedMediaType');
    const bad = await call('POST', `${API}/namespaces/default/copytargets`, {
      type: 'application/json',
      text: '{not json',
    });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal(bad.body.reason, 'BadRequest');
  });

  it('an unavailable ledger is 503 ServiceUnavailable (our code Unavailable in details)', async () => {
    ledgerDown = true;
    try {
      const r = await call('GET', `${API}/namespaces/default/sessions`);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.reason, 'ServiceUnavailable');
      assert.equal((r.body.details as { error_code: string }).error_code, 'Unavailable');
      assert.match(String(r.body.message), /^message bus unavailable/);
    } finally {
      ledgerDown = false;
    }
  });

  it('kubectl get sessions shows an AGE from the session start', async () => {
    const out = await ok(['get', `sessions.${GROUP}`, '-A']);
    const [head, ...rows] = out.trim().split('\n');
    assert.match(head!, /\bAGE\b/, out);
    assert.equal(rows.length, 2, out);
    for (const row of rows) {
      assert.doesNotMatch(row, /<unknown>/, out);
      assert.match(row, /\b5m\d*s?\b/, out);
    }
    const json = JSON.parse(await ok(['get', `sessions.${GROUP}`, '-n', 'default', '-o', 'json'])) as {
      items: { metadata: { creationTimestamp: string } }[];
    };
    assert.equal(json.items[0]?.metadata.creationTimestamp, new Date(STARTED).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  });

  it('kubectl get mirrordoperators lists the operator (discovery advertises list), with an AGE', async () => {
    const discovery = JSON.parse(await ok(['get', '--raw', API])) as {
      resources: { name: string; verbs: string[] }[];
    };
    assert.ok(discovery.resources.find((r) => r.name === 'mirrordoperators')?.verbs.includes('list'));
    const out = await ok(['get', 'mirrordoperators']);
    assert.match(out, /^NAME\s+AGE\s*\noperator\s+\d+s\s*$/m, out);
    const one = await ok(['get', 'mirrordoperators', 'operator']);
    assert.match(one, /^operator\s+\d+s\s*$/m, one);
    const list = JSON.parse(await ok(['get', 'mirrordoperators', '-o', 'json'])) as {
      kind: string;
      items: { kind: string; metadata: { name: string } }[];
    };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((i) => [i.kind, i.metadata.name]),
      [['MirrordOperator', 'operator']],
    );
  });

  it('?watch=true streams WatchEvents (ADDED, MODIFIED, DELETED); kubectl get -w prints the rows', async () => {
    // the raw stream through the aggregator
    const events: { type: string; object: { metadata?: { name: string }; rows?: unknown[] } }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const req = request(
        new URL(`${API}/namespaces/default/sessions?watch=true&timeoutSeconds=6`, kube.url),
        { ca: kube.caPem, headers: { authorization: `Bearer ${kube.users.admin!.token}` } },
        (res) => {
          assert.equal(res.statusCode, 200);
          let buf = '';
          res.on('data', (d: Buffer) => {
            buf += d.toString();
            for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
              events.push(JSON.parse(buf.slice(0, i)) as (typeof events)[number]);
              buf = buf.slice(i + 1);
            }
          });
          res.on('end', () => resolve());
        },
      );
      req.on('error', reject);
      req.end();
    });
    const kc = spawn(KUBECTL, ['--kubeconfig', kube.kubeconfig, 'get', `sessions.${GROUP}`, '-n', 'default', '-w']);
    let printed = '';
    kc.stdout.on('data', (d: Buffer) => (printed += d.toString()));
    kc.stderr.on('data', (d: Buffer) => (printed += d.toString()));
    try {
      await eventually('the first ADDED', async () => events.length >= 1, 10_000, 100);
      sessions.push(session('00000000000000AB', 'default'));
      await eventually(
        'ADDED for a new session',
        async () => events.some((e) => e.type === 'ADDED' && e.object.metadata?.name === '00000000000000AB'),
        10_000,
        100,
      );
      const s = sessions.find((x) => x.id === '00000000000000AB')!;
      Object.assign(s, { status: 'ended', ended_at: Date.now(), end_reason: 'Killed', killed_by: 'admin' });
      await eventually('MODIFIED when it ends', async () => events.some((e) => e.type === 'MODIFIED'), 10_000, 100);
      sessions.splice(sessions.indexOf(s), 1);
      await eventually('DELETED when it is gone', async () => events.some((e) => e.type === 'DELETED'), 10_000, 100);
      await eventually('kubectl -w printed the new session', async () => /00000000000000AB/.test(printed), 10_000, 100);
    } finally {
      kc.kill();
    }
    await done;
    assert.deepEqual(
      events.map((e) => [e.type, e.object.metadata?.name]),
      [
        ['ADDED', 'A1B2C3D4E5F60718'],
        ['ADDED', '00000000000000AB'],
        ['MODIFIED', '00000000000000AB'],
        ['DELETED', '00000000000000AB'],
      ],
    );
    assert.doesNotMatch(printed, /error|unable to decode/i, printed);
    assert.match(printed.split('\n')[0]!, /^NAME\s+TARGET\s+USER\s+PORTS\s+DURATION\s+AGE/, printed);
  });

  it("deploy/rbac's user roles allow watch on sessions: jim watches through the aggregator", async () => {
    await ok(['apply', '-f', 'deploy/rbac/user-roles.yaml']);
    await ok([
      'create',
      'rolebinding',
      'jim-mirrord',
      '-n',
      'default',
      '--clusterrole=mirrord-operator-user-namespaced',
      '--user=jim',
    ]);
    await ok([
      'create',
      'clusterrolebinding',
      'jim-mirrord-cr',
      '--clusterrole=mirrord-operator-user-cr',
      '--user=jim',
    ]);
    await eventually(
      'RBAC lets jim watch sessions in default',
      async () =>
        (await kubectl(['auth', 'can-i', 'watch', `sessions.${GROUP}`, '-n', 'default'], 'jim')).out.trim() === 'yes',
      10_000,
      100,
    );
    assert.equal(
      (await kubectl(['auth', 'can-i', 'watch', `sessions.${GROUP}`, '-n', 'other'], 'jim')).out.trim(),
      'no',
    );
    const first = await new Promise<{ status: number; line: string }>((resolve, reject) => {
      const req = request(
        new URL(`${API}/namespaces/default/sessions?watch=true&timeoutSeconds=2`, kube.url),
        { ca: kube.caPem, headers: { authorization: `Bearer ${kube.users.jim!.token}` } },
        (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, line: b.split('\n')[0] ?? '' }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(first.status, 200, first.line);
    assert.deepEqual(JSON.parse(first.line).type, 'ADDED');
    assert.match(await ok(['get', 'mirrordoperators'], 'jim'), /^operator\s/m);
  });

  it('kubectl delete sessions --all as a user of the shipped roles deletes and waits by watch, no forbidden error', async () => {
    sessions.push(session('00000000000000CD', 'default'));
    const r = await kubectl(['delete', `sessions.${GROUP}`, '--all', '-n', 'default', '--timeout=20s'], 'jim');
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, /forbidden|error/i, r.err);
    assert.match(r.out, /A1B2C3D4E5F60718.*deleted/, r.out);
    assert.match(r.out, /00000000000000CD.*deleted/, r.out);
    assert.deepEqual(
      sessions.map((s) => s.id),
      ['0807060504030201'],
    );
    // kubectl delete --wait lists by metadata.name: a list honours it
    const one = await ok([
      'get',
      `sessions.${GROUP}`,
      '-A',
      '--field-selector',
      'metadata.name=0807060504030201',
      '-o',
      'name',
    ]);
    assert.equal(one.trim(), `session.${GROUP}/0807060504030201`);
    const none = await kubectl([
      'get',
      `sessions.${GROUP}`,
      '-A',
      '--field-selector',
      'metadata.name=00000000000000CD',
    ]);
    assert.match(none.out + none.err, /No resources found/);
  });

  it('closing the gateway ends its open watches (a watch never ends by itself)', async () => {
    let lines = 0;
    const ended = new Promise<void>((resolve, reject) => {
      const req = request(
        new URL(`${API}/sessions?watch=true`, kube.url),
        { ca: kube.caPem, headers: { authorization: `Bearer ${kube.users.admin!.token}` } },
        (res) => {
          res.on('data', (d: Buffer) => (lines += d.toString().split('\n').length - 1));
          res.on('end', () => resolve());
          res.on('error', () => resolve());
        },
      );
      req.on('error', reject);
      req.end();
    });
    await eventually('the watch sent the sessions', async () => lines >= 1, 10_000, 100);
    const t0 = Date.now();
    closed = true;
    await gateway.close();
    await ended;
    assert.ok(Date.now() - t0 < 5000, `close took ${Date.now() - t0} ms`);
  });
});
