import type { NatsConnection } from '@nats-io/nats-core';
import { policyContracts, request, type Denial, type StartFacts } from '#shared/contracts/index.js';
import { policyTargetPath } from '#shared/targets/index.js';
import type {
  PolicyDecision,
  PolicyEvaluator,
  PolicyExplanation,
  PortRequest,
  SessionRequest,
} from '../../domain/interfaces.js';

const facts = (req: SessionRequest): StartFacts => ({
  namespace: req.target.namespace,
  target: policyTargetPath(req.target.target),
  labels: req.target.labels ?? req.target.pod?.labels ?? {},
  ...(req.config !== undefined ? { config: req.config as Record<string, unknown> } : {}),
  ...(req.profile !== undefined ? { profile: req.profile } : {}),
});

const verdict = (denied: Denial[], applied: string[]): PolicyDecision =>
  denied.length === 0
    ? { allowed: true, applied }
    : {
        allowed: false,
        message: denied.map((d) => d.reason).join('; '),
        detail: denied.map((d) => d.detail).join('; '),
        policy: denied[0]!.policy,
      };

/** The policy service over its NATS contracts (MirrordPolicy / MirrordClusterPolicy, profiles). */
export class NatsPolicy implements PolicyEvaluator {
  constructor(private readonly nc: NatsConnection) {}

  async evaluateStart(req: SessionRequest): Promise<PolicyDecision> {
    const d = await request(this.nc, policyContracts.decideStart, facts(req));
    const v = verdict(d.denied_by, d.applied);
    return v.allowed ? { ...v, enforce: d.enforce } : v;
  }

  explain(req: SessionRequest): Promise<PolicyExplanation> {
    return request(this.nc, policyContracts.decideStart, facts(req));
  }

  async evaluatePort(req: PortRequest): Promise<PolicyDecision> {
    const d = await request(this.nc, policyContracts.decidePort, {
      ...facts(req),
      mode: req.mode,
      ...(req.http_filter !== undefined ? { http_filter: req.http_filter } : {}),
    });
    return verdict(d.denied_by, d.applied);
  }
}
