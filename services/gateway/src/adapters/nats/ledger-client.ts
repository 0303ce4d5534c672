import type { NatsConnection } from '@nats-io/nats-core';
import { servicePingSubject, type LedgerCommand } from '#shared/nats/index.js';
import {
  commandContract,
  ledgerCommands,
  ledgerQueries,
  request,
  type CommandReply,
  type ContractReply,
  type EventsQuery,
} from '#shared/contracts/index.js';
import type { AppendLatency } from '#shared/ledger/index.js';
import type { LedgerSessionView } from '../http/resources.js';

type SessionsPage = ContractReply<typeof ledgerQueries.sessions>;

/** The gateway's view of the ledger: typed request-reply over NATS. */
export class LedgerClient {
  readonly #nc: NatsConnection;
  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }
  command(verb: Exclude<LedgerCommand, 'activity'>, body: Record<string, unknown>): Promise<CommandReply> {
    return request(this.#nc, commandContract(verb), body);
  }
  activity(
    sessionIds: string[],
    reporter?: { id: string; interval_ms: number },
  ): Promise<ContractReply<typeof ledgerCommands.activity>> {
    return request(this.#nc, ledgerCommands.activity, { session_ids: sessionIds, ...(reporter ? { reporter } : {}) });
  }
  /**
   * Every live session: the ledger answers in size-bounded pages, gathered here. The last
   * answer is kept per namespace with the ledger's version of it; asking with that version
   * makes an unchanged state one small reply (status polled by many users, 10,000 sessions).
   */
  async sessions(
    namespace?: string,
  ): Promise<{ now: number; sessions: LedgerSessionView[]; quiet: Record<string, number> }> {
    const key = namespace ?? '';
    const cached = this.#sessions.get(key);
    let version: string | undefined;
    let quiet: Record<string, number> = {};
    const r = await this.#allPages(async (after) => {
      const p = await request(this.#nc, ledgerQueries.sessions, {
        ...(namespace ? { namespace } : {}),
        ...(after ? { after } : {}),
        ...(cached && !after ? { known: cached.version } : {}),
      });
      if (!after) {
        version = p.version;
        quiet = p.quiet ?? {};
      }
      return p;
    });
    if (r.unchanged && cached) return { now: r.now, sessions: cached.sessions, quiet };
    if (version) this.#sessions.set(key, { version, sessions: r.sessions });
    else this.#sessions.delete(key);
    return { now: r.now, sessions: r.sessions, quiet };
  }
  readonly #sessions = new Map<string, { version: string; sessions: LedgerSessionView[] }>();
  sessionsAt(at: number, namespace?: string): Promise<{ now: number; sessions: LedgerSessionView[] }> {
    return this.#allPages((after) =>
      request(this.#nc, ledgerQueries.sessionsAt, {
        at,
        ...(namespace ? { namespace } : {}),
        ...(after ? { after } : {}),
      }),
    );
  }
  async #allPages(
    page: (after: string | undefined) => Promise<SessionsPage>,
  ): Promise<{ now: number; sessions: LedgerSessionView[]; unchanged?: boolean }> {
    const out: LedgerSessionView[] = [];
    let now = 0;
    let after: string | undefined;
    do {
      const r = await page(after);
      if (now === 0) now = r.now;
      if (r.unchanged) return { now, sessions: [], unchanged: true };
      out.push(...r.sessions);
      after = r.next;
    } while (after !== undefined);
    // Pages come in id order; lists read best oldest first.
    out.sort((a, b) => a.started_at - b.started_at || (a.id < b.id ? -1 : 1));
    return { now, sessions: out };
  }
  appendLatency(): Promise<AppendLatency> {
    return request(this.#nc, ledgerQueries.appendLatency, {});
  }
  session(id: string): Promise<ContractReply<typeof ledgerQueries.session>> {
    return request(this.#nc, ledgerQueries.session, { id });
  }
  events(filter: EventsQuery): Promise<ContractReply<typeof ledgerQueries.events>> {
    return request(this.#nc, ledgerQueries.events, filter);
  }
  /** The ledger answers the services framework's PING (no store work): readiness. */
  async ping(timeoutMs = 1000): Promise<boolean> {
    try {
      await this.#nc.request(servicePingSubject('ledger'), new Uint8Array(), { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }
  statistics(at?: number): Promise<ContractReply<typeof ledgerQueries.statistics>> {
    return request(this.#nc, ledgerQueries.statistics, at === undefined ? {} : { at });
  }
  /** Distinct seats of the sessions live at some moment in [from, to). */
  async seats(from: number, to: number): Promise<number> {
    return (await request(this.#nc, ledgerQueries.seats, { from, to })).seats;
  }
}
