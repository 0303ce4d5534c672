import { tempDir } from './tmp.js';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sessionIdFromBigInt } from '#shared/ids/index.js';
import type { HttpFilterValue } from '#shared/protocol/index.js';
import { MirrordSocket } from '../../cli/src/client/mirrord-socket.js';
import { assertNoViolations, startNatsServer, type NatsServer } from './nats-server.js';
import { startService, type ServiceProcess } from './service-process.js';

export interface System {
  nats: NatsServer;
  ledger: ServiceProcess;
  gateway: ServiceProcess;
  url: string;
  env: Record<string, string>;
  restartGateway(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * nats-server + ledger + gateway as separate processes, the gateway on a free port; with
 * `opts.nats` the system uses that server (a fleet's cluster) and leaves it running on stop.
 */
export async function startSystem(
  extraEnv: Record<string, string> = {},
  opts: { nats?: NatsServer } = {},
): Promise<System> {
  const nats = opts.nats ?? (await startNatsServer());
  const dir = tempDir('mirrord-sys');
  const env = {
    ...nats.env,
    LEDGER_DB: `sqlite:${join(dir, 'ledger.db')}`,
    GATEWAY_AUTH: 'token-file',
    OPERATOR_CA_DIR: join(dir, 'operator-ca'),
    SESSION_UNUSED_TTL: '6',
    GATEWAY_ADDR: '127.0.0.1:0',
    GATEWAY_ACTIVITY_INTERVAL_MS: '1000',
    ...extraEnv,
  };
  const sys: System = {
    nats,
    ledger: undefined as unknown as ServiceProcess,
    gateway: undefined as unknown as ServiceProcess,
    url: '',
    env,
    async restartGateway() {
      sys.gateway = await startService('gateway', env);
      const ready = await sys.gateway.waitFor((l) => l.msg === 'gateway ready');
      sys.url = String(ready.url);
    },
    async stop() {
      await sys.gateway?.stop();
      // Teardown, not a test of shutdown (the ledger's own tests stop it with SIGTERM): a ledger
      // that has seen a session spends ~4 s of its SIGTERM drain in the fleet usage publisher
      // (usage.drain(), measured without a license server), at the end of every file.
      await sys.ledger.kill9();
      // Our own services never hit a permission of the bus: one that does has a wire missing
      // from permissions.ts (or talks on one it should not).
      const violations = nats.violations();
      if (!opts.nats) await nats[Symbol.asyncDispose]();
      assertNoViolations({ violations: () => violations });
    },
  };
  // The gateway needs nothing of the ledger to start (its readiness asks it later): the two
  // processes load side by side.
  await Promise.all([startService('ledger', env).then((l) => (sys.ledger = l)), sys.restartGateway()]);
  return sys;
}

export const API = '/apis/operator.metalbear.co/v1';

export async function http(
  sys: System,
  method: string,
  path: string,
  token: string | null = 'alice-token',
  json?: unknown,
) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${sys.url}${path}`, {
    method,
    headers,
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

type Msg = Record<string, unknown>;

/**
 * A session client speaking the mirrord protocol through the gateway (as the mirrord CLI does):
 * it chooses its session id (`x-session-id`), switches the protocol version, and maps answers
 * to plain records for assertions (`{ok, error: {code, message}}`, `{type: 'closed', reason}`).
 */
export class SessionClient {
  readonly messages: Msg[] = [];
  /** The last binary frames the gateway sent, as bytes (golden-vector assertions). */
  readonly frames: Buffer[] = [];
  #waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  closeCode: number | undefined;
  private constructor(
    readonly socket: MirrordSocket,
    readonly id: string,
  ) {
    socket.onMessage((m) => {
      if (m.$ !== 'Close') return;
      this.#push({ type: 'closed', reason: m.v });
    });
    socket.ws.on('message', (data: Buffer) => {
      this.frames.push(data);
      if (this.frames.length > 64) this.frames.shift();
    });
    void socket.closed.then(({ code }) => (this.closeCode = code));
  }

  #push(m: Msg): void {
    this.messages.push(m);
    for (const w of [...this.#waiters])
      if (w.pred(m)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(m);
      }
  }

  get ws() {
    return this.socket.ws;
  }

  static async connect(
    sys: Pick<System, 'url'>,
    opts: {
      target?: string;
      namespace?: string;
      token?: string;
      query?: string;
      headers?: Record<string, string>;
      ca?: string;
      /** Skip SwitchProtocolVersion (tests of the first message). */
      raw?: boolean;
      /** Connect through this API server (its aggregation layer) instead of the gateway, on the `/proxy/` path as the mirrord CLI does. */
      via?: string;
      /** `copytargets`: connect to the copy named `target`, as the CLI does after creating or finding one. */
      resource?: 'targets' | 'copytargets';
    } = {},
  ): Promise<{ client?: SessionClient; status?: number; body?: Msg }> {
    const ns = opts.namespace ?? 'default';
    const base = opts.via ? `${opts.via}${API}/proxy` : `${sys.url}${API}`;
    const url = `${base.replace(/^http/, 'ws')}/namespaces/${ns}/${opts.resource ?? 'targets'}/${opts.target ?? 'deployment.ip-visit-counter'}?connect=true${opts.query ?? ''}`;
    const decimal =
      opts.headers?.['x-session-id'] ?? BigInt.asUintN(64, BigInt(`0x${randomBytes(8).toString('hex')}`)).toString();
    const id = /^\d+$/.test(decimal) ? sessionIdFromBigInt(BigInt(decimal)) : '';
    const r = await MirrordSocket.open(
      url,
      {
        authorization: `Bearer ${opts.token ?? 'alice-token'}`,
        'x-client-name': 'Alice',
        'x-client-hostname': 'alice-mbp',
        'x-session-id': decimal,
        ...opts.headers,
      },
      opts.ca,
    );
    if (!(r instanceof MirrordSocket)) return { status: r.status, body: r.body };
    if (!opts.raw) await r.handshake();
    return { client: new SessionClient(r, id) };
  }

  waitFor(pred: (m: Msg) => boolean, timeoutMs = 15_000): Promise<Msg> {
    const hit = this.messages.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m: Msg) => (clearTimeout(t), resolve(m)) };
      const t = setTimeout(
        () => reject(new Error(`no matching message; got ${JSON.stringify(this.messages)}`)),
        timeoutMs,
      );
      this.#waiters.push(w);
    });
  }

  async sessionId(): Promise<string> {
    return this.id;
  }

  /** A port subscription in the protocol, answered as `{ok}` or `{ok: false, error: {code, message}}`. */
  async subscribe(mode: 'steal' | 'mirror', port: number, filter?: HttpFilterValue): Promise<Msg> {
    const r = await this.socket.subscribe(mode, port, filter);
    if (r.ok) return { ok: true };
    const e = r.error;
    if (e.$ === 'Close') return { ok: false, error: { code: 'Closed', message: e.v } };
    const err = (e as { v: { $: string; v: unknown } }).v;
    if (err.$ === 'Forbidden' || err.$ === 'ForbiddenWithReason') {
      const f = err.v as { policy_name: string | null; reason?: string };
      return {
        ok: false,
        error: { code: 'Forbidden', wire: err.$, message: f.reason ?? '', policy: f.policy_name, detail: err.v },
      };
    }
    return { ok: false, error: { code: err.$, detail: err.v } };
  }

  /** Releases a port subscription (the protocol's PortUnsubscribe / StealUnsubscribe). */
  async unsubscribe(mode: 'steal' | 'mirror', port: number): Promise<void> {
    await this.socket.unsubscribe(mode, port);
  }

  async close(code = 1000): Promise<void> {
    await this.socket.close(code);
  }
}
