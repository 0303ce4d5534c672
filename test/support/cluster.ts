import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { startKubeStandIn, type KubeStandIn } from '../kube/server.js';
import { DEPLOY_SEED, SEED_TOKENS, WORKLOAD_SEED, kubeconfigFor, loadTokens, loadYaml } from '../kube/seed-loader.js';
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
  /** The stand-in itself (absent against a real cluster). */
  standIn?: KubeStandIn;
  stop(): Promise<void>;
}

/**
 * The cluster a test runs against: the stand-in, seeded with deploy/'s RBAC and
 * test/kube/seed; or, when E2E_KUBECONFIG names one, a real cluster prepared as README
 * "Kubernetes → Against a real cluster" describes (same users, same seed).
 */
export async function startTestCluster(): Promise<TestCluster> {
  if (process.env.E2E_KUBECONFIG)
    return { kubeconfig: process.env.E2E_KUBECONFIG, external: true, stop: async () => undefined };
  const tokens = loadTokens(SEED_TOKENS);
  const k = await startKubeStandIn({ tokens, seed: loadYaml(...DEPLOY_SEED, WORKLOAD_SEED) });
  const kubeconfig = join(tempDir('standin'), 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigFor(k.url, tokens, 'jim', { ca: k.ca.certPem }));
  return { kubeconfig, external: false, standIn: k, stop: () => k.close() };
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

/** The test agent running in a session's agent pod on the stand-in (waits until it listens). */
export async function agentOfSession(cluster: TestCluster, sid: string): Promise<TestAgent> {
  let found: TestAgent | undefined;
  await eventually(`agent of session ${sid} running`, async () => {
    const standIn = cluster.standIn!;
    // The session's agent Job carries a label per session using it; its pod, the agent's key.
    const job = standIn.store
      .list(standIn.typeOf('batch/v1', 'Job'))
      .find((j) => j.metadata.labels?.[`session.mirrord.metalbear.co/${sid}`] === 'true');
    const key = job?.metadata.labels?.['mirrord.metalbear.co/agent'];
    const pod = standIn.store
      .list(standIn.typeOf('v1', 'Pod'))
      .find((p) => key && p.metadata.labels?.['mirrord.metalbear.co/agent'] === key && p.status?.phase === 'Running');
    found = pod ? standIn.agents!.of(pod.metadata.name!) : undefined;
    return found !== undefined;
  });
  return found!;
}

/** The whole system on the stand-in: cluster, NATS, ledger, gateway (Kubernetes auth), agent-manager, policy. */
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
  const am = await startAgentManager(sys.env, cluster);
  const policy = await startPolicy(sys.env, cluster);
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
