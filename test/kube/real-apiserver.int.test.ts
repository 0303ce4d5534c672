/**
 * The real kube-apiserver (issue 26), built by `npm run k8s:build`: what the retired stand-in of
 * test/kube could not prove. It reports the real release; our CRDs pass its structural-schema checks
 * as shipped; an APIService with a caBundle reaches a backend on loopback through the real
 * aggregation layer, which authenticates the user, applies RBAC, and forwards X-Remote-* headers
 * with its front-proxy client certificate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { createCa, issue } from '#shared/pki/index.js';
import {
  aggregatedService,
  kubeBinPaths,
  kubeGet,
  startKubeApiServer,
  type KubeApiServer,
} from '../support/kube-apiserver.js';
import { eventually } from '../support/eventually.js';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const exec = promisify(execFile);

describe('the real kube-apiserver', { timeout: 300_000 }, () => {
  let kube: KubeApiServer;
  const kubectl = async (
    args: string[],
    o: { context?: string; input?: string } = {},
  ): Promise<{ code: number; out: string; err: string }> => {
    const argv = ['--kubeconfig', kube.kubeconfig, '--context', o.context ?? 'admin', ...args];
    try {
      const p = exec(KUBECTL, argv, { timeout: 60_000, maxBuffer: 16 << 20 });
      if (o.input !== undefined) p.child.stdin!.end(o.input);
      const r = await p;
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
    }
  };
  const ok = async (args: string[], o: { context?: string; input?: string } = {}): Promise<string> => {
    const r = await kubectl(args, o);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`);
    return r.out;
  };

  before(async () => {
    const t0 = Date.now();
    kube = await startKubeApiServer({
      controllerManager: true,
      users: [
        { name: 'admin', groups: ['system:masters'] },
        { name: 'jim', groups: ['developers'] },
        { name: 'ann', groups: ['developers'] },
      ],
    });
    process.stdout.write(`# etcd + kube-apiserver ready in ${Date.now() - t0} ms (${kube.url})\n`);
  });
  after(async () => {
    await kube?.[Symbol.asyncDispose]();
  });

  it('reports the real release: /version gitVersion is v1.34.4, to anyone and to kubectl', async () => {
    const r = await kubeGet(kube.url, kube.caPem, '/version');
    assert.equal(r.status, 200, r.body);
    const v = JSON.parse(r.body) as { gitVersion: string; major: string; minor: string; gitTreeState: string };
    assert.equal(v.gitVersion, 'v1.34.4');
    assert.equal(kube.version, 'v1.34.4');
    assert.deepEqual([v.major, v.minor, v.gitTreeState], ['1', '34', 'clean']);
    const k = JSON.parse(await ok(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
    assert.equal(k.serverVersion.gitVersion, 'v1.34.4');
  });

  it('authenticates tokens and client certificates and authorizes by RBAC', async () => {
    assert.equal((await ok(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).trim(), 'admin');
    const cert = await ok(['auth', 'whoami', '-o', 'json'], { context: 'jim-cert' });
    const who = JSON.parse(cert) as { status: { userInfo: { username: string; groups: string[] } } };
    assert.equal(who.status.userInfo.username, 'jim');
    assert.ok(who.status.userInfo.groups.includes('developers'), cert);
    const denied = await kubectl(['get', 'namespaces'], { context: 'jim' });
    assert.notEqual(denied.code, 0);
    assert.match(denied.err, /User "jim" cannot list resource "namespaces"/);
    assert.equal((await ok(['auth', 'can-i', 'list', 'namespaces'])).trim(), 'yes');
  });

  it('kube-controller-manager runs the controllers: a Deployment gets its ReplicaSet and Pods', async () => {
    await ok(['create', 'deployment', 'web', '--image=nginx', '--replicas=2', '-n', 'default']);
    await eventually(
      'the Deployment has a ReplicaSet with 2 pods',
      async () =>
        (await ok(['get', 'pods', '-n', 'default', '-l', 'app=web', '-o', 'name'])).trim().split('\n').length === 2,
      60_000,
      250,
    );
    await ok(['delete', 'deployment', 'web', '-n', 'default', '--wait=false']);
  });

  it('deploy/ applies as shipped: the real server accepts our CRDs (structural schemas) and validates CRs by them', async () => {
    const dry = await ok(['apply', '--server-side', '--dry-run=server', '-f', 'deploy/helm/mirrord-operator/crds/']);
    assert.match(dry, /mirrordpolicies\.policies\.mirrord\.metalbear\.co serverside-applied \(server dry run\)/);
    const applied = await ok(['apply', '--server-side', '-k', 'deploy/']);
    for (const o of [
      'customresourcedefinition.apiextensions.k8s.io/mirrordpolicies.policies.mirrord.metalbear.co',
      'customresourcedefinition.apiextensions.k8s.io/mirrordclusterprofiles.profiles.mirrord.metalbear.co',
      'clusterrole.rbac.authorization.k8s.io/mirrord-operator-user',
      'deployment.apps/mirrord-gateway',
      'apiservice.apiregistration.k8s.io/v1.operator.metalbear.co',
    ])
      assert.match(applied, new RegExp(`${o.replace(/\./g, '\\.')} serverside-applied`));
    type Crd = {
      metadata: { name: string };
      status: { conditions?: { type: string; status: string; message?: string }[] };
    };
    const crds = await eventually('every CRD of deploy/ is Established', async () => {
      const list = JSON.parse(await ok(['get', 'crd', '-o', 'json'])) as { items: Crd[] };
      const ours = list.items.filter((c) => c.metadata.name.endsWith('.mirrord.metalbear.co'));
      const established = (c: Crd) => c.status.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
      return ours.length >= 4 && ours.every(established) ? ours : undefined;
    });
    for (const c of crds) {
      const bad = c.status.conditions?.find((x) => x.type === 'NonStructuralSchema' && x.status === 'True');
      assert.equal(bad, undefined, `${c.metadata.name}: ${bad?.message}`);
    }
    // the seeds' policies and profiles are valid by the served schemas; a wrong type is refused
    await ok(['apply', '--server-side', '-f', 'test/fixtures/governance/seed-policies.yaml']);
    const wrong = await kubectl(['create', '-f', '-'], {
      input:
        'apiVersion: policies.mirrord.metalbear.co/v1alpha\nkind: MirrordPolicy\nmetadata: {name: wrong, namespace: default}\nspec: {targetPath: 5, block: [steal]}\n',
    });
    assert.notEqual(wrong.code, 0);
    assert.match(
      wrong.err,
      /spec\.targetPath: Invalid value: "integer": spec\.targetPath in body must be of type string/,
    );
  });

  describe('an aggregated API on loopback, registered with a caBundle', () => {
    const group = 'echo.test.mirrord.dev';
    let backend: Server;
    const seen: { path: string; headers: Record<string, string | string[] | undefined>; clientCn?: string }[] = [];

    before(async () => {
      // The backend as a real aggregated server is configured: a serving certificate for
      // <service>.<namespace>.svc from its own CA, client certificates from the front-proxy CA.
      const ca = await createCa('echo-backend-ca');
      const serving = await issue(ca, {
        commonName: 'echo.default.svc',
        dnsNames: ['echo.default.svc'],
        usage: 'server',
      });
      backend = createServer(
        {
          key: serving.keyPem,
          cert: serving.certPem,
          ca: kube.frontProxy.caPem,
          requestCert: true,
          rejectUnauthorized: false,
        },
        (req, res) => {
          const socket = req.socket as TLSSocket;
          const peer = socket.authorized ? socket.getPeerCertificate() : undefined;
          const path = req.url ?? '';
          const json = (code: number, body: unknown) => {
            res.writeHead(code, { 'content-type': 'application/json' });
            res.end(JSON.stringify(body));
          };
          // Only the apiserver's front proxy may speak for a user.
          if (!peer || peer.subject?.CN !== kube.frontProxy.clientCommonName)
            return json(401, { message: 'no proxy cert' });
          seen.push({ path, headers: req.headers, clientCn: String(peer.subject.CN) });
          if (path === `/apis/${group}/v1`)
            return json(200, {
              kind: 'APIResourceList',
              apiVersion: 'v1',
              groupVersion: `${group}/v1`,
              resources: [{ name: 'echoes', singularName: 'echo', namespaced: false, kind: 'Echo', verbs: ['list'] }],
            });
          if (path.startsWith(`/apis/${group}/v1/echoes`))
            return json(200, {
              kind: 'EchoList',
              apiVersion: `${group}/v1`,
              metadata: {},
              items: [{ user: req.headers['x-remote-user'], groups: req.headers['x-remote-group'] }],
            });
          json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' });
        },
      );
      await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
      const port = (backend.address() as { port: number }).port;
      const apiService = {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: `v1.${group}` },
        spec: {
          group,
          version: 'v1',
          groupPriorityMinimum: 1000,
          versionPriority: 15,
          caBundle: Buffer.from(ca.certPem).toString('base64'),
          service: { name: 'echo', namespace: 'default', port },
        },
      };
      const rbac = [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: 'echo-reader' },
          rules: [{ apiGroups: [group], resources: ['echoes'], verbs: ['list'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'echo-reader-developers' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'echo-reader' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'jim' }],
        },
      ];
      const items = [aggregatedService('echo', 'default', port), apiService, ...rbac];
      await ok(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
    });
    after(async () => {
      backend?.closeAllConnections();
      await new Promise((r) => backend?.close(r));
    });

    it('becomes Available, publishes the front-proxy CA, and forwards the authenticated user in X-Remote-*', async () => {
      await eventually(
        'the APIService is Available',
        async () =>
          (await ok([
            'get',
            'apiservice',
            `v1.${group}`,
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Available")].status}',
          ])) === 'True',
        60_000,
        250,
      );
      // aggregated servers read the front-proxy CA and names from this ConfigMap, as on a real cluster
      const cm = JSON.parse(
        await ok(['get', 'configmap', '-n', 'kube-system', 'extension-apiserver-authentication', '-o', 'json']),
      ) as { data: Record<string, string> };
      assert.equal(cm.data['requestheader-client-ca-file']?.trim(), kube.frontProxy.caPem.trim());
      assert.match(cm.data['requestheader-allowed-names'] ?? '', /front-proxy-client/);
      assert.match(cm.data['requestheader-username-headers'] ?? '', /X-Remote-User/);

      // jim by token and by client certificate; the backend sees the user, not a credential
      for (const context of ['jim', 'jim-cert']) {
        const before = seen.length;
        const out = JSON.parse(await ok(['get', '--raw', `/apis/${group}/v1/echoes`], { context })) as {
          items: { user: string }[];
        };
        assert.equal(out.items[0]?.user, 'jim');
        const req = seen.slice(before).find((s) => s.path.startsWith(`/apis/${group}/v1/echoes`));
        assert.ok(req, `${context}: the backend got the request`);
        assert.equal(req.headers['x-remote-user'], 'jim');
        assert.match(String(req.headers['x-remote-group']), /developers/);
        assert.equal(req.headers.authorization, undefined);
        assert.equal(req.clientCn, 'front-proxy-client');
      }
      // RBAC is checked before forwarding: ann (no binding), anonymous and a bad token never reach it
      const before = seen.length;
      const ann = await kubectl(['get', '--raw', `/apis/${group}/v1/echoes`], { context: 'ann' });
      assert.notEqual(ann.code, 0);
      assert.match(ann.err, /forbidden/i);
      assert.equal((await kubeGet(kube.url, kube.caPem, `/apis/${group}/v1/echoes`)).status, 403);
      assert.equal((await kubeGet(kube.url, kube.caPem, `/apis/${group}/v1/echoes`, 'no-such-token')).status, 401);
      assert.deepEqual(
        seen.slice(before).filter((s) => s.path.includes('/echoes')),
        [],
      );
    });
  });

  it('survives kill -9 of the whole control plane: restarted on the same ports, etcd keeps the objects', async () => {
    await ok(['create', 'configmap', 'survivor', '-n', 'default', '--from-literal=k=v']);
    await kube.kill9();
    assert.notEqual((await kubeGet(kube.url, kube.caPem, '/readyz').catch(() => ({ status: 0 }))).status, 200);
    const t0 = Date.now();
    await kube.restart();
    process.stdout.write(`# restarted after kill -9, ready in ${Date.now() - t0} ms\n`);
    assert.equal((await ok(['get', 'configmap', 'survivor', '-n', 'default', '-o', 'jsonpath={.data.k}'])).trim(), 'v');
  });
});

describe('without the binaries', () => {
  it('names the command that builds them', () => {
    const saved = process.env.MIRRORD_K8S_BIN_DIR;
    process.env.MIRRORD_K8S_BIN_DIR = '/nonexistent/mirrord-k8s-bin';
    try {
      assert.throws(
        () => kubeBinPaths(),
        /kube-apiserver, kube-controller-manager, etcd, helm, krew missing .*npm run k8s:build/,
      );
    } finally {
      if (saved === undefined) delete process.env.MIRRORD_K8S_BIN_DIR;
      else process.env.MIRRORD_K8S_BIN_DIR = saved;
    }
  });
});
