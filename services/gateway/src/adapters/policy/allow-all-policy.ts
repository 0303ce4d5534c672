import { parseMirrordConfig } from '#shared/mirrord-config/index.js';
import type { PolicyDecision, PolicyEvaluator, PolicyExplanation, SessionRequest } from '../../domain/interfaces.js';

/** Without a cluster there are no MirrordPolicy resources to enforce: the token-file default. */
export class AllowAllPolicy implements PolicyEvaluator {
  async evaluateStart(): Promise<PolicyDecision> {
    return { allowed: true };
  }
  async evaluatePort(): Promise<PolicyDecision> {
    return { allowed: true };
  }
  async explain(req: SessionRequest): Promise<PolicyExplanation> {
    return {
      allowed: true,
      denied_by: [],
      applied: [],
      blocked: [],
      changes: [],
      outgoing: { allow: [], block: [] },
      effective_config: parseMirrordConfig(req.config ?? {}, 'config'),
      enforce: { env_exclude: [], fs: { local: [], not_found: [], read_only: [] }, outgoing: { allow: [], block: [] } },
    };
  }
}
