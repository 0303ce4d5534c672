import { planCleanup, type CleanupPlan } from '../domain/cleanup.js';
import { idleTtlOf } from '../domain/copy-targets.js';
import { ROLE_LABEL, SCALED_DEPLOYMENT } from '../domain/manifests.js';
import { IDLE_SINCE } from '../domain/shared-agents.js';
import { releaseAgents } from './agents/release-agents.js';
import { handOverShared } from './copy-targets/hand-over-shared.js';
import type { AgentManagerDeps } from './ports.js';

/**
 * Undoes everything of one session. When it ended normally (`keepCopies`), a copy that did not
 * scale anything down stays for the idle TTL, marked idle, for the same user's next session.
 * Idempotent.
 */
export async function cleanupSession(
  deps: AgentManagerDeps,
  sessionId: string,
  keepCopies = false,
): Promise<CleanupPlan> {
  const { cluster, settings } = deps;
  await cluster.leaveCopies(sessionId);
  const all = await cluster.labelled(sessionId);
  const handed = await handOverShared(deps, all);
  const mine = all.filter((o) => !handed.has(`${o.namespace}/${o.name}`));
  const keep = keepCopies
    ? mine.filter(
        (o) =>
          o.kind === 'Pod' &&
          o.labels[ROLE_LABEL] === 'copy' &&
          !o.annotations[SCALED_DEPLOYMENT] &&
          idleTtlOf({ metadata: { annotations: o.annotations } }, settings.copyIdleTtlMs) > 0,
      )
    : [];
  for (const k of keep)
    if (!k.annotations[IDLE_SINCE]) await cluster.markIdle(k.namespace, k.name, new Date().toISOString());
  const plan = planCleanup(
    mine.filter((o) => !keep.includes(o)),
    () => true,
  );
  await applyCleanup(deps, plan);
  // Its agents go once nobody else uses them; one whose copy pod was just deleted goes now.
  const gone = new Set(plan.delete.filter((d) => d.kind === 'Pod').map((d) => `${d.namespace}/${d.name}`));
  return { ...plan, delete: [...plan.delete, ...(await releaseAgents(deps, sessionId, gone))] };
}

/** Restores first (a deployment must never be left at 0), then deletes. */
export async function applyCleanup(
  { cluster, log }: Pick<AgentManagerDeps, 'cluster' | 'log'>,
  plan: CleanupPlan,
): Promise<void> {
  for (const r of plan.restore) {
    await cluster.scale(r.namespace, r.deployment, r.replicas);
    log.info({ namespace: r.namespace, deployment: r.deployment, replicas: r.replicas }, 'deployment restored');
  }
  for (const d of plan.delete) await cluster.delete(d);
}
