import { idleExpired } from '../../domain/copy-targets.js';
import type { AgentManagerDeps } from '../ports.js';

/** Deletes idle copies older than their idle TTL; how many. */
export async function sweepIdleCopies(
  { cluster, settings }: Pick<AgentManagerDeps, 'cluster' | 'settings'>,
  now = Date.now(),
): Promise<number> {
  let n = 0;
  for (const p of await cluster.copyPods()) {
    if (!idleExpired(p, now, settings.copyIdleTtlMs)) continue;
    await cluster.delete({ kind: 'Pod', namespace: p.metadata!.namespace!, name: p.metadata!.name! });
    n++;
  }
  return n;
}
