/**
 * A Bloom filter over session ids that have events. A start with a fresh id (the common case)
 * then needs no store read; a "maybe" (a real id, or a false positive at about 1 % up to ~1.5M
 * ids) falls back to reading the session's stream. Ids are random u64s, so their own bits serve
 * as the hashes.
 */
export class KnownSessionIds {
  readonly #bits: Uint32Array;
  readonly #mask: number;
  readonly #k: number;

  constructor(log2Bits = 24, hashes = 7) {
    this.#bits = new Uint32Array((1 << log2Bits) >>> 5);
    this.#mask = (1 << log2Bits) - 1;
    this.#k = hashes;
  }

  #positions(id: string): number[] {
    const h1 = Number.parseInt(id.slice(0, 8), 16) >>> 0;
    const h2 = (Number.parseInt(id.slice(8, 16), 16) | 1) >>> 0;
    const out: number[] = [];
    for (let i = 0; i < this.#k; i++) out.push((h1 + Math.imul(i, h2)) & this.#mask);
    return out;
  }

  add(id: string): void {
    for (const p of this.#positions(id)) this.#bits[p >>> 5]! |= 1 << (p & 31);
  }

  mightContain(id: string): boolean {
    return this.#positions(id).every((p) => (this.#bits[p >>> 5]! & (1 << (p & 31))) !== 0);
  }
}
