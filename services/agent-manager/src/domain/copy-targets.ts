import type { CopyTargetReply } from '#shared/contracts/agent-manager.js';
import {
  COPY_IDLE_TTL,
  COPY_KEY,
  COPY_SPEC,
  CREATOR_SESSION,
  CREATOR_USER,
  CREATOR_USER_ID,
  SCALED_DEPLOYMENT,
  SESSION_LABEL,
} from './manifests.js';
import { IDLE_SINCE } from './shared-agents.js';

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

/** A copy's idle TTL: its own (the CLI's `CopyTarget.spec.idle_ttl`), else the operator's. */
export function idleTtlOf(p: CopyPodLike, operatorIdleTtlMs: number): number {
  const own = p.metadata?.annotations?.[COPY_IDLE_TTL];
  return own !== undefined && /^\d+$/.test(own) ? Number(own) * 1000 : operatorIdleTtlMs;
}

/** An idle copy (its session ended) that has outlived the idle TTL. */
export function idleExpired(p: CopyPodLike, now: number, operatorIdleTtlMs: number): boolean {
  const since = p.metadata?.annotations?.[IDLE_SINCE];
  return since !== undefined && now - Date.parse(since) >= idleTtlOf(p, operatorIdleTtlMs);
}

function specOf(p: CopyPodLike): Record<string, unknown> | undefined {
  const raw = p.metadata?.annotations?.[COPY_SPEC];
  if (raw === undefined) return undefined;
  try {
    const spec = JSON.parse(raw) as unknown;
    return spec && typeof spec === 'object' && !Array.isArray(spec) ? (spec as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a copy is this user's: the authenticated user the gateway named when it was made,
 * never a session id (which `copytargets` lists for everyone). A copy made before the user was
 * recorded is recognised by its key, which hashes the user in (without a key to compare: its own).
 */
export function copyOwnedBy(p: CopyPodLike, user: string, key?: string): boolean {
  const a = p.metadata?.annotations ?? {};
  if (a[CREATOR_USER] !== undefined) return a[CREATOR_USER] === user;
  return key === undefined || a[COPY_KEY] === key;
}

/** A copy pod as the `copytargets` resource shows it: Ready once running, Failed if it failed. */
export function copyTargetOf(p: CopyPodLike, idleTtlMs = 0): CopyTargetReply {
  const m = p.metadata ?? {};
  const spec = specOf(p);
  const phase = p.status?.phase === 'Running' ? 'Ready' : p.status?.phase === 'Failed' ? 'Failed' : 'InProgress';
  return {
    name: m.name ?? '',
    namespace: m.namespace ?? '',
    target: m.annotations?.['mirrord.metalbear.co/copy-of'] ?? '',
    scale_down: !!m.annotations?.[SCALED_DEPLOYMENT],
    creator_session: m.annotations?.[CREATOR_SESSION] ?? m.labels?.[SESSION_LABEL] ?? '',
    phase,
    created_at: m.creationTimestamp ? new Date(m.creationTimestamp).getTime() : 0,
    idle_ttl: Math.round(idleTtlOf(p, idleTtlMs) / 1000),
    ...(m.annotations?.[IDLE_SINCE] ? { idle_since: Date.parse(m.annotations[IDLE_SINCE]) } : {}),
    ...(spec ? { spec } : {}),
    ...(m.annotations?.[CREATOR_USER_ID] ? { user_id: m.annotations[CREATOR_USER_ID] } : {}),
    ...(m.annotations?.[CREATOR_USER] ? { client_user: m.annotations[CREATOR_USER] } : {}),
  };
}
