import type { QueueSplitRecord, SessionView } from '#shared/ledger/index.js';
import type { LedgerState, LiveSession, LiveSplit } from './state.js';

/** Splits in a stable order (broker, then queue id), as status shows them. */
export function splitRecords(splits: Iterable<LiveSplit>): QueueSplitRecord[] {
  return [...splits]
    .sort((a, b) => a.queue_type.localeCompare(b.queue_type) || a.queue_id.localeCompare(b.queue_id))
    .map((x) => ({ ...x, message_filter: { ...x.message_filter } }));
}

/** A live session as the `sessions` query shows it (the projection row's shape), from memory. */
export function liveView(s: LiveSession): SessionView {
  const f = s.fields;
  const view: SessionView = {
    id: s.id,
    status: 'live',
    started_at: s.started_at,
    ended_at: null,
    end_reason: null,
    killed_by: null,
    target: f.target,
    namespace: f.namespace,
    client_user: f.client_user,
    client_name: f.client_name,
    client_hostname: f.client_hostname,
    client_id: f.client_id,
    user_id: f.user_id,
    client_cli_version: f.client_cli_version,
    key: s.key ?? null,
    profile: s.profile ?? null,
    branch_name: s.branch_name ?? null,
    seat: s.seat ?? null,
    ci: s.ci ?? null,
    admission: s.admission ?? null,
    ports: [...s.ports.values()]
      .sort((a, b) => a.port - b.port)
      .map((p) => ({
        port: p.port,
        mode: p.mode,
        http_filter: p.http_filter ?? null,
        lock: p.lock ? 1 : 0,
        since: p.since,
      })),
  };
  // Only sessions that split a queue carry the field: most do not, and views are paged by size.
  if (s.splits.size > 0) view.splits = splitRecords(s.splits.values());
  return view;
}

/** Every live session of the state, in id order (the order the query pages by). */
export function liveViews(state: LedgerState): SessionView[] {
  const out: SessionView[] = [];
  for (const s of state.sessions.values()) if (s.status === 'live') out.push(liveView(s));
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
