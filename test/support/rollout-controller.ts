/**
 * Argo Rollouts' controller, as much of it as mirrord relies on (a cluster with Argo installed
 * runs the real one): a Rollout gets a ReplicaSet of its pod template, labelled with
 * `rollouts-pod-template-hash` and owned by the Rollout, scaled to `spec.replicas` (so a
 * `scale_down` of a rollout and its restore happen through real ReplicaSets and the real
 * ReplicaSet controller), and the Rollout's status reports the ReplicaSet's replicas.
 * Waits for the Rollout CRD: a cluster without Argo has no rollouts to play.
 */
import { createHash } from 'node:crypto';
import {
  AppsV1Api,
  CustomObjectsApi,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ObjectCache,
  type V1ReplicaSet,
} from '@kubernetes/client-node';

type Rollout = KubernetesObject & {
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> }; template?: Record<string, unknown> };
  status?: Record<string, unknown>;
};
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const code = (e: unknown): number | undefined => (e as { code?: number }).code;
const HASH_LABEL = 'rollouts-pod-template-hash';

export class RolloutController {
  readonly #apps: AppsV1Api;
  readonly #custom: CustomObjectsApi;
  #rollouts?: Informer<Rollout> & ObjectCache<Rollout>;
  #sets?: Informer<V1ReplicaSet> & ObjectCache<V1ReplicaSet>;
  #stopped = false;
  #timer?: NodeJS.Timeout;
  #scheduled = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly log: (line: string) => void,
  ) {
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** Starts watching once the CRD is served (checked every 2 s until then). */
  async start(): Promise<void> {
    const list = () =>
      this.#custom.listClusterCustomObject({ group: 'argoproj.io', version: 'v1alpha1', plural: 'rollouts' });
    try {
      await list();
    } catch (e) {
      // Not served yet (no CRD: 404), or the API server still starting (429): look again.
      if ((code(e) !== 404 && code(e) !== 429) || this.#stopped) throw e;
      this.#timer = setTimeout(
        () => void this.start().catch((err: Error) => this.log(`rollouts: ${err.message}`)),
        2000,
      );
      this.#timer.unref();
      return;
    }
    this.#rollouts = makeInformer<Rollout>(this.kc, '/apis/argoproj.io/v1alpha1/rollouts', list as never);
    this.#sets = makeInformer<V1ReplicaSet>(
      this.kc,
      '/apis/apps/v1/replicasets',
      () => this.#apps.listReplicaSetForAllNamespaces() as never,
    );
    for (const inf of [this.#rollouts, this.#sets] as Array<Informer<KubernetesObject>>) {
      for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, () => this.#kick());
      inf.on('error', () => {
        if (!this.#stopped) setTimeout(() => void inf.start().catch(() => undefined), 1000).unref();
      });
    }
    await Promise.all([this.#rollouts.start(), this.#sets.start()]);
    this.#kick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.all([this.#rollouts?.stop(), this.#sets?.stop()]);
  }

  #kick(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setTimeout(() => {
      this.#scheduled = false;
      for (const r of this.#rollouts?.list() ?? [])
        this.#reconcile(r).catch((e: Error) => code(e) === 409 || this.#stopped || this.log(`rollout: ${e.message}`));
    }, 10).unref();
  }

  async #reconcile(r: Rollout): Promise<void> {
    const { name, namespace, uid } = r.metadata as { name: string; namespace: string; uid: string };
    if (r.metadata?.deletionTimestamp) return;
    const template = structuredClone(r.spec?.template ?? {}) as {
      metadata?: { labels?: Record<string, string> };
      spec?: unknown;
    };
    const h = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
    const replicas = r.spec?.replicas ?? 1;
    const owned = (this.#sets?.list(namespace) ?? []).filter((s) =>
      s.metadata?.ownerReferences?.some((o) => o.uid === uid),
    );
    const rs = owned.find((s) => s.metadata?.labels?.[HASH_LABEL] === h);
    if (!rs) {
      const labels = { ...(template.metadata?.labels ?? {}), [HASH_LABEL]: h };
      await this.#apps.createNamespacedReplicaSet({
        namespace,
        body: {
          metadata: {
            name: `${name}-${h}`,
            labels,
            ownerReferences: [
              {
                apiVersion: 'argoproj.io/v1alpha1',
                kind: 'Rollout',
                name,
                uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: {
            replicas,
            selector: { matchLabels: { ...(r.spec?.selector?.matchLabels ?? {}), [HASH_LABEL]: h } },
            template: { ...template, metadata: { ...template.metadata, labels } } as never,
          },
        },
      });
      return;
    }
    if (rs.spec?.replicas !== replicas)
      await this.#apps.patchNamespacedReplicaSet(
        { name: rs.metadata!.name!, namespace, body: { spec: { replicas } } },
        mergePatch,
      );
    const ready = rs.status?.readyReplicas ?? 0;
    const status = {
      replicas,
      readyReplicas: ready,
      availableReplicas: rs.status?.availableReplicas ?? 0,
      updatedReplicas: replicas,
      observedGeneration: String(r.metadata?.generation ?? 1),
    };
    const cur = r.status ?? {};
    if (Object.entries(status).some(([k, v]) => cur[k] !== v))
      await this.#custom.patchNamespacedCustomObjectStatus(
        { group: 'argoproj.io', version: 'v1alpha1', namespace, plural: 'rollouts', name, body: { status } },
        mergePatch,
      );
  }
}
