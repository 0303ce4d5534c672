import type { ContainerRuntime } from '#shared/kube/container.js';
import { invalid } from '#shared/errors/index.js';
import { parseTarget, type Target } from '#shared/targets/index.js';
import type { AgentConfig } from '#shared/mirrord-config/index.js';
import type { PrepareRequestBody } from '#shared/contracts/index.js';

export interface TargetPodInfo {
  name: string;
  node: string;
  ip: string;
  labels: Record<string, string>;
  container: string;
  container_id?: string;
  container_runtime?: ContainerRuntime;
}

export interface PrepareRequest {
  session_id: string;
  namespace: string;
  /** Canonical target path, e.g. `deployment/x`. */
  target: string;
  parsedTarget: Target;
  pod?: TargetPodInfo;
  agent: AgentConfig;
  copy_target?: { scale_down: boolean; name?: string; spec?: Record<string, unknown>; idle_ttl?: number };
  client: Record<string, unknown>;
}

/** The prepare contract's request (shapes already checked) made ready for the cluster. */
export function parsePrepareRequest(b: PrepareRequestBody): PrepareRequest {
  const t = parseTarget(b.target);
  // Normalised by the gateway with the shared parser: `{"enabled": false}` arrives as no copy.
  const copy = b.copy_target;
  if (copy && (t.kind === 'targetless' || t.type === 'rollout'))
    throw invalid(
      'feature.copy_target',
      `is not compatible with ${t.kind === 'targetless' ? 'targetless runs' : 'rollout targets'}`,
    );
  if (copy?.scale_down && (t.kind !== 'workload' || t.type !== 'deployment'))
    throw invalid('feature.copy_target.scale_down', 'is compatible only with deployment targets');
  if (!copy && t.kind === 'workload' && t.type === 'cronjob')
    throw invalid('feature.copy_target', 'cronjob targets need a copy: set feature.copy_target');
  const req: PrepareRequest = {
    session_id: b.session_id,
    namespace: b.namespace,
    target: b.target,
    parsedTarget: t,
    agent: b.agent,
    client: b.client,
  };
  if (b.pod) req.pod = b.pod;
  if (copy) req.copy_target = copy;
  return req;
}
