import type { NatsConnection } from '@nats-io/nats-core';
import { call, querySubject } from '#shared/nats/index.js';
import { policyTargetPath } from '#shared/targets/index.js';
import type {
  PolicyDecision,
  PolicyEvaluator,
  PolicyExplanation,
  PortRequest,
  SessionRequest,
} from '../../domain/interfaces.js';

interface Denial {
  policy: string;
  feature: string;
  reason: string;
}

const facts = (req: SessionRequest) => ({
  namespace: req.target.namespace,
  target: policyTargetPath(req.target.target),
  labels: req.target.labels ?? req.target.pod?.labels ?? {},
  ...(req.config !== undefined ? { config: req.config } : {}),
  ...(req.profile !== undefined ? { profile: req.profile } : {}),
});

const verdict = (denied: Denial[], applied: string[]): PolicyDecision =>
  denied.length === 0
    ? { allowed: true, applied }
    : { allowed: false, message: denied.map((d) => d.reason).join('; '), policy: denied[0]!.policy };

/** The policy service over NATS request-reply (MirrordPolicy / MirrordClusterPolicy, profiles). */
export class NatsPolicy implements PolicyEvaluator {
  constructor(private readonly nc: NatsConnection) {}

  async evaluateStart(req: SessionRequest): Promise<PolicyDecision> {
    const d = await call<{ denied_by: Denial[]; applied: string[] }>(
      this.nc,
      querySubject('policy', 'decide-start'),
      facts(req),
    );
    return verdict(d.denied_by, d.applied);
  }

  explain(req: SessionRequest): Promise<PolicyExplanation> {
    return call<PolicyExplanation>(this.nc, querySubject('policy', 'decide-start'), facts(req));
  }

  async evaluatePort(req: PortRequest): Promise<PolicyDecision> {
    const d = await call<{ denied_by: Denial[]; applied: string[] }>(this.nc, querySubject('policy', 'decide-port'), {
      ...facts(req),
      mode: req.mode,
      ...(req.http_filter !== undefined ? { http_filter: req.http_filter } : {}),
    });
    return verdict(d.denied_by, d.applied);
  }
}
