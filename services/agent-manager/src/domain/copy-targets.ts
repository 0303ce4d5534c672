import type { CopyTargetView } from '#shared/ledger/index.js';
import { CREATOR_SESSION, IDLE_SINCE, SCALED_DEPLOYMENT, SESSION_LABEL } from './manifests.js';

export interface CopyPodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: Date | string;
  };
  status?: { phase?: string };
}

/** An idle copy (its session ended) that has outlived the idle TTL. */
export function idleExpired(p: CopyPodLike, now: number, idleTtlMs: number): boolean {
  const since = p.metadata?.annotations?.[IDLE_SINCE];
  return since !== undefined && now - Date.parse(since) >= idleTtlMs;
}

/** A copy pod as the `copytargets` resource shows it: Ready once running, Failed if it failed. */
export function copyTargetOf(p: CopyPodLike, idleTtlMs = 0): CopyTargetView {
  const m = p.metadata ?? {};
  const phase = p.status?.phase === 'Running' ? 'Ready' : p.status?.phase === 'Failed' ? 'Failed' : 'InProgress';
  return {
    name: m.name ?? '',
    namespace: m.namespace ?? '',
    target: m.annotations?.['mirrord.metalbear.co/copy-of'] ?? '',
    scale_down: !!m.annotations?.[SCALED_DEPLOYMENT],
    creator_session: m.annotations?.[CREATOR_SESSION] ?? m.labels?.[SESSION_LABEL] ?? '',
    phase,
    created_at: m.creationTimestamp ? new Date(m.creationTimestamp).getTime() : 0,
    idle_ttl: Math.round(idleTtlMs / 1000),
    ...(m.annotations?.[IDLE_SINCE] ? { idle_since: Date.parse(m.annotations[IDLE_SINCE]) } : {}),
  };
}
