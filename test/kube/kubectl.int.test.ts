import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { FLEET_LEAF_DENY } from '#shared/nats/leafnode.js';
import { BUS_IDENTITIES } from '#shared/nats/permissions.js';
import {
  createNatsTls,
  createOperatorMaterial,
  newSeed,
  parseInvocation,
  planSecrets,
} from '../../scripts/bootstrap-secrets.js';
import { runKubectl, startTestCluster, type TestCluster } from '../support/cluster.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/eventually.js';

/** The real kubectl against the cluster (the real kube-apiserver, or the one E2E_KUBECONFIG names). */
describe('kubectl against the cluster', () => {
  let cluster: TestCluster;
  const kubectl = (args: string[], context = 'jim') => runKubectl(cluster, context, ...args);
  before(async () => {
    cluster = await startTestCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  it('kubectl get lists seeded workloads and running pods, as the server-side table', async () => {
    // The deployment controller and the nodes bring both replicas up.
    await eventually('my-deployment 2/2', async () =>
      /^my-deployment\s+2\/2\s/m.test((await kubectl(['get', 'deployments'])).out),
    );
    const d = await kubectl(['get', 'deployments']);
    assert.equal(d.code, 0, d.err);
    assert.match(d.out, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE/m);
    const p = await kubectl(['get', 'pods', '-l', 'app=my-deployment', '-o', 'jsonpath={.items[*].status.phase}']);
    assert.equal(p.out.trim(), 'Running Running');
  });

  it('RBAC applies to kubectl too: ann may not list deployments', async () => {
    const r = await kubectl(['get', 'deployments'], 'ann');
    assert.notEqual(r.code, 0);
    assert.match(r.err, /User "ann" cannot list resource "deployments" in API group "apps" in the namespace "default"/);
  });

  it('kubectl apply -f creates, re-applies unchanged, scales, and kubectl delete removes with its pods', async () => {
    const file = join(tempDir('kubectl'), 'd.yaml');
    writeFileSync(
      file,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: applied\n  namespace: default\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: applied}\n  template:\n    metadata:\n      labels: {app: applied}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n',
    );
    assert.match((await kubectl(['apply', '-f', file], 'admin')).out, /deployment.apps\/applied created/);
    assert.match((await kubectl(['apply', '-f', file], 'admin')).out, /deployment.apps\/applied unchanged/);
    assert.match((await kubectl(['scale', 'deployment/applied', '--replicas=3'], 'admin')).out, /scaled/);
    const wait = await kubectl(
      ['wait', '--for=jsonpath={.status.readyReplicas}=3', 'deployment/applied', '--timeout=20s'],
      'admin',
    );
    assert.equal(wait.code, 0, wait.err);
    assert.match((await kubectl(['delete', '-f', file], 'admin')).out, /deployment.apps "applied" deleted/);
    await eventually(
      'the pods of the deleted deployment are gone',
      async () => (await kubectl(['get', 'pods', '-l', 'app=applied', '-o', 'name'], 'admin')).out.trim() === '',
    );
  });

  it('deploy/ applies (client dry run) and its CRDs register their kinds', async () => {
    const r = await kubectl(['apply', '--dry-run=client', '-k', 'deploy/'], 'admin');
    assert.equal(r.code, 0, r.err);
    for (const o of [
      'clusterrole.rbac.authorization.k8s.io/mirrord-operator-user',
      'customresourcedefinition.apiextensions.k8s.io/mirrordpolicies.policies.mirrord.metalbear.co',
      'statefulset.apps/mirrord-nats',
      'deployment.apps/mirrord-gateway',
      'apiservice.apiregistration.k8s.io/v1.operator.metalbear.co',
    ])
      assert.match(r.out, new RegExp(o.replace(/\./g, '\\.')));
  });

  it('the license hub applies; a cluster joined to it dials it as its own leafnode user over TLS, with the fleet deny lists', async () => {
    // given the hub's manifests
    const hub = await kubectl(['apply', '--dry-run=client', '-k', 'deploy/license-server/'], 'admin');
    assert.equal(hub.code, 0, hub.err);
    for (const o of [
      'statefulset.apps/mirrord-license-nats',
      'deployment.apps/mirrord-license-server',
      'service/mirrord-license-server',
    ])
      assert.match(hub.out, new RegExp(o.replace(/\./g, '\\.')));
    // and a cluster overlay with the component and its two settings (as README.md shows)
    const dir = tempDir('mirrord-fleet-overlay');
    const rel = relative(dir, resolve('deploy'));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `resources: [${rel}]\ncomponents: [${rel}/components/license-fleet]\npatches:\n- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: mirrord-settings, namespace: mirrord}\n    data: {clusterName: east, licenseServer: "nats-leaf://hub.example:7422"}\n`,
    );
    type Doc = { kind: string; metadata: { name: string }; data: Record<string, string> };
    const render = async (d: string) =>
      YAML.parseAllDocuments((await promisify(execFile)('kubectl', ['kustomize', d], { encoding: 'utf8' })).stdout).map(
        (x) => x.toJS() as Doc,
      );
    const configMap = (docs: Doc[], name: string) =>
      docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === name)!.data;
    const docs = await render(dir);
    const natsConf = configMap(docs, 'mirrord-nats')['nats.conf']!;
    const hubConf = configMap(await render('deploy/license-server'), 'mirrord-license-nats')['nats.conf']!;
    // then the member's leafnode carries exactly the deny lists the fleet relies on, and its domain is the cluster name
    const deny = `[${FLEET_LEAF_DENY.map((x) => `"${x}"`).join(', ')}]`;
    assert.ok(natsConf.includes(`deny_imports: ${deny}`) && natsConf.includes(`deny_exports: ${deny}`), natsConf);
    const settings = configMap(docs, 'mirrord-settings');
    assert.deepEqual([settings.clusterName, settings.allowSeatOverages], ['east', 'true']);
    // the leafnode dials as this cluster's own user over TLS: the URL and the hub's CA come from the
    // Secret copied from the hub; the hub's leafnodes (listen, TLS, users) are all in its generated
    // auth.conf. Both run as real nats-servers in test/deploy/license-fleet.int.test.ts.
    assert.match(natsConf, /url: \$LEAF_URL\s+tls \{ ca_file: \/etc\/nats\/leaf\/ca\.crt/);
    assert.doesNotMatch(hubConf, /^\s*leafnodes/m);
    const sts = docs.find((d) => d.kind === 'StatefulSet') as unknown as Workload;
    const leafEnv = sts.spec.template.spec.containers[0]!.env!.find((e) => e.name === 'LEAF_URL') as unknown as {
      valueFrom: { secretKeyRef: { name: string; key: string } };
    };
    assert.deepEqual(leafEnv.valueFrom.secretKeyRef, { name: 'mirrord-license-leaf', key: 'url' });
  });

  it("the seeds' policies and profiles apply unchanged; the seed's kubectl command lists the blockable features", async () => {
    const r = await kubectl(['apply', '-f', 'test/fixtures/governance/seed-policies.yaml'], 'admin');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /mirrordpolicy.policies.mirrord.metalbear.co\/block-stealing-from-boats-deployment created/);
    assert.match(r.out, /mirrordclusterprofile.profiles.mirrord.metalbear.co\/example-cluster-profile created/);
    const en = await kubectl(
      [
        'get',
        'crd',
        'mirrordpolicies.policies.mirrord.metalbear.co',
        '-o',
        'jsonpath={.spec.versions[-1].schema.openAPIV3Schema.properties.spec.properties.block.items.enum}',
      ],
      'admin',
    );
    assert.equal(en.out, '["steal","steal-without-filter","mirror","copy-target-scale-down"]');
    const list = await kubectl(['get', 'mirrordpolicies', '-A'], 'admin');
    assert.match(list.out, /books\s+block-unfiltered-stealing-from-webserver-deployments/);
  });

  it('deploy/ runs NATS with the install-made users and TLS for clients and routes, and nats-server accepts it', async () => {
    const docs = await renderDir('deploy');
    const r = await kubectl(['apply', '--dry-run=client', '-k', 'deploy/'], 'admin');
    assert.equal(r.code, 0, r.err);
    for (const o of ['job.batch/mirrord-bootstrap', 'networkpolicy.networking.k8s.io/mirrord-nats'])
      assert.match(r.out, new RegExp(o.replace(/\./g, '\\.')));
    const conf = byName(docs, 'ConfigMap', 'mirrord-nats').data!['nats.conf']!;
    assert.match(conf, /^include \.\.\/auth\/auth\.conf$/m);
    assert.match(conf, /^tls \{[^}]*cert_file: \/etc\/nats\/tls\/tls\.crt[^}]*\}/m, 'client TLS');
    assert.match(conf, /cluster \{[^]*tls \{[^}]*verify: true[^}]*\}[^]*routes/, 'route TLS, peers verified');
    // mounted where the config points: auth.conf and the TLS Secret, both made by the Job
    const sts = byName(docs, 'StatefulSet', 'mirrord-nats') as Workload;
    const mounts = sts.spec.template.spec.containers[0]!.volumeMounts!;
    const volume = (path: string) =>
      sts.spec.template.spec.volumes!.find((v) => v.name === mounts.find((m) => m.mountPath === path)?.name);
    assert.equal(volume('/etc/nats/auth')?.secret?.secretName, 'mirrord-nats-auth');
    assert.equal(volume('/etc/nats/tls')?.secret?.secretName, 'mirrord-nats-tls');
    const out = await natsAccepts(conf, jobArgsOf(docs), { POD_NAME: 'mirrord-nats-0' });
    assert.match(out, /configuration file .* is valid/);
  });

  it('every service Deployment mounts its own NATS seed and the CA, and no other bus credential', async () => {
    for (const dir of ['deploy', 'deploy/license-server']) {
      const docs = await renderDir(dir);
      const prefix = dir === 'deploy' ? 'mirrord-nats' : 'mirrord-license-nats';
      const deployments = docs.filter((d) => d.kind === 'Deployment') as Workload[];
      assert.ok(deployments.length > 0);
      for (const d of deployments) {
        const id = d.metadata.name.replace(/^mirrord-/, '');
        assert.ok((BUS_IDENTITIES as readonly string[]).includes(id), `${d.metadata.name} is a bus identity`);
        const spec = d.spec.template.spec;
        const bus = (spec.volumes ?? [])
          .flatMap((v) => [v.secret?.secretName, ...(v.projected?.sources ?? []).map((s) => s.secret?.name)])
          .filter((n): n is string => !!n && n.startsWith(`${prefix}-`));
        assert.deepEqual(bus.sort(), [`${prefix}-${id}`, `${prefix}-ca`].sort(), d.metadata.name);
        const c = spec.containers[0]!;
        const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
        assert.ok(
          env.NATS_URL!.split(',').every((u) => u.startsWith('tls://')),
          `${d.metadata.name} NATS_URL over TLS`,
        );
        // NATS_NKEY_FILE and NATS_CA_FILE are the files of that volume
        const nats = spec.volumes!.find((v) =>
          v.projected?.sources?.some((s) => s.secret?.name === `${prefix}-${id}`),
        )!;
        const at = c.volumeMounts!.find((m) => m.name === nats.name)!.mountPath;
        assert.deepEqual([env.NATS_NKEY_FILE, env.NATS_CA_FILE], [`${at}/nkey`, `${at}/ca.crt`]);
      }
    }
  });

  it('NetworkPolicies: NATS takes clients only from our services and routes only from NATS; the rest is denied', async () => {
    const docs = await renderDir('deploy');
    const policies = docs.filter((d) => d.kind === 'NetworkPolicy') as unknown as Policy[];
    const deny = policies.find((p) => Object.keys(p.spec.podSelector).length === 0);
    assert.ok(deny && deny.spec.policyTypes.includes('Ingress') && !deny.spec.ingress?.length, 'a default deny');
    const natsPod = (byName(docs, 'StatefulSet', 'mirrord-nats') as Workload).spec.template.metadata.labels;
    const onNats = policies.filter((p) => p.spec.podSelector && selects(p.spec.podSelector, natsPod) && p !== deny);
    assert.equal(onNats.length, 1, 'one policy selects the NATS pods');
    const rules = onNats[0]!.spec.ingress!;
    // every rule names who (no "from anywhere") and which port
    assert.ok(rules.every((r) => r.from?.length && r.ports?.length));
    const allowed = (labels: Record<string, string>, port: number) =>
      rules.some((r) => r.ports!.some((p) => p.port === port) && r.from!.some((f) => selects(f.podSelector!, labels)));
    for (const d of docs.filter((x) => x.kind === 'Deployment') as Workload[])
      assert.ok(allowed(d.spec.template.metadata.labels, 4222), `${d.metadata.name} reaches NATS`);
    assert.ok(allowed(natsPod, 6222));
    assert.ok(!allowed({ app: 'mirrord-agent', 'app.kubernetes.io/part-of': 'mirrord-teams' }, 4222));
    assert.ok(!allowed({ app: 'someone-else' }, 4222) && !allowed({ app: 'mirrord-gateway' }, 6222));
    assert.deepEqual([...new Set(rules.flatMap((r) => r.ports!.map((p) => p.port)))].sort(), [4222, 6222]);
  });

  it('no Service or container exposes the NATS monitor port; it listens on loopback only', async () => {
    const dir = tempDir('mirrord-fleet-8222');
    const rel = relative(dir, resolve('deploy'));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `resources: [${rel}]\ncomponents: [${rel}/components/license-fleet]\n`,
    );
    for (const docs of [await renderDir('deploy'), await renderDir(dir), await renderDir('deploy/license-server')]) {
      for (const svc of docs.filter((d) => d.kind === 'Service'))
        for (const p of (svc.spec as { ports: { port: number; targetPort?: number | string }[] }).ports)
          assert.ok(p.port !== 8222 && p.targetPort !== 8222 && p.targetPort !== 'monitor', svc.metadata.name);
      for (const w of docs.filter((d) => d.kind === 'StatefulSet' || d.kind === 'Deployment') as Workload[])
        for (const c of w.spec.template.spec.containers)
          assert.ok(!(c.ports ?? []).some((p) => p.containerPort === 8222), `${w.metadata.name}/${c.name}`);
      for (const cm of docs.filter((d) => d.kind === 'ConfigMap' && d.data?.['nats.conf']))
        assert.match(cm.data!['nats.conf']!, /^http: 127\.0\.0\.1:8222$/m, cm.metadata.name);
    }
  });
});

type Doc = { kind: string; metadata: { name: string }; spec?: unknown; data?: Record<string, string> };
type Container = {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
};
type Volume = {
  name: string;
  secret?: { secretName: string };
  projected?: { sources?: { secret?: { name: string } }[] };
};
type Workload = Doc & {
  spec: {
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: Container[]; volumes?: Volume[] };
    };
  };
};
type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};
type Policy = Doc & {
  spec: {
    podSelector: Selector;
    policyTypes: string[];
    ingress?: { from?: { podSelector?: Selector }[]; ports?: { port: number }[] }[];
  };
};

async function renderDir(dir: string): Promise<Doc[]> {
  const out = (await promisify(execFile)('kubectl', ['kustomize', dir], { encoding: 'utf8' })).stdout;
  return YAML.parseAllDocuments(out).map((x) => x.toJS() as Doc);
}
const byName = (docs: Doc[], kind: string, name: string): Doc =>
  docs.find((d) => d.kind === kind && d.metadata.name === name)!;

/** A Kubernetes label selector (matchLabels and In / NotIn / Exists / DoesNotExist). */
function selects(sel: Selector, labels: Record<string, string>): boolean {
  return (
    Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
    (sel.matchExpressions ?? []).every(({ key, operator, values = [] }) =>
      operator === 'In'
        ? values.includes(labels[key]!)
        : operator === 'NotIn'
          ? !values.includes(labels[key]!)
          : operator === 'Exists'
            ? key in labels
            : !(key in labels),
    )
  );
}

/** The args of a rendered install's bootstrap Job. */
function jobArgsOf(docs: Doc[]): string[] {
  const job = docs.find((d) => d.kind === 'Job') as Workload;
  return job.spec.template.spec.containers[0]!.args!;
}

/**
 * nats-server -t's verdict on a rendered nats.conf, laid out as the pod mounts it (config/,
 * auth/, tls/ side by side) with the Secrets the bootstrap Job makes for these args.
 */
async function natsAccepts(conf: string, jobArgs: string[], env: Record<string, string>): Promise<string> {
  const run = parseInvocation(jobArgs, { POD_NAMESPACE: 'mirrord' });
  if (run.mode !== 'cluster') throw new Error('the Job runs against the cluster');
  const gen = { seed: newSeed, tls: createNatsTls, operator: createOperatorMaterial };
  const plan = await planSecrets(run.options, new Map(), gen, new Date());
  const made = Object.fromEntries(plan.create.map((s) => [s.name, s.data]));
  const dir = tempDir('nats-conf');
  for (const sub of ['config', 'auth', 'tls', 'data']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'auth/auth.conf'), made[`${run.options.prefix}-auth`]!['auth.conf']!);
  for (const [f, pem] of Object.entries(made[`${run.options.prefix}-tls`]!)) writeFileSync(join(dir, 'tls', f), pem);
  const local = conf.replaceAll('/etc/nats/', `${dir}/`).replace(/store_dir: \/data/, `store_dir: "${dir}/data"`);
  writeFileSync(join(dir, 'config/nats.conf'), local);
  const t = await promisify(execFile)(
    process.env.NATS_SERVER_BIN ?? 'nats-server',
    ['-c', join(dir, 'config/nats.conf'), '-t'],
    { env: { ...process.env, ...env }, encoding: 'utf8' },
  );
  return t.stdout + t.stderr;
}
