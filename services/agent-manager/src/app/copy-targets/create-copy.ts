import { invalid } from '#shared/errors/index.js';
import type { CopyTargetReply } from '#shared/contracts/agent-manager.js';
import { copyTargetOf } from '../../domain/copy-targets.js';
import type { PrepareRequest } from '../../domain/request.js';
import { cleanupSession } from '../cleanup-session.js';
import type { AgentManagerDeps } from '../ports.js';
import { copyTarget } from './copy-target.js';

/**
 * The CLI's `POST …/copytargets`: a new copy for the creator session (Target Copied is
 * recorded), without an agent — the session that connects to it next gets one.
 */
export async function createCopy(deps: AgentManagerDeps, req: PrepareRequest): Promise<CopyTargetReply> {
  const t = req.parsedTarget;
  if (!req.copy_target || t.kind !== 'workload')
    throw invalid('spec.target', 'a copy needs a workload target', 'name a deployment, pod, rollout, job, …');
  try {
    return copyTargetOf(await copyTarget(deps, req, t), deps.settings.copyIdleTtlMs);
  } catch (e) {
    await cleanupSession(deps, req.session_id).catch(() => undefined);
    throw e;
  }
}
