import { invalid } from '../errors/index.js';
import {
  AgentKind,
  EndReason,
  EventType,
  ReleaseReason,
  SCHEMA_VERSION,
  type DataOf,
  type LedgerEvent,
} from './types.js';

/**
 * Runtime shape of each event body, kept beside the types so the two cannot drift far:
 * a field missing here is rejected as unknown by the validator's tests.
 */
type FieldKind = 'string' | 'int' | 'bool' | readonly string[];
type FieldSpec = { kind: FieldKind; optional?: true };
type BodySpec<T> = { readonly [K in keyof T]-?: FieldSpec };

const str: FieldSpec = { kind: 'string' };
const optStr: FieldSpec = { kind: 'string', optional: true };
const int: FieldSpec = { kind: 'int' };
const port: FieldSpec = { kind: 'int' };
const client = {
  target: str,
  namespace: str,
  client_hostname: str,
  client_name: str,
  client_user: str,
  client_id: str,
  user_id: str,
  client_cli_version: str,
} as const;

export const bodySpecs: { readonly [T in EventType]: BodySpec<DataOf[T]> } = {
  SessionStarted: {
    ...client,
    config_digest: optStr,
    profile: optStr,
    branch_name: optStr,
    key: optStr,
    agent: { kind: Object.values(AgentKind) },
  },
  TargetCopied: {
    ...client,
    scale_down: { kind: 'bool' },
    copy_pod: str,
    original_replicas: { kind: 'int', optional: true },
  },
  PortStolen: { ...client, port, http_filter: optStr, lock: { kind: 'bool' } },
  PortMirrored: { ...client, port },
  PortReleased: { ...client, port, reason: { kind: Object.values(ReleaseReason) } },
  SessionEnded: {
    ...client,
    session_duration: int,
    reason: { kind: Object.values(EndReason) },
    killed_by: optStr,
  },
  SessionRejected: {
    ...client,
    asked: { kind: ['start', 'port'] },
    port: { kind: 'int', optional: true },
    mode: { kind: ['steal', 'mirror'], optional: true },
    code: str,
    message: str,
    policy: optStr,
    permission: optStr,
    held_by: optStr,
    held_by_user: optStr,
  },
};

const SESSION_ID = /^[0-9A-F]{16}$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkField(path: string, spec: FieldSpec, v: unknown): void {
  if (v === undefined) {
    if (spec.optional) return;
    throw invalid(path, 'is required');
  }
  const k = spec.kind;
  if (k === 'string') {
    if (typeof v !== 'string') throw invalid(path, `expected a string, got ${typeof v}`);
  } else if (k === 'int') {
    if (!Number.isSafeInteger(v) || (v as number) < 0)
      throw invalid(path, `expected a non-negative integer, got ${JSON.stringify(v)}`);
  } else if (k === 'bool') {
    if (typeof v !== 'boolean') throw invalid(path, `expected true or false, got ${JSON.stringify(v)}`);
  } else if (typeof v !== 'string' || !k.includes(v)) {
    throw invalid(path, `expected ${k.map((x) => `"${x}"`).join(' | ')}, got ${JSON.stringify(v)}`);
  }
}

/** Validates an untrusted value (decoded from NATS or SQL) as a LedgerEvent. */
export function validateEvent(v: unknown): LedgerEvent {
  if (!isObj(v)) throw invalid('event', 'expected an object');
  if (v.v !== SCHEMA_VERSION)
    throw invalid(
      'event.v',
      `unsupported schema version ${JSON.stringify(v.v)}`,
      `this build reads v${SCHEMA_VERSION}`,
    );
  if (typeof v.type !== 'string' || !(v.type in bodySpecs))
    throw invalid('event.type', `unknown event type ${JSON.stringify(v.type)}`);
  if (typeof v.id !== 'string' || v.id.length < 16) throw invalid('event.id', 'expected a UUIDv7 string');
  if (typeof v.session_id !== 'string' || !SESSION_ID.test(v.session_id))
    throw invalid('event.session_id', 'expected 16 upper-case hex digits');
  for (const f of ['version', 'position', 'time'] as const) checkField(`event.${f}`, int, v[f]);
  if (!isObj(v.actor)) throw invalid('event.actor', 'expected an object');
  if (!isObj(v.data)) throw invalid('event.data', 'expected an object');
  const spec = bodySpecs[v.type as EventType] as Record<string, FieldSpec>;
  for (const [name, fs] of Object.entries(spec)) checkField(`event.data.${name}`, fs, v.data[name]);
  for (const name of Object.keys(v.data)) {
    if (!(name in spec)) throw invalid(`event.data.${name}`, `unknown field for ${v.type}`);
  }
  return v as unknown as LedgerEvent;
}
