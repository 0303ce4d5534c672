/**
 * What a platform team applies for queue splitting, as the demo applies it (the same objects
 * test/e2e/queue-splitting-fixture.ts applies): namespace `queues` with the consumer
 * Deployments `orders` (SQS) and `payments` (Kafka), their queue registrations, the Kafka
 * client config in the operator's namespace, developers' read access, and the queue-splitter's
 * identity and RBAC rendered from the Helm chart with queueSplitting.enabled.
 */
import type { KubeObject } from '../../test/kube/registry.js';
import { kubectlApply } from '../../test/support/cluster.js';
import { objects, OPERATOR_CHART, template } from '../../test/deploy/charts.js';
import { QUEUES_NS } from './queue-consumers.js';

const Q = 'queues.mirrord.metalbear.co/v1alpha';

/** A consumer Deployment whose pod template names its queue in `env`. */
export const consumerDeployment = (name: string, env: Record<string, string>): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: QUEUES_NS, labels: { app: name } },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        containers: [
          {
            name: 'consumer',
            image: 'example.com/consumer:1',
            env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
          },
        ],
      },
    },
  },
});

/** The demo's consumers and their queue resources; `kafkaBrokers` is the client config's bootstrap.servers. */
export function demoQueueObjects(kafkaBrokers: string): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: QUEUES_NS } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'workload-viewer', namespace: QUEUES_NS },
      rules: [
        { apiGroups: ['', 'apps'], resources: ['pods', 'deployments', 'replicasets'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'developers-view', namespace: QUEUES_NS },
      subjects: [{ kind: 'Group', name: 'developers', apiGroup: 'rbac.authorization.k8s.io' }],
      roleRef: { kind: 'Role', name: 'workload-viewer', apiGroup: 'rbac.authorization.k8s.io' },
    },
    consumerDeployment('orders', { ORDERS_QUEUE: 'orders', AUDIT_QUEUE: 'audit', LOG_LEVEL: 'info' }),
    consumerDeployment('payments', { PAYMENTS_TOPIC: 'payments', PAYMENTS_GROUP: 'payments-svc' }),
    {
      apiVersion: Q,
      kind: 'MirrordWorkloadQueueRegistry',
      metadata: { name: 'orders-queues', namespace: QUEUES_NS },
      spec: {
        queues: {
          orders: { queueType: 'SQS', nameSource: { envVar: 'ORDERS_QUEUE' } },
          audit: { queueType: 'SQS', nameSource: { envVar: 'AUDIT_QUEUE' } },
        },
        consumer: { name: 'orders', workloadType: 'Deployment' },
        workloadRestartTimeout: 60,
      },
    },
    {
      apiVersion: Q,
      kind: 'MirrordKafkaClientConfig',
      metadata: { name: 'local-kafka', namespace: 'mirrord' },
      spec: { properties: [{ name: 'bootstrap.servers', value: kafkaBrokers }] },
    },
    {
      apiVersion: Q,
      kind: 'MirrordKafkaTopicsConsumer',
      metadata: { name: 'payments-topics', namespace: QUEUES_NS },
      spec: {
        consumerName: 'payments',
        consumerKind: 'Deployment',
        consumerApiVersion: 'apps/v1',
        consumerRestartTimeout: 60,
        topics: [
          {
            id: 'payments',
            nameSources: [{ directEnvVar: { container: 'consumer', variable: 'PAYMENTS_TOPIC' } }],
            groupIdSources: [{ directEnvVar: { container: 'consumer', variable: 'PAYMENTS_GROUP' } }],
            clientConfig: 'local-kafka',
          },
        ],
      },
    },
  ];
}

/**
 * Applies the demo's queue objects as the cluster admin, with the queue-splitter's
 * ServiceAccount, ClusterRole and binding as the chart renders them (so the demo runs the
 * splitter with exactly the permissions an install gives it).
 */
/** The queue-splitter's ServiceAccount, ClusterRole and binding as the chart renders them with queueSplitting.enabled. */
export async function splitterRbac(): Promise<KubeObject[]> {
  return objects(await template(OPERATOR_CHART, { queueSplitting: { enabled: true } })).filter(
    (o) =>
      o.metadata.name === 'mirrord-queue-splitter' &&
      ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind),
  ) as unknown as KubeObject[];
}

/**
 * Applies the demo's queue objects as the cluster admin, with the queue-splitter's RBAC as an
 * install gives it (so the demo runs the splitter with exactly those permissions).
 */
export async function applyDemoQueues(kubeconfig: string, kafkaBrokers: string): Promise<void> {
  await kubectlApply(kubeconfig, 'admin', [...(await splitterRbac()), ...demoQueueObjects(kafkaBrokers)]);
}
