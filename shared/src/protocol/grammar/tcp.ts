import { bool, bytes, enumOf, ip, map, option, str, struct, tuple, u16, u64, unit, vec, type Codec } from '../codec.js';
import { httpFilter, socketAddr, stealType } from './base.js';
import { remoteResult } from './error.js';

/** `protocol/src/tcp.rs`: incoming traffic (mirror and steal). Variant order is the wire tag. */

/** http-serde's `HeaderMap` without human-readable form: name → list of byte strings. */
export const headerMap = map(str, vec(bytes));

const bodyFrame = enumOf('InternalHttpBodyFrame', { Data: bytes, Trailers: headerMap });
const frames = vec(bodyFrame);
const bodyNew = struct('InternalHttpBodyNew', { frames, is_last: bool });

/** `InternalHttpRequest<B>` through serde: method, URI and version as text. */
const internalRequest = <B>(body: Codec<B>) =>
  struct('InternalHttpRequest', { method: str, uri: str, headers: headerMap, version: str, body });
const internalResponse = <B>(body: Codec<B>) =>
  struct('InternalHttpResponse', { status: u16, version: str, headers: headerMap, body });

const httpRequest = <B>(body: Codec<B>) =>
  struct('HttpRequest', { internal_request: internalRequest(body), connection_id: u64, request_id: u16, port: u16 });
const httpResponse = <B>(body: Codec<B>) =>
  struct('HttpResponse', { port: u16, connection_id: u64, request_id: u16, internal_response: internalResponse(body) });

const transport = enumOf('IncomingTrafficTransportType', {
  Tcp: unit,
  Tls: struct('Tls', { alpn_protocol: option(bytes), server_name: option(str) }),
});

const newConnectionV1 = struct('NewTcpConnectionV1', {
  connection_id: u64,
  remote_address: ip,
  destination_port: u16,
  source_port: u16,
  local_address: ip,
});

export const tcpData = struct('TcpData', { connection_id: u64, bytes });

const chunkedBody = struct('ChunkedRequestBodyV1', { frames, is_last: bool, connection_id: u64, request_id: u16 });
const chunkedError = struct('ChunkedRequestErrorV1', { connection_id: u64, request_id: u16 });

const chunkedRequest = enumOf('ChunkedRequest', {
  StartV1: httpRequest(frames),
  Body: chunkedBody,
  ErrorV1: chunkedError,
  StartV2: struct('ChunkedRequestStartV2', {
    connection_id: u64,
    request_id: u16,
    request: internalRequest(bodyNew),
    metadata: enumOf('HttpRequestMetadata', {
      V1: struct('V1', { source: socketAddr, destination: socketAddr }),
    }),
    transport,
  }),
  ErrorV2: struct('ChunkedRequestErrorV2', { connection_id: u64, request_id: u16, error_message: str }),
});

/** What the agent sends about incoming traffic (`DaemonMessage::Tcp` and `::TcpSteal`). */
export const daemonTcp = enumOf('DaemonTcp', {
  NewConnectionV1: newConnectionV1,
  Data: tcpData,
  Close: struct('TcpClose', { connection_id: u64 }),
  SubscribeResult: remoteResult(u16),
  HttpRequest: httpRequest(bytes),
  HttpRequestFramed: httpRequest(frames),
  HttpRequestChunked: chunkedRequest,
  NewConnectionV2: struct('NewTcpConnectionV2', { connection: newConnectionV1, transport }),
});

/** Mirror subscriptions (`ClientMessage::Tcp`). */
export const layerTcp = enumOf('LayerTcp', {
  PortSubscribe: u16,
  ConnectionUnsubscribe: u64,
  PortUnsubscribe: u16,
  PortSubscribeFilteredHttp: tuple(u16, httpFilter),
});

/** Steal subscriptions and the client's answers to stolen traffic (`ClientMessage::TcpSteal`). */
export const layerTcpSteal = enumOf('LayerTcpSteal', {
  PortSubscribe: stealType,
  ConnectionUnsubscribe: u64,
  PortUnsubscribe: u16,
  Data: tcpData,
  HttpResponse: httpResponse(bytes),
  HttpResponseFramed: httpResponse(frames),
  HttpResponseChunked: enumOf('ChunkedResponse', {
    Start: httpResponse(frames),
    Body: chunkedBody,
    Error: chunkedError,
  }),
});
