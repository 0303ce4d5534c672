import { containerRef } from '#shared/kube/container.js';
import { SESSION_LABEL } from '#shared/kube/labels.js';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { AppError, ErrorCode, conflict, invalid, notFound, unavailable } from '#shared/errors/index.js';
import { PodWatcher, PodWaitTimeout, podState, type PodQuery } from '#shared/kube/pod-watch.js';
import { formatTarget, validateNamespace, type Target, type TargetType } from '#shared/targets/index.js';
import type { Identity, ResolveOptions, ResolvedTarget, TargetResolver } from '../../domain/interfaces.js';
import type { SubjectAccessReviewAuthorizer } from './kube-auth.js';
import { GROUP } from '../../app/authorize.js';
import { closestNames } from '../../domain/closest-names.js';

const WORKLOADS: Record<TargetType, { group: string; version: string; resource: string }> = {
  deployment: { group: 'apps', version: 'v1', resource: 'deployments' },
  pod: { group: '', version: 'v1', resource: 'pods' },
  statefulset: { group: 'apps', version: 'v1', resource: 'statefulsets' },
  replicaset: { group: 'apps', version: 'v1', resource: 'replicasets' },
  rollout: { group: 'argoproj.io', version: 'v1alpha1', resource: 'rollouts' },
  job: { group: 'batch', version: 'v1', resource: 'jobs' },
  cronjob: { group: 'batch', version: 'v1', resource: 'cronjobs' },
  service: { group: '', version: 'v1', resource: 'services' },
};

type Workload = {
  metadata?: { labels?: Record<string, string> };
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    template?: { spec?: { containers?: Array<{ name: string }> } };
  };
};

/** A target's pods now, its labels, its template's containers, and how to watch its pods. */
interface TargetPods {
  pods: V1Pod[];
  labels: Record<string, string>;
  template?: string[];
  /** Absent only with no pods to watch (a cronjob, a Service without a selector). */
  query?: PodQuery;
}
const statusOf = (e: unknown): number | undefined => (e as { code?: number }).code;
const isReady = (p: V1Pod): boolean =>
  p.status?.phase === 'Running' &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') &&
  !p.metadata?.deletionTimestamp;

/**
 * Resolves targets against the cluster: the user must be allowed to `get` the workload (the
 * seed: the operator only operates on what the user may get; checked with a
 * SubjectAccessReview for the user rather than by impersonating them, so the operator needs no
 * `impersonate` permission), the workload must exist, and a ready pod of it is chosen.
 */
export class KubeTargetResolver implements TargetResolver {
  readonly #core: CoreV1Api;
  readonly #apps: AppsV1Api;
  readonly #batch: BatchV1Api;
  readonly #custom: CustomObjectsApi;
  readonly #pods: PodWatcher;

  constructor(
    kc: KubeConfig,
    private readonly access: SubjectAccessReviewAuthorizer,
    /**
     * How long a session start waits for a target pod to become ready (its pods are starting, or
     * rolling): then a lasting 409 naming the pods' state — a 503 the mirrord CLI retries without end.
     */
    private readonly readyWaitMs = 20_000,
  ) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#batch = kc.makeApiClient(BatchV1Api);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#pods = new PodWatcher(kc, this.#core);
  }

  async resolve(who: Identity, ns: string, target: Target, opts: ResolveOptions = {}): Promise<ResolvedTarget> {
    const namespace = validateNamespace(ns);
    const path = formatTarget(target);
    if (target.kind === 'targetless') return { target, path, namespace };
    const w = WORKLOADS[target.type];
    const d = await this.access.check(who, {
      verb: 'get',
      group: w.group,
      resource: w.resource,
      namespace,
      name: target.name,
    });
    if (!d.allowed)
      throw new AppError(
        ErrorCode.Forbidden,
        `user "${who.user}" cannot get resource "${w.resource}" in API group "${w.group}" in the namespace "${namespace}": mirrord only operates on targets you may get`,
      );
    const what = `${target.type} "${target.name}" in namespace "${namespace}"`;
    let found: TargetPods;
    try {
      found = await this.#podsOf(target.type, target.name, namespace);
    } catch (e) {
      // Lasting (404), not retried: the CLI retries a 503 without end.
      if (statusOf(e) === 404) {
        const near = await this.#closest(who, target.type, target.name, namespace);
        throw notFound(
          near.length
            ? `target ${what} not found; did you mean ${near.map((n) => `${target.type}/${n}`).join(', ')}?`
            : `target ${what} not found; check its name and namespace (kubectl get ${w.resource} -n ${namespace})`,
        );
      }
      if (e instanceof AppError) throw e;
      throw unavailable(`reading target ${what}: ${(e as Error).message}`, e);
    }
    const { pods, labels } = found;
    if (target.type === 'cronjob') return { target, path, namespace, labels };
    let pod = pods.find(isReady);
    const phase = pods[0]?.status?.phase;
    if (!pod && target.type === 'pod' && (opts.copy || phase === 'Succeeded' || phase === 'Failed'))
      throw invalid(
        'target',
        `pod "${target.name}" in namespace "${namespace}" is not running and ready (phase ${phase ?? 'Unknown'})`,
        opts.copy
          ? 'a copy of a bare pod needs it running; start it, or target the workload that owns it (deployment/…), whose template is copied'
          : 'start it, or target the workload that owns it (deployment/…)',
      );
    if (!pod && opts.copy) {
      // The copy is made from the template: check the container there, as a pod's would be.
      const containers = found.template ?? [];
      if (target.container && containers.length && !containers.includes(target.container))
        throw notFound(
          `container "${target.container}" not found in the pod template of ${what}; containers: ${containers.join(', ')}`,
        );
      return { target, path, namespace, labels };
    }
    if (!pod && pods.length === 0)
      throw invalid(
        'target',
        `${what} has no pods (scaled to 0?)`,
        `scale it up (kubectl scale ${target.type} ${target.name} -n ${namespace} --replicas=1), or use copy_target, which runs a copy of its pod template`,
      );
    pod ??= await this.#readyPod(found.query!, what, pods, !!opts.waitReady);
    const containers = (pod.spec?.containers ?? []).map((c) => c.name);
    const container = target.container ?? containers[0];
    if (!container || !containers.includes(container))
      throw notFound(
        `container "${target.container ?? ''}" not found in ${what} (pod ${pod.metadata?.name}); containers: ${containers.join(', ') || 'none'}`,
      );
    // `containerd://<id>`: what a targeted agent needs to enter the container's namespaces.
    const ref = containerRef(pod.status?.containerStatuses?.find((c) => c.name === container)?.containerID);
    return {
      target,
      path,
      namespace,
      labels,
      pod: {
        name: pod.metadata!.name!,
        node: pod.spec?.nodeName ?? '',
        ip: pod.status?.podIP ?? '',
        labels: pod.metadata?.labels ?? {},
        container,
        ...ref,
      },
    };
  }

  /**
   * A ready pod of a target whose pods are not ready yet: waited for (by watch) at a session
   * start, else none. Not ready in the end is a lasting 409 naming the pods' state.
   */
  async #readyPod(q: PodQuery, what: string, pods: V1Pod[], wait: boolean): Promise<V1Pod> {
    const see = `kubectl get pods -n ${q.namespace}${q.labelSelector ? ` -l '${q.labelSelector}'` : ''}`;
    const notReady = `target ${what} is not ready: none of its ${pods.length} pod(s) is running and ready`;
    if (!wait) throw conflict(`${notReady} (${podState(pods[0])}); see ${see}`);
    return this.#pods
      .waitFor(q, { timeoutMs: this.readyWaitMs }, notReady, (ps) => ps.find(isReady))
      .catch((e: unknown) => {
        if (e instanceof PodWaitTimeout) throw conflict(`${e.message}; see ${see}`);
        throw e;
      });
  }

  async list(who: Identity, ns: string): Promise<Target[]> {
    const namespace = validateNamespace(ns);
    const out: Target[] = [];
    for (const type of Object.keys(WORKLOADS) as TargetType[]) {
      const w = WORKLOADS[type];
      if (!(await this.access.check(who, { verb: 'list', group: w.group, resource: w.resource, namespace })).allowed)
        continue;
      let names: string[];
      try {
        names = await this.#names(type, namespace);
      } catch (e) {
        if (statusOf(e) === 404) continue; // e.g. no Argo Rollouts CRD in this cluster
        throw e;
      }
      const allowed = await Promise.all(
        names.map((name) =>
          this.access.check(who, {
            verb: 'proxy',
            group: GROUP,
            resource: 'targets',
            namespace,
            name: `${type}.${name}`,
          }),
        ),
      );
      names.forEach((name, i) => allowed[i]!.allowed && out.push({ kind: 'workload', type, name }));
    }
    return out;
  }

  /**
   * The existing names of that kind in the namespace closest to a missing one, for a 404's "did
   * you mean": only for a user who may list them (the gateway lists as itself), and none when
   * listing fails (the 404 is the answer either way).
   */
  async #closest(who: Identity, type: TargetType, name: string, namespace: string): Promise<string[]> {
    const w = WORKLOADS[type];
    try {
      if (!(await this.access.check(who, { verb: 'list', group: w.group, resource: w.resource, namespace })).allowed)
        return [];
      return closestNames(name, await this.#names(type, namespace));
    } catch {
      return [];
    }
  }

  async #names(type: TargetType, namespace: string): Promise<string[]> {
    const names = (items: Array<{ metadata?: { name?: string } }>) =>
      items.map((i) => i.metadata?.name ?? '').filter(Boolean);
    switch (type) {
      case 'pod':
        return names(
          (await this.#core.listNamespacedPod({ namespace })).items.filter((p) => !p.metadata?.labels?.[SESSION_LABEL]),
        );
      case 'deployment':
        return names((await this.#apps.listNamespacedDeployment({ namespace })).items);
      case 'statefulset':
        return names((await this.#apps.listNamespacedStatefulSet({ namespace })).items);
      case 'replicaset':
        return names((await this.#apps.listNamespacedReplicaSet({ namespace })).items);
      case 'job':
        return names((await this.#batch.listNamespacedJob({ namespace })).items);
      case 'cronjob':
        return names((await this.#batch.listNamespacedCronJob({ namespace })).items);
      case 'service':
        return names((await this.#core.listNamespacedService({ namespace })).items);
      case 'rollout':
        return names(
          (
            (await this.#custom.listNamespacedCustomObject({
              group: 'argoproj.io',
              version: 'v1alpha1',
              namespace,
              plural: 'rollouts',
            })) as { items: Array<{ metadata?: { name?: string } }> }
          ).items,
        );
    }
  }

  /** The target's pods and labels (the workload's own labels, which policy selectors match). */
  async #podsOf(type: TargetType, name: string, namespace: string): Promise<TargetPods> {
    if (type === 'pod') {
      const pod = await this.#core.readNamespacedPod({ name, namespace });
      return {
        pods: [pod],
        labels: pod.metadata?.labels ?? {},
        query: { namespace, fieldSelector: `metadata.name=${name}` },
      };
    }
    let w: Workload;
    switch (type) {
      case 'deployment':
        w = await this.#apps.readNamespacedDeployment({ name, namespace });
        break;
      case 'statefulset':
        w = await this.#apps.readNamespacedStatefulSet({ name, namespace });
        break;
      case 'replicaset':
        w = await this.#apps.readNamespacedReplicaSet({ name, namespace });
        break;
      case 'job':
        w = await this.#batch.readNamespacedJob({ name, namespace });
        break;
      case 'cronjob':
        return {
          pods: [],
          labels: (await this.#batch.readNamespacedCronJob({ name, namespace })).metadata?.labels ?? {},
        };
      case 'service': {
        // A Service selects its pods with a plain map (spec.selector), not a LabelSelector.
        const svc = await this.#core.readNamespacedService({ name, namespace });
        w = { metadata: svc.metadata ?? {}, spec: { selector: { matchLabels: svc.spec?.selector ?? {} } } };
        break;
      }
      case 'rollout':
        w = (await this.#custom.getNamespacedCustomObject({
          group: 'argoproj.io',
          version: 'v1alpha1',
          namespace,
          plural: 'rollouts',
          name,
        })) as Workload;
        break;
    }
    const sel = w.spec?.selector?.matchLabels ?? (type === 'job' ? { 'job-name': name } : {});
    const labelSelector = Object.entries(sel)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const labels = w.metadata?.labels ?? {};
    const template = w.spec?.template?.spec?.containers?.map((c) => c.name);
    const withTemplate = template ? { template } : {};
    if (!labelSelector) return { pods: [], labels, ...withTemplate };
    // Not mirrord's copies of it (they carry the template's labels, and belong to their sessions).
    const own = `${labelSelector},!${SESSION_LABEL}`;
    return {
      pods: (await this.#core.listNamespacedPod({ namespace, labelSelector: own })).items,
      labels,
      ...withTemplate,
      query: { namespace, labelSelector: own },
    };
  }
}
