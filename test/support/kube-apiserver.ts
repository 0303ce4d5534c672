/**
 * A real Kubernetes control plane for tests (issue 26): etcd + kube-apiserver (+ optionally
 * kube-controller-manager), built by `npm run k8s:build` (scripts/kube-bin.ts) into a cache
 * outside the repository. Each start has its own directory (certificates, etcd data, logs) and
 * free loopback ports, so a test can kill -9 and restart it.
 *
 * Configured as a real cluster is (kubeadm's flags, minus what needs nodes):
 *   - authentication: bearer tokens (--token-auth-file) and client certificates (--client-ca-file,
 *     CN = user, O = groups) for every user; service-account tokens (issuer, signing key);
 *   - authorization: RBAC (`system:masters` is the admin group);
 *   - aggregation: the front-proxy (requestheader) CA, its allowed name and X-Remote-* headers, and
 *     the proxy client certificate the apiserver presents to aggregated servers. Aggregator
 *     routing is off: an APIService's Service of type ExternalName `localhost` reaches a backend on
 *     loopback (with routing on, the apiserver resolves EndpointSlices and refuses loopback IPs).
 *     The apiserver verifies the backend as `<service>.<namespace>.svc` against the APIService's
 *     caBundle: see `aggregatedService`.
 *   - `--advertise-address=127.0.0.1 --endpoint-reconciler-type=none`: no node network here.
 * No scheduler and no kubelet: pods stay Pending.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { createCa, issue, type KeyPairPem } from '#shared/pki/index.js';
import { KUBE_BUILD_COMMAND, KUBE_VERSIONS, kubeBinaries, type KubeBinary } from '../../scripts/kube-bin.js';
import { freePort } from './postgres.js';

export interface KubeUserSpec {
  name: string;
  groups?: string[];
  /** Default: `<name>-token`. */
  token?: string;
}

export interface KubeUser {
  name: string;
  groups: string[];
  token: string;
  /** A client certificate for the same user (CN = name, O = groups), signed by the cluster CA. */
  certPem: string;
  keyPem: string;
}

export interface KubeApiServerOptions {
  /** Default: admin (system:masters) and jim (developers). */
  users?: KubeUserSpec[];
  /** Also run kube-controller-manager (Deployments make ReplicaSets and Pods, GC, namespaces). */
  controllerManager?: boolean;
  /** Extra kube-apiserver flags (`--name=value`). */
  apiserverArgs?: string[];
  /** How long to wait for /readyz (default 90 s: a loaded 2-core machine). */
  readyTimeoutMs?: number;
}

export interface KubeApiServer extends AsyncDisposable {
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** The cluster CA (PEM): verifies the apiserver; signs the users' client certificates. */
  caPem: string;
  /**
   * A kubeconfig file with a context per user: `<name>` authenticates with the bearer token,
   * `<name>-cert` with the client certificate. Current context: the first user (admin).
   */
  kubeconfig: string;
  users: Record<string, KubeUser>;
  /**
   * The aggregation layer: aggregated servers trust `caPem` for the apiserver's client certificate
   * (CN `clientCommonName`) and read the user from the X-Remote-* headers. Also published in
   * kube-system/extension-apiserver-authentication, as on a real cluster.
   */
  frontProxy: { caPem: string; clientCertPem: string; clientKeyPem: string; clientCommonName: string };
  serviceAccountIssuer: string;
  etcdUrl: string;
  /** This instance's directory: certificates, etcd data, `*.log` of each process. */
  dir: string;
  /** Each process's log file. */
  logs: Record<'etcd' | 'kube-apiserver' | 'kube-controller-manager', string>;
  /** The gitVersion the binaries were built as (what /version reports). */
  version: string;
  /** Graceful stop (SIGTERM) of every process; data kept. */
  stop(): Promise<void>;
  /** SIGKILL every process (apiserver, controller-manager, etcd); data kept. */
  kill9(): Promise<void>;
  /** Start again after stop/kill9: same ports, certificates and etcd data. */
  restart(): Promise<void>;
}

const DEFAULT_USERS: KubeUserSpec[] = [
  { name: 'admin', groups: ['system:masters'] },
  { name: 'jim', groups: ['developers'] },
];

const FRONT_PROXY_CLIENT = 'front-proxy-client';

/** Paths of the binaries, or an error naming the command that builds them. */
export function kubeBinPaths(): Record<KubeBinary, string> {
  const { paths, missing } = kubeBinaries();
  if (missing.length)
    throw new Error(
      `the real Kubernetes binaries are not built (${missing.join(', ')} missing in ` +
        `${paths[missing[0]!].replace(/\/[^/]+$/, '')}): run \`${KUBE_BUILD_COMMAND}\` first ` +
        '(minutes the first time; MIRRORD_K8S_BIN_DIR selects another directory)',
    );
  return paths;
}

/** The Service an APIService names, reaching a backend on loopback (aggregator routing is off). */
export function aggregatedService(name: string, namespace: string, port: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ name: 'https', port, protocol: 'TCP' }] },
  };
}

const cleanups = new Set<() => void>();
process.once('exit', () => {
  for (const c of cleanups) c();
});

/** GET a path as a client with this CA (anonymous unless a token is given); status and body. */
export function kubeGet(
  url: string,
  caPem: string,
  path: string,
  token?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, url),
      { ca: caPem, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const tail = (file: string, lines = 30): string => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
};

const exited = (p: ChildProcess | undefined): boolean => !p || p.exitCode !== null || p.signalCode !== null;
const waitExit = (p: ChildProcess | undefined): Promise<void> =>
  new Promise((resolve) => {
    if (exited(p)) return resolve();
    p!.once('exit', () => resolve());
  });

/** Starts etcd and kube-apiserver (and kube-controller-manager), ready when /readyz is ok. */
export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const bin = kubeBinPaths();
  const dir = mkdtempSync(join(tmpdir(), 'mirrord-kube-'));
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  const file = (name: string, content: string, mode = 0o600): string => {
    const p = join(pki, name);
    writeFileSync(p, content, { mode });
    return p;
  };
  const pair = (name: string, kp: KeyPairPem): { cert: string; key: string } => ({
    cert: file(`${name}.crt`, kp.certPem),
    key: file(`${name}.key`, kp.keyPem),
  });

  // Certificates: the cluster CA (serving + client certificates), the front-proxy CA.
  const ca = await createCa('mirrord-teams-test-kubernetes-ca');
  const serving = await issue(ca, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
    ips: ['127.0.0.1', '10.96.0.1'],
    usage: 'server',
  });
  const frontProxyCa = await createCa('mirrord-teams-test-front-proxy-ca');
  const proxyClient = await issue(frontProxyCa, { commonName: FRONT_PROXY_CLIENT, usage: 'client' });
  const controllerManagerCert = await issue(ca, { commonName: 'system:kube-controller-manager', usage: 'client' });
  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const saKey = file('sa.key', sa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const saPub = file('sa.pub', sa.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const caFiles = pair('ca', ca);
  const servingFiles = pair('apiserver', serving);
  const frontProxyCaFile = file('front-proxy-ca.crt', frontProxyCa.certPem);
  const proxyClientFiles = pair('front-proxy-client', proxyClient);

  const users: Record<string, KubeUser> = {};
  for (const u of opts.users ?? DEFAULT_USERS) {
    const groups = u.groups ?? [];
    const cert = await issue(ca, { commonName: u.name, organizations: groups, usage: 'client' });
    users[u.name] = { name: u.name, groups, token: u.token ?? `${u.name}-token`, ...cert };
  }
  // --token-auth-file: token,user,uid,"group1,group2"
  const tokenFile = file(
    'tokens.csv',
    Object.values(users)
      .map((u, i) => `${u.token},${u.name},${1000 + i}${u.groups.length ? `,"${u.groups.join(',')}"` : ''}\n`)
      .join(''),
  );

  const [etcdClientPort, etcdPeerPort, securePort] = await Promise.all([freePort(), freePort(), freePort()]);
  const url = `https://127.0.0.1:${securePort}`;
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const issuer = 'https://kubernetes.default.svc.cluster.local';

  const kubeconfigFor = (entries: { name: string; user: Record<string, string> }[]): string =>
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'real',
          cluster: { server: url, 'certificate-authority-data': Buffer.from(ca.certPem).toString('base64') },
        },
      ],
      users: entries.map((e) => ({ name: e.name, user: e.user })),
      contexts: entries.map((e) => ({ name: e.name, context: { cluster: 'real', user: e.name } })),
      'current-context': entries[0]?.name ?? '',
    });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    kubeconfigFor(
      Object.values(users).flatMap((u): { name: string; user: Record<string, string> }[] => [
        { name: u.name, user: { token: u.token } },
        {
          name: `${u.name}-cert`,
          user: { 'client-certificate-data': b64(u.certPem), 'client-key-data': b64(u.keyPem) },
        },
      ]),
    ),
    { mode: 0o600 },
  );
  const controllerManagerKubeconfig = join(pki, 'controller-manager.kubeconfig');
  writeFileSync(
    controllerManagerKubeconfig,
    kubeconfigFor([
      {
        name: 'system:kube-controller-manager',
        user: {
          'client-certificate-data': b64(controllerManagerCert.certPem),
          'client-key-data': b64(controllerManagerCert.keyPem),
        },
      },
    ]),
    { mode: 0o600 },
  );

  const logs = {
    etcd: join(dir, 'etcd.log'),
    'kube-apiserver': join(dir, 'kube-apiserver.log'),
    'kube-controller-manager': join(dir, 'kube-controller-manager.log'),
  };
  const etcdArgs = [
    '--name=default',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
    `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
    '--log-level=warn',
    // Tests, not durability: fsync costs seconds on a loaded disk.
    '--unsafe-no-fsync',
  ];
  const apiserverArgs = [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${securePort}`,
    '--advertise-address=127.0.0.1',
    '--endpoint-reconciler-type=none',
    `--cert-dir=${pki}`,
    `--tls-cert-file=${servingFiles.cert}`,
    `--tls-private-key-file=${servingFiles.key}`,
    `--client-ca-file=${caFiles.cert}`,
    `--token-auth-file=${tokenFile}`,
    '--authorization-mode=RBAC',
    `--service-account-issuer=${issuer}`,
    `--service-account-key-file=${saPub}`,
    `--service-account-signing-key-file=${saKey}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    `--requestheader-client-ca-file=${frontProxyCaFile}`,
    `--requestheader-allowed-names=${FRONT_PROXY_CLIENT}`,
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-uid-headers=X-Remote-Uid',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${proxyClientFiles.cert}`,
    `--proxy-client-key-file=${proxyClientFiles.key}`,
    '--enable-aggregator-routing=false',
    '--allow-privileged=true',
    '--profiling=false',
    ...(opts.apiserverArgs ?? []),
  ];
  const controllerManagerArgs = [
    `--kubeconfig=${controllerManagerKubeconfig}`,
    `--authentication-kubeconfig=${controllerManagerKubeconfig}`,
    `--authorization-kubeconfig=${controllerManagerKubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=0`,
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${saKey}`,
    `--root-ca-file=${caFiles.cert}`,
    `--cert-dir=${pki}`,
  ];

  const procs: Partial<Record<keyof typeof logs, ChildProcess>> = {};
  const launch = (name: keyof typeof logs, args: string[]): ChildProcess => {
    const out = openSync(logs[name], 'a');
    const p = spawn(bin[name], args, { stdio: ['ignore', out, out] });
    closeSync(out);
    procs[name] = p;
    return p;
  };
  const killAll = (): void => {
    for (const p of Object.values(procs)) if (!exited(p)) p.kill('SIGKILL');
  };
  cleanups.add(killAll);

  const ready = async (): Promise<void> => {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
    let last = 'no answer';
    for (;;) {
      for (const name of ['etcd', 'kube-apiserver'] as const)
        if (exited(procs[name]))
          throw new Error(`${name} exited (${procs[name]?.exitCode ?? procs[name]?.signalCode}):\n${tail(logs[name])}`);
      try {
        const r = await kubeGet(url, ca.certPem, '/readyz');
        if (r.status === 200) return;
        last = `${r.status}: ${
          r.body
            .split('\n')
            .filter((l) => l.includes('[-]'))
            .join('; ') || r.body.slice(0, 200)
        }`;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(
          `kube-apiserver not ready after ${opts.readyTimeoutMs ?? 90_000} ms (${last}):\n${tail(logs['kube-apiserver'])}`,
        );
      await sleep(200);
    }
  };
  const start = async (): Promise<void> => {
    launch('etcd', etcdArgs);
    launch('kube-apiserver', apiserverArgs);
    try {
      await ready();
    } catch (e) {
      killAll();
      throw e;
    }
    if (opts.controllerManager) launch('kube-controller-manager', controllerManagerArgs);
  };
  const stopAll = async (signal: NodeJS.Signals): Promise<void> => {
    // Clients first, the store last.
    for (const name of ['kube-controller-manager', 'kube-apiserver', 'etcd'] as const) {
      const p = procs[name];
      if (exited(p)) continue;
      p!.kill(signal);
      const done = waitExit(p);
      if (signal !== 'SIGKILL') {
        const t = setTimeout(() => p!.kill('SIGKILL'), 15_000);
        await done;
        clearTimeout(t);
      } else await done;
    }
  };

  await start();
  const server: KubeApiServer = {
    url,
    caPem: ca.certPem,
    kubeconfig,
    users,
    frontProxy: {
      caPem: frontProxyCa.certPem,
      clientCertPem: proxyClient.certPem,
      clientKeyPem: proxyClient.keyPem,
      clientCommonName: FRONT_PROXY_CLIENT,
    },
    serviceAccountIssuer: issuer,
    etcdUrl,
    dir,
    logs,
    version: KUBE_VERSIONS.kubernetes,
    stop: () => stopAll('SIGTERM'),
    kill9: () => stopAll('SIGKILL'),
    restart: async () => {
      await stopAll('SIGTERM');
      await start();
    },
    async [Symbol.asyncDispose]() {
      await stopAll('SIGTERM');
      cleanups.delete(killAll);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
