import { invalid } from '#shared/errors/index.js';
import { ledgerCommands, parseRequest } from '#shared/contracts/index.js';
import { LedgerCommand as Verb } from '#shared/nats/subjects.js';
import type { ClientInfo, LedgerCommand } from '../../domain/commands.js';

/** The seed's defaults for the client names a caller left out. */
const clientOf = (c: { client_user: string } & Partial<ClientInfo>): ClientInfo => ({
  client_user: c.client_user,
  client_name: c.client_name ?? c.client_user,
  client_hostname: c.client_hostname ?? 'unknown',
  client_id: c.client_id ?? '',
  user_id: c.user_id ?? '',
  client_cli_version: c.client_cli_version ?? '',
});

/** Drops absent optional fields (the decider copies what is present). */
const defined = <T extends Record<string, unknown>>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** A command body from NATS, parsed by its contract, as the decider's command. */
export function parseCommand(verb: string, b: Record<string, unknown>): LedgerCommand {
  switch (verb) {
    case Verb.start: {
      const { client, ...rest } = parseRequest(ledgerCommands[Verb.start], b);
      return defined({
        type: 'StartSession' as const,
        ...rest,
        client: clientOf(client),
        resume: rest.resume === true ? true : undefined,
      });
    }
    case Verb.reject: {
      const { client, ...rest } = parseRequest(ledgerCommands[Verb.reject], b);
      return defined({ type: 'RejectSession' as const, ...rest, client: clientOf(client) });
    }
    case Verb.copyTarget: {
      const { client, ...rest } = parseRequest(ledgerCommands[Verb.copyTarget], b);
      return defined({ type: 'RecordTargetCopied' as const, ...rest, client: clientOf(client) });
    }
    case Verb.portSubscribe:
      return defined({ type: 'SubscribePort' as const, ...parseRequest(ledgerCommands[Verb.portSubscribe], b) });
    case Verb.portUnsubscribe:
      return { type: 'UnsubscribePort', ...parseRequest(ledgerCommands[Verb.portUnsubscribe], b) };
    case Verb.end:
      return { type: 'EndSession', ...parseRequest(ledgerCommands[Verb.end], b) };
    case Verb.outgoingBlocked:
      return defined({
        type: 'RecordOutgoingBlocked' as const,
        ...parseRequest(ledgerCommands[Verb.outgoingBlocked], b),
      });
    case Verb.queueSplitStart:
      return defined({ type: 'StartQueueSplit' as const, ...parseRequest(ledgerCommands[Verb.queueSplitStart], b) });
    case Verb.queueSplitEnd:
      return { type: 'EndQueueSplit', ...parseRequest(ledgerCommands[Verb.queueSplitEnd], b) };
    case Verb.workloadPatch:
      return { type: 'RecordWorkloadPatched', ...parseRequest(ledgerCommands[Verb.workloadPatch], b) };
    case Verb.workloadRestore:
      return { type: 'RecordWorkloadRestored', ...parseRequest(ledgerCommands[Verb.workloadRestore], b) };
    case Verb.kill:
      return { type: 'KillSession', ...parseRequest(ledgerCommands[Verb.kill], b) };
    case Verb.killAll:
      return defined({ type: 'KillAll' as const, ...parseRequest(ledgerCommands[Verb.killAll], b) });
    default:
      throw invalid('verb', `unknown ledger command "${verb}"`);
  }
}
