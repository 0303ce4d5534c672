/**
 * The node simulator's pod network when it runs pods' processes (root, `ip`): what a CNI bridge
 * plugin, kube-proxy and cluster DNS give a real node.
 *   - A Linux bridge with a private /16 (10.B.0.0/16, B from the process id); each pod that runs
 *     processes gets a network namespace with a veth on the bridge and its own IP, so two pods
 *     listen on the same port as they would in a cluster. Pods whose containers the simulator
 *     plays in-process (test agents, workloads) get an address of the same network on the host
 *     side, so pods reach them and they reach pods.
 *   - kube-proxy (userspace mode): every Service's ClusterIP is an address on the bridge where a
 *     TCP proxy forwards each port to a ready endpoint pod (`default/kubernetes` to the API
 *     server), so the APIService's Service and the in-cluster config work as on a cluster.
 *   - DNS: each pod's /etc/hosts names every Service (`svc`, `svc.ns`, `svc.ns.svc`,
 *     `svc.ns.svc.cluster.local`; headless ones by their pods), StatefulSet pods by
 *     `hostname.subdomain…`, rewritten in place when Services or pods change.
 * Traffic never leaves the machine: the bridge has no uplink and forwarding stays off.
 */
import { spawnSync } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import type { V1Pod, V1Service } from '@kubernetes/client-node';

const run = (...args: string[]): void => {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
};
const tryRun = (...args: string[]): void => void spawnSync(args[0]!, args.slice(1));

const TAG = process.pid % 10_000;

export class PodNetwork {
  readonly bridge = `mtbr${TAG}`;
  readonly prefix = `10.${160 + (process.pid % 60)}`;
  readonly gateway = `${this.prefix}.0.1`;
  #next = 2;
  readonly #namespaces = new Set<string>();
  readonly #hostAddrs = new Set<string>();
  readonly #proxies = new Map<string, Server>();
  /**
   * Every proxied connection, destroyed at close: one to a pod whose namespace is gone never sees
   * a FIN or RST, and would keep the simulator's process alive.
   */
  readonly #sockets = new Set<Socket>();
  readonly #hosts = new Map<string, { file: string; namespace: string; name: string }>();

  constructor(
    /** Endpoints for a Service port: `host:port` to dial, or undefined when none is ready. */
    private readonly endpoint: (svc: V1Service, port: number) => { host: string; port: number } | undefined,
  ) {
    tryRun('ip', 'link', 'del', this.bridge);
    run('ip', 'link', 'add', this.bridge, 'type', 'bridge');
    run('ip', 'addr', 'add', `${this.gateway}/16`, 'dev', this.bridge);
    run('ip', 'link', 'set', this.bridge, 'up');
    process.once('exit', () => this.#teardown());
  }

  #allocate(): string {
    const n = this.#next++;
    return `${this.prefix}.${(n >> 8) & 255}.${n & 255}`;
  }

  /** An address on the host side (for pods whose containers the simulator plays in-process). */
  hostAddress(): string {
    const ip = this.#allocate();
    run('ip', 'addr', 'add', `${ip}/32`, 'dev', this.bridge);
    this.#hostAddrs.add(ip);
    return ip;
  }

  /** A network namespace on the bridge with its own IP and loopback; its name and IP. */
  podNamespace(): { netns: string; ip: string } {
    const ip = this.#allocate();
    const n = ip.split('.').slice(2).join('x');
    const netns = `mtpod-${TAG}-${n}`;
    const [host, peer] = [`mtv${TAG}x${n}`.slice(0, 15), `mtp${TAG}x${n}`.slice(0, 15)];
    run('ip', 'netns', 'add', netns);
    this.#namespaces.add(netns);
    run('ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    run('ip', 'link', 'set', host, 'master', this.bridge);
    run('ip', 'link', 'set', host, 'up');
    run('ip', 'link', 'set', peer, 'netns', netns);
    run('ip', 'netns', 'exec', netns, 'ip', 'addr', 'add', `${ip}/16`, 'dev', peer);
    run('ip', 'netns', 'exec', netns, 'ip', 'link', 'set', peer, 'up');
    run('ip', 'netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up');
    run('ip', 'netns', 'exec', netns, 'ip', 'route', 'add', 'default', 'via', this.gateway);
    return { netns, ip };
  }

  removeNamespace(netns: string): void {
    tryRun('ip', 'netns', 'del', netns);
    this.#namespaces.delete(netns);
  }

  /** A pod's /etc/hosts, kept current by `sync`. */
  registerHosts(uid: string, file: string, namespace: string, name: string): void {
    this.#hosts.set(uid, { file, namespace, name });
  }

  unregisterHosts(uid: string): void {
    this.#hosts.delete(uid);
  }

  /** Services and pods changed: ClusterIP proxies and every pod's hosts file follow. */
  sync(services: readonly V1Service[], pods: readonly V1Pod[]): void {
    const wanted = new Set<string>();
    for (const svc of services) {
      const ip = svc.spec?.clusterIP;
      if (!ip || ip === 'None') continue;
      for (const p of svc.spec?.ports ?? []) {
        if ((p.protocol ?? 'TCP') !== 'TCP') continue;
        const key = `${ip}:${p.port}`;
        wanted.add(key);
        if (!this.#proxies.has(key)) this.#proxy(svc, ip, p.port);
      }
    }
    for (const [key, server] of this.#proxies)
      if (!wanted.has(key)) {
        server.close();
        this.#proxies.delete(key);
      }
    for (const { file, namespace, name } of this.#hosts.values())
      writeFileSync(file, hostsFile(services, pods, namespace, name));
  }

  #proxy(svc: V1Service, ip: string, port: number): void {
    const key = `${ip}:${port}`;
    if (!this.#hostAddrs.has(ip)) {
      tryRun('ip', 'addr', 'add', `${ip}/32`, 'dev', this.bridge);
      this.#hostAddrs.add(ip);
    }
    const ref = { svc };
    const server = createServer((client: Socket) => {
      const to = this.endpoint(ref.svc, port);
      if (!to) return client.destroy();
      const up = connect(to.port, to.host);
      client.pipe(up).pipe(client);
      this.#sockets.add(client).add(up);
      const close = () => {
        client.destroy();
        up.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(up);
      };
      for (const s of [client, up]) {
        s.on('error', close);
        s.on('close', close);
      }
    });
    server.on('error', () => this.#proxies.delete(key));
    server.listen(port, ip);
    this.#proxies.set(key, server);
  }

  close(): void {
    this.#teardown();
  }

  #teardown(): void {
    for (const s of this.#proxies.values()) s.close();
    this.#proxies.clear();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    for (const ns of this.#namespaces) tryRun('ip', 'netns', 'del', ns);
    this.#namespaces.clear();
    tryRun('ip', 'link', 'del', this.bridge);
  }
}

const names = (name: string, ns: string, own: string): string[] => [
  `${name}.${ns}.svc.cluster.local`,
  `${name}.${ns}.svc`,
  `${name}.${ns}`,
  ...(ns === own ? [name] : []),
];

/** /etc/hosts for a pod in `namespace`: itself, every Service, StatefulSet pods by hostname. */
export function hostsFile(
  services: readonly V1Service[],
  pods: readonly V1Pod[],
  namespace: string,
  podName: string,
): string {
  const lines = ['127.0.0.1 localhost', '::1 localhost'];
  const live = pods.filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp);
  const self = live.find((p) => p.metadata?.name === podName && p.metadata?.namespace === namespace);
  if (self) lines.push(`${self.status!.podIP} ${self.spec?.hostname ?? podName}`);
  for (const svc of services) {
    const { name, namespace: ns } = svc.metadata as { name: string; namespace: string };
    const ip = svc.spec?.clusterIP;
    if (ip && ip !== 'None') lines.push(`${ip} ${names(name, ns, namespace).join(' ')}`);
    else {
      const selector = svc.spec?.selector ?? {};
      const selected = live.filter(
        (p) =>
          p.metadata?.namespace === ns &&
          Object.keys(selector).length > 0 &&
          Object.entries(selector).every(([k, v]) => p.metadata?.labels?.[k] === v),
      );
      for (const p of selected) lines.push(`${p.status!.podIP} ${names(name, ns, namespace).join(' ')}`);
    }
  }
  // StatefulSet pods: hostname.subdomain (the headless Service) in their namespace.
  for (const p of live) {
    const { hostname, subdomain } = p.spec ?? {};
    if (!hostname || !subdomain) continue;
    lines.push(`${p.status!.podIP} ${names(`${hostname}.${subdomain}`, p.metadata!.namespace!, namespace).join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}
