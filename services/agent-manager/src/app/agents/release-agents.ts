import type { V1Job } from '@kubernetes/client-node';
import type { CleanupPlan } from '../../domain/cleanup.js';
import { IDLE_SINCE, TARGET_POD, usersOf, usesLabel } from '../../domain/shared-agents.js';
import type { AgentDeps } from '../ports.js';

/**
 * The session no longer uses its agents. An agent nobody uses is deleted at once when it
 * cannot serve anyone again (targetless, its target `gonePods` being deleted, TTL 0), else
 * marked idle for the sweeper. Returns the agent Jobs it deleted.
 */
export async function releaseAgents(
  deps: AgentDeps,
  sessionId: string,
  gonePods: ReadonlySet<string> = new Set(),
): Promise<CleanupPlan['delete']> {
  const { cluster, settings } = deps;
  const deleted: CleanupPlan['delete'] = [];
  for (const job of await cluster.agentJobs(usesLabel(sessionId))) {
    const { namespace, name } = job.metadata as { namespace: string; name: string };
    const after = await cluster.patchJob(namespace, name, {
      metadata: { labels: { [usesLabel(sessionId)]: null } },
    });
    if (!after || usersOf(after.metadata?.labels).length > 0) continue;
    const target = after.metadata?.annotations?.[TARGET_POD];
    if (settings.agentIdleTtlMs <= 0 || !target || gonePods.has(target)) {
      if (await cluster.deleteJobAt(namespace, name, after.metadata!.resourceVersion!))
        deleted.push({ kind: 'Job', namespace, name });
    } else await markAgentIdle(deps, after);
  }
  return deleted;
}

/** From now on the agent counts as unused, for the sweeper's idle TTL. */
export async function markAgentIdle({ cluster }: Pick<AgentDeps, 'cluster'>, job: V1Job): Promise<void> {
  const { namespace, name } = job.metadata as { namespace: string; name: string };
  await cluster.patchJob(namespace, name, {
    metadata: { annotations: { [IDLE_SINCE]: new Date().toISOString() } },
  });
}
