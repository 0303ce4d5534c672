import type { V1Job } from '@kubernetes/client-node';
import { agentHealth, AGENT_KEY, sweepAgent, TARGET_POD, usersOf } from '../../domain/shared-agents.js';
import type { AgentDeps } from '../ports.js';
import { markAgentIdle } from './release-agents.js';

/** Deletes agents unused for the idle TTL, dead ones and those whose target pod is gone; how many. */
export async function sweepAgents(deps: Omit<AgentDeps, 'acquiring'>, now = Date.now()): Promise<number> {
  const { cluster, log, settings } = deps;
  let deleted = 0;
  for (const job of await cluster.agentJobs()) {
    const { namespace, name, labels = {}, annotations = {} } = job.metadata as Required<NonNullable<V1Job['metadata']>>;
    if (usersOf(labels).length > 0) continue;
    const key = labels[AGENT_KEY]!;
    const target = annotations[TARGET_POD]?.split('/');
    const phases = (await cluster.agentPods(namespace, key)).map((p) => p.status?.phase);
    const decision = sweepAgent(
      {
        labels,
        annotations,
        dead: agentHealth(phases) === 'dead',
        targetGone: target ? !(await cluster.readPod(target[0]!, target[1]!)) : false,
      },
      now,
      settings.agentIdleTtlMs,
    );
    if (decision === 'mark-idle') await markAgentIdle(deps, job);
    else if (decision === 'delete' && (await cluster.deleteJobAt(namespace, name, job.metadata!.resourceVersion!))) {
      deleted++;
      log.info({ agent: name, namespace }, 'agent removed: unused for the idle TTL, exited, or its target is gone');
    }
  }
  return deleted;
}
