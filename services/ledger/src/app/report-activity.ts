import type { LedgerState } from '../domain/state.js';
import type { SessionReadModels } from '../domain/store.js';
import type { Liveness, Reporter } from './liveness.js';
import type { StoreHealth } from './store-health.js';

export interface ActivityDeps {
  store: Pick<SessionReadModels, 'sessionRow'>;
  liveness: Liveness;
  health: StoreHealth;
  state: LedgerState;
  now: number;
  /**
   * Memory matches the store. Memory that diverged (a failed append) may show as ended a
   * session whose end was never recorded: until it is rebuilt, nothing is reported gone.
   */
  trusted: boolean;
}

/**
 * A gateway's batched liveness report. Returns the reported sessions that are no longer live,
 * so the gateway can close their connections even if it missed the Session Ended event.
 */
export async function reportActivity(
  d: ActivityDeps,
  sessionIds: string[],
  by?: Reporter,
): Promise<Array<{ id: string; reason: string }>> {
  if (by) d.liveness.heard(by, d.now);
  const gone: Array<{ id: string; reason: string }> = [];
  const unknown: string[] = [];
  for (const id of sessionIds) {
    const s = d.state.sessions.get(id);
    if (s?.status === 'live') d.liveness.reported(id, d.now, by);
    else if (s?.status === 'ended') {
      if (d.trusted) gone.push({ id, reason: s.reason });
    } else if (d.trusted) unknown.push(id);
  }
  for (const id of unknown) {
    try {
      const row = await d.store.sessionRow(id);
      gone.push({ id, reason: row?.end_reason ?? 'NotFound' });
    } catch (e) {
      // Not known to be gone: asked again with the next report.
      d.health.failed(e, 'activity');
      break;
    }
  }
  return gone;
}
