import fc from 'fast-check';
import type { Codec, Shape } from '#shared/protocol/index.js';

const IPS = ['10.0.0.7', '127.0.0.1', '0.0.0.0', '255.255.255.255', '::1', '2001:db8::42', 'fe80::1:2:3'];
const TEXT = ['', 'a', 'x-user: alice', 'naïve ✓', '/api/v1/ünïcode', 'z'.repeat(300)];

const edgeOr = <T>(edges: readonly T[], any: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof(fc.constantFrom(...edges), any);
const unsigned = (bits: number): fc.Arbitrary<bigint> =>
  edgeOr(
    [0n, 1n, 250n, 251n, 65535n, 65536n, (1n << BigInt(bits)) - 1n],
    fc.bigInt({ min: 0n, max: (1n << BigInt(Math.min(bits, 53))) - 1n }),
  );

const memo = new Map<Codec<unknown>, Map<number, fc.Arbitrary<unknown>>>();

/**
 * fast-check values of any grammar node, walking its shape: edge values mixed with random ones,
 * a failing message shrunk towards the first variant, the shorter list, the edge value.
 * `depth` bounds recursive types (a list below depth 3 is empty).
 */
export function arbitraryOf(c: Codec<unknown>, depth = 0): fc.Arbitrary<unknown> {
  const byDepth = memo.get(c) ?? new Map<number, fc.Arbitrary<unknown>>();
  memo.set(c, byDepth);
  let a = byDepth.get(depth);
  if (!a) {
    a = build(c.shape, depth);
    byDepth.set(depth, a);
  }
  return a;
}

function build(s: Shape, depth: number): fc.Arbitrary<unknown> {
  const of = (x: Codec<unknown>) => arbitraryOf(x, depth + 1);
  switch (s.k) {
    case 'u8':
      return fc.integer({ min: 0, max: 255 });
    case 'u16':
      return edgeOr([0, 1, 80, 250, 251, 8080, 65535], fc.integer({ min: 0, max: 65535 }));
    case 'u32':
      return edgeOr([0, 250, 251, 65535, 65536, 4294967295], fc.integer({ min: 0, max: 2 ** 32 - 1 }));
    case 'i32':
      return edgeOr([0, -1, 1, -2147483648, 2147483647], fc.integer({ min: -(2 ** 15), max: 2 ** 15 - 1 }));
    case 'u64':
      return unsigned(64);
    case 'u128':
      return unsigned(128);
    case 'i64':
      return edgeOr(
        [0n, -1n, 1n, -(1n << 63n), (1n << 63n) - 1n],
        fc.bigInt({ min: -(1n << 30n), max: (1n << 30n) - 1n }),
      );
    case 'bool':
      return fc.boolean();
    case 'str':
      return fc.constantFrom(...TEXT);
    case 'bytes':
      return fc.oneof(fc.uint8Array({ maxLength: 7 }), fc.uint8Array({ minLength: 300, maxLength: 300 }));
    case 'unit':
      return fc.constant(null);
    case 'ip':
      return fc.constantFrom(...IPS);
    case 'version':
      return fc.constantFrom('1.29.0', '1.2.1', '1.28.3-alpha');
    case 'option':
      return fc.option(of(s.of), { nil: null, freq: 3 });
    case 'vec':
      return depth > 3 ? fc.constant([]) : fc.array(of(s.of), { maxLength: 2 });
    case 'array':
      return fc.array(of(s.of), { minLength: s.n, maxLength: s.n });
    case 'map':
      return fc.array(fc.tuple(of(s.key), of(s.value)), { maxLength: 2 });
    case 'struct':
      return fc.record(Object.fromEntries(s.fields.map(([k, f]) => [k, of(f)])));
    case 'tuple':
      return fc.tuple(...s.items.map(of));
    case 'enum':
      return fc.oneof(...s.variants.map(([name, f]) => of(f).map((v) => ({ $: name, v }))));
    case 'lazy':
      return of(s.get());
  }
}

/** Every variant of an enum codec, each with an arbitrary value (so no variant goes untested). */
export function everyVariantOf(c: Codec<unknown>): fc.Arbitrary<unknown[]> {
  const s = c.shape;
  if (s.k !== 'enum') throw new Error('not an enum');
  return fc
    .tuple(
      ...s.variants.map(([name, f]) =>
        f.shape.k === 'enum'
          ? everyVariantOf(f).map((vs) => vs.map((v) => ({ $: name, v })))
          : arbitraryOf(f, 1).map((v) => [{ $: name, v }]),
      ),
    )
    .map((groups) => groups.flat());
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
