import type { NatsConnection } from '@nats-io/nats-core';
import { call, commandSubject, LedgerCommand, LedgerQuery, querySubject } from '../../../../../shared/src/nats/index.js';
import type { LedgerEvent } from '../../../../../shared/src/events/index.js';
import type { AppendLatency } from '../../../../../shared/src/ledger/index.js';
import type { LedgerSessionView } from '../../domain/resources.js';

export interface CommandReply {
  events: Array<{ id: string; type: string; session_id: string; position: number }>;
  warnings: string[];
  resumed?: boolean;
}

/** The gateway's view of the ledger: typed request-reply over NATS. */
export class LedgerClient {
  readonly #nc: NatsConnection;
  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }
  command(verb: LedgerCommand, body: Record<string, unknown>): Promise<CommandReply> {
    return call<CommandReply>(this.#nc, commandSubject('ledger', verb), body);
  }
  activity(sessionIds: string[]): Promise<{ ended: Array<{ id: string; reason: string }> }> {
    return call(this.#nc, commandSubject('ledger', LedgerCommand.activity), { session_ids: sessionIds });
  }
  sessions(namespace?: string): Promise<{ now: number; sessions: LedgerSessionView[] }> {
    return call(this.#nc, querySubject('ledger', LedgerQuery.sessions), namespace ? { namespace } : {});
  }
  sessionsAt(at: number, namespace?: string): Promise<{ now: number; sessions: LedgerSessionView[] }> {
    return call(this.#nc, querySubject('ledger', LedgerQuery.sessionsAt), namespace ? { at, namespace } : { at }, 30_000);
  }
  appendLatency(): Promise<AppendLatency> {
    return call(this.#nc, querySubject('ledger', LedgerQuery.appendLatency), {});
  }
  session(id: string): Promise<{ now: number; session: LedgerSessionView | null; events: LedgerEvent[] }> {
    return call(this.#nc, querySubject('ledger', LedgerQuery.session), { id });
  }
  events(filter: Record<string, unknown>): Promise<{ events: LedgerEvent[]; next?: number }> {
    return call(this.#nc, querySubject('ledger', LedgerQuery.events), filter);
  }
  /** The ledger answers the services framework's PING (no store work): readiness. */
  async ping(timeoutMs = 1000): Promise<boolean> {
    try {
      await this.#nc.request('$SRV.PING.ledger', new Uint8Array(), { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }
  statistics(): Promise<{ dau: number; mau: number }> {
    return call(this.#nc, querySubject('ledger', LedgerQuery.statistics), {}, 2000);
  }
}
