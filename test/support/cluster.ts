import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKubeStandIn, type KubeStandIn } from '../kube/server.js';
import { kubeconfigFor, loadTokens, loadYaml } from '../kube/seed-loader.js';
import { tempDir } from './tmp.js';
import { startService, type ServiceProcess } from './service-process.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const SEED = [here('../../deploy/namespace.yaml'), here('../../deploy/crds'), here('../../deploy/rbac'), here('../kube/seed')];
export const TOKENS = here('../kube/seed/tokens.csv');

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
  if (process.env.E2E_KUBECONFIG) return { kubeconfig: process.env.E2E_KUBECONFIG, external: true, stop: async () => undefined };
  const tokens = loadTokens(TOKENS);
  const k = await startKubeStandIn({ tokens, seed: loadYaml(...SEED) });
  const kubeconfig = join(tempDir('standin'), 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigFor(k.url, tokens, 'jim', { ca: k.ca.certPem }));
  return { kubeconfig, external: false, standIn: k, stop: () => k.close() };
}

/** agent-manager for a system whose gateway runs on the cluster (it prepares every session's agent). */
export function startAgentManager(env: Record<string, string>, cluster: TestCluster): Promise<ServiceProcess> {
  // A short idle TTL so tests see idle copies reused and then swept.
  return startService('agent-manager', { OPERATOR_COPY_TARGET_IDLE_TTL: '3', ...env, KUBECONFIG: cluster.kubeconfig, AGENT_MANAGER_KUBE_CONTEXT: 'mirrord-operator' });
}
