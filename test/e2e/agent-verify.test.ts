import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ROLE_LABEL } from '#shared/kube/labels.js';
import type { CopyTargetView } from '#shared/ledger/index.js';
import { KubeVerifiedAgents } from '../../services/gateway/src/adapters/kube/kube-agent-verifier.js';
import type { AgentProvisioner, AgentRequest, PreparedAgent } from '../../services/gateway/src/domain/interfaces.js';
import { SessionClient, startSystem, type System } from '../support/system.js';
import type { ServiceProcess } from '../support/service-process.js';
import { startAgentManager, startPolicy, startTestCluster, type TestCluster } from '../support/cluster.js';

/**
 * The agent address the gateway dials, checked against the Kubernetes API as the gateway's own
 * service account sees it (issue 25): only a running agent pod whose Job carries the session's
 * label passes. agent-manager's answer is played by `Answer` here — on the bus no one else can
 * answer `prepare` (test/security/bus-permissions), so this is the check behind that one.
 */
class Answer implements AgentProvisioner {
  released: string[] = [];
  constructor(public reply: PreparedAgent) {}
  async prepare(): Promise<PreparedAgent> {
    return this.reply;
  }
  async release(sessionId: string): Promise<void> {
    this.released.push(sessionId);
  }
  async copyTargets(): Promise<CopyTargetView[]> {
    return [];
  }
  createCopy(): Promise<CopyTargetView> {
    throw new Error('not used');
  }
  async deleteCopy(): Promise<boolean> {
    return false;
  }
}

describe("agent address check: the gateway dials only this session's agent", () => {
  let cluster: TestCluster;
  let sys: System;
  let am: ServiceProcess;
  let policy: ServiceProcess;
  let gatewayKube: KubeConfig;
  let core: CoreV1Api;

  before(async () => {
    cluster = await startTestCluster();
    sys = await startSystem({
      GATEWAY_AUTH: 'kubernetes',
      KUBECONFIG: cluster.kubeconfig,
      GATEWAY_KUBE_CONTEXT: 'mirrord-operator',
    });
    [am, policy] = await Promise.all([startAgentManager(sys.env, cluster), startPolicy(sys.env, cluster)]);
    gatewayKube = new KubeConfig();
    gatewayKube.loadFromFile(cluster.kubeconfig);
    gatewayKube.setCurrentContext('mirrord-operator');
    core = gatewayKube.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await policy?.stop();
    await am?.stop();
    await sys?.stop();
    await cluster?.stop();
  });

  it("passes this session's agent; refuses it for another session, and a pod that is no agent, releasing what was made", async () => {
    const c = await SessionClient.connect(sys, { token: 'jim-token', target: 'deployment.my-deployment' });
    assert.ok(c.client, JSON.stringify(c.body));
    const sid = await c.client.sessionId();
    const agentPod = (await core.listPodForAllNamespaces({ labelSelector: `${ROLE_LABEL}=agent` })).items.find(
      (p) => p.status?.phase === 'Running',
    );
    assert.ok(agentPod?.status?.podIP, 'the session has a running agent pod');
    const target = (await core.listNamespacedPod({ namespace: 'default' })).items.find((p) => p.status?.podIP);
    const req = (sessionId: string): AgentRequest =>
      ({ session_id: sessionId, namespace: 'default', target: { path: 'deployment/my-deployment' } }) as AgentRequest;
    const job = (ip: string): PreparedAgent => ({ agent: 'job', address: `${ip}:44128` });

    // this session's agent: passed through as agent-manager answered it
    const ok = new Answer(job(agentPod.status.podIP));
    assert.deepEqual(await new KubeVerifiedAgents(ok, gatewayKube).prepare(req(sid)), ok.reply);
    assert.deepEqual(ok.released, []);

    // the same agent for a session it was not made for, and a workload pod's address
    for (const [what, answer, session] of [
      ['another session', new Answer(job(agentPod.status.podIP)), '00000000DEADBEEF'],
      ['a pod that is no agent', new Answer(job(target!.status!.podIP!)), sid],
    ] as const)
      await assert.rejects(
        new KubeVerifiedAgents(answer, gatewayKube).prepare(req(session)),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'Unavailable', what);
          assert.match(e.message, /no running agent pod made for this session has that address; it was not dialled/);
          assert.deepEqual(answer.released, [session], `${what}: what was prepared is released`);
          return true;
        },
      );
    await c.client.close();
  });
});
