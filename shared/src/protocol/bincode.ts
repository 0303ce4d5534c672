/**
 * bincode 2 `config::standard()` as mirrord's protocol uses it (`protocol/src/codec.rs`):
 * little-endian, variable-length integers (`< 251` one byte; `251`+u16, `252`+u32, `253`+u64,
 * `254`+u128), zigzag for signed, u64-varint lengths. Hand-written because no JavaScript
 * library speaks bincode 2's varint format; the grammar on top is declarative (`codec.ts`).
 */

/** The bytes end inside a value: wait for more. `needed` is the total length known to be required. */
export class NeedMore extends Error {
  override readonly name = 'NeedMore';
  constructor(readonly needed: number) {
    super(`need at least ${needed} bytes`);
  }
}

/** The bytes can never decode, whatever follows (bad tag, bad integer marker, invalid UTF-8, …). */
export class Malformed extends Error {
  override readonly name = 'Malformed';
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(`${message} (at byte ${at})`);
  }
}

/** The outermost variant index is not one this grammar knows (a newer peer, or garbage). */
export class UnknownTag extends Malformed {
  constructor(
    readonly type: string,
    readonly tag: number,
    at: number,
  ) {
    super(`unknown ${type} tag ${tag}`, at);
  }
}

/**
 * How deeply recursive values (a `Composite` HTTP filter inside another) may nest. Every
 * recursive type is read by recursion, so without a bound a few kilobytes of nesting exhaust
 * the stack (a RangeError, not a decode error). The mirrord CLI nests filters one or two levels.
 */
export const MAX_NESTING = 32;

/** Values nested deeper than `MAX_NESTING`: malformed for good, so only that one connection closes. */
export class TooDeep extends Malformed {
  constructor(at: number) {
    super(`value nested more than ${MAX_NESTING} levels deep`, at);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Reads values off one buffer; throws `NeedMore` past `end`, `Malformed` on impossible bytes.
 * A reader that threw is not reused (its nesting count is left where the throw happened).
 */
export class Reader {
  /** Recursive values entered and not yet left (see `enter`). */
  #depth = 0;

  constructor(
    readonly buf: Uint8Array,
    public pos = 0,
    readonly end = buf.length,
  ) {}

  /** One level into a recursive value; past `MAX_NESTING` the bytes are `TooDeep`. Pair with `leave`. */
  enter(): void {
    if (++this.#depth > MAX_NESTING) throw new TooDeep(this.pos);
  }

  leave(): void {
    this.#depth--;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new NeedMore(this.pos + n);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  bool(): boolean {
    const at = this.pos;
    const b = this.u8();
    if (b > 1) throw new Malformed(`invalid bool byte ${b}`, at);
    return b === 1;
  }

  /** An unsigned varint of `bits` width as a number (16 and 32 bits). */
  uint(bits: 16 | 32): number {
    const at = this.pos;
    const first = this.u8();
    if (first < 251) return first;
    const view = this.view();
    if (first === 251) {
      this.need(2);
      this.pos += 2;
      return view.getUint16(this.pos - 2, true);
    }
    if (first === 252 && bits === 32) {
      this.need(4);
      this.pos += 4;
      return view.getUint32(this.pos - 4, true);
    }
    throw new Malformed(`integer marker ${first} is not valid for u${bits}`, at);
  }

  /** An unsigned varint of 64 or 128 bits as a bigint. */
  ubig(bits: 64 | 128): bigint {
    const at = this.pos;
    const first = this.u8();
    if (first < 251) return BigInt(first);
    const view = this.view();
    const take = (n: number) => {
      this.need(n);
      this.pos += n;
      return this.pos - n;
    };
    if (first === 251) return BigInt(view.getUint16(take(2), true));
    if (first === 252) return BigInt(view.getUint32(take(4), true));
    if (first === 253) return view.getBigUint64(take(8), true);
    if (first === 254 && bits === 128) {
      const p = take(16);
      return view.getBigUint64(p, true) | (view.getBigUint64(p + 8, true) << 64n);
    }
    throw new Malformed(`integer marker ${first} is not valid for u${bits}`, at);
  }

  i32(): number {
    const n = this.uint(32);
    return (n >>> 1) ^ -(n & 1);
  }

  i64(): bigint {
    const n = this.ubig(64);
    return (n >> 1n) ^ -(n & 1n);
  }

  /** A u64 length (strings, bytes, sequences); the bytes it announces may still be on their way. */
  len(): number {
    const at = this.pos;
    const n = this.ubig(64);
    if (n > MAX_SAFE) throw new Malformed(`length ${n} is impossible`, at);
    return Number(n);
  }

  /** `n` raw bytes as a view of the buffer (no copy). */
  raw(n: number): Uint8Array {
    this.need(n);
    this.pos += n;
    return this.buf.subarray(this.pos - n, this.pos);
  }

  bytes(): Uint8Array {
    return this.raw(this.len());
  }

  str(): string {
    const at = this.pos;
    const b = this.bytes();
    try {
      return utf8.decode(b);
    } catch {
      throw new Malformed('string is not valid UTF-8', at);
    }
  }

  skipBytes(): void {
    const n = this.len();
    this.need(n);
    this.pos += n;
  }

  /** A varint skipped without building its value. */
  skipInt(bits: 16 | 32 | 64 | 128): void {
    if (bits <= 32) this.uint(bits as 16 | 32);
    else this.ubig(bits as 64 | 128);
  }

  #view: DataView | undefined;
  private view(): DataView {
    return (this.#view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }
}

const encoder = new TextEncoder();

/** Appends values to a growing buffer. */
export class Writer {
  private buf: Uint8Array;
  private dv: DataView;
  pos = 0;

  constructor(size = 64) {
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  u8(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  uint(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not an unsigned 32-bit integer: ${n}`);
    if (n < 251) return this.u8(n);
    if (n <= 0xffff) {
      this.u8(251);
      this.room(2);
      this.dv.setUint16(this.pos, n, true);
      this.pos += 2;
      return;
    }
    this.u8(252);
    this.room(4);
    this.dv.setUint32(this.pos, n, true);
    this.pos += 4;
  }

  ubig(n: bigint): void {
    if (n < 0n || n >= 1n << 128n) throw new RangeError(`not an unsigned 128-bit integer: ${n}`);
    if (n <= 0xffffffffn) return this.uint(Number(n));
    if (n < 1n << 64n) {
      this.u8(253);
      this.room(8);
      this.dv.setBigUint64(this.pos, n, true);
      this.pos += 8;
      return;
    }
    this.u8(254);
    this.room(16);
    this.dv.setBigUint64(this.pos, n & 0xffffffffffffffffn, true);
    this.dv.setBigUint64(this.pos + 8, n >> 64n, true);
    this.pos += 16;
  }

  i32(n: number): void {
    this.uint(((n << 1) ^ (n >> 31)) >>> 0);
  }

  i64(n: bigint): void {
    this.ubig(n >= 0n ? n << 1n : (-n << 1n) - 1n);
  }

  raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.raw(b);
  }

  str(s: string): void {
    this.bytes(encoder.encode(s));
  }

  /** The bytes written so far (a view; copy it if the writer is reused). */
  done(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
