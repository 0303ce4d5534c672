import { atLeast, type DaemonMessage } from '#shared/protocol/index.js';
import type { TestHttpRequest } from './http-match.js';

/**
 * What the test agent sends the way the real agent does (`agent/src/steal/api.rs`,
 * `agent/src/mirror.rs`), per the client's protocol version; and the target's files.
 */

/** Files every test agent's target has (the seed's fs examples: a JSON config, a secret, a local-only file). */
export const TARGET_FILES: Record<string, string> = {
  '/app/config.json': '{"feature":"on"}\n',
  '/etc/secret/token': 's3cr3t\n',
  '/app/local.conf': 'remote copy\n',
};

/** A request the test agent delivers to a client, stolen or mirrored. */
interface Delivered {
  req: TestHttpRequest;
  headers: Array<[string, Uint8Array[]]>;
  body: Buffer;
  connection_id: bigint;
  port: number;
}

const dataFrames = (b: Buffer) => (b.length ? [{ $: 'Data' as const, v: b }] : []);

/** `ChunkedRequest::StartV2` (protocol ≥ 1.19), the form steal and mirror share. */
function startV2(o: Delivered, frames: ReturnType<typeof dataFrames>, is_last: boolean) {
  return {
    $: 'StartV2' as const,
    v: {
      connection_id: o.connection_id,
      request_id: 0,
      request: {
        method: o.req.method,
        uri: o.req.path,
        headers: o.headers,
        version: 'HTTP/1.1',
        body: { frames, is_last },
      },
      metadata: {
        $: 'V1' as const,
        v: { source: { ip: '10.0.0.9', port: 50000 }, destination: { ip: '10.244.0.5', port: o.port } },
      },
      transport: { $: 'Tcp' as const, v: null },
    },
  };
}

/**
 * A stolen request in the form the real agent uses for the client's protocol version
 * (`agent/src/steal/api.rs`): ≥ 1.19 `HttpRequestChunked::StartV2`, ≥ 1.7 `StartV1`, both with
 * the body's second half in a `Body` chunk; ≥ 1.3 `HttpRequestFramed`; else `HttpRequest`.
 */
export function stolenRequest(version: string, o: Delivered): DaemonMessage[] {
  const { req, headers, body, connection_id, port } = o;
  const head = { method: req.method, uri: req.path, headers, version: 'HTTP/1.1' };
  const ids = { connection_id, request_id: 0 };
  const steal = (v: Extract<DaemonMessage, { $: 'TcpSteal' }>['v']): DaemonMessage => ({ $: 'TcpSteal', v });
  const [first, rest] = [body.subarray(0, body.length >> 1), body.subarray(body.length >> 1)];
  const tail = steal({
    $: 'HttpRequestChunked',
    v: { $: 'Body', v: { ...ids, frames: dataFrames(rest), is_last: true } },
  });
  if (atLeast(version, '1.19.0'))
    return [steal({ $: 'HttpRequestChunked', v: startV2(o, dataFrames(first), false) }), tail];
  if (atLeast(version, '1.7.0'))
    return [
      steal({
        $: 'HttpRequestChunked',
        v: { $: 'StartV1', v: { ...ids, port, internal_request: { ...head, body: dataFrames(first) } } },
      }),
      tail,
    ];
  if (atLeast(version, '1.3.0'))
    return [
      steal({ $: 'HttpRequestFramed', v: { ...ids, port, internal_request: { ...head, body: dataFrames(body) } } }),
    ];
  return [steal({ $: 'HttpRequest', v: { ...ids, port, internal_request: { ...head, body } } })];
}

/**
 * A mirrored HTTP request as the real agent sends it (`agent/src/mirror.rs`): to clients of
 * protocol ≥ 1.19.4 a `Tcp` `HttpRequestChunked::StartV2` with the whole body, else the raw
 * connection (`NewConnectionV1`, the request bytes, `Close`).
 */
export function mirroredRequest(version: string, o: Delivered): DaemonMessage[] {
  const { req, headers, body, connection_id, port } = o;
  const tcp = (v: Extract<DaemonMessage, { $: 'Tcp' }>['v']): DaemonMessage => ({ $: 'Tcp', v });
  const close = tcp({ $: 'Close', v: { connection_id } });
  if (atLeast(version, '1.19.4'))
    return [tcp({ $: 'HttpRequestChunked', v: startV2(o, dataFrames(body), true) }), close];
  const text = `${req.method} ${req.path} HTTP/1.1\r\n${headers.map(([k, [v]]) => `${k}: ${Buffer.from(v!).toString()}\r\n`).join('')}\r\n${body.toString()}`;
  const connection = {
    connection_id,
    remote_address: '10.0.0.9',
    destination_port: port,
    source_port: 50000,
    local_address: '10.244.0.5',
  };
  return [
    tcp({ $: 'NewConnectionV1', v: connection }),
    tcp({ $: 'Data', v: { connection_id, bytes: Buffer.from(text) } }),
    close,
  ];
}
