import { BatchV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from '#shared/kube/config.js';
import { loadConfig } from '#shared/config/index.js';
import { createLogger } from '#shared/log/index.js';
import { Cluster } from './adapters/kube/cluster.js';
import { agentManagerConfigSpec } from './config.js';
import { planCleanup } from './domain/cleanup.js';
import { AGENT_KEY } from './domain/shared-agents.js';

/**
 * The chart's pre-delete hook (`helm uninstall`): whatever sessions are still live, nothing of
 * mirrord stays in the cluster — every scaled-down deployment back to its recorded replicas
 * first, then every copy pod, session Secret and agent Job (with its pods) deleted. The same
 * plan as agent-manager's cleanup of an ended session, for all of them; idempotent, so a retried
 * hook does no harm. Exit 1 when something could not be undone (helm then reports the hook).
 */
const { KUBECONFIG, AGENT_MANAGER_KUBE_CONTEXT, OPERATOR_AGENT_NAMESPACE, LOG_LEVEL } = loadConfig({
  KUBECONFIG: agentManagerConfigSpec.KUBECONFIG,
  AGENT_MANAGER_KUBE_CONTEXT: agentManagerConfigSpec.AGENT_MANAGER_KUBE_CONTEXT,
  OPERATOR_AGENT_NAMESPACE: agentManagerConfigSpec.OPERATOR_AGENT_NAMESPACE,
  LOG_LEVEL: agentManagerConfigSpec.LOG_LEVEL,
});
const log = createLogger('agent-manager-uninstall', LOG_LEVEL);
const kc = loadKubeConfig(KUBECONFIG, AGENT_MANAGER_KUBE_CONTEXT, 'AGENT_MANAGER_KUBE_CONTEXT');
const cluster = new Cluster(kc, OPERATOR_AGENT_NAMESPACE);
const batch = kc.makeApiClient(BatchV1Api);
let failed = 0;
const attempt = async (what: string, f: () => Promise<unknown>) => {
  try {
    await f();
  } catch (err) {
    failed++;
    log.error({ err }, `could not ${what}`);
  }
};

const plan = planCleanup(await cluster.labelled(), () => true);
for (const r of plan.restore)
  await attempt(`restore deployment ${r.namespace}/${r.deployment}`, async () => {
    await cluster.scale(r.namespace, r.deployment, r.replicas);
    log.info({ namespace: r.namespace, deployment: r.deployment, replicas: r.replicas }, 'deployment restored');
  });
for (const d of plan.delete) await attempt(`delete ${d.kind} ${d.namespace}/${d.name}`, () => cluster.delete(d));
// Agents: one Job per target, in whatever namespace a session chose (agent.namespace).
const agents = (await batch.listJobForAllNamespaces({ labelSelector: AGENT_KEY })).items;
for (const j of agents)
  await attempt(`delete agent Job ${j.metadata?.namespace}/${j.metadata?.name}`, () =>
    cluster.delete({ kind: 'Job', namespace: j.metadata!.namespace!, name: j.metadata!.name! }),
  );
log.info(
  { restored: plan.restore.length, deleted: plan.delete.length, agents_deleted: agents.length, failed },
  failed ? 'uninstall cleanup incomplete' : 'uninstall cleanup done: no agents, copies or scaled-down workloads left',
);
process.exit(failed ? 1 : 0);
