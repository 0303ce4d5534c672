/**
 * Issue 26, "Agent pods leak": on the real kube-apiserver (with kube-controller-manager: the Job
 * controller makes the agent's pod, the garbage collector deletes it with its Job), deleting an
 * agent Job through agent-manager's own Cluster adapter deletes the agent's pod too. A Job
 * orphans its pods unless the delete asks for propagation in a way the real server reads.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { AGENT_DEFAULTS } from '#shared/mirrord-config/index.js';
import { parseTarget } from '#shared/targets/index.js';
import { Cluster } from '../../services/agent-manager/src/adapters/kube/cluster.js';
import { acquireAgent } from '../../services/agent-manager/src/app/agents/acquire-agent.js';
import { agentKey } from '../../services/agent-manager/src/app/agents/agent-key.js';
import { OneAtATime } from '../../services/agent-manager/src/app/agents/one-at-a-time.js';
import { releaseAgents } from '../../services/agent-manager/src/app/agents/release-agents.js';
import type { AgentDeps } from '../../services/agent-manager/src/app/ports.js';
import { agentJob } from '../../services/agent-manager/src/domain/manifests.js';
import type { PrepareRequest } from '../../services/agent-manager/src/domain/request.js';
import { AGENT_KEY, agentObjectName } from '../../services/agent-manager/src/domain/shared-agents.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';
import { eventually } from '../support/eventually.js';

const NS = 'mirrord';
/** The controller-manager starts its informers and the GC builds its graph: slow on a loaded machine. */
const CONTROLLERS_MS = 120_000;

const targetless = (sessionId: string): PrepareRequest => ({
  session_id: sessionId,
  namespace: NS,
  target: 'targetless',
  parsedTarget: parseTarget('targetless'),
  agent: { ...AGENT_DEFAULTS, startup_timeout: 120 },
  client: {},
});

describe(
  'agent Jobs deleted by agent-manager take their pods with them (real kube-apiserver)',
  { timeout: 600_000 },
  () => {
    let kube: KubeApiServer;
    let core: CoreV1Api;
    let cluster: Cluster;

    const podsOf = async (key: string): Promise<V1Pod[]> =>
      (await core.listNamespacedPod({ namespace: NS, labelSelector: `${AGENT_KEY}=${key}` })).items;
    /** The pod the Job controller made for the agent Job, owned by it. */
    const jobPod = (key: string, job: string): Promise<V1Pod> =>
      eventually(
        `the Job controller made the pod of agent Job ${job}`,
        async () =>
          (await podsOf(key)).find((p) =>
            p.metadata?.ownerReferences?.some((o) => o.kind === 'Job' && o.name === job && o.controller),
          ),
        CONTROLLERS_MS,
        250,
      );
    /** Gone, not merely orphaned: a leaked pod is still listed, without its owner. */
    const podsGone = (key: string, job: string): Promise<true> =>
      eventually(
        `the pods of agent Job ${job} are deleted`,
        async () => {
          const left = await podsOf(key);
          if (left.length === 0) return true;
          throw new Error(
            `still there: ${left
              .map((p) => `${p.metadata?.name} (owners: ${JSON.stringify(p.metadata?.ownerReferences ?? [])})`)
              .join(', ')}`,
          );
        },
        CONTROLLERS_MS,
        250,
      );

    before(async () => {
      kube = await startKubeApiServer({
        controllerManager: true,
        users: [{ name: 'admin', groups: ['system:masters'] }],
      });
      const kc = new KubeConfig();
      kc.loadFromFile(kube.kubeconfig);
      kc.setCurrentContext('admin');
      core = kc.makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: NS } } });
      cluster = new Cluster(kc, NS);
    });
    after(async () => {
      await kube?.[Symbol.asyncDispose]();
    });

    it("a session's agent, released by releaseAgents (deleteJobAt with preconditions): the Job and its pod are deleted", async () => {
      const agents: AgentDeps = {
        cluster,
        log: pino({ level: 'silent' }),
        settings: { agentNamespace: NS, operatorCertPem: undefined, copyIdleTtlMs: 0, agentIdleTtlMs: 0 },
        acquiring: new OneAtATime(),
      };
      const req = targetless('0000000000000A01');
      const key = agentKey({ runs: { job: NS }, session_id: req.session_id });
      const name = agentObjectName(key);
      const acquired = acquireAgent(agents, req);
      const pod = await jobPod(key, name);
      // What the kubelet would report (there is none here): the agent runs, with an IP.
      await core.patchNamespacedPodStatus(
        {
          name: pod.metadata!.name!,
          namespace: NS,
          body: { status: { phase: 'Running', podIP: '10.244.0.7', podIPs: [{ ip: '10.244.0.7' }] } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      assert.equal((await acquired).pod.metadata?.name, pod.metadata?.name);

      assert.deepEqual(await releaseAgents(agents, req.session_id), [{ kind: 'Job', namespace: NS, name }]);
      await podsGone(key, name);
      assert.equal(await cluster.readJob(NS, name), undefined, 'the Job is gone');
    });

    it('an agent Job removed by the cleanup path (Cluster.delete of a labelled Job): its pod is deleted; a stale deleteJobAt is refused', async () => {
      const req = targetless('0000000000000A02');
      const key = agentKey({ runs: { job: NS }, session_id: req.session_id });
      const name = agentObjectName(key);
      await cluster.createJob(agentJob({ req, namespace: NS, key, operatorCertPem: undefined, idleTtlSeconds: 0 }));
      await jobPod(key, name);

      // The options body still carries the precondition: a Job changed since it was judged stays.
      const judged = (await cluster.readJob(NS, name))!.metadata!.resourceVersion!;
      await cluster.patchJob(NS, name, {
        metadata: { labels: { 'session.mirrord.metalbear.co/0000000000000A03': 'true' } },
      });
      assert.equal(await cluster.deleteJobAt(NS, name, judged), false);
      assert.ok(await cluster.readJob(NS, name), 'a Job a session joined since is not deleted');

      await cluster.delete({ kind: 'Job', namespace: NS, name });
      await podsGone(key, name);
      assert.equal(await cluster.readJob(NS, name), undefined, 'the Job is gone');
    });
  },
);
