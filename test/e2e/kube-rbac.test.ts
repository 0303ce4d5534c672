import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API, http, SessionClient, type System } from '../support/system.js';
import { startClusterSystem, type ClusterSystem } from '../support/cluster.js';

/** The Security and Sessions documents' RBAC, enforced by the gateway through the cluster. */
describe('gateway on Kubernetes identity: TokenReview, SubjectAccessReview, target resolution', () => {
  let sys: System;
  let all: ClusterSystem;
  before(async () => {
    all = await startClusterSystem();
    ({ sys } = all);
  });
  after(async () => {
    await all?.stop();
  });

  const connect = (token: string, target: string, namespace = 'default') =>
    SessionClient.connect(sys, { token: `${token}-token`, target, namespace });

  it('authenticates by TokenReview: an unknown token is 401', async () => {
    const r = await http(sys, 'GET', `${API}/sessions`, 'nobody-token');
    assert.equal(r.status, 401);
    assert.equal((await connect('nobody', 'deployment.my-deployment')).status, 401);
  });

  it('jim, bound to mirrord-operator-user, starts a session on deployment/my-deployment', async () => {
    const c = await connect('jim', 'deployment.my-deployment');
    assert.ok(c.client, JSON.stringify(c.body));
    const id = await c.client.sessionId();
    const list = await http(sys, 'GET', `${API}/sessions`, 'jim-token');
    const row = (
      list.body.items as Array<{ metadata: { name: string }; spec: { session: Record<string, unknown> } }>
    ).find((s) => s.metadata.name === id);
    assert.ok(row, 'session listed');
    assert.equal(row.spec.session.target, 'deployment/my-deployment');
    assert.match(String(row.spec.session.user), /\/jim@/);
    await c.client.close();
  });

  it('a user without get on the deployment gets 403 naming the missing permission', async () => {
    const r = await connect('ann', 'deployment.my-deployment');
    assert.equal(r.status, 403);
    assert.match(
      String(r.body!.message),
      /user "ann" cannot get resource "deployments" in API group "apps" in the namespace "default"/,
    );
  });

  it('unknown targets and containers get 404 naming target and namespace', async () => {
    const r = await connect('jim', 'deployment.nope');
    assert.equal(r.status, 404);
    assert.match(String(r.body!.message), /deployment "nope" in namespace "default" not found/);
    const c = await connect('jim', 'deployment.my-deployment.container.nginx');
    assert.equal(c.status, 404);
    assert.match(String(c.body!.message), /container "nginx" not found .*containers: app, sidecar/);
  });

  it('resolves pods, statefulsets, Argo rollouts, services and named containers to a running pod', async () => {
    for (const t of [
      'pod.my-pod',
      'service.my-service',
      'statefulset.my-sts',
      'rollout.my-argo-rollout',
      'deployment.my-deployment.container.sidecar',
    ]) {
      const c = await connect('jim', t);
      assert.ok(c.client, `${t}: ${JSON.stringify(c.body)}`);
      await c.client.sessionId();
      await c.client.close();
    }
  });

  it('killing needs delete on sessions, kill-all needs deletecollection; events name who', async () => {
    const a = await connect('jim', 'deployment.my-deployment');
    const b = await connect('jim', 'deployment.ip-visit-counter');
    const idA = await a.client!.sessionId();
    await b.client!.sessionId();

    // bob: the Security document's namespaced Role only, no sessions rules.
    const bob = await http(sys, 'DELETE', `${API}/sessions/${idA}`, 'bob-token');
    assert.equal(bob.status, 403);
    assert.match(
      String(bob.body.message),
      /user "bob" cannot delete resource "sessions" in API group "operator.metalbear.co"/,
    );

    // carol: delete but not deletecollection.
    const carolAll = await http(sys, 'DELETE', `${API}/sessions`, 'carol-token');
    assert.equal(carolAll.status, 403);
    assert.match(String(carolAll.body.message), /cannot deletecollection resource "sessions"/);
    const carolOne = await http(sys, 'DELETE', `${API}/sessions/${idA}`, 'carol-token');
    assert.equal(carolOne.status, 200, JSON.stringify(carolOne.body));
    const ended = await http(sys, 'GET', `${API}/sessions/${idA}/events`, 'jim-token');
    const end = (ended.body.items as Array<{ type: string; data: Record<string, unknown> }>).find(
      (e) => e.type === 'SessionEnded',
    );
    assert.equal(end?.data.killed_by, 'carol');

    // jim (mirrord-operator-user: delete and deletecollection) kills the rest.
    const all = await http(sys, 'DELETE', `${API}/sessions`, 'jim-token');
    assert.equal(all.status, 200, JSON.stringify(all.body));
    const live = await http(sys, 'GET', `${API}/sessions`, 'jim-token');
    assert.equal((live.body.items as unknown[]).length, 0);
    await b.client!.waitFor(() => b.client!.closeCode !== undefined).catch(() => undefined);
  });
  it('lists the targets a user may use, filtered by their RBAC', async () => {
    const names = async (token: string) =>
      (
        (await http(sys, 'GET', `${API}/namespaces/default/targets`, `${token}-token`)).body.items as Array<{
          metadata: { name: string };
        }>
      ).map((t) => t.metadata.name);
    const jim = await names('jim');
    for (const t of [
      'deployment.my-deployment',
      'deployment.ip-visit-counter',
      'pod.my-pod',
      'statefulset.my-sts',
      'cronjob.my-cron',
      'service.my-service',
    ])
      assert.ok(jim.includes(t), `${t} in ${jim.join(', ')}`);
    assert.deepEqual(await names('ann'), [], 'ann may not get any workload');
  });
});
