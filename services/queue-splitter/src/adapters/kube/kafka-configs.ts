import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import * as z from 'zod';
import { invalid, notFound } from '#shared/errors/index.js';
import { QUEUES_GROUP, QUEUES_VERSION } from './cluster.js';

const code = (e: unknown): number | undefined => (e as { code?: number }).code;

const clientConfig = z.object({
  spec: z.object({
    parent: z.string().optional(),
    properties: z.array(z.object({ name: z.string(), value: z.string().nullable() })).default([]),
    loadFromSecret: z.string().optional(),
  }),
});

export type KafkaProperty = { name: string; value: string | null };

/**
 * A `MirrordKafkaClientConfig` (in the operator's namespace) resolved to client properties:
 * its parent's first, then a `loadFromSecret` Secret's keys, then its own; a null value removes
 * an inherited property. A cycle or a missing parent is an error naming the resource.
 */
export class KafkaClientConfigs {
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
  ) {
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#core = kc.makeApiClient(CoreV1Api);
  }

  async resolve(name: string, seen: string[] = []): Promise<KafkaProperty[]> {
    const where = `MirrordKafkaClientConfig ${this.namespace}/${name}`;
    if (seen.includes(name))
      throw invalid(
        `${where}.spec.parent`,
        `parents form a cycle (${[...seen, name].join(' → ')})`,
        'remove the cycle',
      );
    let raw: unknown;
    try {
      raw = await this.#custom.getNamespacedCustomObject({
        group: QUEUES_GROUP,
        version: QUEUES_VERSION,
        namespace: this.namespace,
        plural: 'mirrordkafkaclientconfigs',
        name,
      });
    } catch (e) {
      if (code(e) === 404)
        throw notFound(
          `${where} not found: the topics consumer names it in clientConfig; create it in the operator's namespace`,
        );
      throw e;
    }
    const p = clientConfig.safeParse(raw);
    if (!p.success) throw invalid(`${where}.spec`, p.error.issues[0]!.message, 'see the README for its fields');
    const props = new Map<string, string | null>();
    if (p.data.spec.parent)
      for (const x of await this.resolve(p.data.spec.parent, [...seen, name])) props.set(x.name, x.value);
    if (p.data.spec.loadFromSecret) {
      const [ns, secret] = p.data.spec.loadFromSecret.includes('/')
        ? p.data.spec.loadFromSecret.split('/', 2)
        : [this.namespace, p.data.spec.loadFromSecret];
      const s = await this.#core.readNamespacedSecret({ name: secret!, namespace: ns! }).catch((e: unknown) => {
        if (code(e) === 404) throw notFound(`${where}.spec.loadFromSecret: Secret ${ns}/${secret} not found`);
        throw e;
      });
      for (const [k, v] of Object.entries(s.data ?? {})) props.set(k, Buffer.from(v, 'base64').toString('utf8'));
    }
    for (const x of p.data.spec.properties) props.set(x.name, x.value);
    return [...props].filter(([, v]) => v !== null).map(([n, value]) => ({ name: n, value }));
  }
}
