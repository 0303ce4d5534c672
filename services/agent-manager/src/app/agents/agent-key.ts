import { createHash } from 'node:crypto';

export interface AgentPlace {
  /** Where the agent runs: a Job in this namespace, or an ephemeral container of the target pod. */
  runs: { job: string } | 'ephemeral';
  /** The target pod; absent for a targetless session, whose agent is its own. */
  pod?: { namespace: string; name: string; container: string };
  session_id: string;
}

/** 32 hex digits naming the agent of a place: equal for every session on the same target. */
export function agentKey(p: AgentPlace): string {
  const where = typeof p.runs === 'string' ? 'ephemeral' : `job:${p.runs.job}`;
  const what = p.pod ? [p.pod.namespace, p.pod.name, p.pod.container] : ['targetless', p.session_id];
  return createHash('sha256')
    .update(JSON.stringify([where, ...what]))
    .digest('hex')
    .slice(0, 32);
}
