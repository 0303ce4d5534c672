import { Malformed, NeedMore, Reader } from './bincode.js';
import type { Codec } from './codec.js';

/** A message longer than the configured limit: that connection closes, nothing else does. */
export class TooLarge extends Malformed {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`message of at least ${size} bytes exceeds the limit of ${limit} bytes`, 0);
  }
}

/**
 * Cuts a byte stream (the agent's TCP side: messages back to back, no length prefix) into
 * whole messages, without building their values. Bytes are kept as the chunks that arrived
 * and joined once when a message can be complete, so a large `Data` message costs one copy,
 * not one re-parse per chunk.
 */
export class MessageFramer {
  private chunks: Uint8Array[] = [];
  private total = 0;
  /** Bytes the message at the head needs before it is worth parsing again. */
  private needed = 1;

  constructor(
    private readonly codec: Codec<unknown>,
    private readonly maxBytes: number,
  ) {}

  /** Bytes held for an incomplete message. */
  get buffered(): number {
    return this.total;
  }

  /** Feeds bytes; returns every message now complete (views, in order). Throws `Malformed` for good. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.total += chunk.length;
    if (this.total < this.needed) return [];
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.total);
    const out: Uint8Array[] = [];
    let start = 0;
    this.needed = 1;
    while (start < buf.length) {
      const r = new Reader(buf, start);
      try {
        this.codec.skip(r);
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        this.needed = e.needed - start;
        if (this.needed > this.maxBytes) throw new TooLarge(this.needed, this.maxBytes);
        break;
      }
      if (r.pos - start > this.maxBytes) throw new TooLarge(r.pos - start, this.maxBytes);
      out.push(buf.subarray(start, r.pos));
      start = r.pos;
    }
    const rest = buf.subarray(start);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.total = rest.length;
    return out;
  }
}
