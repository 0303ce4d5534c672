import { planCleanup } from '../domain/cleanup.js';
import type { AgentDeps } from './ports.js';

export interface UninstallReport {
  restored: number;
  deleted: number;
  agents_deleted: number;
  /** Steps that could not be done (each logged): helm then reports the hook as failed. */
  failed: number;
}

/**
 * The chart's pre-delete hook (`helm uninstall`): whatever sessions are still live, nothing of
 * mirrord stays in the cluster — every scaled-down deployment back to its recorded replicas
 * first, then every copy pod, session Secret and agent Job (with its pods) deleted. The same
 * plan as the cleanup of an ended session, for all of them; idempotent, so a retried hook does
 * no harm. A step that fails does not stop the others.
 */
export async function uninstall({ cluster, log }: Pick<AgentDeps, 'cluster' | 'log'>): Promise<UninstallReport> {
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
  const agents = await cluster.agentJobs();
  for (const j of agents)
    await attempt(`delete agent Job ${j.metadata?.namespace}/${j.metadata?.name}`, () =>
      cluster.delete({ kind: 'Job', namespace: j.metadata!.namespace!, name: j.metadata!.name! }),
    );
  return { restored: plan.restore.length, deleted: plan.delete.length, agents_deleted: agents.length, failed };
}
