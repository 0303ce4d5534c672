/**
 * agent-manager's `helm uninstall` hook (app/uninstall.ts) on a real kube-apiserver: whatever
 * sessions are still live, it leaves no copies, session Secrets or agents, and every
 * scaled-down deployment back at its recorded replicas. A step that fails (a deployment that
 * no longer exists) is counted and does not stop the others; a second run (helm retries a
 * failed hook) finds nothing left to do.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { AGENT_DEFAULTS } from '#shared/mirrord-config/index.js';
import { parseTarget } from '#shared/targets/index.js';
import { Cluster } from '../../services/agent-manager/src/adapters/kube/cluster.js';
import { agentKey } from '../../services/agent-manager/src/app/agents/agent-key.js';
import { uninstall } from '../../services/agent-manager/src/app/uninstall.js';
import { agentJob, copyPod, SESSION_LABEL } from '../../services/agent-manager/src/domain/manifests.js';
import type { PrepareRequest } from '../../services/agent-manager/src/domain/request.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';
import { eventually } from '../support/eventually.js';

const AGENTS = 'mirrord';
const APPS = 'shop';

const request = (sessionId: string, target: string, namespace: string): PrepareRequest => ({
  session_id: sessionId,
  namespace,
  target,
  parsedTarget: parseTarget(target),
  agent: AGENT_DEFAULTS,
  ...(target === 'targetless' ? {} : { copy_target: { scale_down: true } }),
  client: { client_user: 'jim' },
});

const template = {
  metadata: { labels: { app: 'api' } },
  spec: { containers: [{ name: 'api', image: 'registry.example/api:1' }] },
};

describe("agent-manager's uninstall hook (real kube-apiserver)", { timeout: 300_000 }, () => {
  let kube: KubeApiServer;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let batch: BatchV1Api;
  let cluster: Cluster;
  const errors: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void collect(JSON.parse(line)) });
  const collect = (l: { level: number; msg: string }) => {
    if (l.level >= 50) errors.push(l.msg);
  };

  before(async () => {
    kube = await startKubeApiServer({ users: [{ name: 'admin', groups: ['system:masters'] }] });
    const kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfig);
    kc.setCurrentContext('admin');
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    for (const ns of [AGENTS, APPS]) {
      await core.createNamespace({ body: { metadata: { name: ns } } });
      // The ServiceAccount admission wants the namespace's default account (the controller-manager's work).
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'default' } } });
    }
    cluster = new Cluster(kc, AGENTS);
  });
  after(async () => {
    await kube?.[Symbol.asyncDispose]();
  });

  it('restores scaled-down deployments and deletes copies, session Secrets and agents; a retry finds nothing', async () => {
    // given a live session that scaled deployment/api (3 replicas) down to its copy,
    await apps.createNamespacedDeployment({
      namespace: APPS,
      body: {
        metadata: { name: 'api' },
        spec: { replicas: 0, selector: { matchLabels: { app: 'api' } }, template },
      },
    });
    const live = request('00000000000000C1', 'deployment/api', APPS);
    await cluster.createPod(copyPod(live, template, 'aaaaaa', 'key-1', { deployment: 'api', replicas: 3 }));
    // a session whose scaled-down deployment someone has deleted since,
    const orphan = request('00000000000000C2', 'deployment/gone', APPS);
    await cluster.createPod(copyPod(orphan, template, 'bbbbbb', 'key-2', { deployment: 'gone', replicas: 2 }));
    // a session Secret in the agent namespace,
    await core.createNamespacedSecret({
      namespace: AGENTS,
      body: { metadata: { name: 'mirrord-session-c1', labels: { [SESSION_LABEL]: live.session_id } } },
    });
    // and a targetless session's agent Job
    const agentReq = request('00000000000000C3', 'targetless', AGENTS);
    const key = agentKey({ runs: { job: AGENTS }, session_id: agentReq.session_id });
    await cluster.createJob(
      agentJob({ req: agentReq, namespace: AGENTS, key, operatorCertPem: undefined, idleTtlSeconds: 0 }),
    );

    // when the chart's pre-delete hook runs
    const report = await uninstall({ cluster, log });

    // then the deployment is back at 3, and the one that is gone is the only failure
    assert.deepEqual(report, { restored: 2, deleted: 3, agents_deleted: 1, failed: 1 });
    assert.equal((await apps.readNamespacedDeployment({ name: 'api', namespace: APPS })).spec?.replicas, 3);
    assert.deepEqual(errors, ['could not restore deployment shop/gone']);
    // and nothing of mirrord is left
    await eventually('no copy pod, session Secret or agent Job is left', async () => {
      const left = [
        ...(await core.listNamespacedPod({ namespace: APPS })).items.map((p) => `pod ${p.metadata?.name}`),
        ...(await core.listNamespacedSecret({ namespace: AGENTS, labelSelector: SESSION_LABEL })).items.map(
          (s) => `secret ${s.metadata?.name}`,
        ),
        ...(await batch.listNamespacedJob({ namespace: AGENTS })).items.map((j) => `job ${j.metadata?.name}`),
      ];
      if (left.length) throw new Error(`still there: ${left.join(', ')}`);
      return true;
    });

    // when helm runs the hook again, then it has nothing to do
    assert.deepEqual(await uninstall({ cluster, log }), { restored: 0, deleted: 0, agents_deleted: 0, failed: 0 });
  });

  it("the hook's process (uninstall-main.ts) undoes a leftover and exits 0", async () => {
    // given a session's copy that scaled deployment/api down again
    await apps.patchNamespacedDeploymentScale({
      name: 'api',
      namespace: APPS,
      body: [{ op: 'replace', path: '/spec/replicas', value: 0 }],
    });
    const live = request('00000000000000C4', 'deployment/api', APPS);
    await cluster.createPod(copyPod(live, template, 'cccccc', 'key-4', { deployment: 'api', replicas: 4 }));

    // when helm runs the chart's hook, as the chart does (deploy/helm/…/uninstall-cleanup.yaml)
    const run = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'services/agent-manager/src/uninstall-main.ts'],
      {
        env: {
          ...process.env,
          KUBECONFIG: kube.kubeconfig,
          AGENT_MANAGER_KUBE_CONTEXT: 'admin',
          OPERATOR_AGENT_NAMESPACE: AGENTS,
        },
      },
    );

    // then it succeeded (exit 0: execFile rejects otherwise), saying so, and the deployment is back at 4
    assert.match(run.stdout, /uninstall cleanup done/);
    assert.equal((await apps.readNamespacedDeployment({ name: 'api', namespace: APPS })).spec?.replicas, 4);
  });
});
