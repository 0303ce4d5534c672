import type { SessionView as LedgerSessionView } from '#shared/ledger/index.js';
import { formatDottedTarget, lockTargetOf, parseTarget } from '#shared/targets/index.js';
import type { PortLock } from '#shared/contracts/http.js';
import { API_VERSION } from './resources.js';

/** The ledger's port locks as the `targets/port-locks` resource (its schema: operator-api.ts). */
export function portLocks(
  sessions: readonly LedgerSessionView[],
  filter: { namespace?: string; target?: string } = {},
): PortLock[] {
  const byKey = new Map<string, PortLock>();
  for (const s of sessions) {
    if (s.status !== 'live') continue;
    if (filter.namespace !== undefined && s.namespace !== filter.namespace) continue;
    const target = lockTargetOf(s.target);
    if (filter.target !== undefined && target !== filter.target) continue;
    for (const p of s.ports) {
      if (p.mode !== 'steal') continue;
      const key = `${s.namespace}\u0000${target}\u0000${p.port}`;
      let l = byKey.get(key);
      if (!l) {
        const dotted = formatDottedTarget(parseTarget(target));
        l = {
          apiVersion: API_VERSION,
          kind: 'PortLock',
          metadata: { name: `${dotted}.${p.port}`, namespace: s.namespace },
          spec: { target, port: p.port },
          status: { exclusive: false, holders: [] },
        };
        byKey.set(key, l);
      }
      l.status.holders.push({
        session_id: s.id,
        user: `${s.client_name}/${s.client_user}@${s.client_hostname}`,
        filter: p.http_filter,
        lock: p.lock === 1,
        since: new Date(p.since).toISOString(),
      });
      if (p.lock === 1 && !p.http_filter) l.status.exclusive = true;
    }
  }
  // Holders in the order they took the port (the first is the one a later steal hears about).
  for (const l of byKey.values())
    l.status.holders.sort((a, b) =>
      a.since < b.since ? -1 : a.since > b.since ? 1 : a.session_id < b.session_id ? -1 : 1,
    );
  return [...byKey.values()].sort((a, b) =>
    a.metadata.namespace + a.metadata.name < b.metadata.namespace + b.metadata.name ? -1 : 1,
  );
}
