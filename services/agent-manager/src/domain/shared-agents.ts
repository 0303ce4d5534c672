/** On a copy pod: when its last session ended (a copy with it is idle, kept for reuse). */
export const IDLE_SINCE = 'mirrord.metalbear.co/idle-since';

/**
 * One agent per target: every session on the same pod container (or copy pod) shares it, as
 * the real operator does — a second agent on a pod would fight the first over its iptables.
 * An agent Job carries its key, its target and one label per session using it; the last
 * session to leave marks it idle, and it is deleted once idle for OPERATOR_AGENT_IDLE_TTL.
 */

export { AGENT_KEY, agentObjectName, USES_PREFIX, usesLabel } from '#shared/kube/labels.js';
import { USES_PREFIX } from '#shared/kube/labels.js';
/** On an agent Job: `namespace/pod` of its target, so an agent whose target is gone goes too. */
export const TARGET_POD = 'mirrord.metalbear.co/target-pod';

/** The sessions an agent Job's labels say use it. */
export const usersOf = (labels: Record<string, string> | undefined): string[] =>
  Object.keys(labels ?? {})
    .filter((k) => k.startsWith(USES_PREFIX))
    .map((k) => k.slice(USES_PREFIX.length));

/** What the pods of an agent say about it: one runs, one is on its way, or all have ended. */
export function agentHealth(phases: Array<string | undefined>): 'running' | 'starting' | 'dead' {
  if (phases.includes('Running')) return 'running';
  if (phases.length > 0 && phases.every((p) => p === 'Succeeded' || p === 'Failed')) return 'dead';
  return 'starting';
}

export interface AgentJobView {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The agent process has ended (its pod Succeeded or Failed). */
  dead: boolean;
  /** Its target pod no longer exists. */
  targetGone: boolean;
}

/**
 * What the sweeper does with an agent Job: nothing while a session uses it (even if idle-marked:
 * the mark may be a leaving session's, racing a joining one); delete when unused and dead,
 * orphaned or idle for the TTL; mark idle when unused and unmarked (a crash between leaving
 * and marking).
 */
export function sweepAgent(j: AgentJobView, now: number, idleTtlMs: number): 'keep' | 'delete' | 'mark-idle' {
  if (usersOf(j.labels).length > 0) return 'keep';
  if (j.dead || j.targetGone) return 'delete';
  const since = j.annotations[IDLE_SINCE];
  if (since === undefined) return 'mark-idle';
  return now - Date.parse(since) >= idleTtlMs ? 'delete' : 'keep';
}
