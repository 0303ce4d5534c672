import { conflict } from '#shared/errors/index.js';
import { SESSION_LABEL } from '../../domain/manifests.js';
import { IDLE_SINCE } from '../../domain/shared-agents.js';
import { cleanupSession } from '../cleanup-session.js';
import type { AgentManagerDeps } from '../ports.js';

/**
 * `DELETE …/copytargets/{name}`: a copy no live session uses goes with its session's objects
 * (a scaled-down deployment is restored). False when there is no such copy.
 */
export async function deleteCopy(deps: AgentManagerDeps, namespace: string, name: string): Promise<boolean> {
  const pod = await deps.cluster.copyPod(namespace, name);
  if (!pod) return false;
  const sid = pod.metadata!.labels![SESSION_LABEL]!;
  if (!pod.metadata?.annotations?.[IDLE_SINCE] && (await deps.ledger.status(sid)) === 'live')
    throw conflict(
      `copy target "${name}" is in use by session ${sid}; end that session first (kubectl mirrord session kill --id ${sid})`,
    );
  await cleanupSession(deps, sid);
  return true;
}
