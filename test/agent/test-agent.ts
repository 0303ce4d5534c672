import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { X509Certificate } from 'node:crypto';
import {
  MessageFramer,
  clientMessage,
  daemonMessage,
  decodeExact,
  encode,
  negotiated,
  renderProtocolFilter,
  type ClientMessage,
  type DaemonMessage,
  type HttpFilterValue,
} from '#shared/protocol/index.js';
import { matchesFilter, type TestHttpRequest } from './http-match.js';
import { mirroredRequest, stolenRequest, TARGET_FILES } from './agent-messages.js';
import { AgentOutgoing } from './agent-outgoing.js';

/**
 * A test double of `mirrord-agent` with its wire and TLS role (`data-plane.md`): it accepts TCP,
 * then (given the operator's certificate) is the TLS *client*; it speaks mirrord-protocol 1.29,
 * answers version, ping, env and subscriptions, and on command delivers stolen HTTP requests
 * and connections and mirrored traffic — what a real agent does with iptables in a pod.
 */
export interface TestAgentOptions {
  host: string;
  port: number;
  /** `--operator-tls-cert-pem`: the only certificate the agent trusts. */
  operatorCertPem?: string;
  /** The target container's environment (what `GetEnvVarsRequest` reads). */
  env?: Record<string, string>;
  mode?: 'targetless' | 'ephemeral' | 'targeted';
  /**
   * The demo's traffic: the target pod's IP, where each subscribed port is served over HTTP as
   * the target app would serve it — a request there is stolen or mirrored like real traffic.
   */
  serveTargetPortsAt?: string;
  /** `-t`: seconds to wait for the first client before exiting (the real agent's startup timeout). */
  startupTimeoutSeconds?: number;
  /** `MIRRORD_AGENT_IDLE_TTL`: seconds without any client before the agent exits. */
  idleTtlSeconds?: number;
  /** Names the cluster's DNS answers (name → addresses); others resolve as on this machine. */
  hosts?: Record<string, string[]>;
  /** The cluster's DNS (the node simulator's, from the cluster's Services), asked after `hosts`. */
  resolve?: (name: string) => { fqdn: string; ips: string[] } | undefined;
  /** The process ended: 0 after the idle TTL, 1 after the startup timeout, 137 when killed. */
  onExit?: (code: number) => void;
}

interface Subscription {
  client: AgentClient;
  mode: 'mirror' | 'steal';
  port: number;
  filter?: HttpFilterValue;
}

export interface TestHttpResponse {
  status: number;
  headers: Array<[string, string]>;
  body: string;
}

let nextConnectionId = 1n;

class AgentClient {
  version = '1.2.0';
  readonly framer = new MessageFramer(clientMessage, 64 << 20);
  readonly pending = new Map<bigint, (r: TestHttpResponse) => void>();
  readonly raw = new Map<bigint, { chunks: Uint8Array[]; done: (b: Buffer) => void }>();
  readonly outgoing: AgentOutgoing;
  constructor(
    readonly agent: TestAgent,
    readonly io: Duplex,
  ) {
    this.outgoing = new AgentOutgoing((m) => this.send(m), agent.hosts, agent.o.resolve);
  }
  send(m: DaemonMessage): void {
    if (!this.io.destroyed) this.io.write(encode(daemonMessage, m));
  }
}

export class TestAgent {
  readonly clients = new Set<AgentClient>();
  readonly subscriptions: Subscription[] = [];
  /** Every client message the agent received, decoded (tests assert what was, or was not, forwarded). */
  readonly received: ClientMessage[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly targetPorts = new Map<number, HttpServer>();
  /** The target container's files (path → content) and the descriptors open on them. */
  readonly files = new Map<string, string>(Object.entries(TARGET_FILES));
  /** The cluster DNS's names (tests add to it). */
  readonly hosts: Map<string, string[]>;
  private readonly open = new Map<bigint, { path: string; at: number }>();
  private nextFd = 3n;
  /** Pending exit: the startup timeout until a first client, then the idle TTL whenever none is left. */
  #exitTimer: NodeJS.Timeout | undefined;
  #exited = false;

  private constructor(
    private readonly server: Server,
    readonly o: TestAgentOptions,
  ) {
    this.hosts = new Map(Object.entries(o.hosts ?? {}));
    if (o.startupTimeoutSeconds !== undefined) this.#exitAfter(o.startupTimeoutSeconds, 1);
  }

  #exitAfter(seconds: number, code: number): void {
    clearTimeout(this.#exitTimer);
    this.#exitTimer = setTimeout(() => this.#exit(code), seconds * 1000);
    this.#exitTimer.unref();
  }

  #exit(code: number): void {
    if (this.#exited) return;
    this.#exited = true;
    clearTimeout(this.#exitTimer);
    this.#stop();
    this.o.onExit?.(code);
  }

  static start(o: TestAgentOptions): Promise<TestAgent> {
    const server = createServer();
    const agent = new TestAgent(server, o);
    server.on('connection', (s) => agent.accept(s));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => resolve(agent));
    });
  }

  get address(): string {
    const a = this.server.address() as { address: string; port: number };
    return `${a.address}:${a.port}`;
  }

  private accept(sock: Socket): void {
    // Like the real agent's tokio streams, no Nagle delay: a request's head and body chunk go out at once.
    sock.setNoDelay(true);
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    const cert = this.o.operatorCertPem;
    const io: Duplex = cert
      ? tlsConnect({
          socket: sock,
          ca: cert,
          servername: new X509Certificate(cert).subjectAltName!.replace(/^DNS:/, ''),
        })
      : sock;
    io.on('error', () => sock.destroy());
    const c = new AgentClient(this, io);
    this.clients.add(c);
    clearTimeout(this.#exitTimer);
    io.on('data', (chunk: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = c.framer.push(chunk);
      } catch {
        // As the real agent: a message it cannot decode ends that client's connection.
        return io.destroy();
      }
      for (const f of frames) this.handle(c, decodeExact(clientMessage, f));
    });
    io.once('close', () => {
      this.clients.delete(c);
      c.outgoing.close();
      if (this.clients.size === 0 && this.o.idleTtlSeconds !== undefined) this.#exitAfter(this.o.idleTtlSeconds, 0);
      for (let i = this.subscriptions.length - 1; i >= 0; i--)
        if (this.subscriptions[i]!.client === c) this.subscriptions.splice(i, 1);
    });
  }

  /**
   * The target's files as the agent serves them (Open, Read, Close; a write open creates):
   * `TARGET_FILES`, plus what clients wrote. Other requests answer NotImplemented.
   */
  private file(c: AgentClient, r: Extract<ClientMessage, { $: 'FileRequest' }>['v']): void {
    const reply = (v: Extract<DaemonMessage, { $: 'File' }>['v']) => c.send({ $: 'File', v });
    switch (r.$) {
      case 'Open': {
        const o = r.v.open_options;
        const exists = this.files.has(r.v.path);
        if (!exists && !o.create && !o.create_new)
          return reply({
            $: 'Open',
            v: { $: 'Err', v: { $: 'RemoteIO', v: { raw_os_error: 2, kind: { $: 'NotFound', v: null } } } },
          });
        if (!exists || o.truncate) this.files.set(r.v.path, '');
        const fd = this.nextFd++;
        this.open.set(fd, { path: r.v.path, at: 0 });
        return reply({ $: 'Open', v: { $: 'Ok', v: { fd } } });
      }
      case 'Read': {
        const f = this.open.get(r.v.remote_fd);
        if (!f) return reply({ $: 'Read', v: { $: 'Err', v: { $: 'NotFound', v: r.v.remote_fd } } });
        const bytes = Buffer.from(this.files.get(f.path) ?? '').subarray(f.at, f.at + Number(r.v.buffer_size));
        f.at += bytes.length;
        return reply({ $: 'Read', v: { $: 'Ok', v: { bytes, read_amount: BigInt(bytes.length) } } });
      }
      case 'Close':
        this.open.delete(r.v.fd);
        return;
      case 'CloseDir':
        return;
      default:
        return reply({ $: 'Open', v: { $: 'Err', v: { $: 'NotImplemented', v: null } } });
    }
  }

  private subscribe(c: AgentClient, mode: 'mirror' | 'steal', port: number, filter?: HttpFilterValue): void {
    const steal = mode === 'steal';
    const blocked = steal && this.o.mode === 'targetless';
    if (blocked) return c.send({ $: 'Close', v: 'steal and mirror need a target' });
    this.subscriptions.push({ client: c, mode, port, ...(filter ? { filter } : {}) });
    this.serveTargetPort(port);
    c.send({ $: steal ? 'TcpSteal' : 'Tcp', v: { $: 'SubscribeResult', v: { $: 'Ok', v: port } } });
  }

  private unsubscribe(c: AgentClient, mode: 'mirror' | 'steal', port: number): void {
    const i = this.subscriptions.findIndex((s) => s.client === c && s.mode === mode && s.port === port);
    if (i >= 0) this.subscriptions.splice(i, 1);
  }

  private handle(c: AgentClient, m: ClientMessage): void {
    this.received.push(m);
    switch (m.$) {
      case 'SwitchProtocolVersion':
        c.version = negotiated(m.v);
        return c.send({ $: 'SwitchProtocolVersionResponse', v: c.version });
      case 'Ping':
        return c.send({ $: 'Pong' });
      case 'Close':
        c.io.end();
        return;
      case 'GetEnvVarsRequest': {
        const env = Object.entries(this.o.env ?? {}).filter(
          ([k]) =>
            !m.v.env_vars_filter.some((g) => glob(g, k)) &&
            (m.v.env_vars_select.length === 0 || m.v.env_vars_select.some((g) => glob(g, k))),
        );
        return c.send({ $: 'GetEnvVarsResponse', v: { $: 'Ok', v: env } });
      }
      case 'FileRequest':
        return this.file(c, m.v);
      case 'TcpOutgoing':
        return c.outgoing.handle('TCP', m.v);
      case 'UdpOutgoing':
        return c.outgoing.handle('UDP', m.v);
      case 'GetAddrInfoRequest':
      case 'GetAddrInfoRequestV2':
        return c.outgoing.resolve(m.v.node);
      case 'Tcp':
        if (m.v.$ === 'PortSubscribe') return this.subscribe(c, 'mirror', m.v.v);
        if (m.v.$ === 'PortSubscribeFilteredHttp') return this.subscribe(c, 'mirror', m.v.v[0], m.v.v[1]);
        if (m.v.$ === 'PortUnsubscribe') return this.unsubscribe(c, 'mirror', m.v.v);
        return;
      case 'TcpSteal': {
        const t = m.v;
        if (t.$ === 'PortSubscribe') {
          const s = t.v;
          if (s.$ === 'All') return this.subscribe(c, 'steal', s.v);
          return this.subscribe(c, 'steal', s.v[0], s.$ === 'FilteredHttp' ? { $: 'Header', v: s.v[1] } : s.v[1]);
        }
        if (t.$ === 'PortUnsubscribe') return this.unsubscribe(c, 'steal', t.v);
        if (t.$ === 'HttpResponse' || t.$ === 'HttpResponseFramed') {
          const r = t.v.internal_response;
          const body =
            t.$ === 'HttpResponse'
              ? Buffer.from(t.v.internal_response.body)
              : Buffer.concat(t.v.internal_response.body.flatMap((f) => (f.$ === 'Data' ? [f.v] : [])));
          c.pending.get(t.v.connection_id)?.({
            status: r.status,
            headers: r.headers.flatMap(([k, vs]) => vs.map((v) => [k, Buffer.from(v).toString()] as [string, string])),
            body: body.toString(),
          });
          return;
        }
        if (t.$ === 'Data') {
          c.raw.get(t.v.connection_id)?.chunks.push(t.v.bytes.slice());
          return;
        }
        if (t.$ === 'ConnectionUnsubscribe') {
          const raw = c.raw.get(t.v);
          raw?.done(Buffer.concat(raw.chunks));
          return;
        }
        return;
      }
      default:
        return;
    }
  }

  /** The target app's port on the pod IP (demo): stolen when someone steals it, else the app answers. */
  private serveTargetPort(port: number): void {
    const ip = this.o.serveTargetPortsAt;
    if (!ip || this.targetPorts.has(port)) return;
    const server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const headers = Object.fromEntries(
          Object.entries(req.headers).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v]] : [])),
        );
        const asked = {
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          headers,
          body: Buffer.concat(chunks).toString(),
        };
        this.deliverHttp(port, asked).then(
          (r) => {
            if (!r) return res.end(`hello from the target app on ${ip}:${port}: ${asked.method} ${asked.path}\n`);
            res.writeHead(r.status, r.headers);
            res.end(r.body);
          },
          (e: unknown) => {
            res.writeHead(502);
            res.end(`${String(e)}\n`);
          },
        );
      });
    });
    server.on('error', (e) => process.stderr.write(`test agent: cannot serve ${ip}:${port} (${e.message})\n`));
    server.listen(port, ip);
    this.targetPorts.set(port, server);
  }

  /** Which subscription gets a request on `port`: a matching filtered steal, else an unfiltered one. */
  private stealer(port: number, req?: TestHttpRequest): Subscription | undefined {
    const steals = this.subscriptions.filter((s) => s.mode === 'steal' && s.port === port);
    return (req && steals.find((s) => s.filter && matchesFilter(s.filter, req))) ?? steals.find((s) => !s.filter);
  }

  /**
   * An HTTP request arriving at the target's `port`: stolen (answered by the stealing client)
   * when a steal matches, and copied to every mirror. Without a stealer, `undefined` (the
   * target app itself would answer).
   */
  async deliverHttp(port: number, req: TestHttpRequest, timeoutMs = 10_000): Promise<TestHttpResponse | undefined> {
    const connection_id = nextConnectionId++;
    const headers = Object.entries(req.headers ?? {}).map(([k, v]) => [k, [Buffer.from(v)]] as [string, Uint8Array[]]);
    const body = Buffer.from(req.body ?? '');
    for (const m of this.subscriptions.filter((s) => s.mode === 'mirror' && s.port === port)) {
      if (m.filter && !matchesFilter(m.filter, req)) continue;
      for (const msg of mirroredRequest(m.client.version, { req, headers, body, connection_id, port }))
        m.client.send(msg);
    }
    const s = this.stealer(port, req);
    if (!s) return undefined;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no HTTP response from the stealing client within ${timeoutMs} ms`)),
        timeoutMs,
      );
      s.client.pending.set(connection_id, (r) => {
        clearTimeout(timer);
        s.client.pending.delete(connection_id);
        resolve(r);
      });
      for (const m of stolenRequest(s.client.version, { req, headers, body, connection_id, port })) s.client.send(m);
    });
  }

  /** The rendered filters of this agent's subscriptions (`port mode filter`), for assertions. */
  describe(): string[] {
    return this.subscriptions.map((s) => `${s.port} ${s.mode}${s.filter ? ` ${renderProtocolFilter(s.filter)}` : ''}`);
  }

  /**
   * `count` stolen-connection `Data` messages of `size` bytes to every client, as fast as the
   * connection takes them (waiting on 'drain'): what a busy stolen port looks like.
   */
  async blast(count: number, size: number): Promise<number> {
    const frame = encode(daemonMessage, {
      $: 'TcpSteal',
      v: { $: 'Data', v: { connection_id: 1n, bytes: new Uint8Array(size).fill(97) } },
    });
    for (let i = 0; i < count; i++)
      for (const c of this.clients) if (!c.io.write(frame)) await new Promise((r) => c.io.once('drain', r));
    return frame.length * count;
  }

  /** Bytes as they are, to every client (a broken or newer agent). */
  sendRaw(bytes: Uint8Array): void {
    for (const c of this.clients) if (!c.io.destroyed) c.io.write(bytes);
  }

  /** Like kill -9 of the agent: every connection cut, nothing said; its container terminates. */
  kill(): void {
    this.#exit(137);
  }

  #stop(): void {
    this.server.close();
    for (const s of this.targetPorts.values()) s.close();
    this.targetPorts.clear();
    for (const s of this.sockets) s.destroy();
  }

  /** Stops it without an exit to report (its pod is gone). */
  close(): Promise<void> {
    this.#exited = true;
    clearTimeout(this.#exitTimer);
    this.#stop();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const glob = (pattern: string, s: string): boolean =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  ).test(s);
