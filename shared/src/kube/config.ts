import { KubeConfig } from '@kubernetes/client-node';
import { invalid } from '../errors/index.js';

/**
 * Loads the cluster connection: a kubeconfig file (optionally a named context) or, for
 * `in-cluster`, the pod's service account. Errors name the variables the caller read them from.
 */
export function loadKubeConfig(file: string, contextName: string, contextVar: string): KubeConfig {
  const kc = new KubeConfig();
  if (file === 'in-cluster') {
    kc.loadFromCluster();
    return kc;
  }
  try {
    kc.loadFromFile(file);
  } catch (e) {
    throw invalid(
      'KUBECONFIG',
      `cannot load "${file}": ${(e as Error).message}`,
      'point it at a kubeconfig file, or use "in-cluster" inside a pod',
    );
  }
  if (contextName) {
    if (!kc.getContexts().some((c) => c.name === contextName))
      throw invalid(
        contextVar,
        `context "${contextName}" is not in ${file}`,
        `use one of: ${kc
          .getContexts()
          .map((c) => c.name)
          .join(', ')}`,
      );
    kc.setCurrentContext(contextName);
  }
  return kc;
}
