import { invalid } from '../../../shared/src/errors/index.js';
import type { LedgerEvent } from '../../../shared/src/events/index.js';
import { isCanonicalSessionId } from '../../../shared/src/ids/index.js';
import { LedgerQuery } from '../../../shared/src/nats/subjects.js';
import { DURATION_BUCKETS, type AppendLatency, type SessionView } from '../../../shared/src/ledger/index.js';
import type { EventFilter, LedgerStore } from './domain/store.js';
import { portsAt } from './domain/status-at.js';


const DAY = 24 * 60 * 60 * 1000;
const MAX_PAGE = 1000;

/** Read side of the ledger, served from its projections and the event table. */
export class LedgerQueries {
  readonly #store: LedgerStore;
  readonly #now: () => number;
  readonly #appendLatency: (() => AppendLatency) | undefined;

  constructor(store: LedgerStore, now: () => number = Date.now, appendLatency?: () => AppendLatency) {
    this.#store = store;
    this.#now = now;
    this.#appendLatency = appendLatency;
  }

  async liveSessions(namespace?: string): Promise<SessionView[]> {
    const { sessions, ports } = await this.#store.liveSessions(namespace);
    const byId = new Map<string, SessionView>(sessions.map((s) => [s.id, { ...s, ports: [] }]));
    for (const p of ports) byId.get(p.session_id)?.ports.push({ port: p.port, mode: p.mode, http_filter: p.http_filter, lock: p.lock, since: p.since });
    return [...byId.values()];
  }

  async handle(what: string, body: Record<string, unknown>): Promise<unknown> {
    const optStr = (k: string): string | undefined => {
      const v = body[k];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'string') throw invalid(k, 'expected a string');
      return v;
    };
    const optInt = (k: string): number | undefined => {
      const v = body[k];
      if (v === undefined || v === null) return undefined;
      if (!Number.isSafeInteger(v)) throw invalid(k, 'expected an integer');
      return v as number;
    };
    switch (what) {
      case LedgerQuery.sessions:
        return { now: this.#now(), sessions: await this.liveSessions(optStr('namespace')) };
      case LedgerQuery.session: {
        const id = optStr('id') ?? '';
        if (!isCanonicalSessionId(id)) throw invalid('id', `"${id}" is not 16 upper-case hex digits`);
        const row = await this.#store.sessionRow(id);
        const events = await this.#store.readStream(id);
        let session: SessionView | null = null;
        if (row) {
          const live = row.status === 'live' ? (await this.liveSessions(row.namespace)).find((s) => s.id === id) : undefined;
          session = live ?? { ...row, ports: [] };
        }
        return { now: this.#now(), session, events };
      }
      case LedgerQuery.events: {
        const limit = Math.min(optInt('limit') ?? 100, MAX_PAGE);
        if (limit < 1) throw invalid('limit', 'must be at least 1');
        const f: EventFilter = { limit: limit + 1 };
        for (const k of ['session_id', 'client_user', 'target', 'namespace'] as const) {
          const v = optStr(k);
          if (v !== undefined) f[k] = v;
        }
        for (const k of ['since', 'until', 'after'] as const) {
          const v = optInt(k);
          if (v !== undefined) f[k] = v;
        }
        const rows: LedgerEvent[] = await this.#store.queryEvents(f);
        const more = rows.length > limit;
        const events = more ? rows.slice(0, limit) : rows;
        return more ? { events, next: events[events.length - 1]!.position } : { events };
      }
      case LedgerQuery.statistics: {
        const now = this.#now();
        const [dau, mau] = await Promise.all([this.#store.distinctUsersSince(now - DAY), this.#store.distinctUsersSince(now - 30 * DAY)]);
        return { dau, mau };
      }
      case LedgerQuery.sessionsAt: {
        // The status table as it was at `at`, rebuilt from the sessions and their events.
        const at = optInt('at');
        if (at === undefined) throw invalid('at', 'is required (ms since the epoch)');
        const rows = await this.#store.sessionsLiveAt(at, optStr('namespace'));
        const sessions: SessionView[] = [];
        for (const row of rows) sessions.push({ ...row, status: 'live', ended_at: null, end_reason: null, killed_by: null, ports: portsAt(await this.#store.readStream(row.id), at) });
        return { now: at, sessions };
      }
      case LedgerQuery.metrics:
        return this.#store.metricsSnapshot(DURATION_BUCKETS, this.#now());
      case LedgerQuery.appendLatency:
        if (!this.#appendLatency) throw invalid('query', 'this ledger does not measure append latency');
        return this.#appendLatency();
      default:
        throw invalid('query', `unknown ledger query "${what}"`);
    }
  }
}
