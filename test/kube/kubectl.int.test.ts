import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
