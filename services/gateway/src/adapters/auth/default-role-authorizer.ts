import type { AccessDecision, AccessRequest, Authorizer, Identity } from '../../domain/interfaces.js';

/**
 * The seed's default: every `mirrord-operator-user` may list, kill and kill-all, and use any
 * target. SubjectAccessReview replaces this in the Kubernetes issue.
 */
export class DefaultRoleAuthorizer implements Authorizer {
  async authorize(_who: Identity, _req: AccessRequest): Promise<AccessDecision> {
    return { allowed: true };
  }
}
