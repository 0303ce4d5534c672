/**
 * Both charts installed the way the seeds install them (issue 26, "Must show"): the real `helm`
 * into the real kube-apiserver (etcd, kube-controller-manager), the node simulator running their
 * pods as processes (the project's image, NATS) — each in its own network namespace with the
 * Secrets, ConfigMaps and service-account token the charts give it — and then, as a developer
 * and a platform team would: the aggregated API Available, `kubectl mirrord operator status`, a
 * session with a copy target and `scale_down` restored, `helm upgrade`, and `helm uninstall`
 * leaving no agents, copies or scaled-down workloads behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { runKubectl, startTestCluster, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { HUB_CHART, OPERATOR_CHART, helm, valuesFile } from './charts.js';
import { PLUGIN_BIN } from '../support/plugin.js';

const PLUGIN = PLUGIN_BIN;
const LICENSE = 'name: Example\norganization: Example Org\nexpire_at: 2030-12-31\nseats: 10\n';
const AGENT = 'mirrord.metalbear.co/agent';
/** One of each on two cores: the processes are real. */
const OPERATOR_VALUES = {
  replicas: { ledger: 1, gateway: 1, agentManager: 1, policy: 1, jiraReporter: 1 },
  ledger: { database: { type: 'sqlite' } },
  nats: { replicas: 1 },
  operator: { agentIdleTtl: 5 },
};
const HUB_VALUES = {
  namespace: 'mirrord-license',
  createNamespace: true,
  license: { key: 'secret', file: { data: { 'license.pem': LICENSE } } },
};

describe(
  'helm install of both charts on the real API server, the pods run by the node simulator',
  { skip: process.getuid?.() !== 0 ? 'needs root (network namespaces, overlay mounts)' : false, timeout: 1_200_000 },
  () => {
    let cluster: TestCluster;
    let core: CoreV1Api;
    let apps: AppsV1Api;
    let batch: BatchV1Api;
    const kubectl = (...args: string[]) => runKubectl(cluster, 'admin', ...args);
    const helmAs = (...args: string[]) =>
      helm(['--kubeconfig', cluster.kubeconfig, '--kube-context', 'admin', ...args], 600_000);
    /** The plugin as jim, through the cluster's aggregation layer (his kubeconfig context). */
    const plugin = (...args: string[]) =>
      spawn(process.execPath, [PLUGIN, ...args], {
        env: pluginEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const pluginEnv = () => {
      const { MIRRORD_GATEWAY: _g, MIRRORD_TOKEN: _t, ...env } = process.env;
      return { ...env, KUBECONFIG: cluster.kubeconfig };
    };
    const output = (p: ChildProcess): Promise<{ code: number; out: string; err: string }> =>
      new Promise((resolve) => {
        let out = '';
        let err = '';
        p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        p.once('exit', (code) => resolve({ code: code ?? 1, out, err }));
      });
    /** Why the release is not up: its pods, and the output of those not ready. */
    const diagnose = async (ns: string): Promise<string> => {
      const pods = (await core.listNamespacedPod({ namespace: ns })).items;
      return pods
        .map(
          (p) =>
            `${p.metadata?.name} ${p.status?.phase} ready=${p.status?.conditions?.find((c) => c.type === 'Ready')?.status}\n` +
            cluster.nodes!.logs(ns, p.metadata!.name!).slice(-3000),
        )
        .join('\n');
    };
    const install = async (release: string, chart: string, values: unknown, ns: string) => {
      // The release in the default namespace, its objects in `namespace` (the seeds' form).
      const r = await helmAs('install', release, chart, '-f', valuesFile(values), '--wait', '--timeout', '8m');
      assert.equal(r.code, 0, `helm install ${release}: ${r.err}\n${await diagnose(ns)}`);
    };
    const replicas = async () =>
      (await apps.readNamespacedDeployment({ name: 'my-deployment', namespace: 'default' })).spec?.replicas;

    before(async () => {
      // The workloads and users of test/kube/seed; the charts bring the CRDs, RBAC and the rest.
      cluster = await startTestCluster({ deploy: false, runPods: true });
      const kc = new KubeConfig();
      kc.loadFromFile(cluster.kubeconfig);
      kc.setCurrentContext('admin');
      core = kc.makeApiClient(CoreV1Api);
      apps = kc.makeApiClient(AppsV1Api);
      batch = kc.makeApiClient(BatchV1Api);
    });
    after(async () => {
      await cluster?.stop();
    });

    it('installs the license server chart: its NATS hub and server run', async () => {
      await install('mirrord-operator-license-server', HUB_CHART, HUB_VALUES, 'mirrord-license');
      const pods = (await core.listNamespacedPod({ namespace: 'mirrord-license' })).items.filter(
        (p) => p.status?.phase === 'Running',
      );
      assert.ok(pods.some((p) => p.metadata?.labels?.app?.includes('license-server')), await diagnose('mirrord-license'));
    });

    it('installs the operator chart: every pod runs, the aggregated API is Available', async () => {
      await install('mirrord-operator', OPERATOR_CHART, OPERATOR_VALUES, 'mirrord');
      const r = await kubectl('wait', '--for=condition=Available', '--timeout=120s', 'apiservice/v1.operator.metalbear.co');
      assert.equal(r.code, 0, `${r.err}\n${await diagnose('mirrord')}`);
      const api = await kubectl('get', 'apiservice', 'v1.operator.metalbear.co', '-o', 'json');
      const spec = JSON.parse(api.out).spec as { caBundle?: string; insecureSkipTLSVerify?: boolean };
      assert.ok(spec.caBundle, 'the APIService verifies the gateway with a caBundle');
      assert.notEqual(spec.insecureSkipTLSVerify, true);
    });

    it('kubectl mirrord operator status answers through the aggregation layer', async () => {
      const r = await output(plugin('operator', 'status'));
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Operator version: /);
    });

    it('a session with a copy target and scale_down: deployment at 0 while it lives, restored after', async () => {
      assert.equal(await replicas(), 2);
      const p = plugin('session', 'start', '--target', 'deployment/my-deployment', '--copy-target', '--scale-down');
      let out = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      await eventually('the session started', async () => /^[0-9A-F]{16}$/m.test(out) || p.exitCode !== null);
      assert.equal(p.exitCode, null, `session start: ${err}\n${await diagnose('mirrord')}`);
      assert.equal(await replicas(), 0);
      const copies = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'mirrord.metalbear.co/role=copy' });
      assert.equal(copies.items.length, 1);
      p.kill('SIGINT');
      await eventually(
        'replicas restored and the copy removed',
        async () =>
          (await replicas()) === 2 &&
          (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'mirrord.metalbear.co/role=copy' })).items
            .length === 0,
        60_000,
      );
    });

    it('helm upgrade rolls the release (two gateways) and sessions still start', async () => {
      const r = await helmAs(
        'upgrade',
        'mirrord-operator',
        OPERATOR_CHART,
        '-f',
        valuesFile({ ...OPERATOR_VALUES, replicas: { ...OPERATOR_VALUES.replicas, gateway: 2 } }),
        '--wait',
        '--timeout',
        '8m',
      );
      assert.equal(r.code, 0, `helm upgrade: ${r.err}\n${await diagnose('mirrord')}`);
      const gw = await apps.readNamespacedDeployment({ name: 'mirrord-gateway', namespace: 'mirrord' });
      assert.equal(gw.status?.readyReplicas, 2);
      const s = await output(plugin('operator', 'status'));
      assert.equal(s.code, 0, s.err);
    });

    it('helm uninstall during a scale_down session leaves no agents, copies or scaled-down workloads', async () => {
      const p = plugin('session', 'start', '--target', 'deployment/my-deployment', '--copy-target', '--scale-down');
      let out = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await eventually('the session started', async () => /^[0-9A-F]{16}$/m.test(out) || p.exitCode !== null);
      assert.equal(await replicas(), 0);
      const r = await helmAs('uninstall', 'mirrord-operator', '--wait', '--timeout', '5m');
      assert.equal(r.code, 0, r.err);
      p.kill('SIGINT');
      await eventually(
        'nothing left behind',
        async () =>
          (await replicas()) === 2 &&
          (await core.listPodForAllNamespaces({ labelSelector: 'mirrord.metalbear.co/role=copy' })).items.length === 0 &&
          (await batch.listJobForAllNamespaces({ labelSelector: AGENT })).items.length === 0 &&
          (await core.listPodForAllNamespaces({ labelSelector: AGENT })).items.length === 0,
        60_000,
      );
      const hub = await helmAs('uninstall', 'mirrord-operator-license-server', '--wait');
      assert.equal(hub.code, 0, hub.err);
    });
  },
);
