import { planCleanup, SETUP_GRACE_MS, type CleanupPlan, type LabelledObject } from '../domain/cleanup.js';
import { SESSION_LABEL } from '../domain/manifests.js';
import { IDLE_SINCE } from '../domain/shared-agents.js';
import { reconcileAgents } from './agents/reconcile-agents.js';
import { sweepAgents } from './agents/sweep-agents.js';
import { applyCleanup } from './cleanup-session.js';
import { handOverShared } from './copy-targets/hand-over-shared.js';
import type { AgentManagerDeps, SessionStatus } from './ports.js';

/**
 * Start-up, after any crash: every object is labelled with its session and a scale-down's
 * restore information lives on the copy pod, so comparing the cluster with the ledger finds
 * what is left over. Objects whose session is over (or never started) are removed, deployments
 * restored, and agents whose sessions ended are released.
 */
export async function reconcile(deps: AgentManagerDeps, now = Date.now()): Promise<CleanupPlan> {
  const { cluster, ledger, log } = deps;
  const objects = await cluster.labelled();
  const status = new Map<string, SessionStatus>();
  for (const sid of new Set(objects.map((o) => o.labels[SESSION_LABEL]!))) status.set(sid, await ledger.status(sid));
  const young = (o: LabelledObject) => now - o.createdAt < SETUP_GRACE_MS;
  const youngSessions = new Set(objects.filter(young).map((o) => o.labels[SESSION_LABEL]!));
  // A copy whose owner ended while another session shared it (a crash mid-cleanup) passes on.
  const handed = await handOverShared(
    deps,
    objects.filter((o) => status.get(o.labels[SESSION_LABEL]!) === 'ended'),
  );
  // Idle copies are the sweeper's: they outlive their session on purpose.
  const plan = planCleanup(
    objects.filter((o) => !o.annotations[IDLE_SINCE] && !handed.has(`${o.namespace}/${o.name}`)),
    (sid) => {
      const s = status.get(sid);
      if (s === 'ended') return true;
      if (s === 'live') return false;
      return !youngSessions.has(sid);
    },
  );
  await applyCleanup(deps, plan);
  await reconcileAgents(deps, now);
  const agents = await sweepAgents(deps, now);
  if (plan.delete.length || agents)
    log.info(
      { deleted: plan.delete.length, agents_deleted: agents, restored: plan.restore },
      'reconciled leftovers of ended sessions',
    );
  return plan;
}
