import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fleetLeafnodeConf } from '#shared/nats/leafnode.js';
import { freePort } from './postgres.js';

export interface NatsServer extends AsyncDisposable {
  url: string;
  port: number;
  storeDir: string;
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
  opts: { port?: number; extraConf?: string; jsDomain?: string } = {},
): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mirrord-nats-'));
  const storeDir = join(dir, 'js');
  let port = opts.port ?? -1;
  let proc: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const conf = join(dir, 'nats.conf');
    writeFileSync(
      conf,
      `listen: 127.0.0.1:${port}\nports_file_dir: "${dir}"\njetstream { store_dir: "${storeDir}"${opts.jsDomain ? `, domain: ${opts.jsDomain}` : ''} }\n${opts.extraConf ?? ''}\n`,
    );
    for (const f of readdirSync(dir)) if (f.endsWith('.ports')) rmSync(join(dir, f));
    const p = spawn(BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
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
      if (pf) {
        const ports = JSON.parse(readFileSync(join(dir, pf), 'utf8')) as { nats: string[] };
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

export interface NatsCluster extends AsyncDisposable {
  /** Every node's URL, comma-separated (what NATS_URL takes). */
  url: string;
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
  const nodes = await Promise.all(
    clientPorts.map((port, i) =>
      startNatsServer({
        port,
        extraConf: `server_name: n${i + 1}\ncluster { name: mirrord, listen: 127.0.0.1:${routePorts[i]}, routes: [${routes}] }`,
      }),
    ),
  );
  const cluster: NatsCluster = {
    url: nodes.map((n) => n.url).join(','),
    nodes,
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
}

/**
 * A licence fleet on loopback: a hub and one nats-server per cluster, each cluster with its
 * own JetStream domain and a leafnode connection out to the hub (as deploy/ joins a cluster).
 * Ports are fixed so the hub restarts in place and the clusters reconnect to it.
 */
export async function startNatsFleet(clusterNames: string[]): Promise<NatsFleet> {
  const leafPort = await freePort();
  const hub = await startNatsServer({
    port: await freePort(),
    jsDomain: 'hub',
    extraConf: `server_name: hub\nleafnodes { listen: 127.0.0.1:${leafPort} }`,
  });
  const leafUrl = `nats-leaf://127.0.0.1:${leafPort}`;
  const clusters: Record<string, NatsServer> = {};
  for (const name of clusterNames)
    clusters[name] = await startNatsServer({
      port: await freePort(),
      jsDomain: name,
      extraConf: `server_name: ${name}\n${fleetLeafnodeConf(leafUrl)}`,
    });
  return {
    hub,
    leafUrl,
    clusters,
    async [Symbol.asyncDispose]() {
      await Promise.all([hub, ...Object.values(clusters)].map((n) => n[Symbol.asyncDispose]()));
    },
  };
}
