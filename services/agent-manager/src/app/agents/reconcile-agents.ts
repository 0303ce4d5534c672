import { SETUP_GRACE_MS } from '../../domain/cleanup.js';
import { usersOf } from '../../domain/shared-agents.js';
import type { AgentManagerDeps } from '../ports.js';
import { releaseAgents } from './release-agents.js';

/** Start-up: sessions that ended (or never started) while nobody watched stop counting as agents' users. */
export async function reconcileAgents(deps: AgentManagerDeps, now = Date.now()): Promise<void> {
  for (const job of await deps.cluster.agentJobs()) {
    const created = job.metadata?.creationTimestamp ? new Date(job.metadata.creationTimestamp).getTime() : 0;
    for (const sid of usersOf(job.metadata?.labels)) {
      const s = await deps.ledger.status(sid);
      if (s === 'ended' || (s === 'unknown' && now - created >= SETUP_GRACE_MS)) await releaseAgents(deps, sid);
    }
  }
}
