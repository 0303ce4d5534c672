import type { PolicyDecision, PolicyEvaluator } from '../../domain/ports.js';

/** No policies yet: the policy service replaces this in the governance issue. */
export class AllowAllPolicy implements PolicyEvaluator {
  async evaluateStart(): Promise<PolicyDecision> {
    return { allowed: true };
  }
  async evaluatePort(): Promise<PolicyDecision> {
    return { allowed: true };
  }
}
