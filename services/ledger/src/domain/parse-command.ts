import { invalid } from '#shared/errors/index.js';
import { AgentKind, type AgentKind as AgentKindT } from '#shared/events/index.js';
import { isCanonicalSessionId } from '#shared/ids/index.js';
import { LedgerCommand as Verb } from '#shared/nats/subjects.js';
import { onConcurrentStealValues, type ClientInfo, type LedgerCommand, type OnConcurrentSteal } from './commands.js';

/** Boundary validation of command bodies arriving over NATS: every error names its field. */
type Body = Record<string, unknown>;

const str = (b: Body, k: string): string => {
  const v = b[k];
  if (typeof v !== 'string') throw invalid(k, `expected a string, got ${v === undefined ? 'nothing' : typeof v}`);
  return v;
};
const optStr = (b: Body, k: string): string | undefined =>
  b[k] === undefined || b[k] === null ? undefined : str(b, k);
const int = (b: Body, k: string): number => {
  const v = b[k];
  if (!Number.isInteger(v)) throw invalid(k, `expected an integer, got ${JSON.stringify(v)}`);
  return v as number;
};
const sessionId = (b: Body, k = 'session_id'): string => {
  const v = str(b, k);
  if (!isCanonicalSessionId(v)) throw invalid(k, `"${v}" is not 16 upper-case hex digits`);
  return v;
};
const oneOf = <T extends string>(b: Body, k: string, values: readonly T[], dflt?: T): T => {
  const v = b[k] ?? dflt;
  if (typeof v !== 'string' || !values.includes(v as T))
    throw invalid(k, `expected ${values.map((x) => `"${x}"`).join(' | ')}, got ${JSON.stringify(v)}`);
  return v as T;
};

function client(b: Body): ClientInfo {
  const c = b.client;
  if (typeof c !== 'object' || c === null)
    throw invalid('client', 'expected an object with client_user, client_name, …');
  const o = c as Body;
  const user = str(o, 'client_user');
  if (user === '') throw invalid('client.client_user', 'is empty');
  return {
    client_user: user,
    client_name: optStr(o, 'client_name') ?? user,
    client_hostname: optStr(o, 'client_hostname') ?? 'unknown',
    client_id: optStr(o, 'client_id') ?? '',
    user_id: optStr(o, 'user_id') ?? '',
    client_cli_version: optStr(o, 'client_cli_version') ?? '',
  };
}

/** The fields every session-creating command carries. */
const sessionBase = (b: Body) => ({
  session_id: sessionId(b),
  target: str(b, 'target'),
  namespace: str(b, 'namespace'),
  client: client(b),
});

export function parseCommand(verb: string, b: Body): LedgerCommand {
  switch (verb) {
    case Verb.start: {
      const cmd: LedgerCommand = {
        type: 'StartSession',
        ...sessionBase(b),
        agent: oneOf<AgentKindT>(b, 'agent', Object.values(AgentKind), 'none'),
      };
      for (const k of ['config_digest', 'profile', 'branch_name', 'key'] as const) {
        const v = optStr(b, k);
        if (v !== undefined) cmd[k] = v;
      }
      if (b.resume !== undefined && typeof b.resume !== 'boolean') throw invalid('resume', 'expected true or false');
      if (b.resume === true) cmd.resume = true;
      return cmd;
    }
    case Verb.reject: {
      const cmd: LedgerCommand = {
        type: 'RejectSession',
        ...sessionBase(b),
        asked: oneOf(b, 'asked', ['start', 'port'] as const),
        code: str(b, 'code'),
        message: str(b, 'message'),
      };
      if (b.port !== undefined) cmd.port = int(b, 'port');
      if (b.mode !== undefined) cmd.mode = oneOf(b, 'mode', ['steal', 'mirror'] as const);
      const policy = optStr(b, 'policy');
      if (policy !== undefined) cmd.policy = policy;
      const permission = optStr(b, 'permission');
      if (permission !== undefined) cmd.permission = permission;
      return cmd;
    }
    case Verb.copyTarget: {
      const cmd: LedgerCommand = {
        type: 'RecordTargetCopied',
        ...sessionBase(b),
        scale_down: b.scale_down === true,
        copy_pod: str(b, 'copy_pod'),
      };
      if (b.original_replicas !== undefined) cmd.original_replicas = int(b, 'original_replicas');
      return cmd;
    }
    case Verb.portSubscribe: {
      const cmd: LedgerCommand = {
        type: 'SubscribePort',
        session_id: sessionId(b),
        client_user: str(b, 'client_user'),
        port: int(b, 'port'),
        mode: oneOf(b, 'mode', ['steal', 'mirror'] as const),
        on_concurrent_steal: oneOf<OnConcurrentSteal>(b, 'on_concurrent_steal', onConcurrentStealValues, 'abort'),
      };
      const f = optStr(b, 'http_filter');
      if (f !== undefined) cmd.http_filter = f;
      return cmd;
    }
    case Verb.portUnsubscribe:
      return {
        type: 'UnsubscribePort',
        session_id: sessionId(b),
        client_user: str(b, 'client_user'),
        port: int(b, 'port'),
      };
    case Verb.end:
      return {
        type: 'EndSession',
        session_id: sessionId(b),
        client_user: str(b, 'client_user'),
        reason: oneOf(
          b,
          'reason',
          ['ClientClosed', 'SetupDeadlineExceeded', 'TimeLimitExceeded'] as const,
          'ClientClosed',
        ),
      };
    case Verb.kill:
      return { type: 'KillSession', session_id: sessionId(b), by: str(b, 'by') };
    case Verb.killAll: {
      const ns = optStr(b, 'namespace');
      return ns === undefined
        ? { type: 'KillAll', by: str(b, 'by') }
        : { type: 'KillAll', by: str(b, 'by'), namespace: ns };
    }
    default:
      throw invalid('verb', `unknown ledger command "${verb}"`);
  }
}
