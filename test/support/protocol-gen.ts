import type { Codec, Shape } from '#shared/protocol/index.js';

/** A seeded PRNG (mulberry32): failures replay from the seed they print. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const IPS = ['10.0.0.7', '127.0.0.1', '0.0.0.0', '255.255.255.255', '::1', '2001:db8::42', 'fe80::1:2:3'];
const TEXT = ['', 'a', 'x-user: alice', 'naïve ✓', '/api/v1/ünïcode', 'z'.repeat(300)];

/** A random value of any grammar node, walking its shape; `depth` bounds recursive types. */
export function arbitrary(c: Codec<unknown>, next: () => number, depth = 0): unknown {
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const big = (bits: number) => {
    const edge = [0n, 1n, 250n, 251n, 65535n, 65536n, (1n << BigInt(bits)) - 1n];
    return next() < 0.5 ? pick(edge) : (BigInt(int(2 ** 32)) * BigInt(int(2 ** 21))) % (1n << BigInt(bits));
  };
  const s: Shape = c.shape;
  switch (s.k) {
    case 'u8':
      return int(256);
    case 'u16':
      return pick([0, 1, 80, 250, 251, 8080, 65535, int(65536)]);
    case 'u32':
      return pick([0, 250, 251, 65535, 65536, 4294967295, int(2 ** 32)]);
    case 'i32':
      return pick([0, -1, 1, -2147483648, 2147483647, int(2 ** 16) - 2 ** 15]);
    case 'u64':
      return big(64);
    case 'u128':
      return big(128);
    case 'i64':
      return pick([0n, -1n, 1n, -(1n << 63n), (1n << 63n) - 1n, BigInt(int(2 ** 31)) - (1n << 30n)]);
    case 'bool':
      return next() < 0.5;
    case 'str':
      return pick(TEXT);
    case 'bytes':
      return Uint8Array.from({ length: pick([0, 1, 7, 300]) }, () => int(256));
    case 'unit':
      return null;
    case 'ip':
      return pick(IPS);
    case 'version':
      return pick(['1.29.0', '1.2.1', '1.28.3-alpha']);
    case 'option':
      return next() < 0.3 ? null : arbitrary(s.of, next, depth + 1);
    case 'vec':
      return Array.from({ length: depth > 3 ? 0 : int(3) }, () => arbitrary(s.of, next, depth + 1));
    case 'array':
      return Array.from({ length: s.n }, () => arbitrary(s.of, next, depth + 1));
    case 'map':
      return Array.from({ length: int(3) }, () => [
        arbitrary(s.key, next, depth + 1),
        arbitrary(s.value, next, depth + 1),
      ]);
    case 'struct':
      return Object.fromEntries(s.fields.map(([k, f]) => [k, arbitrary(f, next, depth + 1)]));
    case 'tuple':
      return s.items.map((f) => arbitrary(f, next, depth + 1));
    case 'enum': {
      const [name, f] = pick(s.variants);
      return { $: name, v: arbitrary(f, next, depth + 1) };
    }
    case 'lazy':
      return arbitrary(s.get(), next, depth + 1);
  }
}

/** Every variant of an enum codec, each with a random value (so no variant goes untested). */
export function everyVariant(c: Codec<unknown>, next: () => number): unknown[] {
  const s = c.shape;
  if (s.k !== 'enum') throw new Error('not an enum');
  const out: unknown[] = [];
  for (const [name, f] of s.variants) {
    if (f.shape.k === 'enum') for (const v of everyVariant(f, next)) out.push({ $: name, v });
    else out.push({ $: name, v: arbitrary(f, next, 1) });
  }
  return out;
}

/**
 * An `HttpFilter` nested `levels` deep (`Composite{all: true, [Composite{…[Header("")]}]}`) as
 * bytes, 3 a level: built by hand, because encoding such a value would recurse as deep.
 */
export function nestedFilter(levels: number): Uint8Array {
  const out = new Uint8Array(levels * 3 + 2);
  for (let i = 0; i < levels; i++) out.set([2, 1, 1], i * 3);
  return out;
}

/** `ClientMessage::TcpSteal(PortSubscribe(FilteredHttpEx(80, filter)))` with a filter nested `levels` deep. */
export const deepClientSteal = (levels: number): Uint8Array => Uint8Array.from([2, 0, 2, 80, ...nestedFilter(levels)]);

/**
 * `DaemonMessage::TcpSteal(SubscribeResult(Err(Forbidden{Steal(FilteredHttpEx(80, filter)), policy_name: None})))`
 * with a filter nested `levels` deep: what a broken or hostile agent could answer.
 */
export const deepDaemonRefusal = (levels: number): Uint8Array =>
  Uint8Array.from([2, 3, 1, 9, 0, 2, 80, ...nestedFilter(levels), 0]);
