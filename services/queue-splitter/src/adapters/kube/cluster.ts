import { AppsV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import * as z from 'zod';
import { notFound, unavailable } from '#shared/errors/index.js';
import type { ClusterPort, Workload } from '../../app/ports.js';
import type { EnvLocation, QueueDecl } from '../../domain/registry.js';
import type { PodTemplate } from '../../domain/workload.js';

export const QUEUES_GROUP = 'queues.mirrord.metalbear.co';
export const QUEUES_VERSION = 'v1alpha';
const ROLLOUTS = { group: 'argoproj.io', version: 'v1alpha1', plural: 'rollouts' } as const;

const code = (e: unknown): number | undefined => (e as { code?: number }).code;

/**
 * A refusal of the API server as the session's user reads it: the Status message (who may not
 * do what) instead of client-node's dump of the HTTP exchange. A 403 is the splitter's RBAC.
 */
export function kubeError(e: unknown, doing: string): unknown {
  const c = code(e);
  if (c === undefined) return e;
  let message = '';
  try {
    message = (JSON.parse(String((e as { body?: unknown }).body)) as { message?: string }).message ?? '';
  } catch {
    message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  }
  const rbac =
    c === 403
      ? " (the queue-splitter's ClusterRole mirrord-queue-splitter lacks it; reinstall the chart with queueSplitting.enabled)"
      : '';
  return unavailable(`the queue splitter could not ${doing}: ${message}${rbac}`, e);
}

// The resources as the platform team writes them (queues.md); unknown fields are kept, not refused.
const registry = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string().optional() }),
  spec: z.object({
    queues: z.record(
      z.string(),
      z.looseObject({
        queueType: z.string(),
        nameSource: z.union([z.object({ envVar: z.string() }), z.object({ regexPattern: z.string() })]).optional(),
        fallbackName: z.string().optional(),
        tags: z.record(z.string(), z.string()).optional(),
      }),
    ),
    consumer: z.object({ name: z.string(), container: z.string().optional(), workloadType: z.string() }),
    workloadRestartTimeout: z.number().int().positive().optional(),
  }),
});
const envLocation = z.object({ directEnvVar: z.object({ container: z.string(), variable: z.string() }) });
const topicsConsumer = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string().optional() }),
  spec: z.object({
    consumerName: z.string(),
    consumerKind: z.string(),
    consumerRestartTimeout: z.number().int().positive().optional(),
    topics: z.array(
      z.object({
        id: z.string(),
        nameSources: z.array(envLocation).min(1),
        groupIdSources: z.array(envLocation).default([]),
        clientConfig: z.string(),
      }),
    ),
  }),
});

const at = (s: z.infer<typeof envLocation>): EnvLocation => ({
  container: s.directEnvVar.container,
  variable: s.directEnvVar.variable,
});

/** The registries and workloads of the cluster, through @kubernetes/client-node. */
export class KubeCluster implements ClusterPort {
  readonly #apps: AppsV1Api;
  readonly #custom: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    private readonly log: { warn(o: object, m: string): void },
  ) {
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
  }

  async #list(namespace: string, plural: string): Promise<unknown[]> {
    const r = (await this.#custom.listNamespacedCustomObject({
      group: QUEUES_GROUP,
      version: QUEUES_VERSION,
      namespace,
      plural,
    })) as {
      items?: unknown[];
    };
    return r.items ?? [];
  }

  async declarations(w: Workload, container: string | undefined): Promise<QueueDecl[]> {
    const out: QueueDecl[] = [];
    for (const raw of await this.#list(w.namespace, 'mirrordworkloadqueueregistries')) {
      const p = registry.safeParse(raw);
      if (!p.success) {
        this.log.warn(
          { issues: p.error.issues.slice(0, 3) },
          'skipped a MirrordWorkloadQueueRegistry that does not parse',
        );
        continue;
      }
      const { metadata, spec } = p.data;
      if (spec.consumer.name !== w.name || spec.consumer.workloadType !== w.kind) continue;
      // A registry for one container applies only to sessions on that container (the CLI's rule).
      if (spec.consumer.container !== undefined && container !== undefined && spec.consumer.container !== container)
        continue;
      for (const [id, q] of Object.entries(spec.queues)) {
        if (q.queueType !== 'SQS') continue;
        const resource = `${w.namespace}/${metadata.name}`;
        if (!q.nameSource || !('envVar' in q.nameSource)) {
          this.log.warn({ resource, queue_id: id }, 'queue skipped: only nameSource.envVar is supported');
          continue;
        }
        out.push({
          queue_type: 'SQS',
          queue_id: id,
          resource,
          names: [
            {
              ...(spec.consumer.container ? { container: spec.consumer.container } : {}),
              variable: q.nameSource.envVar,
            },
          ],
          groups: [],
          ...(q.fallbackName ? { fallback_name: q.fallbackName } : {}),
          ...(q.tags ? { tags: q.tags } : {}),
          restart_timeout_s: spec.workloadRestartTimeout ?? 120,
        });
      }
    }
    for (const raw of await this.#list(w.namespace, 'mirrordkafkatopicsconsumers')) {
      const p = topicsConsumer.safeParse(raw);
      if (!p.success) {
        this.log.warn(
          { issues: p.error.issues.slice(0, 3) },
          'skipped a MirrordKafkaTopicsConsumer that does not parse',
        );
        continue;
      }
      const { metadata, spec } = p.data;
      if (spec.consumerName !== w.name || spec.consumerKind !== w.kind) continue;
      for (const t of spec.topics)
        out.push({
          queue_type: 'Kafka',
          queue_id: t.id,
          resource: `${w.namespace}/${metadata.name}`,
          names: t.nameSources.map(at),
          groups: t.groupIdSources.map(at),
          client_config: t.clientConfig,
          restart_timeout_s: spec.consumerRestartTimeout ?? 60,
        });
    }
    return out;
  }

  async #read(w: Workload): Promise<{ spec?: { template?: PodTemplate } } & Record<string, unknown>> {
    try {
      if (w.kind === 'Deployment')
        return (await this.#apps.readNamespacedDeployment({ name: w.name, namespace: w.namespace })) as never;
      return (await this.#custom.getNamespacedCustomObject({
        ...ROLLOUTS,
        namespace: w.namespace,
        name: w.name,
      })) as never;
    } catch (e) {
      if (code(e) === 404) throw notFound(`${w.kind.toLowerCase()}/${w.name} not found in namespace ${w.namespace}`);
      throw kubeError(e, `read ${w.kind.toLowerCase()}/${w.name} in namespace ${w.namespace}`);
    }
  }

  async template(w: Workload): Promise<PodTemplate> {
    return (await this.#read(w)).spec?.template ?? {};
  }

  async updateTemplate(w: Workload, change: (t: PodTemplate) => PodTemplate): Promise<void> {
    // Replace with the read's resourceVersion: a concurrent writer makes it 409, and it is read again.
    for (let attempt = 0; ; attempt++) {
      const obj = await this.#read(w);
      const next = { ...obj, spec: { ...obj.spec, template: change(obj.spec?.template ?? {}) } };
      try {
        if (w.kind === 'Deployment')
          await this.#apps.replaceNamespacedDeployment({ name: w.name, namespace: w.namespace, body: next as never });
        else
          await this.#custom.replaceNamespacedCustomObject({
            ...ROLLOUTS,
            namespace: w.namespace,
            name: w.name,
            body: next,
          });
        return;
      } catch (e) {
        if (code(e) !== 409 || attempt >= 10)
          throw kubeError(e, `update ${w.kind.toLowerCase()}/${w.name} in namespace ${w.namespace}`);
      }
    }
  }

  async waitRolledOut(w: Workload, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const o = (await this.#read(w)) as {
        metadata?: { generation?: number };
        spec?: { replicas?: number };
        status?: {
          observedGeneration?: number;
          updatedReplicas?: number;
          availableReplicas?: number;
          replicas?: number;
        };
      };
      const want = o.spec?.replicas ?? 1;
      const s = o.status ?? {};
      const done =
        (s.observedGeneration ?? 0) >= (o.metadata?.generation ?? 0) &&
        (s.updatedReplicas ?? 0) >= want &&
        (s.availableReplicas ?? 0) >= want &&
        (s.replicas ?? 0) <= want;
      if (done) return true;
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
