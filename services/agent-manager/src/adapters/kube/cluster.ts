import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
import { AppError, ErrorCode, notFound } from '#shared/errors/index.js';
import { PodWatcher } from '#shared/kube/pod-watch.js';
import type { Target } from '#shared/targets/index.js';
import type { LabelledObject } from '../../domain/cleanup.js';
import { ROLE_LABEL, SESSION_LABEL } from '../../domain/manifests.js';
import { AGENT_KEY, IDLE_SINCE, usesLabel } from '../../domain/shared-agents.js';

type Obj = Record<string, unknown>;
export type PodTemplate = {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Obj;
};

const code = (e: unknown): number | undefined => (e as { code?: number }).code;
const ignore404 = (e: unknown) => {
  if (code(e) !== 404) throw e;
};
const orUndefined = (e: unknown): undefined => {
  if (code(e) !== 404) throw e;
  return undefined;
};
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/**
 * A Job's pods go with it. In the body (DeleteOptions), not the query: client-node sends a JSON
 * body whenever one is given, and the API server then reads the options from the body alone — a
 * `?propagationPolicy=` beside it is ignored and Jobs orphan their pods by default.
 */
const withPods = { propagationPolicy: 'Background' } as const;
const ready = (p: V1Pod) => p.status?.phase === 'Running' && !!p.status.podIP;
/** Agents and copies are waited for as long as the session's `agent.startup_timeout` says. */
const startup = (timeoutMs: number) => ({ timeoutMs, setting: 'agent.startup_timeout' });
/** A label or annotation key as a JSON-pointer segment (RFC 6901). */
const pointer = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');

/** Everything agent-manager does in the cluster, through @kubernetes/client-node. */
export class Cluster {
  readonly #core: CoreV1Api;
  readonly #apps: AppsV1Api;
  readonly #batch: BatchV1Api;
  readonly #pods: PodWatcher;

  constructor(
    kc: KubeConfig,
    private readonly agentNamespace: string,
  ) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#batch = kc.makeApiClient(BatchV1Api);
    this.#pods = new PodWatcher(kc, this.#core);
  }

  async createJob(body: Obj): Promise<void> {
    const ns = (body.metadata as { namespace: string }).namespace;
    await this.#batch.createNamespacedJob({ namespace: ns, body });
  }

  async createSecret(body: Obj): Promise<void> {
    const ns = (body.metadata as { namespace: string }).namespace;
    await this.#core.createNamespacedSecret({ namespace: ns, body });
  }

  async createPod(body: Obj): Promise<void> {
    const ns = (body.metadata as { namespace: string }).namespace;
    await this.#core.createNamespacedPod({ namespace: ns, body });
  }

  async addEphemeralContainer(namespace: string, pod: string, container: Obj): Promise<void> {
    const cur = await this.#core.readNamespacedPod({ name: pod, namespace });
    const op = cur.spec?.ephemeralContainers?.length
      ? { op: 'add', path: '/spec/ephemeralContainers/-', value: container }
      : { op: 'add', path: '/spec/ephemeralContainers', value: [container] };
    await this.#core.patchNamespacedPodEphemeralcontainers({ name: pod, namespace, body: [op] });
  }

  /**
   * Waits (by watch) for a pod matching the selector to run with an IP; a PodWaitTimeout naming
   * what was waited for and the pod's last state when it does not within `timeoutMs`.
   */
  waitForPod(namespace: string, labelSelector: string, timeoutMs: number, what: string): Promise<V1Pod> {
    return this.#pods.waitFor({ namespace, labelSelector }, startup(timeoutMs), `${what} was not running`, (pods) =>
      pods.find(ready),
    );
  }

  /** A running pod matching the selector now, if any (no waiting). */
  async runningPod(namespace: string, labelSelector: string): Promise<V1Pod | undefined> {
    return (await this.#core.listNamespacedPod({ namespace, labelSelector })).items.find(ready);
  }

  waitForEphemeral(namespace: string, pod: string, container: string, timeoutMs: number): Promise<V1Pod> {
    return this.#pods.waitFor(
      { namespace, fieldSelector: `metadata.name=${pod}` },
      startup(timeoutMs),
      `ephemeral agent ${container} in pod ${pod} was not running`,
      (pods) =>
        pods.find((p) => p.status?.ephemeralContainerStatuses?.some((s) => s.name === container && s.state?.running)),
    );
  }

  /** The pod template a copy is made from. */
  async podTemplate(t: Extract<Target, { kind: 'workload' }>, namespace: string): Promise<PodTemplate> {
    const name = t.name;
    try {
      switch (t.type) {
        case 'pod': {
          const p = await this.#core.readNamespacedPod({ name, namespace });
          const spec = { ...(p.spec as unknown as Obj) };
          delete spec.nodeName;
          delete spec.ephemeralContainers;
          return { metadata: { labels: p.metadata?.labels ?? {}, annotations: {} }, spec };
        }
        case 'deployment':
          return (await this.#apps.readNamespacedDeployment({ name, namespace })).spec!
            .template as unknown as PodTemplate;
        case 'statefulset':
          return (await this.#apps.readNamespacedStatefulSet({ name, namespace })).spec!
            .template as unknown as PodTemplate;
        case 'replicaset':
          return (await this.#apps.readNamespacedReplicaSet({ name, namespace })).spec!
            .template as unknown as PodTemplate;
        case 'job':
          return (await this.#batch.readNamespacedJob({ name, namespace })).spec!.template as unknown as PodTemplate;
        case 'cronjob':
          return (await this.#batch.readNamespacedCronJob({ name, namespace })).spec!.jobTemplate.spec!
            .template as unknown as PodTemplate;
        case 'rollout':
          throw new AppError(ErrorCode.Invalid, 'feature.copy_target: rollouts cannot be copied');
        case 'service':
          throw new AppError(
            ErrorCode.Invalid,
            'feature.copy_target: a service cannot be copied; target the deployment behind it',
          );
      }
    } catch (e) {
      if (code(e) === 404) throw notFound(`target ${t.type} "${name}" in namespace "${namespace}" not found`);
      throw e;
    }
  }

  async readPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    return this.#core.readNamespacedPod({ name, namespace }).catch(orUndefined);
  }

  async readJob(namespace: string, name: string): Promise<V1Job | undefined> {
    return this.#batch.readNamespacedJob({ name, namespace }).catch(orUndefined);
  }

  /** Agent Jobs in every namespace, narrowed by a further label selector. */
  async agentJobs(labelSelector?: string): Promise<V1Job[]> {
    const sel = labelSelector ? `${AGENT_KEY},${labelSelector}` : AGENT_KEY;
    return (await this.#batch.listJobForAllNamespaces({ labelSelector: sel })).items;
  }

  /** The pods of an agent, whatever their phase. */
  async agentPods(namespace: string, key: string): Promise<V1Pod[]> {
    return (await this.#core.listNamespacedPod({ namespace, labelSelector: `${AGENT_KEY}=${key}` })).items;
  }

  /** A JSON merge patch (a null removes a key); the Job after it, or undefined when it is gone. */
  async patchJob(namespace: string, name: string, body: Obj): Promise<V1Job | undefined> {
    return this.#batch.patchNamespacedJob({ name, namespace, body }, mergePatch).catch(orUndefined);
  }

  /**
   * Deletes a Job only as it was at `resourceVersion` (DeleteOptions preconditions): false when
   * it changed since — a session joined the agent — or is already gone.
   */
  async deleteJobAt(namespace: string, name: string, resourceVersion: string): Promise<boolean> {
    try {
      await this.#batch.deleteNamespacedJob({
        name,
        namespace,
        body: { ...withPods, preconditions: { resourceVersion } },
      });
      return true;
    } catch (e) {
      if (code(e) === 409 || code(e) === 404) return false;
      throw e;
    }
  }

  async replicas(namespace: string, deployment: string): Promise<number> {
    return (await this.#apps.readNamespacedDeploymentScale({ name: deployment, namespace })).spec?.replicas ?? 0;
  }

  async scale(namespace: string, deployment: string, replicas: number): Promise<void> {
    await this.#apps.patchNamespacedDeploymentScale({
      name: deployment,
      namespace,
      body: [{ op: 'replace', path: '/spec/replicas', value: replicas }],
    });
  }

  /**
   * Hands an idle copy to a new session. The `test` makes it atomic: of two sessions racing for
   * one idle copy, the second patch fails (422) and that session makes its own copy.
   */
  async adoptCopy(namespace: string, name: string, sessionId: string, idleSince: string): Promise<boolean> {
    try {
      await this.#core.patchNamespacedPod({
        name,
        namespace,
        body: [
          { op: 'test', path: `/metadata/annotations/${pointer(IDLE_SINCE)}`, value: idleSince },
          { op: 'remove', path: `/metadata/annotations/${pointer(IDLE_SINCE)}` },
          { op: 'replace', path: `/metadata/labels/${pointer(SESSION_LABEL)}`, value: sessionId },
        ],
      });
      return true;
    } catch (e) {
      if (code(e) === 422 || code(e) === 404 || code(e) === 409) return false;
      throw e;
    }
  }

  /** Another session of the copy's user joins it (`session.mirrord.metalbear.co/<id>` on the pod). */
  async shareCopy(namespace: string, name: string, sessionId: string): Promise<void> {
    await this.#core.patchNamespacedPod({
      name,
      namespace,
      body: [{ op: 'add', path: `/metadata/labels/${pointer(usesLabel(sessionId))}`, value: 'true' }],
    });
  }

  /**
   * The copy's owner ends while another session shares it: that one owns it now. The `test`
   * keeps a concurrent hand-over (or adoption) from being overwritten.
   */
  async handOverCopy(namespace: string, name: string, from: string, to: string): Promise<boolean> {
    try {
      await this.#core.patchNamespacedPod({
        name,
        namespace,
        body: [
          { op: 'test', path: `/metadata/labels/${pointer(SESSION_LABEL)}`, value: from },
          { op: 'replace', path: `/metadata/labels/${pointer(SESSION_LABEL)}`, value: to },
          { op: 'remove', path: `/metadata/labels/${pointer(usesLabel(to))}` },
        ],
      });
      return true;
    } catch (e) {
      if (code(e) === 422 || code(e) === 404 || code(e) === 409) return false;
      throw e;
    }
  }

  /** A session that shared a copy ends: its label goes, the copy stays with its owner. */
  async leaveCopies(sessionId: string): Promise<void> {
    const labelSelector = `${usesLabel(sessionId)},${ROLE_LABEL}=copy`;
    const shared = await this.#core.listPodForAllNamespaces({ labelSelector });
    for (const p of shared.items)
      await this.#core
        .patchNamespacedPod({
          name: p.metadata!.name!,
          namespace: p.metadata!.namespace!,
          body: [{ op: 'remove', path: `/metadata/labels/${pointer(usesLabel(sessionId))}` }],
        })
        .catch(ignore404);
  }

  async markIdle(namespace: string, name: string, since: string): Promise<void> {
    await this.#core
      .patchNamespacedPod({
        name,
        namespace,
        body: [{ op: 'add', path: `/metadata/annotations/${pointer(IDLE_SINCE)}`, value: since }],
      })
      .catch(ignore404);
  }

  /** One copy pod by name (undefined when there is none, or the pod is not a copy). */
  async copyPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    try {
      const p = await this.#core.readNamespacedPod({ name, namespace });
      return p.metadata?.labels?.[ROLE_LABEL] === 'copy' && p.metadata.labels[SESSION_LABEL] ? p : undefined;
    } catch (e) {
      if (code(e) === 404) return undefined;
      throw e;
    }
  }

  /** The copy pods agent-manager made, in one namespace or all. */
  async copyPods(namespace?: string): Promise<V1Pod[]> {
    const labelSelector = `${SESSION_LABEL},${ROLE_LABEL}=copy`;
    return (
      namespace
        ? await this.#core.listNamespacedPod({ namespace, labelSelector })
        : await this.#core.listPodForAllNamespaces({ labelSelector })
    ).items;
  }

  /**
   * Every Job and Pod labelled with a session (all namespaces), and such Secrets in the agent
   * namespace; only one session's when `sessionId` is given (the server filters).
   */
  async labelled(sessionId?: string): Promise<LabelledObject[]> {
    const labelSelector = sessionId ? `${SESSION_LABEL}=${sessionId}` : SESSION_LABEL;
    const [jobs, pods, secrets] = await Promise.all([
      this.#batch.listJobForAllNamespaces({ labelSelector }),
      this.#core.listPodForAllNamespaces({ labelSelector }),
      this.#core.listNamespacedSecret({ namespace: this.agentNamespace, labelSelector }),
    ]);
    const of = (
      kind: LabelledObject['kind'],
      m:
        | {
            name?: string;
            namespace?: string;
            labels?: Record<string, string>;
            annotations?: Record<string, string>;
            creationTimestamp?: Date;
          }
        | undefined,
    ): LabelledObject => ({
      kind,
      name: m?.name ?? '',
      namespace: m?.namespace ?? '',
      labels: m?.labels ?? {},
      annotations: m?.annotations ?? {},
      createdAt: m?.creationTimestamp ? new Date(m.creationTimestamp).getTime() : 0,
    });
    return [
      ...jobs.items.map((j) => of('Job', j.metadata)),
      ...pods.items.map((p) => of('Pod', p.metadata)),
      ...secrets.items.map((x) => of('Secret', x.metadata)),
    ];
  }

  async delete(o: Pick<LabelledObject, 'kind' | 'namespace' | 'name'>): Promise<void> {
    if (o.kind === 'Secret')
      await this.#core.deleteNamespacedSecret({ name: o.name, namespace: o.namespace }).catch(ignore404);
    else if (o.kind === 'Job')
      await this.#batch.deleteNamespacedJob({ name: o.name, namespace: o.namespace, body: withPods }).catch(ignore404);
    else await this.#core.deleteNamespacedPod({ name: o.name, namespace: o.namespace }).catch(ignore404);
  }
}
