import { KubeConfig } from '@kubernetes/client-node';
import { invalid } from '../../../../../shared/src/errors/index.js';

/** Loads the cluster connection: a kubeconfig file (optionally a named context) or the in-cluster service account. */
export function loadKubeConfig(file: string, contextName: string): KubeConfig {
  const kc = new KubeConfig();
  if (file === 'in-cluster') {
    kc.loadFromCluster();
    return kc;
  }
  try {
    kc.loadFromFile(file);
  } catch (e) {
    throw invalid('KUBECONFIG', `cannot load "${file}": ${(e as Error).message}`, 'point it at a kubeconfig file, or unset it to use GATEWAY_TOKEN_FILE');
  }
  if (contextName) {
    if (!kc.getContexts().some((c) => c.name === contextName))
      throw invalid('GATEWAY_KUBE_CONTEXT', `context "${contextName}" is not in ${file}`, `use one of: ${kc.getContexts().map((c) => c.name).join(', ')}`);
    kc.setCurrentContext(contextName);
  }
  return kc;
}
