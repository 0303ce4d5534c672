import type { Actor, DataOf, EndReason, ReleaseReason } from '#shared/events/index.js';
import type { EndSession } from './commands.js';
import { clientActor, type Emitter } from './emitter.js';
import type { LedgerState, LiveSession } from './state.js';

/**
 * Every way a live session ends, in one place: what ends it decides the reason recorded, who
 * the end is recorded as done by, and why its ports are released.
 */
export type EndCause =
  /** The client (or, for SetupFailed, the queue-splitter on its behalf) ends it: EndSession. */
  | { by: 'client'; reason: EndSession['reason'] }
  /** An operator's kill: KillSession, or KillAll (all, a namespace's, the inactive ones). */
  | { by: 'kill'; who: string }
  /** Another session stole its port with on_concurrent_steal: override. */
  | { by: 'override'; session: string; actor: Actor }
  /** The ledger's clock: no client seen for the unused TTL, or past SESSION_MAX_SECONDS. */
  | { by: 'expiry'; reason: 'Unused' | 'TimeLimitExceeded' };

interface End {
  reason: EndReason;
  release: ReleaseReason;
  actor: Actor;
  killedBy?: string;
}

/** The one function that decides an end: its reason, its actor, its ports' release reason. */
export function endOf(s: LiveSession, cause: EndCause): End {
  switch (cause.by) {
    case 'client':
      // A split that could not be set up is the queue-splitter's finding, not the client's.
      return {
        reason: cause.reason,
        release: 'SessionEnded',
        actor: cause.reason === 'SetupFailed' ? { system: 'queue-splitter' } : clientActor(s.fields),
      };
    case 'kill':
      return { reason: 'Killed', release: 'SessionEnded', actor: { client_user: cause.who }, killedBy: cause.who };
    case 'override':
      return { reason: 'Overridden', release: 'Overridden', actor: cause.actor, killedBy: cause.session };
    case 'expiry':
      return { reason: cause.reason, release: 'SessionEnded', actor: { system: 'expiry' } };
    default: {
      const never: never = cause;
      throw new Error(`unknown end cause ${JSON.stringify(never)}`);
    }
  }
}

/** Releases every held port, then ends the session: the order the seed's log shows. */
export function endSession(out: Emitter, s: LiveSession, cause: EndCause): void {
  const end = endOf(s, cause);
  for (const held of s.ports.values())
    out.emit('PortReleased', s.id, s.version, end.actor, { ...s.fields, port: held.port, reason: end.release });
  const data: DataOf['SessionEnded'] = {
    ...s.fields,
    session_duration: Math.max(0, Math.floor((out.ctx.now - s.started_at) / 1000)),
    reason: end.reason,
  };
  if (end.killedBy !== undefined) data.killed_by = end.killedBy;
  out.emit('SessionEnded', s.id, s.version, end.actor, data);
}

/** What the ledger's clock ends a live session for, if anything, at `now`. */
export function dueEnd(
  s: LiveSession,
  lastSeen: number | undefined,
  now: number,
  ttlMs: number,
  maxSessionMs: number | undefined,
): 'Unused' | 'TimeLimitExceeded' | undefined {
  if (maxSessionMs !== undefined && now - s.started_at > maxSessionMs) return 'TimeLimitExceeded';
  // A live session without a recorded activity counts as active now (the caller seeds
  // activity at start and at restart).
  if (lastSeen !== undefined && now - lastSeen > ttlMs) return 'Unused';
  return undefined;
}

/** Live sessions the clock ends now (dueEnd), with their reason. */
export function expiredSessions(
  state: LedgerState,
  lastActivity: ReadonlyMap<string, number>,
  now: number,
  ttlMs: number,
  maxSessionMs?: number,
): Array<{ id: string; reason: 'Unused' | 'TimeLimitExceeded' }> {
  const out: Array<{ id: string; reason: 'Unused' | 'TimeLimitExceeded' }> = [];
  for (const [id, s] of state.sessions) {
    if (s.status !== 'live') continue;
    const reason = dueEnd(s, lastActivity.get(id), now, ttlMs, maxSessionMs);
    if (reason) out.push({ id, reason });
  }
  return out;
}
