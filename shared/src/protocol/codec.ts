import ipaddr from 'ipaddr.js';
import { Malformed, Reader, UnknownTag, Writer } from './bincode.js';

/**
 * Declarative bincode grammar: each node reads, skips (frames without building values) and
 * writes one Rust type, and carries its `shape` so tests can generate values of any type.
 * u64/i64/u128 travel as bigint, smaller integers as number, `IpAddr` as its text form.
 */
export interface Codec<T> {
  readonly shape: Shape;
  read(r: Reader): T;
  skip(r: Reader): void;
  write(w: Writer, v: T): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- heterogeneous grammar nodes
type AnyCodec = Codec<any>;
export type CodecType<C> = C extends Codec<infer T> ? T : never;

type LeafKind =
  'u8' | 'u16' | 'u32' | 'u64' | 'u128' | 'i32' | 'i64' | 'bool' | 'str' | 'bytes' | 'unit' | 'ip' | 'version';
export type Shape =
  | { k: LeafKind }
  | { k: 'option' | 'vec'; of: AnyCodec }
  | { k: 'array'; of: AnyCodec; n: number }
  | { k: 'map'; key: AnyCodec; value: AnyCodec }
  | { k: 'struct'; name: string; fields: Array<[string, AnyCodec]> }
  | { k: 'tuple'; items: AnyCodec[] }
  | { k: 'enum'; name: string; variants: Array<[string, AnyCodec]> }
  | { k: 'lazy'; get: () => AnyCodec };

const leaf = <T>(
  k: LeafKind,
  read: (r: Reader) => T,
  write: (w: Writer, v: T) => void,
  skip: (r: Reader) => void = read,
): Codec<T> => ({ shape: { k }, read, write, skip });

export const u8 = leaf<number>(
  'u8',
  (r) => r.u8(),
  (w, v) => w.u8(v),
);
export const bool = leaf<boolean>(
  'bool',
  (r) => r.bool(),
  (w, v) => w.bool(v),
);
export const u16 = leaf<number>(
  'u16',
  (r) => r.uint(16),
  (w, v) => w.uint(v),
);
export const u32 = leaf<number>(
  'u32',
  (r) => r.uint(32),
  (w, v) => w.uint(v),
);
export const u64 = leaf<bigint>(
  'u64',
  (r) => r.ubig(64),
  (w, v) => w.ubig(v),
  (r) => r.skipInt(64),
);
export const u128 = leaf<bigint>(
  'u128',
  (r) => r.ubig(128),
  (w, v) => w.ubig(v),
  (r) => r.skipInt(128),
);
export const i32 = leaf<number>(
  'i32',
  (r) => r.i32(),
  (w, v) => w.i32(v),
);
export const i64 = leaf<bigint>(
  'i64',
  (r) => r.i64(),
  (w, v) => w.i64(v),
  (r) => r.skipInt(64),
);
/** `String` and `PathBuf` (bincode writes a path as its string). */
export const str = leaf<string>(
  'str',
  (r) => r.str(),
  (w, v) => w.str(v),
);
/** `Vec<u8>`, `Payload`, serde bytes: a view of the input, never copied while framing. */
export const bytes = leaf<Uint8Array>(
  'bytes',
  (r) => r.bytes(),
  (w, v) => w.bytes(v),
  (r) => r.skipBytes(),
);
export const unit = leaf<null>(
  'unit',
  () => null,
  () => undefined,
  () => undefined,
);

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
/** `semver::Version` through serde: its text. */
export const version = leaf<string>(
  'version',
  (r) => {
    const at = r.pos;
    const s = r.str();
    if (!SEMVER.test(s)) throw new Malformed(`"${s.slice(0, 40)}" is not a semantic version`, at);
    return s;
  },
  (w, v) => w.str(v),
);

/** `IpAddr`: tag 0 V4 / 1 V6, then 4 or 16 raw bytes. */
/** The raw address bytes of an `IpAddr` (tag 0 → 4 bytes, 1 → 16). */
const ipBytes = (r: Reader): Uint8Array => {
  const at = r.pos;
  const tag = r.uint(32);
  if (tag > 1) throw new Malformed(`unknown IpAddr variant ${tag}`, at);
  return r.raw(tag === 0 ? 4 : 16);
};
export const ip = leaf<string>(
  'ip',
  (r) => ipaddr.fromByteArray(Array.from(ipBytes(r))).toString(),
  (w, v) => {
    const a = ipaddr.parse(v);
    w.uint(a.kind() === 'ipv4' ? 0 : 1);
    w.raw(Uint8Array.from(a.toByteArray()));
  },
  (r) => void ipBytes(r),
);

export function option<T>(of: Codec<T>): Codec<T | null> {
  const tag = (r: Reader) => {
    const at = r.pos;
    const b = r.u8();
    if (b > 1) throw new Malformed(`invalid Option tag ${b}`, at);
    return b === 1;
  };
  return {
    shape: { k: 'option', of },
    read: (r) => (tag(r) ? of.read(r) : null),
    skip: (r) => {
      if (tag(r)) of.skip(r);
    },
    write: (w, v) => {
      w.u8(v === null ? 0 : 1);
      if (v !== null) of.write(w, v);
    },
  };
}

/** `Vec<T>`, `VecDeque<T>`, `HashSet<T>`: a length, then the items. */
export function vec<T>(of: Codec<T>): Codec<T[]> {
  return {
    shape: { k: 'vec', of },
    read: (r) => {
      const n = r.len();
      const out: T[] = [];
      for (let i = 0; i < n; i++) out.push(of.read(r));
      return out;
    },
    skip: (r) => {
      const n = r.len();
      for (let i = 0; i < n; i++) of.skip(r);
    },
    write: (w, v) => {
      w.uint(v.length);
      for (const x of v) of.write(w, x);
    },
  };
}

/** `[T; n]`: no length on the wire. */
export function array<T>(of: Codec<T>, n: number): Codec<T[]> {
  return {
    shape: { k: 'array', of, n },
    read: (r) => Array.from({ length: n }, () => of.read(r)),
    skip: (r) => {
      for (let i = 0; i < n; i++) of.skip(r);
    },
    write: (w, v) => {
      if (v.length !== n) throw new RangeError(`expected ${n} items, got ${v.length}`);
      for (const x of v) of.write(w, x);
    },
  };
}

/** `HashMap<K, V>` (and serde maps) as ordered pairs: the wire keeps whatever order the sender used. */
export function map<K, V>(key: Codec<K>, value: Codec<V>): Codec<Array<[K, V]>> {
  const pair: Codec<[K, V]> = tuple(key, value) as Codec<[K, V]>;
  const inner = vec(pair);
  return { ...inner, shape: { k: 'map', key, value } };
}

type Fields = Record<string, AnyCodec>;
export type StructOf<F extends Fields> = { [K in keyof F]: CodecType<F[K]> };

/** A struct: fields in declaration order, no names on the wire. */
export function struct<F extends Fields>(name: string, fields: F): Codec<StructOf<F>> {
  const list = Object.entries(fields);
  return {
    shape: { k: 'struct', name, fields: list },
    read: (r) => {
      const out: Record<string, unknown> = {};
      for (const [k, c] of list) out[k] = c.read(r);
      return out as StructOf<F>;
    },
    skip: (r) => {
      for (const [, c] of list) c.skip(r);
    },
    write: (w, v) => {
      for (const [k, c] of list) c.write(w, (v as Record<string, unknown>)[k]);
    },
  };
}

export function tuple<T extends AnyCodec[]>(...items: T): Codec<{ [K in keyof T]: CodecType<T[K]> }> {
  return {
    shape: { k: 'tuple', items },
    read: (r) => items.map((c) => c.read(r)) as { [K in keyof T]: CodecType<T[K]> },
    skip: (r) => {
      for (const c of items) c.skip(r);
    },
    write: (w, v) => items.forEach((c, i) => c.write(w, (v as unknown[])[i])),
  };
}

type Variants = Record<string, AnyCodec>;
/** One variant's value: `{ $: 'Name', v }`, with `v` left out for unit variants. */
export type EnumOf<V extends Variants> = {
  [K in keyof V & string]: CodecType<V[K]> extends null ? { $: K; v?: null } : { $: K; v: CodecType<V[K]> };
}[keyof V & string];

/**
 * A Rust enum: the variant index as a u32 varint, then its fields. Variant order is the
 * declaration order in the Rust source (the wire tag); never reorder.
 */
export function enumOf<V extends Variants>(name: string, variants: V): Codec<EnumOf<V>> {
  const list = Object.entries(variants);
  const index = new Map(list.map(([k], i) => [k, i]));
  /** The variant the next tag names. */
  const variant = (r: Reader): [string, AnyCodec] => {
    const at = r.pos;
    const tag = r.uint(32);
    const c = list[tag];
    if (!c) throw new UnknownTag(name, tag, at);
    return c;
  };
  return {
    shape: { k: 'enum', name, variants: list },
    read: (r) => {
      const [k, c] = variant(r);
      return { $: k, v: c.read(r) } as EnumOf<V>;
    },
    skip: (r) => variant(r)[1].skip(r),
    write: (w, v) => {
      const i = index.get(v.$);
      if (i === undefined) throw new RangeError(`${name} has no variant ${v.$}`);
      w.uint(i);
      list[i]![1].write(w, v.v ?? null);
    },
  };
}

/**
 * A forward reference, for recursive types (`HttpFilter::Composite`): the only way the grammar
 * recurses, so it is where nesting is counted (`Reader.enter`, at most `MAX_NESTING`). Writing
 * needs no count: what the gateway writes was decoded under the limit or built by its own code.
 */
export function lazy<T>(get: () => Codec<T>): Codec<T> {
  return {
    shape: { k: 'lazy', get },
    read: (r) => {
      r.enter();
      const v = get().read(r);
      r.leave();
      return v;
    },
    skip: (r) => {
      r.enter();
      get().skip(r);
      r.leave();
    },
    write: (w, v) => get().write(w, v),
  };
}

/** Encodes one value into a fresh buffer. */
export function encode<T>(c: Codec<T>, v: T): Uint8Array {
  const w = new Writer();
  c.write(w, v);
  return w.done().slice();
}

/** Decodes exactly one value from `bytes`; trailing bytes are malformed. */
export function decodeExact<T>(c: Codec<T>, bytes: Uint8Array): T {
  const r = new Reader(bytes);
  const v = c.read(r);
  if (r.pos !== bytes.length) throw new Malformed(`${bytes.length - r.pos} bytes after the message`, r.pos);
  return v;
}
