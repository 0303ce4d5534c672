import WebSocket from 'ws';
import {
  PROTOCOL_VERSION,
  clientMessage,
  daemonMessage,
  decodeExact,
  encode,
  type ClientMessage,
  type DaemonMessage,
  type HttpFilterValue,
} from '#shared/protocol/index.js';
import type { GatewayTls } from './gateway.js';

/** The subprotocol kube-apiserver's proxy and the mirrord CLI use; the gateway echoes it. */
export const CHANNEL_PROTOCOL = 'v4.channel.k8s.io';

type SubscribeResult =
  { ok: true; port: number } | { ok: false; error: Extract<DaemonMessage, { $: 'Close' }> | ErrorOf };
type ErrorOf = { $: 'Err'; v: unknown };

/** A refusal before the upgrade: the Kubernetes Status the gateway answered. */
export interface Refused {
  status: number;
  body: Record<string, unknown>;
}

/**
 * A mirrord-protocol client over the connect WebSocket, as the mirrord CLI is one: binary
 * frames, one message each. The plugin's `session start` and the tests speak through it.
 */
/** Messages kept for `next()` callers that ask after they arrived; older ones are dropped (traffic streams through listeners). */
const BACKLOG = 256;

export class MirrordSocket {
  /** The most recent messages not yet taken by a `next()` caller. */
  #backlog: DaemonMessage[] = [];
  #listeners = new Set<(m: DaemonMessage) => void>();
  /** Subscriptions awaiting their answer, per kind: the gateway and the agent answer them in order. */
  #subscribing: Record<'Tcp' | 'TcpSteal', Array<(m: DaemonMessage) => void>> = { Tcp: [], TcpSteal: [] };
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) throw new Error('text frame from the gateway: not the mirrord protocol');
      const m = decodeExact(daemonMessage, data);
      this.#backlog.push(m);
      if (this.#backlog.length > BACKLOG) this.#backlog.shift();
      if ((m.$ === 'Tcp' || m.$ === 'TcpSteal') && m.v.$ === 'SubscribeResult') this.#subscribing[m.$].shift()?.(m);
      if (m.$ === 'Close') for (const q of Object.values(this.#subscribing)) for (const w of q.splice(0)) w(m);
      for (const l of this.#listeners) l(m);
    });
    this.closed = new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  }

  /** Opens the socket; a refusal before the upgrade comes back as its Status. */
  static open(
    url: string,
    headers: Record<string, string>,
    ca?: string,
    tls: GatewayTls = {},
  ): Promise<MirrordSocket | Refused> {
    const ws = new WebSocket(url, [CHANNEL_PROTOCOL], { headers, ...(ca ? { ca } : {}), ...tls });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new MirrordSocket(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => {
          let body: Record<string, unknown>;
          try {
            body = JSON.parse(b) as Record<string, unknown>;
          } catch {
            body = { message: b };
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      ws.once('error', reject);
    });
  }

  send(m: ClientMessage): void {
    this.ws.send(encode(clientMessage, m), { binary: true });
  }

  /** Every message as it arrives (the plugin's dump of mirrored traffic). */
  onMessage(cb: (m: DaemonMessage) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** The next message (after those already taken) matching `pred`. */
  next(pred: (m: DaemonMessage) => boolean = () => true, timeoutMs = 15_000): Promise<DaemonMessage> {
    const i = this.#backlog.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.#backlog.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      // Each message goes to one waiter: concurrent waiters for Pong each get their own.
      const off = this.onMessage((m) => {
        const at = this.#backlog.lastIndexOf(m);
        if (at < 0 || !pred(m)) return;
        this.#backlog.splice(at, 1);
        clearTimeout(timer);
        off();
        resolve(m);
      });
      const timer = setTimeout(() => {
        off();
        reject(
          new Error(
            `no matching mirrord message within ${timeoutMs} ms; kept ${this.#backlog.map((m) => m.$).join(', ')}`,
          ),
        );
      }, timeoutMs);
      void this.closed.then(({ code, reason }) => {
        clearTimeout(timer);
        off();
        reject(new Error(`socket closed (${code} ${reason}) while waiting`));
      });
    });
  }

  /** `SwitchProtocolVersion` → the version both sides speak. */
  async handshake(version = PROTOCOL_VERSION): Promise<string> {
    this.send({ $: 'SwitchProtocolVersion', v: version });
    const m = await this.next((x) => x.$ === 'SwitchProtocolVersionResponse' || x.$ === 'Close');
    if (m.$ === 'Close') throw new Error(`closed by the operator: ${m.v}`);
    return m.v as string;
  }

  /** Subscribes a port and waits for its answer (the agent's, or the gateway's refusal). */
  async subscribe(mode: 'steal' | 'mirror', port: number, filter?: HttpFilterValue): Promise<SubscribeResult> {
    const kind = mode === 'mirror' ? 'Tcp' : 'TcpSteal';
    const answer = new Promise<DaemonMessage>((resolve, reject) => {
      this.#subscribing[kind].push(resolve);
      void this.closed.then(({ code, reason }) =>
        reject(new Error(`socket closed (${code} ${reason}) before port ${port} was answered`)),
      );
    });
    if (mode === 'mirror')
      this.send({
        $: 'Tcp',
        v: filter ? { $: 'PortSubscribeFilteredHttp', v: [port, filter] } : { $: 'PortSubscribe', v: port },
      });
    else
      this.send({
        $: 'TcpSteal',
        v: { $: 'PortSubscribe', v: filter ? { $: 'FilteredHttpEx', v: [port, filter] } : { $: 'All', v: port } },
      });
    const m = await answer;
    if (m.$ === 'Close') return { ok: false, error: m };
    const r = (m as Extract<DaemonMessage, { $: 'Tcp' }>).v as Extract<
      Extract<DaemonMessage, { $: 'Tcp' }>['v'],
      { $: 'SubscribeResult' }
    >;
    return r.v.$ === 'Ok' ? { ok: true, port: r.v.v } : { ok: false, error: r.v };
  }

  /** Releases a port; a Ping after it tells when the gateway has handled both. */
  async unsubscribe(mode: 'steal' | 'mirror', port: number): Promise<void> {
    this.send({ $: mode === 'mirror' ? 'Tcp' : 'TcpSteal', v: { $: 'PortUnsubscribe', v: port } });
    await this.ping();
  }

  async ping(): Promise<void> {
    this.send({ $: 'Ping' });
    await this.next((x) => x.$ === 'Pong');
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    return this.closed;
  }
}
