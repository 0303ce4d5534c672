import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { FLEET_LEAF_DENY } from '#shared/nats/leafnode.js';
import { runKubectl, startTestCluster, type TestCluster } from '../support/cluster.js';
import { tempDir } from '../support/tmp.js';
import { eventually } from '../support/eventually.js';

/** The real kubectl against the cluster (the stand-in unless E2E_KUBECONFIG names a real one). */
describe('kubectl against the Kubernetes stand-in', () => {
  let cluster: TestCluster;
  const kubectl = (args: string[], context = 'jim') => runKubectl(cluster, context, ...args);
  before(async () => {
    cluster = await startTestCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  it('kubectl get lists seeded workloads and running pods, as the server-side table', async () => {
    const d = await kubectl(['get', 'deployments']);
    assert.equal(d.code, 0, d.err);
    assert.match(d.out, /^NAME\s+READY\s+AGE/m);
    assert.match(d.out, /^my-deployment\s+2\/2\s/m);
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

  it('the license hub applies; a cluster joined to it renders a nats.conf nats-server accepts, with the fleet deny lists', async () => {
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
    // and the real nats-server accepts both configurations, with the env the pods give it
    for (const conf of [natsConf, hubConf]) {
      const f = join(dir, 'nats.conf');
      writeFileSync(f, conf);
      const env = {
        ...process.env,
        POD_NAME: 'mirrord-nats-0',
        CLUSTER_NAME: 'east',
        LICENSE_SERVER: 'nats-leaf://hub.example:7422',
      };
      const t = await promisify(execFile)(process.env.NATS_SERVER_BIN ?? 'nats-server', ['-c', f, '-t'], {
        env,
        encoding: 'utf8',
      });
      assert.match(t.stdout + t.stderr, /configuration file .* is valid/);
    }
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
});
