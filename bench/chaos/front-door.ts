import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { sessionIdFromBigInt } from '#shared/ids/index.js';
import { runKubectl, startTestCluster, type TestCluster } from '../../test/support/cluster.js';
import { assertNoViolations, startNatsServer, type NatsServer } from '../../test/support/nats-server.js';
import { startService, type ServiceProcess } from '../../test/support/service-process.js';
import { SessionClient } from '../../test/support/system.js';
import { tempDir } from '../../test/support/tmp.js';
import { openLedgerStore } from '../../services/ledger/src/adapters/sql/sql-store.js';
import { inspect, type ChaosRow } from './checks.js';
import type { Profile } from './run.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TARGETS = ['deployment.ip-visit-counter', 'deployment.my-deployment'];
const AGENT_LABEL = 'mirrord.metalbear.co/agent';

/**
 * The door people use, replicated: two gateways, two policy services and two agent-managers on
 * the test cluster (its node simulator runs a protocol-speaking agent in every agent pod), one
 * ledger, one NATS. Sessions are real WebSocket clients of the gateways.
 */
export class FrontDoor {
  gateways: ServiceProcess[] = [];
  urls: string[] = [];
  ams: ServiceProcess[] = [];
  policies: ServiceProcess[] = [];
  ledger!: ServiceProcess;
  nc!: NatsConnection;
  dbUrl = '';
  readonly caDir = join(tempDir('chaos-ca'), 'ca');

  private constructor(
    readonly cluster: TestCluster,
    readonly nats: NatsServer,
  ) {}

  static async start(): Promise<FrontDoor> {
    const fd = new FrontDoor(...(await Promise.all([startTestCluster(), startNatsServer()])));
    fd.dbUrl = `sqlite:${join(tempDir('chaos-front'), 'ledger.db')}`;
    // The first gateway makes the operator CA the other replicas share: it starts alone (next
    // to the ledger); the rest, which only read the CA, side by side.
    [fd.ledger] = await Promise.all([
      startService('ledger', { ...fd.env(), LEDGER_INSTANCE: 'front' }),
      fd.startGateway(0),
    ]);
    await Promise.all([fd.startGateway(1), ...[0, 1].flatMap((i) => [fd.startAgentManager(i), fd.startPolicy(i)])]);
    fd.nc = await fd.nats.connect();
    return fd;
  }

  env(): Record<string, string> {
    return {
      ...this.nats.env,
      LEDGER_DB: this.dbUrl,
      USER_MAX_SESSIONS: '0',
      SESSION_UNUSED_TTL: '8',
      SESSION_MESSAGES_PER_SECOND: '100000',
      GATEWAY_AUTH: 'kubernetes',
      GATEWAY_ADDR: '127.0.0.1:0',
      GATEWAY_ACTIVITY_INTERVAL_MS: '1000',
      KUBECONFIG: this.cluster.kubeconfig,
      GATEWAY_KUBE_CONTEXT: 'mirrord-operator',
      AGENT_MANAGER_KUBE_CONTEXT: 'mirrord-operator',
      POLICY_KUBE_CONTEXT: 'mirrord-operator',
      // A phase's findings wait for its agents to go: a second idle (0 would take another path,
      // deleting an agent with its last session).
      OPERATOR_AGENT_IDLE_TTL: '1',
      // One operator CA for every replica: agents trust the certificate any gateway presents.
      OPERATOR_CA_DIR: this.caDir,
    };
  }

  async startGateway(i: number): Promise<void> {
    const p = await startService('gateway', this.env());
    this.gateways[i] = p;
    this.urls[i] = String(p.lines.find((l) => l.msg === 'gateway ready')!.url);
  }

  async startAgentManager(i: number): Promise<void> {
    this.ams[i] = await startService('agent-manager', this.env());
  }

  async startPolicy(i: number): Promise<void> {
    this.policies[i] = await startService('policy', this.env());
  }

  /** Agent Jobs in the cluster (each target's agent is removed once its last session ended). */
  async agentJobs(): Promise<number> {
    const r = await runKubectl(this.cluster, 'admin', 'get', 'jobs', '-A', '-l', AGENT_LABEL, '-o', 'name');
    return r.out.split('\n').filter(Boolean).length;
  }

  alive(i: number): boolean {
    const p = this.gateways[i]!.proc;
    return p.exitCode === null && p.signalCode === null;
  }

  /** Sessions still live in the ledger's store. */
  async liveSessions(): Promise<number> {
    const store = await openLedgerStore(this.dbUrl);
    try {
      return (await store.liveSessions()).sessions.length;
    } finally {
      await store.close();
    }
  }

  async stop(): Promise<void> {
    await this.nc?.close().catch(() => undefined);
    await Promise.all(
      [...this.gateways, ...this.ams, ...this.policies, this.ledger].map((p) => p?.stop().catch(() => undefined)),
    );
    const bus = this.nats.violations();
    await this.nats[Symbol.asyncDispose]();
    assertNoViolations({ violations: () => bus });
    await this.cluster.stop();
  }
}

export interface DoorStats {
  sessions: number;
  /** Protocol operations the door answered: connects, port subscriptions, closes. */
  operations: number;
  /** Connects retried (a gateway gone, a refused start) and sessions resumed elsewhere. */
  retries: number;
  /** Session ids a client was given: each must be in the ledger's store. */
  started: Set<string>;
}

/**
 * `sessions` clients, `concurrency` at a time, each on one of two shared targets through a
 * gateway chosen round robin: connect, steal port 80 unfiltered (sessions on one target contend),
 * hold briefly, close. A client whose gateway dies reconnects through the other with its
 * `x-session-id` and goes on: the session must survive.
 */
export async function runDoorLoad(
  fd: FrontDoor,
  sessions: number,
  concurrency: number,
  midway: () => Promise<void>,
): Promise<DoorStats> {
  const st: DoorStats = { sessions: 0, operations: 0, retries: 0, started: new Set() };
  let next = 0;
  let triggered = false;
  const one = async (n: number) => {
    const decimal = BigInt.asUintN(64, BigInt(`0x${randomBytes(8).toString('hex')}`)).toString();
    const id = sessionIdFromBigInt(BigInt(decimal));
    let stage: 'connect' | 'steal' | 'close' = 'connect';
    let last: unknown;
    for (let attempt = 0; attempt < 60; attempt++) {
      const gw = [n + attempt, n + attempt + 1].map((k) => k % 2).find((k) => fd.alive(k));
      if (gw === undefined) {
        await sleep(200);
        continue;
      }
      let client: SessionClient | undefined;
      try {
        const r = await SessionClient.connect(
          { url: fd.urls[gw]! },
          { target: TARGETS[n % TARGETS.length], token: 'jim-token', headers: { 'x-session-id': decimal } },
        );
        if (!r.client) {
          if (r.status === 410) return; // ended meanwhile (e.g. Unused while no gateway could take it)
          throw new Error(`connect answered ${r.status}: ${JSON.stringify(r.body)}`);
        }
        client = r.client;
        if (stage === 'connect') {
          st.started.add(id);
          st.operations++;
          stage = 'steal';
        }
        const sub = await client.subscribe('steal', 80);
        if (!sub.ok && (sub.error as { code?: string }).code === 'Closed') throw new Error('closed');
        if (stage === 'steal') {
          st.operations++;
          stage = 'close';
        }
        await sleep(50);
        if (client.closeCode !== undefined) throw new Error('closed');
        await client.close();
        st.operations++;
        return;
      } catch (e) {
        last = e;
        st.retries++;
        client?.ws.terminate();
        await sleep(200);
      }
    }
    throw new Error(`session ${id} never got through the door (at ${stage}): ${String(last)}`);
  };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < sessions) {
        const n = next++;
        st.sessions++;
        if (!triggered && n >= sessions / 2) {
          triggered = true;
          void midway();
        }
        await one(n);
      }
    }),
  );
  return st;
}

interface DoorFault {
  name: string;
  inject(fd: FrontDoor): Promise<void>;
  heal(fd: FrontDoor): Promise<void>;
}

const DOOR_FAULTS: DoorFault[] = [
  {
    name: 'kill -9 a gateway (its clients reconnect through the other)',
    inject: (fd) => fd.gateways[0]!.kill9(),
    heal: (fd) => fd.startGateway(0),
  },
  {
    name: 'kill -9 an agent-manager',
    inject: (fd) => fd.ams[0]!.kill9(),
    heal: (fd) => fd.startAgentManager(0),
  },
  {
    name: 'kill -9 a policy service',
    inject: (fd) => fd.policies[0]!.kill9(),
    heal: (fd) => fd.startPolicy(0),
  },
];

/** Until a new session gets through any live gateway (then closed); ms since `since`. */
async function doorRecovery(fd: FrontDoor, since: number): Promise<number> {
  while (Date.now() - since < 120_000) {
    const gw = [0, 1].find((k) => fd.alive(k));
    if (gw !== undefined) {
      const r = await SessionClient.connect({ url: fd.urls[gw]! }, { target: TARGETS[0], token: 'jim-token' }).catch(
        () => undefined,
      );
      if (r?.client) {
        const took = Date.now() - since;
        await r.client.close();
        return took;
      }
    }
    await sleep(50);
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * Every session the clients were given is in the store; none is left live once they all
 * closed; no agent is left behind once its idle TTL passed (one cleanup, whichever replica).
 */
async function doorFindings(
  fd: FrontDoor,
  started: Set<string>,
): Promise<{ lost: number; unexplained: number; leftoverAgents: number }> {
  const deadline = Date.now() + 30_000;
  while ((await fd.liveSessions()) > 0 && Date.now() < deadline) await sleep(500);
  while ((await fd.agentJobs()) > 0 && Date.now() < deadline + 15_000) await sleep(500);
  const leftoverAgents = await fd.agentJobs();
  const store = await openLedgerStore(fd.dbUrl);
  try {
    let lost = 0;
    for (const id of started) if (!(await store.sessionRow(id))) lost++;
    return { lost, unexplained: (await store.liveSessions()).sessions.length, leftoverAgents };
  } finally {
    await store.close();
  }
}

/** The front door's faults, each under `p.doorSessions` WebSocket sessions, on `starting` (started already). */
export async function doorPhases(
  p: Profile,
  log: (s: string) => void,
  starting: Promise<FrontDoor> = FrontDoor.start(),
): Promise<ChaosRow[]> {
  const fd = await starting;
  const rows: ChaosRow[] = [];
  const seen = { duplicated: 0, doubleLocks: 0 };
  try {
    for (const fault of DOOR_FAULTS) {
      log(`chaos: ${fault.name}…`);
      let recovery: Promise<number> = Promise.resolve(Number.NaN);
      let done: Promise<void> = Promise.resolve();
      const st = await runDoorLoad(
        fd,
        p.doorSessions,
        Math.min(20, p.doorSessions),
        () =>
          (done = (async () => {
            const t0 = Date.now();
            await fault.inject(fd);
            recovery = doorRecovery(fd, t0);
            await recovery;
            await fault.heal(fd);
          })()),
      );
      await done;
      const recoveryMs = await recovery;
      const own = await doorFindings(fd, st.started);
      const f = await inspect(fd.nc, fd.dbUrl, new Set(), new Map());
      log(`chaos:   ${JSON.stringify({ ...f, ...own, recoveryMs, retries: st.retries })}`);
      rows.push({
        fault: fault.name,
        commands: st.operations,
        sessions: st.sessions,
        retries: st.retries,
        recoveryMs,
        lost: own.lost + f.lost,
        duplicated: f.duplicated - seen.duplicated,
        doubleLocks: f.doubleLocks - seen.doubleLocks,
        doublePosts: 0,
        unreported: 0,
        unexplained: own.unexplained + f.unexplained,
        leftoverAgents: own.leftoverAgents,
      });
      seen.duplicated = f.duplicated;
      seen.doubleLocks = f.doubleLocks;
    }
  } finally {
    await fd.stop();
  }
  return rows;
}
