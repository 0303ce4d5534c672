import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { hubFleetConf, type FleetCluster } from '#shared/nats/leafnode.js';
import { fleetLeafnodeConf } from './fleet-leafnode.js';
import { randomBytes } from 'node:crypto';
import { authorizationConf, BUS_IDENTITIES, busUsers, type BusIdentity } from '#shared/nats/permissions.js';
import { ensureBusCredentials, seedFileName } from '#shared/nats/credentials.js';
import { inboxPrefix } from '#shared/nats/subjects.js';
import { freePort } from './postgres.js';

/** The tests' own identity: every permission (it plays operators, attackers' victims and observers). */
export const TEST_IDENTITY = 'test';
type Identity = BusIdentity | typeof TEST_IDENTITY;

export interface NatsServer extends AsyncDisposable {
  url: string;
  port: number;
  storeDir: string;
  /** Seeds of every identity (`<identity>.nk`), or undefined when auth is off. */
  credsDir: string | undefined;
  /** What a service process needs to reach this server as itself: NATS_URL and NATS_CREDS_DIR. */
  readonly env: Record<string, string>;
  /** A client connection as `identity` (default: the all-permissions test identity). */
  connect(identity?: Identity, opts?: Partial<ConnectionOptions>): Promise<NatsConnection>;
  /**
   * The server's permission-violation log lines so far (`Publish Violation - User "U…", Subject
   * "…"`), with the identity named: our own services must never cause one.
   */
  violations(): string[];
  /** The server's log lines so far that match `re` (its first 64 KiB, then errors only). */
  logLines(re: RegExp): string[];
  stop(): Promise<void>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
}

const BIN = process.env.NATS_SERVER_BIN ?? 'nats-server';

/**
 * A real nats-server with JetStream on a free port and its own store dir (after nst's
 * launcher): a temp config with `port: -1` and `ports_file_dir`, then wait for the ports file.
 * Restart reuses the same port and store, so durability tests can kill -9 and come back.
 * `extraConf` adds configuration blocks (a cluster's name and routes).
 */
export async function startNatsServer(
  opts: {
    port?: number;
    extraConf?: string;
    jsDomain?: string;
    auth?: boolean;
    credsDir?: string;
    /** Replaces the authorization block, given every identity's public key (the hub's accounts). */
    authConf?: (keys: Record<string, string>) => string;
  } = {},
): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mirrord-nats-'));
  const storeDir = join(dir, 'js');
  // Auth is on unless a test says otherwise: every service with its own nkey and the
  // permissions permissions.ts derives from the contracts, plus the tests' own identity.
  const credsDir = opts.auth === false ? undefined : (opts.credsDir ?? join(dir, 'creds'));
  let authConf = '';
  const violations: string[] = [];
  const errors: string[] = [];
  let stderr = '';
  let names: Record<string, string> = {};
  if (credsDir) {
    const keys = ensureBusCredentials(credsDir, [...BUS_IDENTITIES, TEST_IDENTITY]);
    authConf = opts.authConf
      ? opts.authConf(keys)
      : authorizationConf([...busUsers(keys), { nkey: keys[TEST_IDENTITY]! }]);
    names = Object.fromEntries(Object.entries(keys).map(([id, k]) => [k, id]));
  }
  let port = opts.port ?? -1;
  let proc: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const conf = join(dir, 'nats.conf');
    writeFileSync(
      conf,
      `listen: 127.0.0.1:${port}\nports_file_dir: "${dir}"\njetstream { store_dir: "${storeDir}"${opts.jsDomain ? `, domain: ${opts.jsDomain}` : ''} }\n${authConf}${opts.extraConf ?? ''}\n`,
    );
    for (const f of readdirSync(dir)) if (f.endsWith('.ports')) rmSync(join(dir, f));
    const p = spawn(BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    p.stderr!.on('data', (d: Buffer) => {
      const text = d.toString();
      if (stderr.length < 65_536) stderr += text;
      else if (/\[(ERR|WRN)\]/.test(text)) errors.push(text);
      for (const line of text.split('\n'))
        if (/Violation/.test(line)) violations.push(line.replace(/U[A-Z2-7]{55}/g, (k) => names[k] ?? k));
    });
    let exited = false;
    let spawnError: Error | undefined;
    p.on('error', (e) => (spawnError = e));
    p.on('exit', () => (exited = true));
    for (let i = 0; i < 200; i++) {
      if (spawnError)
        throw new Error(
          `cannot start ${BIN}: ${spawnError.message}. Install it (apt-get install nats-server) or set NATS_SERVER_BIN.`,
        );
      if (exited) throw new Error(`nats-server exited early: ${stderr.slice(-500)}`);
      const pf = readdirSync(dir).find((f) => f.endsWith('.ports'));
      // The file appears before nats-server has written it: an empty or partial one is read again.
      const text = pf ? readFileSync(join(dir, pf), 'utf8') : '';
      const ports = /\}\s*$/.test(text) ? (JSON.parse(text) as { nats: string[] }) : undefined;
      if (ports) {
        const u = new URL(ports.nats[0]!);
        port = Number(u.port);
        return;
      }
      await sleep(25);
    }
    throw new Error('nats-server did not write its ports file within 5 s');
  };

  const waitExit = (p: ChildProcess | undefined) =>
    new Promise<void>((resolve) => {
      if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
    });

  await launch();
  const server: NatsServer = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    storeDir,
    credsDir,
    get env() {
      return { NATS_URL: server.url, ...(credsDir ? { NATS_CREDS_DIR: credsDir } : {}) };
    },
    connect(identity: Identity = TEST_IDENTITY, more: Partial<ConnectionOptions> = {}) {
      return connectAs(server.url, credsDir, identity, more);
    },
    violations: () => [...violations],
    logLines: (re: RegExp) => [...stderr.split('\n'), ...errors].filter((l) => re.test(l)),
    async stop() {
      const p = proc;
      p?.kill('SIGTERM');
      await waitExit(p);
    },
    async kill9() {
      const p = proc;
      p?.kill('SIGKILL');
      await waitExit(p);
    },
    async restart() {
      await launch();
    },
    async [Symbol.asyncDispose]() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Throws when our own services hit a permission of the bus: a wire missing from permissions.ts, or one they should not use. */
export function assertNoViolations(bus: { violations(): string[] }): void {
  const v = bus.violations();
  if (v.length > 0) throw new Error(`NATS permission violations by our own services:\n${v.slice(0, 20).join('\n')}`);
}

/** A client connection to `url` as `identity`, with its seed from `credsDir` (none: no auth). */
export function connectAs(
  url: string,
  credsDir: string | undefined,
  identity: Identity = TEST_IDENTITY,
  more: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  const seed = credsDir ? readFileSync(join(credsDir, seedFileName(identity)), 'utf8').trim() : undefined;
  return connect({
    servers: url.split(','),
    inboxPrefix: inboxPrefix(identity),
    ...(seed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) } : {}),
    ...more,
  });
}

export interface NatsCluster extends AsyncDisposable {
  /** Every node's URL, comma-separated (what NATS_URL takes). */
  url: string;
  credsDir: string | undefined;
  readonly env: Record<string, string>;
  connect(identity?: Identity, opts?: Partial<ConnectionOptions>): Promise<NatsConnection>;
  /** Every node's permission violations so far. */
  violations(): string[];
  nodes: NatsServer[];
}

/**
 * A JetStream cluster of real nats-servers on loopback (three by default, so R3 streams keep
 * a quorum through one node's loss); each node restarts on its own ports and store.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const clientPorts = await Promise.all(Array.from({ length: size }, freePort));
  const routePorts = await Promise.all(Array.from({ length: size }, freePort));
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(', ');
  // Every node knows the same users: one set of seeds for the cluster.
  const credsDir = join(mkdtempSync(join(tmpdir(), 'mirrord-nats-creds-')), 'creds');
  const nodes = await Promise.all(
    clientPorts.map((port, i) =>
      startNatsServer({
        port,
        credsDir,
        extraConf: `server_name: n${i + 1}\ncluster { name: mirrord, listen: 127.0.0.1:${routePorts[i]}, routes: [${routes}] }`,
      }),
    ),
  );
  const cluster: NatsCluster = {
    url: nodes.map((n) => n.url).join(','),
    nodes,
    credsDir,
    get env() {
      return { NATS_URL: cluster.url, NATS_CREDS_DIR: credsDir };
    },
    connect(identity: Identity = TEST_IDENTITY, more: Partial<ConnectionOptions> = {}) {
      return connectAs(cluster.url, credsDir, identity, more);
    },
    violations: () => nodes.flatMap((n) => n.violations()),
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((n) => n[Symbol.asyncDispose]()));
    },
  };
  return cluster;
}

export interface NatsFleet extends AsyncDisposable {
  /** The hub (JetStream domain `hub`), where the license server runs. */
  hub: NatsServer;
  /** The hub's leafnode address: what a cluster's nats-server dials out to. */
  leafUrl: string;
  /** One nats-server per cluster (JetStream domain = the cluster's name), each a leafnode of the hub. */
  clusters: Record<string, NatsServer>;
  /** Each cluster's leafnode credentials at the hub. */
  credentials: Record<string, FleetCluster>;
}

/**
 * A licence fleet on loopback: a hub and one nats-server per cluster, each cluster with its
 * own JetStream domain and a leafnode connection out to the hub (as deploy/ joins a cluster).
 * Ports are fixed so the hub restarts in place and the clusters reconnect to it.
 */
export async function startNatsFleet(clusterNames: string[]): Promise<NatsFleet> {
  const leafPort = await freePort();
  const credentials = Object.fromEntries(
    clusterNames.map((name) => [name, { name, password: randomBytes(12).toString('hex') }]),
  );
  // The hub as deploy/license-server runs it: the license server (and the tests) in the HUB
  // account, each cluster's leafnode bound to an account of its own (leafnode.ts).
  const hub = await startNatsServer({
    port: await freePort(),
    jsDomain: 'hub',
    authConf: (keys) =>
      hubFleetConf({
        clusters: Object.values(credentials),
        hubUsers: [...busUsers({ 'license-server': keys['license-server']! }), { nkey: keys[TEST_IDENTITY]! }],
        leafListen: `127.0.0.1:${leafPort}`,
      }),
    extraConf: 'server_name: hub',
  });
  const leafUrl = `nats-leaf://127.0.0.1:${leafPort}`;
  const clusters: Record<string, NatsServer> = {};
  for (const name of clusterNames)
    clusters[name] = await startNatsServer({
      port: await freePort(),
      jsDomain: name,
      extraConf: `server_name: ${name}\n${fleetLeafnodeConf(leafUrl, credentials[name])}`,
    });
  return {
    hub,
    credentials,
    leafUrl,
    clusters,
    async [Symbol.asyncDispose]() {
      await Promise.all([hub, ...Object.values(clusters)].map((n) => n[Symbol.asyncDispose]()));
    },
  };
}
