/**
 * Issue 26 (7), "a target with no ready pod hangs the real CLI": a copy target copies the
 * workload's pod template, so it starts from a Deployment scaled to 0 (with `scale_down`:
 * nothing to scale, restored to 0 at the end). A target that truly cannot be used (no such
 * workload, a bare pod that is not running) is a lasting 4xx naming the target and the fix —
 * never the 503 the mirrord CLI retries without end.
 *
 * The whole system on the real kube-apiserver with kube-controller-manager and the node simulator
 * (test/support/cluster.ts): the gateway resolves targets and checks access against it,
 * agent-manager copies the template, the simulated kubelet runs the copy pod.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { API, http, SessionClient, type System } from '../support/system.js';
import { startClusterSystem, type ClusterSystem } from '../support/cluster.js';
import { runPlugin } from '../support/plugin.js';
import { eventually } from '../support/eventually.js';

const NS = 'default';
const cliSpec = (target: Record<string, string | null>, scale_down: boolean) => ({
  target,
  idle_ttl: 0,
  scale_down,
  split_queues: null,
  exclude_containers: [],
  exclude_init_containers: [],
});

describe('copy targets from a Deployment scaled to 0 (real kube-apiserver, controller-manager, nodes)', () => {
  let all: ClusterSystem;
  let sys: System;
  let core: CoreV1Api;
  let apps: AppsV1Api;

  const replicas = async (name: string) =>
    (await apps.readNamespacedDeployment({ name, namespace: NS })).spec?.replicas;
  const post = (spec: Record<string, unknown>) =>
    http(sys, 'POST', `${API}/namespaces/${NS}/copytargets`, 'jim-token', {
      apiVersion: 'operator.metalbear.co/v1',
      kind: 'CopyTarget',
      spec,
    });

  before(async () => {
    // A pod that never gets ready is waited for 8 s, not the default 20 (the others here get ready well within it).
    all = await startClusterSystem({ TARGET_READY_TIMEOUT_MS: '8000' });
    sys = all.sys;
    const kc = new KubeConfig();
    kc.loadFromFile(all.cluster.kubeconfig);
    kc.setCurrentContext('admin');
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'idle-web', labels: { app: 'idle-web' } },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'idle-web' } },
          template: {
            metadata: { labels: { app: 'idle-web', tier: 'web' } },
            spec: {
              containers: [
                {
                  name: 'web',
                  image: 'ghcr.io/metalbear-co/idle-web:1.2.3',
                  env: [{ name: 'GREETING', value: 'from the template' }],
                },
              ],
            },
          },
        },
      },
    });
    // Its one pod is bound to a node that is not there: it never runs.
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'stuck-web' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'stuck-web' } },
          template: {
            metadata: { labels: { app: 'stuck-web' } },
            spec: { nodeName: 'no-such-node', containers: [{ name: 'web', image: 'nginx:1.27' }] },
          },
        },
      },
    });
    // A bare pod on a node that is not there: it never runs.
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'stranded' },
        spec: { nodeName: 'no-such-node', containers: [{ name: 'main', image: 'nginx:1.27' }] },
      },
    });
  });
  after(async () => {
    await all?.stop();
  });

  it('scale_down on a Deployment at 0: the copy pod is made from its template and runs; a session connects; it stays at 0 and is restored to 0', async () => {
    // given a Deployment with replicas 0 (no pod of it anywhere)
    assert.equal(await replicas('idle-web'), 0);
    // when the CLI creates a copy target of it with scale_down
    const created = await post(cliSpec({ deployment: 'idle-web', container: null }, true));
    // then the copy is Ready, its pod made from the template
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const copy = created.body as {
      metadata: { name: string };
      status: { phase: string; creator_session: { id: string } };
    };
    assert.equal(copy.status.phase, 'Ready');
    const pod = await core.readNamespacedPod({ name: copy.metadata.name, namespace: NS });
    assert.equal(pod.status?.phase, 'Running');
    assert.equal(pod.spec?.containers[0]?.image, 'ghcr.io/metalbear-co/idle-web:1.2.3');
    assert.deepEqual(
      pod.spec?.containers[0]?.env?.map((e) => ({ ...e })),
      [{ name: 'GREETING', value: 'from the template' }],
    );
    assert.equal(await replicas('idle-web'), 0, 'nothing to scale');

    // and the creator session connects to it (resolving the target needs no pod of it)
    const creator = copy.status.creator_session.id;
    const c = await SessionClient.connect(sys, {
      token: 'jim-token',
      resource: 'copytargets',
      target: copy.metadata.name,
      headers: { 'x-session-id': BigInt(`0x${creator}`).toString() },
    });
    assert.ok(c.client, JSON.stringify(c.body));
    const started = await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === creator);
    assert.equal(started.agent, 'copy');

    // when it ends, the copy goes and the Deployment is restored — to 0
    await c.client.close();
    await eventually(
      'the copy pod is deleted',
      async () =>
        !(await core.listNamespacedPod({ namespace: NS })).items.some((p) => p.metadata?.name === copy.metadata.name),
      60_000,
      250,
    );
    assert.equal(await replicas('idle-web'), 0);
  });

  it('no such Deployment: a lasting 404 naming the target and the fix; the plugin shows it once', async () => {
    const r = await post(cliSpec({ deployment: 'nope', container: null }, false));
    assert.equal(r.status, 404, JSON.stringify(r.body));
    assert.equal(r.body.reason, 'NotFound');
    assert.match(String(r.body.message), /target deployment "nope" in namespace "default" not found; check its name/);

    const p = await runPlugin(sys, ['session', 'start', '--target', 'deployment/nope', '--copy-target'], 'jim-token');
    assert.equal(p.status, 1, p.stdout);
    const lines = p.stderr.trim().split('\n');
    assert.equal(lines.length, 1, p.stderr);
    assert.match(lines[0]!, /^error: target deployment "nope" in namespace "default" not found/);
  });

  it('a bare pod that is not running: a lasting 422 naming the pod and the fix, not a retried 503', async () => {
    const r = await post(cliSpec({ pod: 'stranded', container: null }, false));
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.reason, 'Invalid');
    assert.match(
      String(r.body.message),
      /pod "stranded" in namespace "default" is not running and ready \(phase Pending\)/,
    );
    assert.match(String(r.body.message), /target the workload that owns it/);

    const p = await runPlugin(sys, ['session', 'start', '--target', 'pod/stranded', '--copy-target'], 'jim-token');
    assert.equal(p.status, 1, p.stdout);
    assert.equal(p.stderr.trim().split('\n').length, 1, p.stderr);
    assert.match(p.stderr, /is not running and ready/);
  });

  it('a session (no copy) on the Deployment at 0 is a lasting 422 that says to scale it up or use copy_target', async () => {
    const p = await runPlugin(sys, ['session', 'start', '--target', 'deployment/idle-web'], 'jim-token');
    assert.equal(p.status, 1, p.stdout);
    assert.equal(p.stderr.trim().split('\n').length, 1, p.stderr);
    assert.match(p.stderr, /deployment "idle-web" in namespace "default" has no pods/);
    assert.match(p.stderr, /kubectl scale deployment idle-web -n default --replicas=1.*copy_target/);
  });

  it('a session on a Deployment whose pods never get ready: waited for, then a lasting 409 naming their state, shown once', async () => {
    // given the Deployment's pod exists (the ReplicaSet controller made it) and is Pending
    await eventually(
      'the ReplicaSet made the pod of stuck-web',
      async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=stuck-web' })).items.length > 0,
      60_000,
      250,
    );
    // when a session starts on it
    const p = await runPlugin(sys, ['session', 'start', '--target', 'deployment/stuck-web'], 'jim-token');
    // then the gateway waited for a ready pod, and says why there is none, once
    assert.equal(p.status, 1, p.stdout);
    const lines = p.stderr.trim().split('\n');
    assert.equal(lines.length, 1, p.stderr);
    assert.match(
      lines[0]!,
      /^error: target deployment "stuck-web" in namespace "default" is not ready: none of its 1 pod\(s\) is running and ready after 8 s; last state: pod stuck-web-[a-z0-9-]+: Pending/,
    );
    assert.match(lines[0]!, /see kubectl get pods -n default -l 'app=stuck-web,!mirrord.metalbear.co\/session'/);
  });
});
