/**
 * The operator status' `sessions` serialised without building and stringifying 10,000 objects
 * per call: each session's JSON is kept in pieces around the numbers that move with the clock.
 * Apart from resources.ts (which builds the objects) so both share the field rules.
 */
import type { SessionView } from '#shared/ledger/index.js';
import type { OperatorSession } from '#shared/contracts/index.js';
import { queueStatus } from './queue-status.js';

export const lockedPorts = (v: SessionView): OperatorSession['locked_ports'] =>
  v.ports.map((p) =>
    p.http_filter
      ? { port: p.port, kind: p.mode, filter: p.http_filter, lock: p.lock === 1 }
      : { port: p.port, kind: p.mode, lock: p.lock === 1 },
  );
export const durationSecs = (v: SessionView, now: number): number =>
  Math.max(0, Math.floor(((v.ended_at ?? now) - v.started_at) / 1000));
export const idleSecs = (now: number, quietSince: number): number => Math.max(0, Math.floor((now - quietSince) / 1000));
export const headerFilter = (v: SessionView): string | null | undefined =>
  v.ports.find((p) => p.http_filter?.startsWith('header='))?.http_filter;

/** An object's members as JSON without its braces, led by a comma (nothing for `{}`). */
export const members = (o: object): string => {
  const s = JSON.stringify(o);
  return s.length > 2 ? `,${s.slice(1, -1)}` : '';
};

/** A session's entry around `duration_secs` and `idle_secs`, and the view it was made from. */
interface Pieces {
  view: SessionView;
  head: string;
  mid: string;
  tail: string;
}

/**
 * Pieces by session id. A hit needs the same view object (the ledger client hands back the
 * same objects while the ledger's version is unchanged) or one whose shown fields are all
 * equal: after a change the ledger sends every session anew, and only the changed ones are
 * rebuilt. Entries of sessions no longer listed are dropped on each call.
 */
let cache = new Map<string, Pieces>();
/** The last list and its pieces in order: the same list again (nothing changed) needs no lookups. */
let last: { sessions: readonly SessionView[]; pieces: Pieces[] } | undefined;

function piecesOf(sessions: readonly SessionView[]): Pieces[] {
  if (last?.sessions === sessions) return last.pieces;
  const next = new Map<string, Pieces>();
  const pieces = sessions.map((v) => {
    let j = cache.get(v.id);
    if (!j || (j.view !== v && !sameShown(j.view, v))) j = build(v);
    next.set(v.id, j);
    return j;
  });
  cache = next;
  last = { sessions, pieces };
  return pieces;
}

const sameShown = (a: SessionView, b: SessionView): boolean =>
  a.client_name === b.client_name &&
  a.client_user === b.client_user &&
  a.client_hostname === b.client_hostname &&
  a.target === b.target &&
  a.namespace === b.namespace &&
  a.user_id === b.user_id &&
  a.key === b.key &&
  a.ports.length === b.ports.length &&
  a.ports.every(
    (p, i) =>
      p.port === b.ports[i]!.port &&
      p.mode === b.ports[i]!.mode &&
      p.http_filter === b.ports[i]!.http_filter &&
      p.lock === b.ports[i]!.lock,
  ) &&
  // Splits are rare and nested: compared as text.
  (a.splits?.length ?? 0) === (b.splits?.length ?? 0) &&
  (!a.splits?.length || JSON.stringify(a.splits) === JSON.stringify(b.splits));

function build(v: SessionView): Pieces {
  const header = headerFilter(v);
  return {
    view: v,
    head: `${JSON.stringify({ id: v.id }).slice(0, -1)},"duration_secs":`,
    mid: members({
      user: `${v.client_name}/${v.client_user}@${v.client_hostname}`,
      target: v.target,
      namespace: v.namespace,
      locked_ports: lockedPorts(v),
      user_id: v.user_id,
      ...(v.key ? { key: v.key } : {}),
    }),
    tail: `${members({
      ...(header ? { http_filter: { headerFilter: header.slice('header='.length) } } : {}),
      ...queueStatus(v),
    })}}`,
  };
}

/**
 * The status' `sessions` as JSON: key for key JSON.stringify of sessionInfo's entries. Grown
 * by `+=` (V8 flattens the rope once): 3× cheaper than a template per entry and a join.
 */
export function sessionsJson(sessions: readonly SessionView[], now: number, quiet?: Record<string, number>): string {
  const pieces = piecesOf(sessions);
  let out = '[';
  for (let i = 0; i < sessions.length; i++) {
    const v = sessions[i]!;
    const j = pieces[i]!;
    if (i > 0) out += ',';
    out += j.head + durationSecs(v, now) + j.mid;
    const quietSince = quiet?.[v.id];
    if (quietSince !== undefined) out += ',"idle_secs":' + idleSecs(now, quietSince);
    out += j.tail;
  }
  return out + ']';
}
