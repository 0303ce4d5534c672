import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NatsConnection } from '@nats-io/nats-core';
import { assertNoViolations, startNatsCluster, type NatsCluster } from '../../test/support/nats-server.js';
import { startPostgres, type Postgres } from '../../test/support/postgres.js';
import { startService, type LogLine, type ServiceProcess } from '../../test/support/service-process.js';

/**
 * A Forge webtrigger stand-in, idempotent by its `idempotency-key` header as the reports'
 * receiver is: a POST repeating an accepted key is answered 200 and applied no second time
 * (counted in `repeats`: a reporter killed between the 200 and its mark sends it again). A
 * report applied twice is one session reported under two keys. Can be taken down.
 */
export interface Webtrigger {
  url: string;
  /** Reports applied per idempotency key (the Session Ended event id): 1 each. */
  posts: Map<string, number>;
  /** The keys each session's report arrived under. */
  keysBySession: Map<string, Set<string>>;
  /** POSTs that repeated an applied key. */
  repeats: number;
  down: boolean;
  close(): Promise<void>;
}

export async function startWebtrigger(): Promise<Webtrigger> {
  const hook: Webtrigger = {
    url: '',
    posts: new Map(),
    keysBySession: new Map(),
    repeats: 0,
    down: false,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (hook.down) {
        res.writeHead(503).end('down for chaos');
        return;
      }
      const key = String(req.headers['idempotency-key']);
      if (hook.posts.has(key)) hook.repeats++;
      else {
        hook.posts.set(key, 1);
        const session = String((JSON.parse(body) as { session_id?: unknown }).session_id);
        hook.keysBySession.set(session, (hook.keysBySession.get(session) ?? new Set()).add(key));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  hook.close = () => new Promise((r) => server.close(() => r()));
  return hook;
}

const isLedgerUp = (l: LogLine) =>
  l.msg === 'ledger ready' || l.msg === 'ledger standby: another ledger holds the writer lease; waiting to take over';

/**
 * The replicated system the faults hit: a three-node NATS cluster (R3 streams), PostgreSQL,
 * two ledgers (one active, one hot standby), two jira-reporters and a webtrigger.
 */
export class Rig {
  ledgers: ServiceProcess[] = [];
  reporters: ServiceProcess[] = [];
  nc!: NatsConnection;
  dbUrl = '';
  /** Ledgers that exited by themselves (a step-down) and were started again, as a pod would be. */
  restarts: Array<{ ledger: number; why: string }> = [];
  private readonly restarting = new Map<number, Promise<ServiceProcess>>();
  private stopping = false;

  private constructor(
    readonly nats: NatsCluster,
    readonly pg: Postgres,
    readonly hook: Webtrigger,
    readonly leaseMs: number,
  ) {}

  static async start(leaseMs: number): Promise<Rig> {
    const [nats, pg, hook] = await Promise.all([startNatsCluster(3), startPostgres(), startWebtrigger()]);
    const rig = new Rig(nats, pg, hook, leaseMs);
    rig.dbUrl = await rig.pg.createDatabase('chaos');
    rig.nc = await rig.nats.connect(undefined, { maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    // The first ledger alone: it migrates the database and makes the streams. The others then
    // start side by side (the standby, and the reporters, which wait for the events stream).
    await rig.startLedger(0);
    await Promise.all([rig.startLedger(1), rig.startReporter(0), rig.startReporter(1)]);
    return rig;
  }

  env(): Record<string, string> {
    return {
      ...this.nats.env,
      NATS_REPLICAS: '3',
      LEDGER_DB: this.dbUrl,
      LEDGER_LEASE_MS: String(this.leaseMs),
      USER_MAX_SESSIONS: '0',
      SESSION_UNUSED_TTL: '3600',
      JIRA_WEBTRIGGER_URL: this.hook.url,
      JIRA_RETRY_MAX_DELAY: '2s',
      JIRA_TIMEOUT_MS: '2000',
    };
  }

  async startLedger(i: number): Promise<ServiceProcess> {
    const p = await startService('ledger', { ...this.env(), LEDGER_INSTANCE: `ledger-${i}` }, isLedgerUp);
    this.ledgers[i] = p;
    // A ledger that steps down (its lease lost while NATS elects a leader, its store fenced)
    // exits 1 on purpose: its Deployment starts it again. A kill by a fault is the fault's to heal.
    p.proc.once('exit', (code, signal) => {
      if (this.stopping || signal !== null) return;
      const why = [...p.lines].reverse().find((l) => l.level === 'fatal' || l.level === 'error')?.msg ?? `exit ${code}`;
      this.restarts.push({ ledger: i, why });
      process.stderr.write(`chaos:   ledger-${i} exited (${why}); started again as its pod would be\n`);
      const again = this.startLedger(i);
      again.catch(() => undefined); // awaited by restarted() or by stop()
      this.restarting.set(i, again);
    });
    return p;
  }

  /** The process the supervisor started after ledger `i` exited by itself (waits for the exit). */
  async restarted(i: number): Promise<ServiceProcess> {
    const p = this.ledgers[i]!;
    if (p.proc.exitCode === null) await new Promise((r) => p.proc.once('exit', r));
    return this.restarting.get(i)!;
  }

  /** Each ledger's state and last lines: what a load that was never answered needs to be read. */
  describe(): string {
    return this.ledgers
      .map((p, i) => {
        const state =
          p.proc.exitCode !== null || p.proc.signalCode !== null
            ? `exited ${p.proc.exitCode ?? p.proc.signalCode}`
            : 'running';
        const last = p.lines.slice(-6).map((l) => `    ${l.level} ${l.msg}`);
        return [`  ledger-${i} (${state}):`, ...last].join('\n');
      })
      .join('\n');
  }

  async startReporter(i: number): Promise<ServiceProcess> {
    const p = await startService('jira-reporter', {
      ...this.env(),
      LOG_LEVEL: process.env.CHAOS_DEBUG ? 'debug' : 'info',
    });
    this.reporters[i] = p;
    return p;
  }

  /** The ledger that holds the lease now (the latest to acquire it among the running ones). */
  async active(): Promise<number> {
    for (let t = 0; t < 600; t++) {
      const running = this.ledgers
        .map((p, i) => ({ p, i }))
        .filter(({ p }) => p.proc.exitCode === null && p.proc.signalCode === null)
        .filter(({ p }) => p.lines.some((l) => l.msg === 'ledger ready'));
      if (running.length === 1) return running[0]!.i;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no single active ledger');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.restarting.values()].map((p) => p.catch(() => undefined)));
    await this.nc?.close().catch(() => undefined);
    await Promise.all([...this.reporters, ...this.ledgers].map((p) => p.stop().catch(() => undefined)));
    await this.hook.close();
    await this.pg[Symbol.asyncDispose]();
    const bus = this.nats.violations();
    await this.nats[Symbol.asyncDispose]();
    assertNoViolations({ violations: () => bus });
  }
}
