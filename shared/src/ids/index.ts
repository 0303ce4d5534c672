import { randomBytes, randomFillSync } from 'node:crypto';
import { invalid } from '../errors/index.js';

const HEX16 = /^[0-9A-F]{16}$/;
const HEX = /^[0-9a-fA-F]{1,16}$/;
const DEC = /^[0-9]{1,20}$/;
const U64_MAX = (1n << 64n) - 1n;

/** A fresh random u64 session id in its canonical form: 16 upper-case hex digits. */
export function newSessionId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

export function sessionIdFromBigInt(n: bigint): string {
  return n.toString(16).toUpperCase().padStart(16, '0');
}

/** The decimal u64 form the mirrord CLI sends; BigInt because values pass 2^53. */
export function sessionIdToDecimal(id: string): string {
  return BigInt(`0x${id}`).toString(10);
}

/**
 * Every canonical id a user-supplied id may mean, most likely first. A 16-digit string is read
 * as hex (the status table's form); other all-digit strings are the CLI's decimal u64 but may
 * also be unpadded hex, so both are returned and the caller takes the one that exists.
 */
export function sessionIdCandidates(input: string, field = 'id'): string[] {
  const s = input.trim();
  const out: string[] = [];
  if (s.length === 16 && HEX.test(s)) out.push(s.toUpperCase());
  if (DEC.test(s)) {
    const n = BigInt(s);
    if (n <= U64_MAX) out.push(sessionIdFromBigInt(n));
  }
  if (HEX.test(s)) out.push(s.toUpperCase().padStart(16, '0'));
  const uniq = [...new Set(out)];
  if (uniq.length === 0)
    throw invalid(
      field,
      `"${input}" is not a session id`,
      'use the 16 hex digits shown by `kubectl mirrord operator status`, or the decimal u64',
    );
  return uniq;
}

/** Parses the client's `x-session-id` header: a decimal u64 (as the mirrord CLI sends it). */
export function parseClientSessionId(input: string, field = 'x-session-id'): string {
  const s = input.trim();
  if (DEC.test(s)) {
    const n = BigInt(s);
    if (n <= U64_MAX) return sessionIdFromBigInt(n);
  }
  if (HEX16.test(s.toUpperCase()) && /[a-fA-F]/.test(s)) return s.toUpperCase();
  throw invalid(field, `"${input}" is not a u64 session id`, 'send the decimal u64, e.g. 5223478132812231341');
}

// Random bytes come from a pooled buffer: one getrandom call per 256 ids, not one per id.
const pool = Buffer.allocUnsafe(4096);
let poolAt = pool.length;
function randomInto(b: Buffer): void {
  if (poolAt + b.length > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  pool.copy(b, 0, poolAt, poolAt + b.length);
  poolAt += b.length;
}

let lastMs = 0;
let seq = 0;

/**
 * UUIDv7: time-ordered, so event ids sort by creation. A 12-bit counter keeps ids from one
 * process strictly increasing within a millisecond.
 */
export function newEventId(now: number = Date.now()): string {
  let ms = now;
  if (ms <= lastMs) {
    ms = lastMs;
    seq = (seq + 1) & 0xfff;
    if (seq === 0) ms = ++lastMs;
  } else {
    seq = 0;
  }
  lastMs = ms;
  const b = Buffer.allocUnsafe(16);
  randomInto(b);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (seq >> 8);
  b[7] = seq & 0xff;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
