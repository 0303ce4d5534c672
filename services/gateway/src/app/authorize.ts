import { AppError, ErrorCode } from '#shared/errors/index.js';
import type { AccessRequest, Authorizer, Identity } from '../domain/interfaces.js';

export const GROUP = 'operator.metalbear.co';

/** Authorises or throws a Forbidden that names the missing RBAC permission. */
export async function authorize(authz: Authorizer, who: Identity, r: AccessRequest): Promise<void> {
  const d = await authz.authorize(who, r);
  if (!d.allowed) {
    const res = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
    throw new AppError(
      ErrorCode.Forbidden,
      `user "${who.user}" cannot ${r.verb} resource "${res}" in API group "${GROUP}"${r.namespace ? ` in the namespace "${r.namespace}"` : ' at the cluster scope'}${d.reason ? `: ${d.reason}` : ''}`,
    );
  }
}
