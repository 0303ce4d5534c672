/**
 * What a real cluster's nodes do, against the real kube-apiserver (issue 26): the API server,
 * etcd and kube-controller-manager are real (Deployments → ReplicaSets → Pods, Jobs, garbage
 * collection, namespaces, service accounts); this plays the parts that need a machine:
 *   - Nodes that register and keep their Lease renewed (so the node lifecycle controller never
 *     marks them unreachable and evicts their pods);
 *   - the scheduler: a pod with no node is bound to one (the `binding` subresource);
 *   - the kubelet: a bound pod gets a (loopback) pod IP, Running, Ready and container IDs in its
 *     status; agent containers (a Job's, or an ephemeral container in a target pod) run as the
 *     protocol-speaking test agent, or the real `mirrord-agent` with MIRRORD_AGENT_BIN
 *     (test/kube/agent-runtime.ts); a process that exits terminates its container (a Job's pod
 *     Succeeded or Failed); a pod being deleted (graceful deletion) has its processes stopped and
 *     is then removed, as the kubelet confirms a deletion;
 *   - cluster DNS for agents: a Service's name resolves to the running pods it selects;
 *   - Argo Rollouts' controller, minimally: a Rollout gets a ReplicaSet of its template and the
 *     replica count (scale down and back), as a real cluster with Argo installed would.
 * Everything goes through the API server as the `admin` context, so RBAC, admission and the
 * controllers see what they would on a real cluster.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { AgentRuntime, isAgentContainer } from '../kube/agent-runtime.js';
import type { KubeObject } from '../kube/registry.js';
import { RolloutController } from './rollout-controller.js';
import { registerNodes } from './node/nodes.js';
import { PodNetwork } from './node/network.js';
import { Missing, PodRuntime } from './node/pod-runtime.js';

export interface NodeSimulatorOptions {
  kubeconfig: string;
  /** A context allowed to bind pods, write pod status and nodes (default `admin`). */
  context?: string;
  nodes?: string[];
  /** The demo: agents serve their target's subscribed ports at the target pod's (loopback) IP. */
  demoTraffic?: boolean;
  /** Where the simulator's own failures go (default stderr). */
  log?: (line: string) => void;
  /**
   * Run the pods of the images it knows (the project's, NATS) as processes, each pod in a network
   * namespace on a bridge, with Services' ClusterIPs proxied and cluster DNS in /etc/hosts
   * (node/pod-runtime.ts, node/network.ts). Needs root. Other pods get addresses on that
   * network too, so the pods reach the agents the simulator runs in-process.
   */
  runPods?: boolean;
}

export interface NodeSimulator extends AsyncDisposable {
  /** The agents running in pods (test agents, or real ones with MIRRORD_AGENT_BIN). */
  agents: AgentRuntime;
  /** Every pod as last seen by the watch. */
  pods(): V1Pod[];
  /** With runPods: a pod's containers' output so far (for a failure message). */
  logs(namespace: string, name: string): string;
  stop(): Promise<void>;
}

type Cache<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const NET = 1 + (process.pid % 250);
const hash = (s: string): string => createHash('sha256').update(s).digest('hex');
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const code = (e: unknown): number | undefined => (e as { code?: number }).code;

export async function startNodeSimulator(opts: NodeSimulatorOptions): Promise<NodeSimulator> {
  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  kc.setCurrentContext(opts.context ?? 'admin');
  const core = kc.makeApiClient(CoreV1Api);
  const leases = kc.makeApiClient(CoordinationV1Api);
  const nodes = opts.nodes ?? ['node-1', 'node-2'];
  const log = opts.log ?? ((l: string) => process.stderr.write(`node-sim: ${l}\n`));
  let stopped = false;

  // Nodes register, Ready, with a Lease the kubelet renews (the node lifecycle controller's heartbeat).
  const heartbeat = await registerNodes(core, leases, nodes, (l) => stopped || log(l));

  const podCache: Cache<V1Pod> = makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces() as never);
  const svcCache: Cache<V1Service> = makeInformer(
    kc,
    '/api/v1/services',
    () => core.listServiceForAllNamespaces() as never,
  );
  const live = () => podCache.list() as unknown as KubeObject[];
  // With runPods, a local-path provisioner: each claim gets a hostPath volume, as kind's does.
  const pvcCache: Cache<V1PersistentVolumeClaim> | undefined = opts.runPods
    ? makeInformer(
        kc,
        '/api/v1/persistentvolumeclaims',
        () => core.listPersistentVolumeClaimForAllNamespaces() as never,
      )
    : undefined;

  /** Where `default/kubernetes` sends its clients: the API server itself (no endpoints reconciler). */
  const apiserver = new URL(kc.getCurrentCluster()!.server);
  const endpoint = (svc: V1Service, port: number): { host: string; port: number } | undefined => {
    if (svc.metadata?.namespace === 'default' && svc.metadata.name === 'kubernetes')
      return { host: apiserver.hostname, port: Number(apiserver.port || 443) };
    const sp = svc.spec?.ports?.find((p) => p.port === port);
    const selector = svc.spec?.selector ?? {};
    if (!sp || Object.keys(selector).length === 0) return undefined;
    const ready = podCache
      .list(svc.metadata!.namespace)
      .filter(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.status?.podIP &&
          p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
          Object.entries(selector).every(([k, v]) => p.metadata?.labels?.[k] === v),
      );
    const pod = ready[Math.floor(Math.random() * ready.length)];
    if (!pod) return undefined;
    const target = sp.targetPort ?? sp.port;
    const n =
      typeof target === 'number'
        ? target
        : Number(
            pod.spec?.containers.flatMap((c) => c.ports ?? []).find((x) => x.name === target)?.containerPort ?? NaN,
          );
    return Number.isFinite(n) ? { host: pod.status!.podIP!, port: n } : undefined;
  };
  const network = opts.runPods ? new PodNetwork(endpoint) : undefined;
  const runtime = network
    ? new PodRuntime({
        core,
        network,
        dir: mkdtempSync(join(tmpdir(), 'mirrord-node-')),
        kubernetes: () => {
          const k = svcCache.get('kubernetes', 'default');
          return k?.spec?.clusterIP ? { host: k.spec.clusterIP, port: 443 } : undefined;
        },
        report: async (pod, status) => {
          await core.patchNamespacedPodStatus(
            { name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body: { status } },
            mergePatch,
          );
        },
        log,
      })
    : undefined;

  const ips = new Map<string, string>();
  let nextIp = 10;
  const ipOf = (uid: string): string => {
    let ip = ips.get(uid);
    if (!ip && network) {
      ip = network.hostAddress();
      ips.set(uid, ip);
    }
    if (!ip) {
      const n = nextIp++;
      // Loopback addresses (127.N.x.y all reach this host), N from the process id: two simulators
      // on one machine (a demo and a test) do not collide.
      ip = `127.${NET}.${(n >> 8) & 255}.${n & 255}`;
      ips.set(uid, ip);
    }
    return ip;
  };
  const inflight = new Set<string>();
  /** Once per pod uid and step: the watch sees a pod many times before our own write lands. */
  const once = (key: string, what: string, f: () => Promise<unknown>): void => {
    if (inflight.has(key) || stopped) return;
    inflight.add(key);
    f().catch((e: unknown) => {
      inflight.delete(key);
      if (!stopped && code(e) !== 404 && code(e) !== 409) log(`${what}: ${(e as Error).message}`);
      else if (code(e) === 409) setTimeout(kick, 50).unref();
    });
  };
  const podRef = (p: KubeObject) => ({ name: p.metadata.name!, namespace: p.metadata.namespace! });

  const terminated = (pod: KubeObject, container: string, exitCode: number): void => {
    const p = podCache.get(pod.metadata.name!, pod.metadata.namespace) as unknown as KubeObject | undefined;
    if (!p || stopped || p.metadata.deletionTimestamp) return;
    const state = {
      terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', finishedAt: now(), startedAt: now() },
    };
    type Status = { name: string; state?: unknown; ready?: boolean; started?: boolean };
    const mark = (list: Status[] | undefined) =>
      (list ?? []).map((s) => (s.name === container ? { ...s, ready: false, started: false, state } : s));
    const eph = (p.status?.ephemeralContainerStatuses as Status[] | undefined)?.some((s) => s.name === container);
    const status = eph
      ? { ephemeralContainerStatuses: mark(p.status?.ephemeralContainerStatuses as Status[]) }
      : {
          phase: exitCode === 0 ? 'Succeeded' : 'Failed',
          conditions: conditions(false),
          containerStatuses: mark(p.status?.containerStatuses as Status[]),
        };
    core
      .patchNamespacedPodStatus({ ...podRef(p), body: { status } }, mergePatch)
      .catch((e: unknown) => code(e) === 404 || stopped || log(`exit of ${container}: ${(e as Error).message}`));
  };

  const agents = new AgentRuntime(live, opts.demoTraffic ?? false, terminated, (name, ns) => resolve(name, ns));

  /** Cluster DNS as a pod in `ns` sees it: a Service's names resolve to the running pods it selects. */
  const resolve = (name: string, ns: string): { fqdn: string; ips: string[] } | undefined => {
    const parts = name
      .replace(/\.$/, '')
      .replace(/\.svc(\.cluster\.local)?$/, '')
      .split('.');
    if (parts.length > 2) return undefined;
    const [svcName, namespace = ns] = parts as [string, string?];
    const svc = svcCache.get(svcName, namespace);
    const selector = svc?.spec?.selector ?? {};
    if (!svc || Object.keys(selector).length === 0) return undefined;
    const ips = podCache
      .list(namespace)
      .filter(
        (p) =>
          p.status?.phase === 'Running' &&
          !p.metadata?.deletionTimestamp &&
          Object.entries(selector).every(([k, v]) => p.metadata?.labels?.[k] === v),
      )
      .map((p) => String(p.status?.podIP));
    return { fqdn: `${svcName}.${namespace}.svc.cluster.local`, ips };
  };

  const kubelet = (p: KubeObject): void => {
    const uid = p.metadata.uid!;
    const spec = (p.spec ?? {}) as {
      nodeName?: string;
      containers?: Array<{ name: string; image?: string; command?: string[] }>;
      ephemeralContainers?: Array<{ name: string; image?: string; command?: string[] }>;
    };
    if (p.metadata.deletionTimestamp) {
      // Graceful deletion: the kubelet stops the containers, then confirms with a 0 s grace period.
      agents.sync(live().filter((x) => x.metadata.uid !== uid));
      const grace = Number(p.metadata.deletionGracePeriodSeconds ?? 30);
      return once(`${uid}/delete`, `deleting ${p.metadata.name}`, async () => {
        await runtime?.stop(uid, grace);
        // In the body: with a body, the API server reads no deletion options from the query.
        await core.deleteNamespacedPod({ ...podRef(p), body: { gracePeriodSeconds: 0, preconditions: { uid } } });
      });
    }
    if (!spec.nodeName) {
      const node = nodes[hash(uid).charCodeAt(0) % nodes.length]!;
      return once(`${uid}/bind`, `binding ${p.metadata.name}`, () =>
        core.createNamespacedPodBinding({
          ...podRef(p),
          body: {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name: p.metadata.name! },
            target: { kind: 'Node', name: node },
          },
        }),
      );
    }
    if (!nodes.includes(spec.nodeName)) return;
    const phase = p.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    if (runtime?.runs(p as V1Pod)) {
      // Its processes report its status; until then (Secrets it mounts not made yet) it waits.
      if (runtime.has(uid) && inflight.has(`${uid}/run`)) return;
      if (phase === 'Running' && runtime.has(uid)) return;
      inflight.add(`${uid}/run`);
      runtime.start(p as V1Pod).catch((e: unknown) => {
        inflight.delete(`${uid}/run`);
        if (!(e instanceof Missing)) log(`starting ${p.metadata.name}: ${(e as Error).message}`);
        if (!stopped) setTimeout(kick, 1000).unref();
      });
      return;
    }
    const ip = ipOf(uid);
    if (phase !== 'Running') {
      for (const c of spec.containers ?? []) if (isAgentContainer(c)) agents.ensure(p, c, ip);
      return once(`${uid}/run`, `starting ${p.metadata.name}`, () =>
        core.patchNamespacedPodStatus(
          {
            ...podRef(p),
            body: {
              status: {
                phase: 'Running',
                podIP: ip,
                podIPs: [{ ip }],
                hostIP: '127.0.0.1',
                startTime: now(),
                conditions: conditions(true),
                containerStatuses: (spec.containers ?? []).map((c) => ({
                  name: c.name,
                  image: c.image ?? '',
                  imageID: '',
                  ready: true,
                  started: true,
                  restartCount: 0,
                  containerID: `containerd://${hash(uid + c.name)}`,
                  state: { running: { startedAt: now() } },
                })),
              },
            },
          },
          mergePatch,
        ),
      );
    }
    // Running: ephemeral containers added since start (agent-manager's `ephemeral` agents) start too.
    const wanted = spec.ephemeralContainers ?? [];
    for (const c of wanted) if (isAgentContainer(c)) agents.ensure(p, c, String(p.status?.podIP ?? ip));
    const have = (p.status?.ephemeralContainerStatuses as Array<{ name: string }> | undefined) ?? [];
    if (wanted.every((c) => have.some((h) => h.name === c.name))) return;
    once(`${uid}/eph/${wanted.map((c) => c.name).join(',')}`, `ephemeral containers of ${p.metadata.name}`, () =>
      core.patchNamespacedPodStatus(
        {
          ...podRef(p),
          body: {
            status: {
              ephemeralContainerStatuses: wanted.map(
                (c) =>
                  have.find((h) => h.name === c.name) ?? {
                    name: c.name,
                    image: c.image ?? '',
                    imageID: '',
                    ready: false,
                    restartCount: 0,
                    containerID: `containerd://${hash(uid + c.name)}`,
                    state: { running: { startedAt: now() } },
                  },
              ),
            },
          },
        },
        mergePatch,
      ),
    );
  };

  const provision = (c: V1PersistentVolumeClaim): void => {
    if (c.spec?.volumeName || c.status?.phase === 'Bound' || !runtime) return;
    const { name, namespace, uid } = c.metadata as { name: string; namespace: string; uid: string };
    once(`${uid}/pv`, `provisioning ${namespace}/${name}`, () =>
      core.createPersistentVolume({
        body: {
          metadata: { name: `pvc-${uid}`, labels: { 'mirrord-teams.dev/node-sim': 'local-path' } },
          spec: {
            capacity: { storage: c.spec?.resources?.requests?.storage ?? '1Gi' },
            accessModes: c.spec?.accessModes ?? ['ReadWriteOnce'],
            hostPath: { path: runtime.volumeDir(namespace, name) },
            claimRef: { namespace, name, uid },
            storageClassName: c.spec?.storageClassName ?? '',
            persistentVolumeReclaimPolicy: 'Retain',
          },
        },
      }),
    );
  };

  let scheduled = false;
  const kick = (): void => {
    if (scheduled || stopped) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      if (stopped) return;
      const pods = live();
      for (const p of pods) kubelet(p);
      agents.sync(pods.filter((p) => !p.metadata.deletionTimestamp));
      network?.sync(svcCache.list(), podCache.list());
      for (const c of pvcCache?.list() ?? []) provision(c);
    }, 5).unref();
  };

  const rollouts = new RolloutController(kc, log);
  const informers: Array<Informer<KubernetesObject>> = [podCache, svcCache, ...(pvcCache ? [pvcCache] : [])] as never;
  for (const inf of informers) {
    for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, kick);
    inf.on('error', (err) => {
      if (stopped) return;
      log(`watch failed (${(err as Error)?.message ?? String(err)}); restarting in 1 s`);
      setTimeout(() => void (stopped ? undefined : inf.start().catch(() => undefined)), 1000).unref();
    });
  }
  await Promise.all([podCache.start(), svcCache.start(), pvcCache?.start(), rollouts.start()]);
  kick();

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    heartbeat.stop();
    await Promise.all([podCache.stop(), svcCache.stop(), pvcCache?.stop(), rollouts.stop()]);
    await agents.close();
    await runtime?.close();
    network?.close();
  };
  return {
    agents,
    pods: () => [...podCache.list()],
    logs: (namespace, name) => runtime?.logs({ namespace, name }) ?? '',
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

const conditions = (ready: boolean) => {
  const t = now();
  const s = ready ? 'True' : 'False';
  return [
    { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
    { type: 'Initialized', status: 'True', lastTransitionTime: t },
    { type: 'ContainersReady', status: s, lastTransitionTime: t },
    { type: 'Ready', status: s, lastTransitionTime: t },
  ];
};
