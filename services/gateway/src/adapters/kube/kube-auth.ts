import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { unavailable } from '#shared/errors/index.js';
import type {
  AccessDecision,
  AccessRequest,
  Authenticator,
  Authorizer,
  HttpRequestLike,
  Identity,
} from '../../domain/interfaces.js';
import { GROUP } from '../../app/authorize.js';
import { bearerToken } from '../auth/bearer.js';

/**
 * Bearer tokens checked by the cluster's TokenReview. Answers are cached for a short while
 * (as kube-apiserver's webhook authenticator does), so a session's requests cost one review.
 */
export class TokenReviewAuthenticator implements Authenticator {
  readonly #api: AuthenticationV1Api;
  readonly #cache = new Map<string, { who: Identity | undefined; until: number }>();

  constructor(
    kc: KubeConfig,
    private readonly ttlMs = 10_000,
  ) {
    this.#api = kc.makeApiClient(AuthenticationV1Api);
  }

  async authenticate(req: HttpRequestLike): Promise<Identity | undefined> {
    const token = bearerToken(req);
    if (!token) return undefined;
    const hit = this.#cache.get(token);
    if (hit && hit.until > Date.now()) return hit.who;
    let r;
    try {
      r = await this.#api.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      });
    } catch (e) {
      throw unavailable(`TokenReview failed: ${(e as Error).message}`, e);
    }
    const u = r.status?.authenticated ? r.status.user : undefined;
    const who = u?.username ? { user: u.username, uid: u.uid ?? '', groups: u.groups ?? [] } : undefined;
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(token, { who, until: Date.now() + this.ttlMs });
    return who;
  }
}

export interface ResourceCheck {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** Asks the cluster (SubjectAccessReview) whether a user may do something: RBAC as configured there. */
export class SubjectAccessReviewAuthorizer implements Authorizer {
  readonly #api: AuthorizationV1Api;

  constructor(kc: KubeConfig) {
    this.#api = kc.makeApiClient(AuthorizationV1Api);
  }

  authorize(who: Identity, req: AccessRequest): Promise<AccessDecision> {
    return this.check(who, { ...req, group: GROUP });
  }

  async check(who: Identity, c: ResourceCheck): Promise<AccessDecision> {
    let r;
    try {
      r = await this.#api.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: who.user,
            uid: who.uid,
            groups: who.groups,
            resourceAttributes: {
              verb: c.verb,
              group: c.group,
              resource: c.resource,
              ...(c.subresource ? { subresource: c.subresource } : {}),
              ...(c.namespace ? { namespace: c.namespace } : {}),
              ...(c.name ? { name: c.name } : {}),
            },
          },
        },
      });
    } catch (e) {
      throw unavailable(`SubjectAccessReview failed: ${(e as Error).message}`, e);
    }
    return r.status?.allowed ? { allowed: true } : { allowed: false, reason: r.status?.reason ?? '' };
  }
}
