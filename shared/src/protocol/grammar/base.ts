import {
  bool,
  bytes,
  enumOf,
  ip,
  lazy,
  str,
  struct,
  tuple,
  u16,
  unit,
  vec,
  type Codec,
  type CodecType,
} from '../codec.js';

/** Shared leaves of mirrord-protocol 1.29 (`protocol/src/tcp.rs`, `outgoing.rs`). Variant order is the wire tag. */

/** std `SocketAddr`: the `IpAddr` tag and bytes, then the port. */
export const socketAddr = struct('SocketAddr', { ip, port: u16 });

export const unixAddr = enumOf('UnixAddr', { Pathname: str, Abstract: bytes, Unnamed: unit });
/** `outgoing::SocketAddress`. */
export const socketAddress = enumOf('SocketAddress', { Ip: socketAddr, Unix: unixAddr });
export type SocketAddressValue = CodecType<typeof socketAddress>;

export const httpMethodFilter = enumOf('HttpMethodFilter', {
  Get: unit,
  Head: unit,
  Post: unit,
  Put: unit,
  Delete: unit,
  Connect: unit,
  Options: unit,
  Trace: unit,
  Patch: unit,
  Other: str,
});

export const httpBodyFilter = enumOf('HttpBodyFilter', { Json: struct('Json', { query: str, matches: str }) });

/** `HttpFilter` is recursive (`Composite`), so its TypeScript type is spelled out. */
export type HttpFilterValue =
  | { $: 'Header'; v: string }
  | { $: 'Path'; v: string }
  | { $: 'Composite'; v: { all: boolean; filters: HttpFilterValue[] } }
  | { $: 'Method'; v: CodecType<typeof httpMethodFilter> }
  | { $: 'Body'; v: CodecType<typeof httpBodyFilter> }
  | { $: 'HeaderJq'; v: string };

export const httpFilter: Codec<HttpFilterValue> = enumOf('HttpFilter', {
  Header: str,
  Path: str,
  Composite: struct('Composite', { all: bool, filters: vec(lazy(() => httpFilter)) }),
  Method: httpMethodFilter,
  Body: httpBodyFilter,
  HeaderJq: str,
}) as Codec<HttpFilterValue>;

export const stealType = enumOf('StealType', {
  All: u16,
  FilteredHttp: tuple(u16, str),
  FilteredHttpEx: tuple(u16, httpFilter),
});
export type StealTypeValue = CodecType<typeof stealType>;
