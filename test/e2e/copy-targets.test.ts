import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { API, http, SessionClient, type System } from '../support/system.js';
import type { ServiceProcess } from '../support/service-process.js';
import { startClusterSystem, type ClusterSystem } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

/** The spec the mirrord CLI posts for `"copy_target": {…}` (`OperatorApi::copy_target_spec`). */
const cliSpec = (deployment: string, scale_down: boolean) => ({
  target: { deployment, container: null },
  idle_ttl: 30,
  scale_down,
  split_queues: null,
  exclude_containers: [],
  exclude_init_containers: [],
});

interface CopyTargetCrd {
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
  status: { phase: string; creator_session: { id: string; target: string }; idle_since?: string };
}

/**
 * The real CLI's copy-target flow over HTTP, as `operator/src/client.rs` makes it: list its
 * reusable copies, create one, poll it, connect to it with the creator session's id; the next
 * run finds the idle copy by spec equality and connects to it with a new session.
 */
describe('copy targets the CLI way: create, get, connect, reuse, delete', () => {
  let all: ClusterSystem;
  let sys: System;
  let am: ServiceProcess;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  const clients: SessionClient[] = [];

  before(async () => {
    all = await startClusterSystem();
    ({ sys, am } = all);
    const kc = new KubeConfig();
    kc.loadFromFile(all.cluster.kubeconfig);
    kc.setCurrentContext('admin');
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await all?.stop();
  });

  const copies = async () =>
    (await http(sys, 'GET', `${API}/namespaces/default/copytargets`, 'jim-token')).body.items as CopyTargetCrd[];
  /** The CLI's connect to a copy: `x-session-id` is the creator session's for a new copy, a fresh one for a reused copy. */
  async function connectTo(name: string, sessionHex?: string): Promise<SessionClient> {
    const r = await SessionClient.connect(sys, {
      token: 'jim-token',
      resource: 'copytargets',
      target: name,
      ...(sessionHex ? { headers: { 'x-session-id': BigInt(`0x${sessionHex}`).toString() } } : {}),
    });
    assert.ok(r.client, JSON.stringify(r.body));
    clients.push(r.client);
    return r.client;
  }

  it('a bad CopyTarget is refused naming the field', async () => {
    const r = await http(sys, 'POST', `${API}/namespaces/default/copytargets`, 'jim-token', {
      spec: { target: { deployment: 'ip-visit-counter', pod: 'x', container: null }, scale_down: false },
    });
    assert.equal(r.status, 422);
    assert.match(String(r.body.message), /spec\.target/);
  });

  it('create → Ready with its creator session; connect with that id runs on the copy; a re-run shares it, an idle copy is found by spec and reused; delete removes it', async () => {
    const spec = cliSpec('ip-visit-counter', false);
    const created = await http(sys, 'POST', `${API}/namespaces/default/copytargets`, 'jim-token', {
      apiVersion: 'operator.metalbear.co/v1',
      kind: 'CopyTarget',
      metadata: { name: 'deployment.ip-visit-counter' },
      spec,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const copy = created.body as unknown as CopyTargetCrd;
    assert.match(copy.metadata.name, /^mirrord-copy-ip-visit-counter-/);
    assert.equal(copy.status.phase, 'Ready');
    assert.deepEqual(copy.spec, spec, 'the spec as the CLI sent it');
    const creator = copy.status.creator_session.id;
    assert.match(creator, /^[0-9A-F]{16}$/);
    await sys.ledger.waitFor((l) => l.msg === 'Target Copied' && l.session_id === creator);

    const polled = await http(sys, 'GET', `${API}/namespaces/default/copytargets/${copy.metadata.name}`, 'jim-token');
    assert.equal(polled.status, 200);
    assert.deepEqual((polled.body as unknown as CopyTargetCrd).spec, spec);

    const first = await connectTo(copy.metadata.name, creator);
    assert.equal(first.id, creator);
    const started = await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === creator);
    assert.equal(started.agent, 'copy');
    assert.equal(started.target, 'deployment/ip-visit-counter');

    // A re-run while the first still holds it (its unused TTL, a second terminal): the same
    // user's copy is shared, and passes to the second when the first ends.
    const second = await connectTo(copy.metadata.name);
    const shared = await sys.ledger.waitFor((l) => l.msg === 'Target Copied' && l.session_id === second.id);
    assert.equal(shared.copy_pod, copy.metadata.name);
    await am.waitFor((l) => l.msg === 'sharing a copy in use (CopyTarget)' && l.session_id === second.id);
    const busy = await http(sys, 'DELETE', `${API}/namespaces/default/copytargets/${copy.metadata.name}`, 'jim-token');
    assert.equal(busy.status, 409, JSON.stringify(busy.body));
    assert.match(String(busy.body.message), /is in use by session/);
    await first.close();
    await am.waitFor((l) => l.msg === 'copy handed to the session sharing it' && l.to === second.id, 30_000);
    const owner = async () =>
      (await core.readNamespacedPod({ name: copy.metadata.name, namespace: 'default' })).metadata?.labels?.[
        'mirrord.metalbear.co/session'
      ];
    assert.equal(await owner(), second.id);
    await second.close();
    await eventually('the copy is idle', async () =>
      (await copies()).some((c) => c.metadata.name === copy.metadata.name && c.status.idle_since !== undefined),
    );

    // The next run: the CLI lists, finds its copy by spec equality, connects with a new session.
    const reusable = (await copies()).find((c) => JSON.stringify(c.spec) === JSON.stringify(spec));
    assert.equal(reusable?.metadata.name, copy.metadata.name);
    const third = await connectTo(copy.metadata.name);
    const copied = await sys.ledger.waitFor((l) => l.msg === 'Target Copied' && l.session_id === third.id);
    assert.equal(copied.copy_pod, copy.metadata.name, 'the idle copy is reused');
    await am.waitFor((l) => l.msg === 'reusing an idle copy (CopyTarget)' && l.session_id === third.id);
    await third.close();
    await eventually('idle again', async () =>
      (await copies()).some((c) => c.metadata.name === copy.metadata.name && c.status.idle_since !== undefined),
    );
    const del = await http(sys, 'DELETE', `${API}/namespaces/default/copytargets/${copy.metadata.name}`, 'jim-token');
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal(
      (await http(sys, 'GET', `${API}/namespaces/default/copytargets/${copy.metadata.name}`, 'jim-token')).status,
      404,
    );
    await eventually(
      'the copy pod is gone',
      async () =>
        !(await core.listNamespacedPod({ namespace: 'default' })).items.some(
          (p) => p.metadata?.name === copy.metadata.name,
        ),
    );
  });

  it('another user cannot take a copy: not with its creator session id (listed for everyone), not by its name, not as a plain target; its creator can', async () => {
    const created = await http(sys, 'POST', `${API}/namespaces/default/copytargets`, 'jim-token', {
      spec: cliSpec('ip-visit-counter', false),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const copy = created.body as unknown as CopyTargetCrd;
    const creator = copy.status.creator_session.id;
    // What GET copytargets shows anyone allowed to list them.
    const listed = (await http(sys, 'GET', `${API}/namespaces/default/copytargets`, 'admin-token')).body
      .items as CopyTargetCrd[];
    assert.equal(listed.find((c) => c.metadata.name === copy.metadata.name)?.status.creator_session.id, creator);
    const creatorId = { 'x-session-id': BigInt(`0x${creator}`).toString() };
    for (const attempt of [
      { resource: 'copytargets' as const, target: copy.metadata.name, headers: creatorId },
      { resource: 'copytargets' as const, target: copy.metadata.name },
      { target: 'deployment.ip-visit-counter', headers: creatorId },
    ]) {
      const r = await SessionClient.connect(sys, { token: 'admin-token', ...attempt });
      if (r.client) clients.push(r.client);
      assert.equal(r.status, 403, `${JSON.stringify(attempt)} was let in`);
      assert.match(String(r.body?.message), /belongs to another user/);
    }
    // Untouched: its creator connects with the creator session and runs on the copy.
    const mine = await connectTo(copy.metadata.name, creator);
    const started = await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === creator);
    assert.equal(started.agent, 'copy');
    await mine.close();
    await eventually('the idle copy is deleted', async () => {
      const del = await http(sys, 'DELETE', `${API}/namespaces/default/copytargets/${copy.metadata.name}`, 'jim-token');
      return del.status === 200 || undefined;
    });
  });

  it('scale_down: the deployment is at 0 from the create until the session ends, then restored and the copy deleted', async () => {
    const replicas = async () =>
      (await apps.readNamespacedDeployment({ name: 'my-deployment', namespace: 'default' })).spec?.replicas;
    assert.equal(await replicas(), 2);
    const created = await http(sys, 'POST', `${API}/namespaces/default/copytargets`, 'jim-token', {
      spec: cliSpec('my-deployment', true),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const copy = created.body as unknown as CopyTargetCrd;
    assert.equal(await replicas(), 0);
    const c = await connectTo(copy.metadata.name, copy.status.creator_session.id);
    await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === c.id);
    await c.close();
    await eventually('replicas restored', async () => (await replicas()) === 2);
    await eventually(
      'the copy is gone',
      async () => !(await copies()).some((x) => x.metadata.name === copy.metadata.name),
    );
  });
});
