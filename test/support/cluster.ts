import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { BatchV1Api, KubeConfig } from '@kubernetes/client-node';
import {
  APISERVICE,
  DEPLOY_SEED,
  SEED_TOKENS,
  SEED_CRDS,
  WORKLOAD_SEED,
  kubeconfigFor,
  loadTokens,
  loadYaml,
} from '../kube/seed-loader.js';
import type { KubeObject } from '../kube/registry.js';
import { aggregatedService, startKubeApiServer, type KubeApiServer } from './kube-apiserver.js';
import { startNodeSimulator, type NodeSimulator } from './node-sim.js';
import { tempDir } from './tmp.js';
import { startService, type ServiceProcess } from './service-process.js';
import { eventually } from './eventually.js';
import { startSystem, type System } from './system.js';
import type { TestAgent } from '../agent/test-agent.js';

const exec = promisify(execFile);

export interface TestCluster {
  /** A kubeconfig with one context per seeded user (jim, ann, bob, carol, admin, mirrord-operator). */
  kubeconfig: string;
  external: boolean;
  /** The real kube-apiserver (+ etcd, kube-controller-manager) the cluster runs on (absent against E2E_KUBECONFIG). */
  kube?: KubeApiServer;
  /** Its nodes: pods bound, running, agents in them (absent against E2E_KUBECONFIG). */
  nodes?: NodeSimulator;
  /** `kubectl apply` objects as the admin (CRDs first, established before what uses them). */
  apply(objs: KubeObject[]): Promise<void>;
  /**
   * Serves operator.metalbear.co from a gateway on this machine through the cluster's aggregation
   * layer, as a platform team's install does: the APIService with the gateway CA's `caBundle`
   * and the Service `mirrord-gateway.mirrord` reaching `port` on loopback. Resolves once the
   * APIService is Available. The gateway's certificate must name `mirrord-gateway.mirrord.svc`.
   */
  aggregate(port: number, caBundlePem: string, opts?: { wait?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The cluster a test runs against: a real kube-apiserver with etcd and kube-controller-manager
 * (test/support/kube-apiserver.ts), the seed users' tokens, deploy/'s namespace, CRDs and RBAC
 * and test/kube/seed applied as shipped, and the node simulator for what nodes do; or, when
 * E2E_KUBECONFIG names one, a real cluster prepared as README "Kubernetes → Against a real
 * cluster" describes (same users, same seed).
 */
export async function startTestCluster(
  opts: {
    /** The demo: agents serve their target's subscribed ports at the target pod's IP. */
    demoTraffic?: boolean;
    /** What to apply besides deploy/'s namespace, CRDs and RBAC (default: test/kube/seed). */
    seed?: string[];
    /** Apply deploy/'s namespace, CRDs and RBAC (default true; false when a test installs the charts). */
    deploy?: boolean;
    /** The node simulator runs the pods of the project's image and NATS as processes (needs root). */
    runPods?: boolean;
  } = {},
): Promise<TestCluster> {
  if (process.env.E2E_KUBECONFIG) {
    const kubeconfig = process.env.E2E_KUBECONFIG;
    const apply = (objs: KubeObject[]) => kubectlApply(kubeconfig, 'admin', objs);
    return {
      kubeconfig,
      external: true,
      apply,
      aggregate: (port, ca, o) => aggregate(kubeconfig, apply, port, ca, o),
      stop: async () => undefined,
    };
  }
  const tokens = loadTokens(SEED_TOKENS);
  const kube = await startKubeApiServer({
    controllerManager: true,
    users: [...tokens].map(([token, u]) => ({ name: u.username, groups: u.groups, token })),
  });
  const kubeconfig = join(tempDir('cluster'), 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigFor(kube.url, tokens, 'jim', { ca: kube.caPem }), { mode: 0o600 });
  try {
    const nodes = await startNodeSimulator({
      kubeconfig,
      ...(opts.demoTraffic ? { demoTraffic: true } : {}),
      ...(opts.runPods ? { runPods: true } : {}),
    });
    const apply = (objs: KubeObject[]) => kubectlApply(kubeconfig, 'admin', objs);
    await apply(loadYaml(...(opts.deploy === false ? [] : DEPLOY_SEED), ...(opts.seed ?? [SEED_CRDS, WORKLOAD_SEED])));
    return {
      kubeconfig,
      external: false,
      kube,
      nodes,
      apply,
      aggregate: (port, ca, o) => aggregate(kubeconfig, apply, port, ca, o),
      async stop() {
        await nodes.stop();
        await kube[Symbol.asyncDispose]();
      },
    };
  } catch (e) {
    await kube[Symbol.asyncDispose]();
    throw e;
  }
}

/** The gateway's certificate's name for the aggregation layer: `<service>.<namespace>.svc`. */
export const GATEWAY_SERVICE_DNS = 'mirrord-gateway.mirrord.svc';

async function aggregate(
  kubeconfig: string,
  apply: (objs: KubeObject[]) => Promise<void>,
  port: number,
  caBundlePem: string,
  opts: { wait?: boolean } = {},
): Promise<void> {
  // deploy/'s APIService (the chart's), pointed at this gateway: its caBundle, its port.
  const [api] = loadYaml(APISERVICE) as [KubeObject & { spec: Record<string, unknown> }];
  const service = api.spec.service as { name: string; namespace: string };
  api.spec = {
    ...api.spec,
    insecureSkipTLSVerify: false,
    caBundle: Buffer.from(caBundlePem).toString('base64'),
    service: { ...service, port },
  };
  await apply([aggregatedService(service.name, service.namespace, port) as KubeObject, api]);
  if (opts.wait === false) return;
  await exec(
    'kubectl',
    [
      '--kubeconfig',
      kubeconfig,
      '--context',
      'admin',
      'wait',
      '--for=condition=Available',
      '--timeout=60s',
      `apiservice/${api.metadata.name}`,
    ],
    { timeout: 70_000 },
  );
}

/** `kubectl apply` as a context: CRDs first and established, then everything else (in one call). */
export async function kubectlApply(kubeconfig: string, context: string, objs: KubeObject[]): Promise<void> {
  const run = async (args: string[], items?: KubeObject[]) => {
    const p = exec('kubectl', ['--kubeconfig', kubeconfig, '--context', context, ...args], {
      timeout: 120_000,
      maxBuffer: 16 << 20,
    });
    if (items) p.child.stdin!.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    try {
      await p;
    } catch (e) {
      throw new Error(`kubectl ${args.join(' ')}: ${(e as { stderr?: string }).stderr ?? String(e)}`);
    }
  };
  const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
  const rest = objs.filter((o) => o.kind !== 'CustomResourceDefinition');
  if (crds.length) {
    await run(['apply', '--server-side', '--force-conflicts', '-f', '-'], crds);
    await run([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      ...crds.map((c) => `customresourcedefinition/${c.metadata.name}`),
    ]);
  }
  // A new namespace's `default` ServiceAccount comes from kube-controller-manager a moment after
  // the namespace: pods refused for its absence are applied again, as a person would.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if (rest.length) await run(['apply', '--server-side', '--force-conflicts', '-f', '-'], rest);
      return;
    } catch (e) {
      if (!/serviceaccount "default" not found/.test((e as Error).message) || Date.now() > deadline) throw e;
      await sleep(250);
    }
  }
}

/** agent-manager for a system whose gateway runs on the cluster (it prepares every session's agent). */
export function startAgentManager(env: Record<string, string>, cluster: TestCluster): Promise<ServiceProcess> {
  // A short idle TTL so tests see idle copies reused and then swept.
  return startService('agent-manager', {
    OPERATOR_COPY_TARGET_IDLE_TTL: '3',
    OPERATOR_AGENT_IDLE_TTL: '3',
    ...env,
    KUBECONFIG: cluster.kubeconfig,
    AGENT_MANAGER_KUBE_CONTEXT: 'mirrord-operator',
  });
}

/** The policy service for a system whose gateway runs on the cluster (the gateway asks it at every start and port). */
export async function startPolicy(env: Record<string, string>, cluster: TestCluster): Promise<ServiceProcess> {
  const p = await startService('policy', {
    ...env,
    KUBECONFIG: cluster.kubeconfig,
    POLICY_KUBE_CONTEXT: 'mirrord-operator',
  });
  await p.waitFor((l) => l.msg === 'policy ready');
  return p;
}

/** The real kubectl as one of the cluster's users; never throws, returns exit code and output. */
export async function runKubectl(
  cluster: TestCluster,
  context: string,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await exec('kubectl', ['--kubeconfig', cluster.kubeconfig, '--context', context, ...args], {
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? 1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

/** The test agent running in a session's agent pod (waits until it listens). */
export async function agentOfSession(cluster: TestCluster, sid: string): Promise<TestAgent> {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  kc.setCurrentContext('admin');
  const batch = kc.makeApiClient(BatchV1Api);
  let found: TestAgent | undefined;
  await eventually(`agent of session ${sid} running`, async () => {
    // The session's agent Job carries a label per session using it; its pod, the agent's key.
    const jobs = await batch.listJobForAllNamespaces({ labelSelector: `session.mirrord.metalbear.co/${sid}=true` });
    const key = jobs.items[0]?.metadata?.labels?.['mirrord.metalbear.co/agent'];
    const pod = cluster
      .nodes!.pods()
      .find((p) => key && p.metadata?.labels?.['mirrord.metalbear.co/agent'] === key && p.status?.phase === 'Running');
    found = pod ? cluster.nodes!.agents.of(pod.metadata!.name!) : undefined;
    return found !== undefined;
  });
  return found!;
}

/** The whole system on the cluster: cluster, NATS, ledger, gateway (Kubernetes auth), agent-manager, policy. */
export interface ClusterSystem {
  cluster: TestCluster;
  sys: System;
  am: ServiceProcess;
  policy: ServiceProcess;
  stop(): Promise<void>;
}

export async function startClusterSystem(
  extraEnv: Record<string, string> = {},
  /** Runs on the cluster before the services start (e.g. `kubectl apply` the policies they read at start). */
  prepare?: (cluster: TestCluster) => Promise<void>,
): Promise<ClusterSystem> {
  const cluster = await startTestCluster();
  await prepare?.(cluster);
  const sys = await startSystem({
    GATEWAY_AUTH: 'kubernetes',
    KUBECONFIG: cluster.kubeconfig,
    GATEWAY_KUBE_CONTEXT: 'mirrord-operator',
    ...extraEnv,
  });
  // Both after the gateway, which makes the operator CA agent-manager reads.
  const [am, policy] = await Promise.all([startAgentManager(sys.env, cluster), startPolicy(sys.env, cluster)]);
  return {
    cluster,
    sys,
    am,
    policy,
    async stop() {
      await policy.stop();
      await am.stop();
      await sys.stop();
      await cluster.stop();
    },
  };
}
