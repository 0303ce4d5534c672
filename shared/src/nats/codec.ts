import { Packr } from 'msgpackr';
import { invalid } from '../errors/index.js';

/** Payloads larger than this are refused before decoding (NATS' default max_payload is 1 MiB). */
export const MAX_PAYLOAD = 1024 * 1024;
export const WIRE_VERSION = 1;

// One Packr for the process: it is reused on the hot path and never shares structures across
// messages, so any peer can decode any message on its own.
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

export function encode(value: Record<string, unknown>): Uint8Array {
  return packr.pack({ v: WIRE_VERSION, ...value });
}

/** Decodes and checks the schema version; garbled or oversized input is a named Invalid. */
export function decode(data: Uint8Array, field = 'payload'): Record<string, unknown> {
  if (data.length > MAX_PAYLOAD) throw invalid(field, `message of ${data.length} bytes exceeds ${MAX_PAYLOAD}`);
  let v: unknown;
  try {
    v = packr.unpack(data);
  } catch (e) {
    throw invalid(field, `not valid msgpack (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, 'expected a msgpack map');
  const o = v as Record<string, unknown>;
  if (o.v !== WIRE_VERSION)
    throw invalid(`${field}.v`, `unsupported version ${JSON.stringify(o.v)}`, `expected ${WIRE_VERSION}`);
  return o;
}

/** Raw codec access for the event log, whose rows carry their own `v`. */
export const packValue = (v: unknown): Uint8Array => packr.pack(v);
export const unpackValue = (b: Uint8Array): unknown => packr.unpack(b);
