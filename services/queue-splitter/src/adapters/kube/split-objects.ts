import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { SplitObjects } from '../../app/ports.js';
import { QUEUES_GROUP, QUEUES_VERSION, kubeError } from './cluster.js';

const code = (e: unknown): number | undefined => (e as { code?: number }).code;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A Kubernetes object name (DNS-1123 subdomain) from broker names and ids. */
export const objectName = (...parts: string[]): string =>
  parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 253);

/**
 * The objects the operator keeps per split (queues.md): a `MirrordSQSSession` per session and
 * SQS queue in the workload's namespace (Ready with its queue names, as the real operator
 * writes it), a `MirrordKafkaEphemeralTopic` per temporary topic in the operator's namespace —
 * so `kubectl get` shows what exists, and what a crash leaves is findable.
 */
export class KubeSplitObjects implements SplitObjects {
  readonly #custom: CustomObjectsApi;
  constructor(
    kc: KubeConfig,
    private readonly operatorNamespace: string,
  ) {
    this.#custom = kc.makeApiClient(CustomObjectsApi);
  }

  async #create(namespace: string, plural: string, body: Record<string, unknown>): Promise<void> {
    try {
      await this.#custom.createNamespacedCustomObject({
        group: QUEUES_GROUP,
        version: QUEUES_VERSION,
        namespace,
        plural,
        body,
      });
    } catch (e) {
      // Made already (a repeated split after a crash): it says the same.
      if (code(e) !== 409) throw kubeError(e, `create a ${String(body.kind)} in namespace ${namespace}`);
    }
  }

  async #delete(namespace: string, plural: string, name: string): Promise<void> {
    try {
      await this.#custom.deleteNamespacedCustomObject({
        group: QUEUES_GROUP,
        version: QUEUES_VERSION,
        namespace,
        plural,
        name,
      });
    } catch (e) {
      if (code(e) !== 404) throw kubeError(e, `delete ${plural}/${name} in namespace ${namespace}`);
    }
  }

  async sqsSession(o: Parameters<SplitObjects['sqsSession']>[0]): Promise<void> {
    const name = objectName('mirrord-sqs', o.session_id, o.queue_id);
    const { namespace, kind, name: workload } = o.workload;
    await this.#create(namespace, 'mirrordsqssessions', {
      apiVersion: `${QUEUES_GROUP}/${QUEUES_VERSION}`,
      kind: 'MirrordSQSSession',
      metadata: { name, namespace, labels: { 'operator.metalbear.co/session': o.session_id } },
      spec: {
        queueFilters: { [o.queue_id]: o.message_filter },
        queueConsumer: { name: workload, workloadType: kind },
        sessionId: o.session_id,
        queueId: o.queue_id,
        role: 'session',
        consumer: { kind, name: workload, namespace },
      },
    });
    const names = { originalName: o.original, outputName: o.output };
    try {
      await this.#custom.patchNamespacedCustomObjectStatus(
        {
          group: QUEUES_GROUP,
          version: QUEUES_VERSION,
          namespace,
          plural: 'mirrordsqssessions',
          name,
          body: { status: { Ready: { queueNames: { [o.queue_id]: names }, envUpdates: { [o.env]: names } } } },
        },
        mergePatch,
      );
    } catch (e) {
      throw kubeError(e, `write the status of mirrordsqssessions/${name}`);
    }
  }

  removeSqsSession(o: { workload: { namespace: string }; session_id: string; queue_id: string }): Promise<void> {
    return this.#delete(
      o.workload.namespace,
      'mirrordsqssessions',
      objectName('mirrord-sqs', o.session_id, o.queue_id),
    );
  }

  ephemeralTopic(o: Parameters<SplitObjects['ephemeralTopic']>[0]): Promise<void> {
    const { namespace, kind, name } = o.workload;
    return this.#create(this.operatorNamespace, 'mirrordkafkaephemeraltopics', {
      apiVersion: `${QUEUES_GROUP}/${QUEUES_VERSION}`,
      kind: 'MirrordKafkaEphemeralTopic',
      metadata: { name: objectName(o.topic), namespace: this.operatorNamespace },
      spec: {
        name: o.topic,
        clientConfig: o.client_config,
        topicId: o.queue_id,
        role: o.session_id ? 'session' : 'fallback',
        ...(o.session_id ? { sessionId: o.session_id } : {}),
        consumer: { kind, name, namespace },
      },
    });
  }

  removeEphemeralTopic(topic: string): Promise<void> {
    return this.#delete(this.operatorNamespace, 'mirrordkafkaephemeraltopics', objectName(topic));
  }
}
