import type { CopyTargetReply } from '#shared/contracts/agent-manager.js';
import { copyTargetOf } from '../../domain/copy-targets.js';
import type { AgentManagerDeps } from '../ports.js';

/** The copy pods as the `copytargets` resource shows them, in one namespace or all. */
export async function listCopyTargets(
  { cluster, settings }: Pick<AgentManagerDeps, 'cluster' | 'settings'>,
  namespace?: string,
): Promise<CopyTargetReply[]> {
  return (await cluster.copyPods(namespace)).map((p) => copyTargetOf(p, settings.copyIdleTtlMs));
}
