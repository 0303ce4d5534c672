import { ORIGINAL_REPLICAS, SCALED_DEPLOYMENT, SESSION_LABEL } from './manifests.js';

/** A session not yet started (or never known) is given this long before its objects count as leftovers. */
export const SETUP_GRACE_MS = 5 * 60_000;

export interface LabelledObject {
  kind: 'Job' | 'Pod' | 'Secret';
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Epoch ms of creation (the server's creationTimestamp). */
  createdAt: number;
}

export interface CleanupPlan {
  /** Deployments to scale back, with the replica count recorded at scale-down. */
  restore: Array<{ namespace: string; deployment: string; replicas: number }>;
  delete: Array<Pick<LabelledObject, 'kind' | 'namespace' | 'name'>>;
}

/**
 * What to undo for objects whose session is over: restores first (a deployment must never be
 * left at 0), then deletions. `isOver` decides per session id (ended, or unknown to the ledger).
 */
export function planCleanup(objects: LabelledObject[], isOver: (sessionId: string) => boolean): CleanupPlan {
  const plan: CleanupPlan = { restore: [], delete: [] };
  for (const o of objects) {
    const sid = o.labels[SESSION_LABEL];
    if (!sid || !isOver(sid)) continue;
    const dep = o.annotations[SCALED_DEPLOYMENT];
    const replicas = Number(o.annotations[ORIGINAL_REPLICAS]);
    if (dep && Number.isInteger(replicas)) plan.restore.push({ namespace: o.namespace, deployment: dep, replicas });
    plan.delete.push({ kind: o.kind, namespace: o.namespace, name: o.name });
  }
  return plan;
}
