import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';
import { eventually } from '../support/eventually.js';
import { HUB_CHART, OPERATOR_CHART, helm, objects, template, valuesFile, type Obj } from './charts.js';
import { jobSecrets, type Doc } from './rendered-pod.js';

/**
 * The Helm charts as the seeds install them (issue 26): `helm lint`, `helm template` with the
 * defaults and with a seeds-style values file, and the rendering applied (server dry run) to the
 * real kube-apiserver; the APIService verifies the gateway; bad values are refused by name.
 */
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const exec = promisify(execFile);

const LICENSE = 'name: Example\norganization: Example Org\nexpire_at: 2030-12-31\nseats: 10\n';
/** The seeds' operator values.yaml, with this project's licenseServer (a leafnode address). */
const SEEDS_OPERATOR = {
  license: { key: 'secret', file: { data: { 'license.pem': LICENSE } } },
  licenseServer: 'nats-leaf://licenses.example.com:7422',
  operator: { metrics: true },
  roleNamespaces: ['books', 'default'],
  createNamespace: true,
  service: { type: 'LoadBalancer' },
};
/** The seeds' license server values.yaml. */
const SEEDS_HUB = {
  createNamespace: true,
  service: { type: 'ClusterIP' },
  license: { key: 'secret', file: { data: { 'license.pem': LICENSE } } },
};
/** What a platform team might choose instead: SQLite, its own NATS, no policies or budgets. */
const PLATFORM = {
  replicas: { ledger: 1, gateway: 3 },
  ledger: { database: { type: 'sqlite' } },
  nats: { bundled: false, external: { url: 'tls://nats.platform.svc:4222', caSecret: 'platform-nats-ca' } },
  networkPolicy: { enabled: false },
  podDisruptionBudget: { enabled: false },
  image: { repository: 'registry.example.com/mirrord-teams', tag: '1.2.3', pullPolicy: 'Always' },
  resources: { gateway: { requests: { cpu: '100m', memory: '128Mi' } } },
};

const find = (os: Obj[], kind: string, name: string): Obj => {
  const o = os.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `no ${kind} ${name} rendered`);
  return o;
};
type Env = { name: string; value?: string };
const containerOf = (o: Obj) =>
  (o.spec!.template as { spec: { containers: { env?: Env[]; image: string; resources?: unknown }[] } }).spec.containers[0]!;
const envOf = (o: Obj) => Object.fromEntries((containerOf(o).env ?? []).map((e) => [e.name, e.value]));
type PodSpec = {
  containers: { env?: { valueFrom?: { secretKeyRef?: { name: string }; configMapKeyRef?: { name: string } } }[] }[];
  volumes?: {
    secret?: { secretName: string };
    configMap?: { name: string };
    projected?: { sources: { secret?: { name: string } }[] };
  }[];
};
/** The Secrets and ConfigMaps the workloads' pods read (volumes and env). */
const podRefs = (os: Obj[]): string[] =>
  os
    .filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind))
    .flatMap((o) => {
      const pod = (o.spec!.template as { spec: PodSpec }).spec;
      return [
        ...(pod.volumes ?? []).flatMap((v) => [
          v.secret?.secretName,
          v.configMap?.name,
          ...(v.projected?.sources ?? []).map((x) => x.secret?.name),
        ]),
        ...pod.containers.flatMap((c) =>
          (c.env ?? []).flatMap((e) => [e.valueFrom?.secretKeyRef?.name, e.valueFrom?.configMapKeyRef?.name]),
        ),
      ].filter((n): n is string => !!n);
    });
const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

describe('the Helm charts', { timeout: 600_000 }, () => {
  let kube: KubeApiServer;
  const kubectl = async (args: string[], input?: string) => {
    try {
      const p = exec(KUBECTL, ['--kubeconfig', kube.kubeconfig, '--context', 'admin', ...args], {
        timeout: 120_000,
        maxBuffer: 32 << 20,
      });
      if (input !== undefined) p.child.stdin!.end(input);
      const r = await p;
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
    }
  };

  before(async () => {
    kube = await startKubeApiServer();
  });
  after(async () => {
    await kube?.[Symbol.asyncDispose]();
  });

  it('helm lint --strict passes for both charts, with the defaults and with the seeds values', async () => {
    for (const [chart, values] of [
      [OPERATOR_CHART, {}],
      [OPERATOR_CHART, SEEDS_OPERATOR],
      [OPERATOR_CHART, PLATFORM],
      [HUB_CHART, SEEDS_HUB],
    ] as const) {
      const r = await helm(['lint', '--strict', chart, '-f', valuesFile(values)]);
      assert.equal(r.code, 0, `${chart}: ${r.out}${r.err}`);
      assert.match(r.out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('the operator chart installs what deploy/ did, and the APIService verifies the gateway for <svc>.<ns>.svc', async () => {
    // given the chart with its defaults
    const os = objects(await template(OPERATOR_CHART, {}));
    // then every part of the install is there
    for (const [kind, name] of [
      ['Namespace', 'mirrord'],
      ['ConfigMap', 'mirrord-settings'],
      ['ClusterRole', 'mirrord-operator-user'],
      ['ClusterRole', 'mirrord-operator'],
      ['Role', 'mirrord-bootstrap'],
      ['Job', 'mirrord-bootstrap-1'],
      ['StatefulSet', 'mirrord-nats'],
      ['Deployment', 'mirrord-ledger'],
      ['Deployment', 'mirrord-gateway'],
      ['Deployment', 'mirrord-agent-manager'],
      ['Deployment', 'mirrord-policy'],
      ['Deployment', 'mirrord-jira-reporter'],
      ['Service', 'mirrord-gateway'],
      ['NetworkPolicy', 'mirrord-default-deny'],
      ['PodDisruptionBudget', 'mirrord-gateway'],
      ['PodDisruptionBudget', 'mirrord-nats'],
    ])
      find(os, kind!, name!);
    // and the APIService trusts exactly the CA that signed the gateway's certificate
    const api = find(os, 'APIService', 'v1.operator.metalbear.co').spec as Record<string, unknown>;
    assert.equal(api.insecureSkipTLSVerify, undefined);
    assert.deepEqual(api.service, { name: 'mirrord-gateway', namespace: 'mirrord', port: 443 });
    const tls = find(os, 'Secret', 'mirrord-gateway-tls').data!;
    const ca = b64(api.caBundle as string);
    assert.equal(ca, b64(tls['ca.crt']!));
    const cert = new X509Certificate(b64(tls['tls.crt']!));
    assert.ok(cert.verify(new X509Certificate(ca).publicKey), 'signed by the caBundle');
    // a TLS client holding only the caBundle accepts the gateway as mirrord-gateway.mirrord.svc
    const server = createServer({ cert: b64(tls['tls.crt']!), key: b64(tls['tls.key']!) }, (_q, s) => s.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      for (const name of ['mirrord-gateway.mirrord.svc', 'mirrord-gateway.mirrord.svc.cluster.local']) {
        const authorized = await new Promise<boolean>((resolve, reject) => {
          const s = connect({ host: '127.0.0.1', port, ca, servername: name }, () => {
            resolve(s.authorized);
            s.end();
          });
          s.once('error', reject);
        });
        assert.ok(authorized, name);
      }
      assert.ok(cert.checkHost('mirrord-gateway.other.svc') === undefined, 'not valid for another namespace');
    } finally {
      server.close();
    }
  });

  it("the seeds' values: licence, license hub, metrics, role namespaces and the Service type", async () => {
    const os = objects(await template(OPERATOR_CHART, SEEDS_OPERATOR));
    const gw = find(os, 'Deployment', 'mirrord-gateway');
    assert.deepEqual(
      [envOf(gw).OPERATOR_METRICS_ENABLED, envOf(gw).OPERATOR_LICENSE_FILE],
      ['true', '/license/license.pem'],
    );
    const license = find(os, 'Secret', 'mirrord-license') as Obj & { stringData: Record<string, string> };
    assert.equal(license.stringData['license.pem'], LICENSE);
    assert.equal((find(os, 'Service', 'mirrord-gateway').spec as { type: string }).type, 'LoadBalancer');
    for (const ns of ['books', 'default'])
      assert.ok(os.some((o) => o.kind === 'Role' && o.metadata.name === 'mirrord-operator-user' && o.metadata.namespace === ns));
    assert.equal(find(os, 'ConfigMap', 'mirrord-settings').data!.licenseServer, SEEDS_OPERATOR.licenseServer);
    // joined to the hub: the NATS leafnode to it, as this cluster's own user from mirrord-license-leaf
    const conf = find(os, 'ConfigMap', 'mirrord-nats').data!['nats.conf']!;
    assert.match(conf, /domain: \$CLUSTER_NAME/);
    assert.match(conf, /url: \$LEAF_URL\s+tls \{ ca_file: \/etc\/nats\/leaf\/ca\.crt/);
  });

  it("every pod's Secrets and ConfigMaps are rendered, made by the bootstrap Job, or named as the operator's to create", async () => {
    for (const [chart, values, external] of [
      [OPERATOR_CHART, {}, ['mirrord-ledger-db', 'mirrord-jira', 'extension-apiserver-authentication']],
      [OPERATOR_CHART, SEEDS_OPERATOR, ['mirrord-ledger-db', 'mirrord-jira', 'extension-apiserver-authentication', 'mirrord-license-leaf']],
      [OPERATOR_CHART, PLATFORM, ['platform-nats-ca', 'mirrord-jira', 'extension-apiserver-authentication']],
      [HUB_CHART, SEEDS_HUB, []],
    ] as const) {
      const os = objects(await template(chart, values));
      const made = await jobSecrets(os as unknown as Doc[]);
      const have = new Set([...os.filter((o) => o.kind === 'Secret' || o.kind === 'ConfigMap').map((o) => o.metadata.name), ...made.keys(), ...external]);
      for (const name of podRefs(os)) assert.ok(have.has(name), `${chart}: a pod needs ${name}, which nothing makes`);
    }
    // the platform values: one SQLite ledger on its claim, the external NATS, the image
    const os = objects(await template(OPERATOR_CHART, PLATFORM));
    const ledger = find(os, 'Deployment', 'mirrord-ledger');
    assert.equal(envOf(ledger).LEDGER_DB, 'sqlite:/data/ledger.db');
    find(os, 'PersistentVolumeClaim', 'mirrord-ledger-data');
    assert.equal(envOf(ledger).NATS_URL, 'tls://nats.platform.svc:4222');
    assert.equal(containerOf(ledger).image, 'registry.example.com/mirrord-teams:1.2.3');
    assert.ok(!os.some((o) => ['StatefulSet', 'NetworkPolicy', 'PodDisruptionBudget'].includes(o.kind)));
  });

  it('helm template | kubectl apply --dry-run=server: the real API server accepts both charts', async () => {
    // given the CRDs applied for real (a dry run of their custom resources needs them) and the namespaces
    const crds = await kubectl(['apply', '--server-side', '-f', `${OPERATOR_CHART}/crds/`]);
    assert.equal(crds.code, 0, crds.err);
    const ns = await kubectl(['create', 'namespace', 'mirrord']);
    assert.equal(ns.code, 0, ns.err);
    for (const n of ['books', 'mirrord-fleet']) await kubectl(['create', 'namespace', n]);
    await eventually('the CRDs are served', async () => (await kubectl(['get', 'mirrordpolicies', '-A'])).code === 0);
    for (const [chart, values] of [
      [OPERATOR_CHART, {}],
      [OPERATOR_CHART, SEEDS_OPERATOR],
      [OPERATOR_CHART, PLATFORM],
      [HUB_CHART, SEEDS_HUB],
    ] as const) {
      // when the rendering is applied as a server dry run
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], await template(chart, values));
      // then every object is accepted by the real server's validation
      assert.equal(r.code, 0, `${chart}: ${r.err}`);
      assert.match(r.out, /(created|configured|unchanged) \(server dry run\)/);
    }
  });

  it('an upgrade keeps the gateway certificate: the chart finds its Secret (lookup) and renders the same caBundle', async () => {
    // given an installed gateway Secret (the first rendering's, created for real)
    const first = objects(await template(OPERATOR_CHART, {}));
    const secret = find(first, 'Secret', 'mirrord-gateway-tls');
    // (owned by the release, as helm install leaves it)
    const owned = {
      ...secret,
      metadata: {
        ...secret.metadata,
        labels: { ...secret.metadata.labels, 'app.kubernetes.io/managed-by': 'Helm' },
        annotations: { 'meta.helm.sh/release-name': 'mirrord-operator', 'meta.helm.sh/release-namespace': 'default' },
      },
    };
    const created = await kubectl(['apply', '-f', '-'], JSON.stringify(owned));
    assert.equal(created.code, 0, created.err);
    // when the chart renders again against the cluster (as helm upgrade does)
    // (the namespace exists, made by the test rather than a release)
    const args = ['template', 'mirrord-operator', OPERATOR_CHART, '--dry-run=server', '--set', 'createNamespace=false'];
    const r = await helm([...args, '--kubeconfig', kube.kubeconfig, '--kube-context', 'admin']);
    assert.equal(r.code, 0, r.err);
    // then the Secret and the APIService's caBundle are the installed ones, not new ones
    const again = objects(r.out);
    assert.deepEqual(find(again, 'Secret', 'mirrord-gateway-tls').data, secret.data);
    const api = find(again, 'APIService', 'v1.operator.metalbear.co').spec as { caBundle: string };
    assert.equal(api.caBundle, secret.data!['ca.crt']);
    // and the gateway mounts kube-apiserver's front-proxy CA, copied into its namespace
    assert.equal(find(again, 'ConfigMap', 'mirrord-front-proxy-ca').data!['requestheader-client-ca-file']!.trim(), kube.frontProxy.caPem.trim());
    const gw = (find(again, 'Deployment', 'mirrord-gateway').spec!.template as { spec: PodSpec }).spec;
    assert.ok(gw.volumes!.some((v) => v.configMap?.name === 'mirrord-front-proxy-ca'));
  });

  it('bad values are refused with the key named', async () => {
    const refused = async (chart: string, values: unknown, key: RegExp) => {
      const r = await helm(['template', 'x', chart, '-f', valuesFile(values)]);
      assert.notEqual(r.code, 0, `${JSON.stringify(values)} was accepted`);
      assert.match(r.err, key);
    };
    await refused(OPERATOR_CHART, { service: { type: 'Bogus' } }, /\/service\/type': value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer'/);
    await refused(OPERATOR_CHART, { licenseServer: 'http://license-server' }, /\/licenseServer'.*does not match pattern/);
    await refused(OPERATOR_CHART, { ledger: { database: { type: 'sqlite' } } }, /replicas\.ledger: the sqlite ledger database has one writer/);
    await refused(OPERATOR_CHART, { nats: { bundled: false } }, /nats\.external\.url: set the external NATS URL/);
    await refused(HUB_CHART, {}, /\/license\/key': minLength/);
    await refused(HUB_CHART, { license: { key: 'k' } }, /\/license\/file\/data': minProperties/);
    await refused(HUB_CHART, { ...SEEDS_HUB, service: { type: 'Bogus' } }, /\/service\/type'/);
    await refused(HUB_CHART, { ...SEEDS_HUB, fleet: { clusters: ['east'] } }, /fleet\.hubLeafAddress: set the host:port/);
  });
});
