import type { Codec, Shape } from './codec.js';

type AnyCodec = Codec<unknown>;

/**
 * A variant by its names, from the grammar's own declaration order: `variantAt(daemonMessage,
 * 'TcpSteal', 'HttpRequest')` is `HttpRequest` inside `TcpSteal`: its wire tag and its codec.
 * Read once at start, so the relay's byte peeks never restate tag numbers. A tag below 251 is
 * one byte on the wire (bincode's varint), which is what the peeks rely on: larger is refused.
 */
export function variantAt<T>(codec: Codec<T>, ...path: [string, ...string[]]): { tag: number; codec: AnyCodec } {
  let c = codec as AnyCodec;
  let tag = -1;
  for (const name of path) {
    let shape: Shape = c.shape;
    while (shape.k === 'lazy') shape = shape.get().shape;
    if (shape.k !== 'enum') throw new TypeError(`${name}: not inside an enum`);
    tag = shape.variants.findIndex(([k]) => k === name);
    if (tag < 0) throw new TypeError(`${shape.name} has no variant ${name}`);
    if (tag >= 251) throw new RangeError(`${shape.name}::${name} is not a one-byte tag`);
    c = shape.variants[tag]![1] as AnyCodec;
  }
  return { tag, codec: c };
}

/** The wire tag of the last variant named (see `variantAt`). */
export const tagOf = <T>(codec: Codec<T>, ...path: [string, ...string[]]): number => variantAt(codec, ...path).tag;
