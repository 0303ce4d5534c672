import type { PolicyDecision, PolicyEvaluator } from '../../domain/ports.js';

/** Without a cluster there are no MirrordPolicy resources to enforce: the token-file default. */
export class AllowAllPolicy implements PolicyEvaluator {
  async evaluateStart(): Promise<PolicyDecision> {
    return { allowed: true };
  }
  async evaluatePort(): Promise<PolicyDecision> {
    return { allowed: true };
  }
}
