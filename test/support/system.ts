import { tempDir } from './tmp.js';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startNatsServer, type NatsServer } from './nats-server.js';
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

/** nats-server + ledger + gateway as separate processes, the gateway on a free port. */
export async function startSystem(extraEnv: Record<string, string> = {}): Promise<System> {
  const nats = await startNatsServer();
  const dir = tempDir('mirrord-sys');
  const env = {
    NATS_URL: nats.url,
    LEDGER_DB: `sqlite:${join(dir, 'ledger.db')}`,
    GATEWAY_AUTH: 'token-file',
    OPERATOR_CA_DIR: join(dir, 'operator-ca'),
    SESSION_UNUSED_TTL: '6',
    GATEWAY_ADDR: '127.0.0.1:0',
    GATEWAY_ACTIVITY_INTERVAL_MS: '1000',
    ...extraEnv,
  };
  const ledger = await startService('ledger', env);
  const sys: System = {
    nats,
    ledger,
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
      await sys.ledger.stop();
      await nats[Symbol.asyncDispose]();
    },
  };
  await sys.restartGateway();
  return sys;
}

export const API = '/apis/operator.metalbear.co/v1';

export async function http(sys: System, method: string, path: string, token: string | null = 'alice-token') {
  const res = await fetch(`${sys.url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
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

/** A WebSocket session client speaking the gateway's JSON port messages. */
export class SessionClient {
  readonly messages: Msg[] = [];
  #waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  #next = 1;
  closeCode: number | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as Msg;
      this.messages.push(m);
      for (const w of [...this.#waiters])
        if (w.pred(m)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(m);
        }
    });
    ws.on('close', (code) => (this.closeCode = code));
  }

  static connect(
    sys: System,
    opts: {
      target?: string;
      namespace?: string;
      token?: string;
      query?: string;
      headers?: Record<string, string>;
      ca?: string;
    } = {},
  ): Promise<{ client?: SessionClient; status?: number; body?: Msg }> {
    const ns = opts.namespace ?? 'default';
    const url = `${sys.url.replace(/^http/, 'ws')}${API}/namespaces/${ns}/targets/${opts.target ?? 'deployment.ip-visit-counter'}?connect=true${opts.query ?? ''}`;
    const ws = new WebSocket(url, {
      headers: {
        authorization: `Bearer ${opts.token ?? 'alice-token'}`,
        'x-client-name': 'Alice',
        'x-client-hostname': 'alice-mbp',
        ...opts.headers,
      },
      ...(opts.ca ? { ca: opts.ca } : {}),
    });
    return new Promise((resolve, reject) => {
      const c = new SessionClient(ws);
      ws.once('open', () => resolve({ client: c }));
      ws.once('unexpected-response', (_req, res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(b) as Msg }));
      });
      ws.once('error', (e) => reject(e));
    });
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
    return String((await this.waitFor((m) => m.type === 'session')).id);
  }

  ask(m: Msg): Promise<Msg> {
    const id = this.#next++;
    this.ws.send(JSON.stringify({ id, ...m }));
    return this.waitFor((x) => x.id === id);
  }

  close(code = 1000): Promise<void> {
    return new Promise((r) => {
      this.ws.once('close', () => r());
      this.ws.close(code);
    });
  }
}
