import type { LedgerState } from './state.js';

/**
 * Live sessions whose last activity is older than the unused TTL. A live session without a
 * recorded activity counts as active now (the caller seeds activity at start and at restart).
 */
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
    if (maxSessionMs !== undefined && now - s.started_at > maxSessionMs) {
      out.push({ id, reason: 'TimeLimitExceeded' });
      continue;
    }
    const seen = lastActivity.get(id);
    if (seen !== undefined && now - seen > ttlMs) out.push({ id, reason: 'Unused' });
  }
  return out;
}
