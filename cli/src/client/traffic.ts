import { connect, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { DaemonMessage } from '#shared/protocol/index.js';
import type { MirrordSocket } from './mirrord-socket.js';

type DaemonTcp = Extract<DaemonMessage, { $: 'Tcp' }>['v'];
type HeaderList = Array<[string, Uint8Array[]]>;
interface RequestHead {
  method: string;
  uri: string;
  headers: HeaderList;
}

/** Request headers fetch() refuses to set or that describe the old hop. */
const HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect']);

const text = (b: Uint8Array, max = 2000) => {
  const s = Buffer.from(b).toString('utf8');
  return s.length > max ? `${s.slice(0, max)}… (${b.length} bytes)` : s;
};

/**
 * What the plugin does with traffic, like `mirrord dump` and `mirrord port-forward -R`:
 * mirrored connections and requests are printed as they arrive; stolen HTTP requests are sent
 * to a local port and their answers go back through the agent; stolen raw connections are
 * piped to that local port both ways.
 */
export class TrafficHandler {
  readonly #mirrorPorts = new Map<bigint, number>();
  readonly #stolen = new Map<bigint, Socket>();
  /** Chunked stolen requests whose body is still arriving, by `connection_id/request_id`. */
  readonly #chunked = new Map<string, { port: number; req: RequestHead; body: Uint8Array[] }>();

  constructor(
    private readonly socket: MirrordSocket,
    /** Remote port → local port for `--steal PORT[:LOCAL]`. */
    private readonly locals: ReadonlyMap<number, number>,
    private readonly out: Writable,
  ) {}

  handle(m: DaemonMessage): void {
    if (m.$ === 'Tcp') this.#mirror(m.v);
    else if (m.$ === 'TcpSteal') this.#steal(m.v);
  }

  #mirror(t: DaemonTcp): void {
    switch (t.$) {
      case 'NewConnectionV1':
      case 'NewConnectionV2': {
        const c = t.$ === 'NewConnectionV1' ? t.v : t.v.connection;
        this.#mirrorPorts.set(c.connection_id, c.destination_port);
        this.out.write(
          `mirror :${c.destination_port} connection ${c.connection_id} from ${c.remote_address}:${c.source_port}\n`,
        );
        return;
      }
      case 'Data':
        this.out.write(
          `mirror :${this.#mirrorPorts.get(t.v.connection_id) ?? '?'} connection ${t.v.connection_id} (${t.v.bytes.length} bytes)\n${text(t.v.bytes)}\n`,
        );
        return;
      case 'Close':
        this.#mirrorPorts.delete(t.v.connection_id);
        return;
      case 'HttpRequest':
      case 'HttpRequestFramed': {
        const r = t.v.internal_request;
        this.out.write(`mirror :${t.v.port} ${r.method} ${r.uri} ${r.version}\n`);
        return;
      }
      // Agents mirror HTTP to clients of protocol ≥ 1.19.4 as chunked requests (`agent/src/mirror.rs`).
      case 'HttpRequestChunked': {
        const c = t.v;
        if (c.$ === 'StartV1' || c.$ === 'StartV2') {
          const [port, r, frames] =
            c.$ === 'StartV1'
              ? [c.v.port, c.v.internal_request, c.v.internal_request.body]
              : [c.v.metadata.v.destination.port, c.v.request, c.v.request.body.frames];
          this.#mirrorPorts.set(c.v.connection_id, port);
          this.out.write(`mirror :${port} ${r.method} ${r.uri} ${r.version}\n${this.#frames(frames)}`);
        } else if (c.$ === 'Body') this.out.write(this.#frames(c.v.frames));
        return;
      }
      default:
        return;
    }
  }

  /** A mirrored body's data frames as text, if any. */
  #frames(frames: Array<{ $: string; v: unknown }>): string {
    const data = Buffer.concat(frames.flatMap((f) => (f.$ === 'Data' ? [f.v as Uint8Array] : [])));
    return data.length ? `${text(data)}\n` : '';
  }

  #steal(t: DaemonTcp): void {
    switch (t.$) {
      case 'HttpRequest':
        return void this.#forwardHttp(
          t.v.port,
          t.v.connection_id,
          t.v.request_id,
          t.v.internal_request,
          t.v.internal_request.body,
          false,
        );
      case 'HttpRequestFramed': {
        const body = Buffer.concat(t.v.internal_request.body.flatMap((f) => (f.$ === 'Data' ? [f.v] : [])));
        return void this.#forwardHttp(t.v.port, t.v.connection_id, t.v.request_id, t.v.internal_request, body, true);
      }
      case 'HttpRequestChunked':
        return this.#chunk(t.v);
      case 'NewConnectionV1':
      case 'NewConnectionV2': {
        const c = t.$ === 'NewConnectionV1' ? t.v : t.v.connection;
        const local = this.locals.get(c.destination_port) ?? c.destination_port;
        const id = c.connection_id;
        const sock = connect({ host: '127.0.0.1', port: local });
        this.#stolen.set(id, sock);
        this.out.write(
          `steal :${c.destination_port} connection ${id} from ${c.remote_address}:${c.source_port} → 127.0.0.1:${local}\n`,
        );
        sock.on('data', (bytes: Buffer) =>
          this.socket.send({ $: 'TcpSteal', v: { $: 'Data', v: { connection_id: id, bytes } } }),
        );
        sock.on('error', () => sock.destroy());
        sock.once('close', () => {
          if (this.#stolen.delete(id)) this.socket.send({ $: 'TcpSteal', v: { $: 'ConnectionUnsubscribe', v: id } });
        });
        return;
      }
      case 'Data':
        this.#stolen.get(t.v.connection_id)?.write(t.v.bytes);
        return;
      case 'Close': {
        const s = this.#stolen.get(t.v.connection_id);
        this.#stolen.delete(t.v.connection_id);
        s?.end();
        return;
      }
      default:
        return;
    }
  }

  /**
   * Agents send requests to clients of protocol ≥ 1.7 in chunks (`StartV2` from 1.19): the
   * head and first body frames, then `Body` frames until `is_last`. The whole body is
   * gathered, then forwarded like any stolen request; the answer goes back framed.
   */
  #chunk(c: Extract<DaemonTcp, { $: 'HttpRequestChunked' }>['v']): void {
    const data = (frames: Array<{ $: string; v: unknown }>) =>
      frames.flatMap((f) => (f.$ === 'Data' ? [f.v as Uint8Array] : []));
    const key = (connection: bigint, request: number) => `${connection}/${request}`;
    let id: string;
    switch (c.$) {
      case 'StartV1':
        id = key(c.v.connection_id, c.v.request_id);
        this.#chunked.set(id, { port: c.v.port, req: c.v.internal_request, body: data(c.v.internal_request.body) });
        return;
      case 'StartV2': {
        id = key(c.v.connection_id, c.v.request_id);
        const port = c.v.metadata.v.destination.port;
        this.#chunked.set(id, { port, req: c.v.request, body: data(c.v.request.body.frames) });
        if (!c.v.request.body.is_last) return;
        break;
      }
      case 'Body': {
        id = key(c.v.connection_id, c.v.request_id);
        this.#chunked.get(id)?.body.push(...data(c.v.frames));
        if (!c.v.is_last) return;
        break;
      }
      default:
        this.#chunked.delete(key(c.v.connection_id, c.v.request_id));
        return;
    }
    const done = this.#chunked.get(id);
    this.#chunked.delete(id);
    if (!done) return;
    const [connection_id, request_id] = id.split('/');
    void this.#forwardHttp(
      done.port,
      BigInt(connection_id!),
      Number(request_id),
      done.req,
      Buffer.concat(done.body),
      true,
    );
  }

  async #forwardHttp(
    port: number,
    connection_id: bigint,
    request_id: number,
    req: RequestHead,
    body: Uint8Array,
    framed: boolean,
  ): Promise<void> {
    const local = this.locals.get(port) ?? port;
    const headers = new Headers();
    for (const [k, vs] of req.headers)
      if (!HOP.has(k.toLowerCase())) for (const v of vs) headers.append(k, Buffer.from(v).toString('latin1'));
    let status = 502;
    let outHeaders: HeaderList = [];
    let outBody: Uint8Array = Buffer.from(`mirrord-teams plugin: nothing answered on 127.0.0.1:${local}\n`);
    try {
      const path = req.uri.startsWith('/') ? req.uri : new URL(req.uri).pathname + new URL(req.uri).search;
      const res = await fetch(`http://127.0.0.1:${local}${path}`, {
        method: req.method,
        headers,
        ...(body.length && req.method !== 'GET' && req.method !== 'HEAD' ? { body } : {}),
        redirect: 'manual',
      });
      status = res.status;
      outBody = new Uint8Array(await res.arrayBuffer());
      outHeaders = [...res.headers]
        .filter(([k]) => !HOP.has(k) && k !== 'content-encoding')
        .map(([k, v]) => [k, [Buffer.from(v)]]);
      outHeaders.push(['content-length', [Buffer.from(String(outBody.length))]]);
    } catch (e) {
      this.out.write(`steal :${port} ${req.method} ${req.uri}: ${(e as Error).message}\n`);
    }
    this.out.write(`steal :${port} ${req.method} ${req.uri} → ${status}\n`);
    const head = { port, connection_id, request_id };
    const version = 'HTTP/1.1';
    if (framed)
      this.socket.send({
        $: 'TcpSteal',
        v: {
          $: 'HttpResponseFramed',
          v: {
            ...head,
            internal_response: { status, version, headers: outHeaders, body: [{ $: 'Data', v: outBody }] },
          },
        },
      });
    else
      this.socket.send({
        $: 'TcpSteal',
        v: {
          $: 'HttpResponse',
          v: { ...head, internal_response: { status, version, headers: outHeaders, body: outBody } },
        },
      });
  }

  close(): void {
    for (const s of this.#stolen.values()) s.destroy();
    this.#stolen.clear();
    this.#chunked.clear();
  }
}
