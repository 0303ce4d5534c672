import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';
import { eventually } from '../support/eventually.js';
import { OPERATOR_CHART, objects, template, type Obj } from './charts.js';

/**
 * Queue splitting in the operator chart: the queues.mirrord.metalbear.co CRDs take the real
 * operator's resources (as its docs and the CLI's types write them) and refuse malformed ones
 * by field; with queueSplitting.enabled the queue-splitter runs as its own ServiceAccount, whose
 * permissions the real RBAC authorizer grants and denies as intended.
 */
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const exec = promisify(execFile);
const ENABLED = {
  queueSplitting: { enabled: true, sqs: { enabled: true, endpoint: 'http://elasticmq.queues:9324', region: 'eu-west-1' } },
};
const GROUP = 'queues.mirrord.metalbear.co';

const registry = (workloadType = 'Deployment') => ({
  apiVersion: `${GROUP}/v1alpha`,
  kind: 'MirrordWorkloadQueueRegistry',
  metadata: { name: 'orders-registry', namespace: 'shop' },
  spec: {
    queues: {
      'meme-queue': { queueType: 'SQS', nameSource: { envVar: 'INCOMING_MEME_QUEUE_NAME' }, tags: { tool: 'mirrord' } },
      'ad-queue': { queueType: 'SQS', nameSource: { regexPattern: '^AD_.*_QUEUE$' }, fallbackName: 'ads', sns: true },
    },
    consumer: { name: 'orders', container: 'app', workloadType },
    workloadRestartTimeout: 60,
  },
});
const SAMPLES = [
  registry(),
  {
    apiVersion: `${GROUP}/v1alpha`,
    kind: 'MirrordKafkaClientConfig',
    metadata: { name: 'base-config', namespace: 'mirrord' },
    spec: {
      properties: [
        { name: 'bootstrap.servers', value: 'kafka.default.svc.cluster.local:9092' },
        { name: 'client.id', value: null },
      ],
      loadFromSecret: 'mirrord/kafka-auth',
    },
  },
  {
    apiVersion: `${GROUP}/v1alpha`,
    kind: 'MirrordKafkaTopicsConsumer',
    metadata: { name: 'payments', namespace: 'shop' },
    spec: {
      consumerName: 'payments',
      consumerKind: 'Deployment',
      consumerApiVersion: 'apps/v1',
      splitTtl: 300,
      topics: [
        {
          id: 'payments-topic',
          nameSources: [{ directEnvVar: { container: 'app', variable: 'KAFKA_TOPIC' } }],
          groupIdSources: [{ directEnvVar: { container: 'app', variable: 'KAFKA_GROUP' } }],
          clientConfig: 'base-config',
        },
      ],
    },
  },
  {
    apiVersion: `${GROUP}/v1alpha`,
    kind: 'MirrordKafkaEphemeralTopic',
    metadata: { name: 'mirrord-tmp-1a2b-payments', namespace: 'mirrord' },
    spec: {
      name: 'mirrord-tmp-1a2b-payments',
      clientConfig: 'base-config',
      sessionId: '487F4F2B6D2376AD',
      topicId: 'payments-topic',
      role: 'session',
      consumer: { kind: 'Deployment', name: 'payments', namespace: 'shop' },
    },
  },
  {
    apiVersion: `${GROUP}/v1alpha`,
    kind: 'MirrordSQSSession',
    metadata: { name: 'mirrord-sqs-487f4f2b6d2376ad', namespace: 'shop' },
    spec: {
      queueFilters: { 'meme-queue': { author: '^alice$' } },
      queueConsumer: { name: 'orders', container: 'app', workloadType: 'Deployment' },
      sessionId: '487F4F2B6D2376AD',
      queueId: 'meme-queue',
      role: 'session',
    },
  },
];

describe('queue splitting in the operator chart', { timeout: 600_000 }, () => {
  let kube: KubeApiServer;
  const kubectl = async (args: string[], input?: string, as = 'admin') => {
    try {
      const p = exec(KUBECTL, ['--kubeconfig', kube.kubeconfig, '--context', as, ...args], { timeout: 120_000 });
      if (input !== undefined) p.child.stdin!.end(input);
      const r = await p;
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
    }
  };
  const apply = (docs: unknown[], extra: string[] = []) =>
    kubectl(['apply', ...extra, '-f', '-'], docs.map((d) => YAML.stringify(d)).join('---\n'));

  before(async () => {
    kube = await startKubeApiServer();
    const crds = await kubectl(['apply', '--server-side', '-f', `${OPERATOR_CHART}/crds/queues.yaml`]);
    assert.equal(crds.code, 0, crds.err);
    for (const n of ['mirrord', 'shop']) assert.equal((await kubectl(['create', 'namespace', n])).code, 0);
    // Argo's Rollout, as far as RBAC needs it (kubectl auth can-i resolves the resource first)
    const rollouts = await apply([
      {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'rollouts.argoproj.io' },
        spec: {
          group: 'argoproj.io',
          scope: 'Namespaced',
          names: { kind: 'Rollout', plural: 'rollouts', singular: 'rollout' },
          versions: [
            {
              name: 'v1alpha1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          ],
        },
      },
    ]);
    assert.equal(rollouts.code, 0, rollouts.err);
    await eventually(
      'the CRDs are served',
      async () => (await kubectl(['get', 'qs', '-A'])).code === 0 && (await kubectl(['get', 'rollouts', '-A'])).code === 0,
    );
  });
  after(async () => {
    await kube?.[Symbol.asyncDispose]();
  });

  it('takes the real resources, a MirrordSQSSession status the CLI reads, and refuses bad ones by field', async () => {
    // when the real operator's resources are applied
    const r = await apply(SAMPLES);
    // then every one is accepted, the registry under its short name
    assert.equal(r.code, 0, r.err);
    assert.match((await kubectl(['get', 'qs', '-n', 'shop', '-o', 'name'])).out, /orders-registry/);
    // and the session's status is its own subresource, kept as the CLI's externally tagged enum
    const ready = { Ready: { queueNames: { 'meme-queue': { originalName: 'memes', outputName: 'mirrord-tmp-memes' } }, envUpdates: {} } };
    const s = await kubectl([
      'patch', 'mirrordsqssessions', 'mirrord-sqs-487f4f2b6d2376ad', '-n', 'shop', '--subresource=status', '--type=merge',
      '-p', JSON.stringify({ status: ready }),
    ]);
    assert.equal(s.code, 0, s.err);
    const got = JSON.parse((await kubectl(['get', 'mirrordsqssessions', '-n', 'shop', '-o', 'json'])).out) as {
      items: Array<{ status: unknown; spec: Record<string, unknown> }>;
    };
    assert.deepEqual(got.items[0]!.status, ready);
    assert.equal(got.items[0]!.spec.sessionId, '487F4F2B6D2376AD');
    // a workload type the CLI has no variant for is refused, naming the field
    const bad = await apply([registry('Job')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /spec\.consumer\.workloadType: Unsupported value: "Job"/);
    const noConfig = await apply([{ ...SAMPLES[2]!, metadata: { name: 'x', namespace: 'shop' }, spec: { ...(SAMPLES[2] as Obj).spec, topics: [{ id: 't', nameSources: [] }] } }]);
    assert.match(noConfig.err, /spec\.topics\[0\]\.clientConfig: Required value/);
  });

  it('runs the queue-splitter only when enabled, with its env, identity and least privileges', async () => {
    // given the defaults: no queue-splitter, but the CRDs' roles for users and the platform team
    const off = objects(await template(OPERATOR_CHART, {}));
    assert.ok(!off.some((o) => o.metadata.name === 'mirrord-queue-splitter'));
    assert.ok(off.some((o) => o.kind === 'ClusterRole' && o.metadata.name === 'mirrord-queue-splitting-admin'));
    // when enabled
    const os = objects(await template(OPERATOR_CHART, ENABLED));
    const d = os.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mirrord-queue-splitter');
    assert.ok(d, 'no Deployment mirrord-queue-splitter');
    const pod = (d.spec!.template as { spec: { serviceAccountName: string; containers: Array<{ command: string[]; env: Array<{ name: string; value?: string }> }> } }).spec;
    assert.equal(pod.serviceAccountName, 'mirrord-queue-splitter');
    assert.deepEqual(pod.containers[0]!.command, ['node', '--import', 'tsx', 'services/queue-splitter/src/main.ts']);
    const env = Object.fromEntries(pod.containers[0]!.env.map((e) => [e.name, e.value]));
    assert.deepEqual(
      [env.SQS_ENDPOINT, env.AWS_REGION, env.QUEUE_SPLITTING_SQS, env.OPERATOR_NAMESPACE, env.NATS_NKEY_FILE],
      ['http://elasticmq.queues:9324', 'eu-west-1', 'true', 'mirrord', '/etc/mirrord/nats/nkey'],
    );
    assert.equal(d.spec!.replicas, 1);
    const job = YAML.stringify(os.find((o) => o.kind === 'Job'));
    assert.match(job, /--identities=[a-z-,]*queue-splitter/);
    const natsPolicy = YAML.stringify(os.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'mirrord-nats'));
    assert.match(natsPolicy, /mirrord-queue-splitter/);
    const two = objects(await template(OPERATOR_CHART, { ...ENABLED, replicas: { queueSplitter: 2 } }));
    assert.ok(two.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'mirrord-queue-splitter'));

    // and its RBAC, applied for real, is what the real authorizer enforces
    const rbac = os.filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
    const applied = await apply(rbac);
    assert.equal(applied.code, 0, applied.err);
    const sa = 'system:serviceaccount:mirrord:mirrord-queue-splitter';
    const can = async (verb: string, resource: string, ns = 'shop', as = sa) => {
      const [r, sub] = resource.split('/');
      const args = ['auth', 'can-i', verb, r!, '-n', ns, `--as=${as}`, ...(sub ? [`--subresource=${sub}`] : [])];
      return (await kubectl(args)).out.trim();
    };
    await eventually('the bindings are in force', async () => (await can('patch', 'deployments.apps')) === 'yes');
    for (const [verb, resource] of [
      ['update', 'rollouts.argoproj.io'],
      ['list', `mirrordworkloadqueueregistries.${GROUP}`],
      ['patch', `mirrordworkloadqueueregistries.${GROUP}/status`],
      ['create', `mirrordsqssessions.${GROUP}`],
      ['patch', `mirrordsqssessions.${GROUP}/status`],
      ['delete', `mirrordkafkaephemeraltopics.${GROUP}`],
      ['get', 'secrets'],
    ])
      assert.equal(await can(verb!, resource!), 'yes', `${verb} ${resource}`);
    for (const [verb, resource] of [
      ['list', 'secrets'],
      ['delete', 'deployments.apps'],
      ['update', `mirrordworkloadqueueregistries.${GROUP}`],
      ['create', 'pods'],
    ])
      assert.equal(await can(verb!, resource!), 'no', `${verb} ${resource} must be denied`);
    // a user bound to mirrord-operator-user reads the splits and may not write declarations
    const user = os.filter((o) => o.kind === 'ClusterRole' && o.metadata.name === 'mirrord-operator-user');
    assert.equal((await apply(user)).code, 0);
    const bind = await kubectl(['create', 'clusterrolebinding', 'jim-mirrord', '--clusterrole=mirrord-operator-user', '--user=jim']);
    assert.equal(bind.code, 0, bind.err);
    await eventually('jim reads registries', async () => (await can('list', `mirrordworkloadqueueregistries.${GROUP}`, 'shop', 'jim')) === 'yes');
    assert.equal(await can('get', `mirrordsqssessions.${GROUP}`, 'shop', 'jim'), 'yes');
    assert.equal(await can('create', `mirrordworkloadqueueregistries.${GROUP}`, 'shop', 'jim'), 'no');
  });
});
