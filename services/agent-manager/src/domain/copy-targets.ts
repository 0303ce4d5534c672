import type { CopyTargetView } from '../../../../shared/src/ledger/index.js';
import { SCALED_DEPLOYMENT, SESSION_LABEL } from './manifests.js';

export interface CopyPodLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: Date | string };
  status?: { phase?: string };
}

/** A copy pod as the `copytargets` resource shows it: Ready once running, Failed if it failed. */
export function copyTargetOf(p: CopyPodLike): CopyTargetView {
  const m = p.metadata ?? {};
  const phase = p.status?.phase === 'Running' ? 'Ready' : p.status?.phase === 'Failed' ? 'Failed' : 'InProgress';
  return {
    name: m.name ?? '',
    namespace: m.namespace ?? '',
    target: m.annotations?.['mirrord.metalbear.co/copy-of'] ?? '',
    scale_down: !!m.annotations?.[SCALED_DEPLOYMENT],
    creator_session: m.labels?.[SESSION_LABEL] ?? '',
    phase,
    created_at: m.creationTimestamp ? new Date(m.creationTimestamp).getTime() : 0,
  };
}
