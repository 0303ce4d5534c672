import { createHash } from 'node:crypto';
import type { ObjectStore } from './store.js';
import type { KubeObject, Registry, ResourceType } from './registry.js';
import { AgentRuntime, isAgentContainer } from './agent-runtime.js';

/**
 * Plays the parts of the control plane the project relies on: the deployment, replicaset,
 * statefulset and job controllers (pods to match replicas), the scheduler (a node), the
 * kubelet (Running, Ready, a pod IP) and the garbage collector (dependents of a deleted owner).
 */
export class Controllers {
  #scheduled = false;
  #ip = 10;
  #stopped = false;
  readonly #t: Record<string, ResourceType>;
  /** Agent containers run as protocol-speaking test agents at their pod's (loopback) IP. */
  readonly agents: AgentRuntime;

  constructor(
    private readonly store: ObjectStore,
    private readonly registry: Registry,
    private readonly nodes: string[] = ['node-1', 'node-2'],
    /** The demo: agents serve their target's subscribed ports over HTTP at the target pod's IP. */
    serveTargetPorts = false,
  ) {
    const t = (g: string, p: string) => registry.find(g, 'v1', p)!;
    this.#t = {
      pods: t('', 'pods'),
      deployments: t('apps', 'deployments'),
      replicasets: t('apps', 'replicasets'),
      statefulsets: t('apps', 'statefulsets'),
      jobs: t('batch', 'jobs'),
      nodes: t('', 'nodes'),
      namespaces: t('', 'namespaces'),
      services: t('', 'services'),
    };
    for (const n of nodes)
      if (!store.get(this.#t.nodes!, undefined, n))
        store.create(this.#t.nodes!, undefined, {
          metadata: { name: n, labels: { 'kubernetes.io/hostname': n } },
          status: { conditions: [{ type: 'Ready', status: 'True' }] },
        });
    this.agents = new AgentRuntime(
      () => store.list(this.#t.pods!),
      serveTargetPorts,
      (pod, container, code) => this.#terminated(pod, container, code),
      (name, ns) => this.#resolve(name, ns),
    );
    store.watch(undefined, () => this.#kick());
    this.#kick();
  }

  /**
   * The cluster's DNS as a pod in `ns` sees it: `svc`, `svc.ns`, `svc.ns.svc[.cluster.local]`
   * name a Service, answered with the IPs of the running pods it selects (the stand-in has no
   * ClusterIPs) and its fully qualified name.
   */
  #resolve(name: string, ns: string): { fqdn: string; ips: string[] } | undefined {
    const parts = name
      .replace(/\.$/, '')
      .replace(/\.svc(\.cluster\.local)?$/, '')
      .split('.');
    if (parts.length > 2) return undefined;
    const [svcName, namespace = ns] = parts as [string, string?];
    const svc = this.store.get(this.#t.services!, namespace, svcName);
    const selector = (svc?.spec?.selector ?? {}) as Record<string, string>;
    if (!svc || Object.keys(selector).length === 0) return undefined;
    const ips = this.store
      .list(this.#t.pods!)
      .filter(
        (p) =>
          p.metadata.namespace === namespace &&
          p.status?.phase === 'Running' &&
          Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v),
      )
      .map((p) => String(p.status?.podIP));
    return { fqdn: `${svcName}.${namespace}.svc.cluster.local`, ips };
  }

  stop(): Promise<void> {
    this.#stopped = true;
    return this.agents.close();
  }

  #kick(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setTimeout(() => {
      this.#scheduled = false;
      if (!this.#stopped) this.reconcile();
    }, 5);
  }

  reconcile(): void {
    const { pods, deployments, replicasets, statefulsets, jobs } = this.#t as Record<
      'pods' | 'deployments' | 'replicasets' | 'statefulsets' | 'jobs',
      ResourceType
    >;
    for (const d of this.store.list(deployments)) this.#deployment(d, deployments);
    // Argo Rollouts (when their CRD exists) roll out like deployments, through replica sets.
    const rollouts = this.registry.find('argoproj.io', 'v1alpha1', 'rollouts');
    if (rollouts) for (const r of this.store.list(rollouts)) this.#deployment(r, rollouts);
    for (const rs of this.store.list(replicasets))
      this.#replicas(
        rs,
        replicasets,
        Number(rs.spec?.replicas ?? 1),
        (i) => `${rs.metadata.name}-${hash(rs.metadata.name! + i).slice(0, 5)}`,
      );
    for (const s of this.store.list(statefulsets))
      this.#replicas(s, statefulsets, Number(s.spec?.replicas ?? 1), (i) => `${s.metadata.name}-${i}`);
    for (const j of this.store.list(jobs))
      this.#replicas(
        j,
        jobs,
        Number(j.spec?.parallelism ?? 1),
        () => `${j.metadata.name}-${hash(j.metadata.uid!).slice(0, 5)}`,
      );
    this.#collectGarbage();
    const live = this.store.list(pods);
    for (const p of live) this.#kubelet(p);
    this.agents.sync(live);
  }

  #deployment(d: KubeObject, type: ResourceType): void {
    const rsType = this.#t.replicasets!;
    const template = d.spec?.template as KubeObject | undefined;
    const name = `${d.metadata.name}-${hash(JSON.stringify(template ?? {})).slice(0, 10)}`;
    const replicas = Number(d.spec?.replicas ?? 1);
    const rs = this.store.get(rsType, d.metadata.namespace, name);
    if (!rs) {
      this.store.create(rsType, d.metadata.namespace, {
        metadata: { name, labels: { ...(template?.metadata?.labels ?? {}) }, ownerReferences: [owner(d)] },
        spec: { replicas, selector: d.spec?.selector, template },
      });
    } else if (Number(rs.spec?.replicas) !== replicas) {
      this.store.update(rsType, rs.metadata.namespace, { ...rs, spec: { ...rs.spec, replicas } });
    }
    const ready = this.#ownedPods(rs ?? { metadata: { uid: '' } }).filter(isReady).length;
    const status = {
      replicas,
      readyReplicas: ready,
      availableReplicas: ready,
      updatedReplicas: replicas,
      observedGeneration: 1,
    };
    if (JSON.stringify(d.status ?? {}) !== JSON.stringify(status))
      this.store.update(type, d.metadata.namespace, {
        ...d,
        status,
        metadata: { ...d.metadata, resourceVersion: undefined },
      });
  }

  #ownedPods(o: KubeObject): KubeObject[] {
    return this.store
      .list(this.#t.pods!, o.metadata.namespace)
      .filter((p) => p.metadata.ownerReferences?.some((r) => r.uid === o.metadata.uid));
  }

  #replicas(o: KubeObject, t: ResourceType, want: number, podName: (i: number) => string): void {
    const pods = this.#ownedPods(o);
    const template = (o.spec?.template ?? {}) as KubeObject;
    if (t.kind === 'Job' && o.status?.succeeded) return;
    for (let i = 0; pods.length < want && i < want * 3; i++) {
      const name = podName(i);
      if (this.store.get(this.#t.pods!, o.metadata.namespace, name)) continue;
      pods.push(
        this.store.create(this.#t.pods!, o.metadata.namespace, {
          metadata: {
            name,
            labels: { ...(template.metadata?.labels ?? {}) },
            annotations: { ...(template.metadata?.annotations ?? {}) },
            ownerReferences: [owner(o)],
          },
          spec: structuredClone(template.spec ?? { containers: [] }),
        }),
      );
    }
    for (const p of pods.slice(want)) this.store.delete(this.#t.pods!, p.metadata.namespace, p.metadata.name!);
    const ready = pods.slice(0, want).filter(isReady).length;
    if (t.kind !== 'Job') {
      const status = { replicas: want, readyReplicas: ready, availableReplicas: ready };
      if (JSON.stringify(o.status ?? {}) !== JSON.stringify(status))
        this.store.update(t, o.metadata.namespace, {
          ...o,
          status,
          metadata: { ...o.metadata, resourceVersion: undefined },
        });
    } else {
      const phases = pods.map((p) => p.status?.phase);
      const count = (ph: string) => phases.filter((x) => x === ph).length;
      const status = {
        active: ready,
        ...(count('Failed') ? { failed: count('Failed') } : {}),
        ...(count('Succeeded') ? { succeeded: count('Succeeded') } : {}),
      };
      if (JSON.stringify(o.status ?? {}) !== JSON.stringify(status))
        this.store.update(t, o.metadata.namespace, {
          ...o,
          status,
          metadata: { ...o.metadata, resourceVersion: undefined },
        });
    }
  }

  /** Ephemeral containers added to a running pod start running too. */
  #ephemeral(p: KubeObject): void {
    const wanted =
      (p.spec as { ephemeralContainers?: Array<{ name: string; image?: string; command?: string[] }> } | undefined)
        ?.ephemeralContainers ?? [];
    const have = (p.status?.ephemeralContainerStatuses as Array<{ name: string }> | undefined) ?? [];
    for (const c of wanted) if (isAgentContainer(c)) this.agents.ensure(p, c, String(p.status?.podIP));
    if (wanted.every((c) => have.some((h) => h.name === c.name))) return;
    const statuses = wanted.map((c) => ({
      name: c.name,
      image: c.image ?? '',
      ready: false,
      restartCount: 0,
      state: { running: { startedAt: new Date().toISOString() } },
    }));
    this.store.update(this.#t.pods!, p.metadata.namespace, {
      ...p,
      metadata: { ...p.metadata, resourceVersion: undefined },
      status: { ...p.status, ephemeralContainerStatuses: statuses },
    });
  }

  /**
   * A container's process ended: an ephemeral container shows `terminated`; a pod's only
   * container ends the pod (Succeeded on exit 0, else Failed), as the kubelet reports it.
   */
  #terminated(pod: KubeObject, container: string, exitCode: number): void {
    const p = this.store.get(this.#t.pods!, pod.metadata.namespace, pod.metadata.name!);
    if (!p || this.#stopped) return;
    const terminated = {
      terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', finishedAt: new Date().toISOString() },
    };
    type Status = { name: string; state?: unknown; ready?: boolean };
    const mark = (list: Status[] | undefined) =>
      (list ?? []).map((s) => (s.name === container ? { ...s, ready: false, state: terminated } : s));
    const eph = (p.status?.ephemeralContainerStatuses as Status[] | undefined)?.some((s) => s.name === container);
    const status = eph
      ? { ...p.status, ephemeralContainerStatuses: mark(p.status?.ephemeralContainerStatuses as Status[]) }
      : {
          ...p.status,
          phase: exitCode === 0 ? 'Succeeded' : 'Failed',
          conditions: [{ type: 'Ready', status: 'False' }],
          containerStatuses: mark(p.status?.containerStatuses as Status[]),
        };
    this.store.update(this.#t.pods!, p.metadata.namespace, {
      ...p,
      metadata: { ...p.metadata, resourceVersion: undefined },
      status,
    });
  }

  #collectGarbage(): void {
    const owners = new Set<string>();
    const rollouts = this.registry.find('argoproj.io', 'v1alpha1', 'rollouts');
    for (const t of [
      this.#t.deployments!,
      this.#t.replicasets!,
      this.#t.statefulsets!,
      this.#t.jobs!,
      ...(rollouts ? [rollouts] : []),
    ])
      for (const o of this.store.list(t)) owners.add(o.metadata.uid!);
    for (const t of [this.#t.replicasets!, this.#t.pods!]) {
      for (const o of this.store.list(t)) {
        const refs =
          o.metadata.ownerReferences?.filter((r) =>
            ['Deployment', 'ReplicaSet', 'StatefulSet', 'Job', 'Rollout'].includes(r.kind),
          ) ?? [];
        if (refs.length > 0 && refs.every((r) => !owners.has(r.uid)))
          this.store.delete(t, o.metadata.namespace, o.metadata.name!);
      }
    }
  }

  #kubelet(p: KubeObject): void {
    if (p.status?.phase === 'Running') return this.#ephemeral(p);
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return;
    const spec = (p.spec ?? {}) as {
      nodeName?: string;
      containers?: Array<{ name: string; image?: string; command?: string[] }>;
      nodeSelector?: Record<string, string>;
    };
    const node = spec.nodeName ?? this.nodes[hash(p.metadata.name!).charCodeAt(0) % this.nodes.length]!;
    // Loopback addresses (127.N.x.y, all routed to this host) so agents in pods are reachable;
    // N from the process id, so two stand-ins on one machine (a demo and a test) do not collide.
    const n = this.#ip++;
    const ip = `127.${NET}.${(n >> 8) & 255}.${n & 255}`;
    for (const c of spec.containers ?? []) if (isAgentContainer(c)) this.agents.ensure(p, c, ip);
    this.store.update(this.#t.pods!, p.metadata.namespace, {
      ...p,
      metadata: { ...p.metadata, resourceVersion: undefined },
      spec: { ...p.spec, nodeName: node },
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        hostIP: '192.168.0.1',
        startTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'True' },
          { type: 'ContainersReady', status: 'True' },
        ],
        containerStatuses: (spec.containers ?? []).map((c) => ({
          name: c.name,
          image: c.image ?? '',
          ready: true,
          started: true,
          restartCount: 0,
          containerID: `containerd://${hash(p.metadata.uid! + c.name)}`,
          state: { running: { startedAt: new Date().toISOString() } },
        })),
      },
    });
  }
}

const NET = 1 + (process.pid % 250);
const hash = (s: string): string => createHash('sha256').update(s).digest('hex');
const owner = (o: KubeObject) => ({
  apiVersion: o.apiVersion!,
  kind: o.kind!,
  name: o.metadata.name!,
  uid: o.metadata.uid!,
  controller: true,
  blockOwnerDeletion: true,
});
const isReady = (p: KubeObject): boolean => p.status?.phase === 'Running';
