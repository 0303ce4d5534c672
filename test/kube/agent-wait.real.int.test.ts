/**
 * Issue 26 (7), "watch-based waiting": agent-manager waits for an agent's pod by watching, not by
 * listing pods every 100 ms (689 lists in 75 s on a real server), re-lists after a watch error,
 * and says at warn level — the session, the Job and the pod's last state — when it gives up.
 *
 * The real kube-apiserver counts the requests (its /metrics, as admin). No controller-manager or
 * kubelet here: the test plays both, creating the agent Job's pod and reporting its status
 * through `pods/<name>/status` as they would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1PodStatus } from '@kubernetes/client-node';
import { pino } from 'pino';
import { isAppError } from '#shared/errors/index.js';
import { AGENT_DEFAULTS } from '#shared/mirrord-config/index.js';
import { parseTarget } from '#shared/targets/index.js';
import { Cluster } from '../../services/agent-manager/src/adapters/kube/cluster.js';
import { acquireAgent } from '../../services/agent-manager/src/app/agents/acquire-agent.js';
import { agentKey } from '../../services/agent-manager/src/app/agents/agent-key.js';
import { OneAtATime } from '../../services/agent-manager/src/app/agents/one-at-a-time.js';
import type { AgentDeps } from '../../services/agent-manager/src/app/ports.js';
import type { PrepareRequest } from '../../services/agent-manager/src/domain/request.js';
import { AGENT_KEY, agentObjectName } from '../../services/agent-manager/src/domain/shared-agents.js';
import { kubeGet, startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';
import { eventually } from '../support/eventually.js';

const NS = 'mirrord';

const targetless = (sessionId: string, startupTimeout: number): PrepareRequest => ({
  session_id: sessionId,
  namespace: NS,
  target: 'targetless',
  parsedTarget: parseTarget('targetless'),
  agent: { ...AGENT_DEFAULTS, startup_timeout: startupTimeout },
  client: {},
});

describe('agent-manager waits for agents by watch (real kube-apiserver)', { timeout: 300_000 }, () => {
  let kube: KubeApiServer;
  let core: CoreV1Api;
  let agents: AgentDeps;
  const logs: { level: number; msg: string; [k: string]: unknown }[] = [];

  /** One counter of the apiserver's /metrics, summed over the series whose labels include all of `labels`. */
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    const r = await kubeGet(kube.url, kube.caPem, '/metrics', kube.users.admin!.token);
    assert.equal(r.status, 200, r.body.slice(0, 200));
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    return r.body
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };
  const podLists = () => metric('apiserver_request_total', { resource: 'pods', verb: 'LIST', subresource: '' });
  const podWatches = () => metric('apiserver_longrunning_requests', { resource: 'pods', verb: 'WATCH' });

  /** What the Job controller would make: the agent's pod, labelled with the agent key. */
  const createAgentPod = async (key: string, name: string) =>
    core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name, labels: { [AGENT_KEY]: key } },
        spec: { containers: [{ name: 'mirrord-agent', image: 'ghcr.io/metalbear-co/mirrord:test' }] },
      },
    });
  /** What the kubelet would report. */
  const reportStatus = (name: string, status: V1PodStatus) =>
    core.patchNamespacedPodStatus(
      { name, namespace: NS, body: { status } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  const container = (state: Record<string, unknown>, ready: boolean) => ({
    name: 'mirrord-agent',
    image: 'ghcr.io/metalbear-co/mirrord:test',
    imageID: '',
    ready,
    restartCount: 0,
    state,
  });

  before(async () => {
    kube = await startKubeApiServer({ users: [{ name: 'admin', groups: ['system:masters'] }] });
    const kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfig);
    kc.setCurrentContext('admin');
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    // The ServiceAccount admission wants the namespace's default account (the controller-manager's work).
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'default' } } });
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    agents = {
      cluster: new Cluster(kc, NS),
      log,
      settings: { agentNamespace: NS, operatorCertPem: undefined, copyIdleTtlMs: 0, agentIdleTtlMs: 0 },
      acquiring: new OneAtATime(),
    };
  });
  after(async () => {
    await kube?.[Symbol.asyncDispose]();
  });

  it('the wait for the agent pod is one LIST and a WATCH, and ends when the pod runs', async () => {
    // given an agent-manager waiting for a new agent Job's pod
    const req = targetless('0000000000000B01', 120);
    const key = agentKey({ runs: { job: NS }, session_id: req.session_id });
    const name = `${agentObjectName(key)}-x1`;
    const listsBefore = await podLists();
    const acquired = acquireAgent(agents, req);
    await eventually('agent-manager watches pods', async () => (await podWatches()) >= 1, 30_000, 100);

    // when the pod appears, pending, and then runs
    await createAgentPod(key, name);
    await reportStatus(name, {
      phase: 'Pending',
      containerStatuses: [container({ waiting: { reason: 'ContainerCreating' } }, false)],
    });
    await reportStatus(name, {
      phase: 'Running',
      podIP: '10.244.0.9',
      podIPs: [{ ip: '10.244.0.9' }],
      containerStatuses: [container({ running: { startedAt: new Date() } }, true)],
    });

    // then the wait ends with it, having listed pods once (the watch saw the rest)
    const got = await acquired;
    assert.equal(got.pod.metadata?.name, name);
    assert.equal(got.pod.status?.podIP, '10.244.0.9');
    const lists = (await podLists()) - listsBefore;
    assert.ok(lists >= 1 && lists <= 2, `pod LISTs during the wait: ${lists}`);
  });

  it('at agent.startup_timeout it gives up with a warn line naming the session, the Job and the pod state', async () => {
    // given an agent whose image cannot be pulled
    const req = targetless('0000000000000B02', 10);
    const key = agentKey({ runs: { job: NS }, session_id: req.session_id });
    const job = agentObjectName(key);
    const name = `${job}-x2`;
    const watchesBefore = await podWatches();
    const acquired = acquireAgent(agents, req);
    await eventually('agent-manager watches pods', async () => (await podWatches()) > watchesBefore, 10_000, 100);
    await createAgentPod(key, name);
    await reportStatus(name, {
      phase: 'Pending',
      containerStatuses: [
        container({ waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "mirrord:test"' } }, false),
      ],
    });

    // when the startup timeout passes
    await assert.rejects(acquired, (e: unknown) => {
      assert.ok(isAppError(e, 'Unavailable'), String(e));
      assert.match((e as Error).message, new RegExp(`agent job ${job} was not running after 10 s`));
      assert.match((e as Error).message, /ImagePullBackOff/);
      return true;
    });

    // then one warn line says which session, which Job, and why its pod did not run
    const warn = logs.filter((l) => l.level === 40 && l.session_id === req.session_id);
    assert.equal(warn.length, 1, JSON.stringify(logs));
    assert.equal(warn[0]!.agent_job, job);
    assert.equal(warn[0]!.pod, name);
    assert.match(String(warn[0]!.state), new RegExp(`pod ${name}: Pending; container mirrord-agent ImagePullBackOff`));
    assert.match(warn[0]!.msg, /startup_timeout/);
  });

  it('a watch error (the apiserver restarts) re-lists, and the wait still ends when the pod runs', async () => {
    const req = targetless('0000000000000B03', 120);
    const key = agentKey({ runs: { job: NS }, session_id: req.session_id });
    const name = `${agentObjectName(key)}-x3`;
    const watchesBefore = await podWatches();
    const acquired = acquireAgent(agents, req);
    await eventually('agent-manager watches pods', async () => (await podWatches()) > watchesBefore, 30_000, 100);

    // when the apiserver dies under the watch, and the pod runs while it is back
    await kube.kill9();
    await kube.restart();
    await createAgentPod(key, name);
    await reportStatus(name, { phase: 'Running', podIP: '10.244.0.10', podIPs: [{ ip: '10.244.0.10' }] });

    // then the wait ends with the pod, having re-listed after the error (the restarted server's
    // counters start at 0, and nothing else here lists pods)
    const got = await acquired;
    assert.equal(got.pod.metadata?.name, name);
    assert.equal(got.pod.status?.podIP, '10.244.0.10');
    assert.ok((await podLists()) >= 1, 'a LIST after the watch error');
  });
});
