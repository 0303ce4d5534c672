import { lockKey, type LedgerState, type LiveSession } from './state.js';

export interface LockConflict {
  holder: LiveSession;
  http_filter?: string;
}

/**
 * The port-lock rules of architecture.md: an unfiltered steal needs the key free of any other
 * locked steal; a filtered steal conflicts with an unfiltered one and with an identical filter.
 */
export function findConflicts(
  state: LedgerState,
  me: LiveSession,
  port: number,
  filter: string | undefined,
): LockConflict[] {
  const holders = state.locks.get(lockKey(me.fields.namespace, me.lock_target, port));
  if (!holders) return [];
  const out: LockConflict[] = [];
  for (const id of holders) {
    if (id === me.id) continue;
    const s = state.sessions.get(id);
    if (s?.status !== 'live') continue;
    const held = s.ports.get(port);
    if (!held?.lock) continue;
    const clash = filter === undefined || held.http_filter === undefined || held.http_filter === filter;
    if (clash) out.push(held.http_filter === undefined ? { holder: s } : { holder: s, http_filter: held.http_filter });
  }
  return out;
}

/**
 * Warnings for a filtered steal that coexists with earlier filters which already match
 * everything it would. Regex containment is undecidable in general; this catches the common
 * case of an earlier filter that is a literal prefix followed by `.*` / `.+` (or just `.*`).
 */
export function shadowWarnings(state: LedgerState, me: LiveSession, port: number, filter: string): string[] {
  const holders = state.locks.get(lockKey(me.fields.namespace, me.lock_target, port));
  if (!holders) return [];
  const warnings: string[] = [];
  for (const id of holders) {
    if (id === me.id) continue;
    const s = state.sessions.get(id);
    const held = s?.status === 'live' ? s.ports.get(port) : undefined;
    if (!held?.http_filter || !covers(held.http_filter, filter)) continue;
    warnings.push(
      `session ${id} already steals port ${port} with filter ${held.http_filter}, which matches every request filter ${filter} would; requests go to the earlier session`,
    );
  }
  return warnings;
}

function covers(earlier: string, later: string): boolean {
  const m = /^(header=|path=)\^?(.*?)(\.\*|\.\+)\$?$/.exec(earlier);
  if (!m) return false;
  const [, kind, prefix] = m;
  if (!later.startsWith(kind!)) return false;
  if (/[\\.*+?()[\]{}|^$]/.test(prefix!)) return false;
  const body = later.slice(kind!.length).replace(/^\^/, '');
  return body.startsWith(prefix!) && body.length > prefix!.length;
}
