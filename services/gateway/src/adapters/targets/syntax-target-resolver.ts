import { formatTarget, validateNamespace, type Target } from '#shared/targets/index.js';
import type { Identity, ResolvedTarget, TargetResolver } from '../../domain/interfaces.js';

/** Checks syntax only, until target resolution against the cluster exists. */
export class SyntaxTargetResolver implements TargetResolver {
  async resolve(_who: Identity, namespace: string, target: Target): Promise<ResolvedTarget> {
    return { target, path: formatTarget(target), namespace: validateNamespace(namespace) };
  }

  /** Without a cluster there is nothing to list. */
  async list(_who: Identity, namespace: string): Promise<Target[]> {
    validateNamespace(namespace);
    return [];
  }
}
