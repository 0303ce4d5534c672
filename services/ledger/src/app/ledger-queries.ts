import { invalid } from '#shared/errors/index.js';
import type { LedgerEvent } from '#shared/events/index.js';
import { LedgerQuery } from '#shared/nats/subjects.js';
import { ledgerQueries, parseRequest } from '#shared/contracts/index.js';
import { REPLY_BUDGET_BYTES } from '#shared/nats/rpc.js';
import { DURATION_BUCKETS, type AppendLatency, type SessionView } from '#shared/ledger/index.js';
import type { EventFilter, EventLog, SessionReadModels, StoreIdentity, UsageReads } from '../domain/store.js';

/** What the queries read: the log, the read models, the seat count and the store's identity. */
type QueryPorts = Pick<EventLog, 'readStream' | 'queryEvents'> &
  SessionReadModels &
  Pick<UsageReads, 'seatsBetween'> &
  Pick<StoreIdentity, 'storeId'>;
import { portsAt, splitsAt } from '../domain/status-at.js';

const DAY = 24 * 60 * 60 * 1000;
const MAX_PAGE = 1000;

/**
 * Bytes an item adds to a reply (JSON is an upper bound of its msgpack size), remembered per
 * object: the writer's live views stay the same objects until the state changes, so paging
 * through 10,000 sessions measures each once, not once per page.
 */
const sizes = new WeakMap<object, number>();
const sizeOf = (v: unknown): number => {
  if (typeof v !== 'object' || v === null) return Buffer.byteLength(JSON.stringify(v));
  let n = sizes.get(v);
  if (n === undefined) sizes.set(v, (n = Buffer.byteLength(JSON.stringify(v))));
  return n;
};

/** How many leading items fit the reply budget (at least one, so a page always moves on). */
function fit(items: readonly unknown[]): number {
  let used = 0;
  for (let i = 0; i < items.length; i++) {
    used += sizeOf(items[i]);
    if (used > REPLY_BUDGET_BYTES && i > 0) return i;
  }
  return items.length;
}

/** A size-bounded page with the cursor of its last item when more remain. */
function page<T>(items: readonly T[], key: (t: T) => string): { sessions: T[]; next?: string } {
  const n = fit(items);
  return n < items.length ? { sessions: items.slice(0, n), next: key(items[n - 1]!) } : { sessions: items.slice() };
}

/** Index of the first session whose id sorts after `id` (binary search over id order). */
function firstAfter(sorted: readonly SessionView[], id: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.id <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Read side of the ledger, served from its projections and the event table. */
export class LedgerQueries {
  readonly #store: QueryPorts;
  readonly #now: () => number;
  readonly #appendLatency: (() => AppendLatency) | undefined;
  readonly #live: (() => { version: string; views: readonly SessionView[] }) | undefined;
  readonly #quiet: (() => Record<string, number>) | undefined;

  /**
   * `live`: the writer's in-memory live sessions in id order (Ledger.liveSessions); without it
   * (tools, replay checks) live sessions are read from the store.
   */
  constructor(
    store: QueryPorts,
    now: () => number = Date.now,
    appendLatency?: () => AppendLatency,
    live?: () => { version: string; views: readonly SessionView[] },
    quiet?: () => Record<string, number>,
  ) {
    this.#store = store;
    this.#now = now;
    this.#appendLatency = appendLatency;
    this.#live = live;
    this.#quiet = quiet;
  }

  async liveSessions(namespace?: string): Promise<SessionView[]> {
    const { sessions, ports } = await this.#store.liveSessions(namespace);
    const byId = new Map<string, SessionView>(sessions.map((s) => [s.id, { ...s, ports: [] }]));
    for (const p of ports)
      byId
        .get(p.session_id)
        ?.ports.push({ port: p.port, mode: p.mode, http_filter: p.http_filter, lock: p.lock, since: p.since });
    return [...byId.values()];
  }

  /** `{quiet}` for the sessions query's first page: the namespace's quiet sessions, if any. */
  #quietIn(namespace: string | undefined, views: readonly SessionView[] | undefined) {
    const all = this.#quiet?.();
    if (!all) return undefined;
    const ids = Object.keys(all);
    if (ids.length === 0) return undefined;
    if (namespace === undefined) return { quiet: all };
    const inNs = new Set((views ?? []).filter((v) => v.namespace === namespace).map((v) => v.id));
    const quiet = Object.fromEntries(ids.filter((id) => inNs.has(id)).map((id) => [id, all[id]!]));
    return Object.keys(quiet).length ? { quiet } : undefined;
  }

  async handle(what: string, body: Record<string, unknown>): Promise<unknown> {
    // Every body is parsed by its contract (shared/src/contracts), as the callers declare it.
    const q = ledgerQueries;
    switch (what) {
      case LedgerQuery.sessions: {
        // Paged by size (id order): one reply never approaches the bus' max_payload.
        const { after, namespace, known } = parseRequest(q.sessions, body);
        const live = this.#live?.();
        const quiet = after === undefined ? this.#quietIn(namespace, live?.views) : undefined;
        if (live && known === live.version && after === undefined)
          return { now: this.#now(), sessions: [], version: live.version, unchanged: true, ...quiet };
        const all = live
          ? live.views
          : (await this.liveSessions()).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        const inNs = namespace === undefined ? all : all.filter((s) => s.namespace === namespace);
        const from = after === undefined ? inNs : inNs.slice(firstAfter(inNs, after));
        return {
          now: this.#now(),
          ...(live ? { version: live.version } : {}),
          ...quiet,
          ...page(from, (s) => s.id),
        };
      }
      case LedgerQuery.session: {
        // The session alone: its events are read page by page through `events`.
        const { id } = parseRequest(q.session, body);
        const row = await this.#store.sessionRow(id);
        let session: SessionView | null = null;
        if (row) {
          const live =
            row.status === 'live' ? (await this.liveSessions(row.namespace)).find((s) => s.id === id) : undefined;
          session = live ?? { ...row, ports: [] };
          // Splits have no table: the one session's stream has them.
          if (session.status === 'live') {
            const splits = splitsAt(await this.#store.readStream(id));
            if (splits.length > 0) session = { ...session, splits };
          }
        }
        return { now: this.#now(), session };
      }
      case LedgerQuery.events: {
        const { limit: asked, ...filters } = parseRequest(q.events, body);
        const limit = Math.min(asked ?? 100, MAX_PAGE);
        const f: EventFilter = { limit: limit + 1 };
        for (const [k, v] of Object.entries(filters))
          if (v !== undefined) (f as unknown as Record<string, unknown>)[k] = v;
        const rows: LedgerEvent[] = await this.#store.queryEvents(f);
        const n = Math.min(limit, fit(rows));
        const events = n < rows.length ? rows.slice(0, n) : rows;
        return n < rows.length ? { events, next: events[events.length - 1]!.position } : { events };
      }
      case LedgerQuery.statistics: {
        // As of `at` (`status --at`) or now: the users of the day and of the 30 days before it.
        const { at } = parseRequest(q.statistics, body);
        const to = at ?? this.#now();
        const [dau, mau] = await Promise.all([
          this.#store.distinctUsersBetween(to - DAY, to),
          this.#store.distinctUsersBetween(to - 30 * DAY, to),
        ]);
        return { dau, mau };
      }
      case LedgerQuery.seats: {
        const { from, to } = parseRequest(q.seats, body);
        if (to <= from) throw invalid('to', `must be after from (${from})`);
        return { seats: await this.#store.seatsBetween(from, to) };
      }
      case LedgerQuery.sessionsAt: {
        // The status table as it was at `at`, rebuilt from the sessions and their events.
        const { at, after, namespace } = parseRequest(q.sessionsAt, body);
        const rows = (await this.#store.sessionsLiveAt(at, namespace))
          .filter((r) => after === undefined || r.id > after)
          .sort((a, b) => (a.id < b.id ? -1 : 1));
        const sessions: SessionView[] = [];
        let used = 0;
        for (const row of rows) {
          const stream = await this.#store.readStream(row.id);
          const v: SessionView = {
            ...row,
            status: 'live',
            ended_at: null,
            end_reason: null,
            killed_by: null,
            ports: portsAt(stream, at),
          };
          const splits = splitsAt(stream, at);
          if (splits.length > 0) v.splits = splits;
          used += sizeOf(v);
          if (used > REPLY_BUDGET_BYTES && sessions.length > 0)
            return { now: at, sessions, next: sessions[sessions.length - 1]!.id };
          sessions.push(v);
        }
        return { now: at, sessions };
      }
      case LedgerQuery.metrics:
        return {
          ...(await this.#store.metricsSnapshot(DURATION_BUCKETS, this.#now())),
          ledger_id: await this.#store.storeId(),
        };
      case LedgerQuery.appendLatency:
        if (!this.#appendLatency) throw invalid('query', 'this ledger does not measure append latency');
        return this.#appendLatency();
      default:
        throw invalid('query', `unknown ledger query "${what}"`);
    }
  }
}
