import { Svcm, type Service } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { propagation, context } from '@opentelemetry/api';
import { LedgerCommand, LedgerQuery, commandSubject, querySubject, serveRequest } from '#shared/nats/index.js';
import { parseCommand } from './parse-command.js';
import type { Ledger } from '../../app/ledger.js';
import type { LedgerQueries } from '../../app/ledger-queries.js';
import { ledgerCommands, parseRequest } from '#shared/contracts/index.js';

export const SERVICE = 'ledger';

const currentTraceparent = (): string | undefined => {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
};

/**
 * Registers the ledger's commands and queries as a @nats-io/services service (queue group
 * `ledger`, so replicas share load; PING/INFO/STATS come with the framework).
 */
export async function serveLedger(
  nc: NatsConnection,
  ledger: Ledger,
  queries: LedgerQueries,
  version: string,
  log: Logger,
): Promise<Service> {
  const failed = (f: Record<string, unknown>, m: string) => log.error(f, m);
  const svc = await new Svcm(nc).add({ name: SERVICE, version, queue: SERVICE, description: 'mirrord session ledger' });
  for (const verb of Object.values(LedgerCommand)) {
    svc.addEndpoint(`cmd-${verb}`, {
      subject: commandSubject(SERVICE, verb),
      handler: (err, msg) => {
        if (err) return;
        void serveRequest(
          msg,
          async (body) => {
            if (verb === LedgerCommand.activity) {
              const { session_ids, reporter } = parseRequest(ledgerCommands[LedgerCommand.activity], body);
              return { ended: await ledger.activity(session_ids, reporter) };
            }
            return ledger.execute(parseCommand(verb, body), currentTraceparent());
          },
          failed,
        );
      },
    });
  }
  for (const what of Object.values(LedgerQuery)) {
    svc.addEndpoint(`query-${what}`, {
      subject: querySubject(SERVICE, what),
      handler: (err, msg) => {
        if (err) return;
        void serveRequest(msg, (body) => queries.handle(what, body), failed);
      },
    });
  }
  return svc;
}
