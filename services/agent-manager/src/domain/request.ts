import { invalid } from '#shared/errors/index.js';
import { parseTarget, type Target } from '#shared/targets/index.js';
import type { PrepareRequestBody } from '#shared/contracts/agent-manager.js';

/** The prepare contract's request (its shapes from the schema) with its target parsed. */
export type PrepareRequest = PrepareRequestBody & { parsedTarget: Target };

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
