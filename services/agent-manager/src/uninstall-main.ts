import { loadKubeConfig } from '#shared/kube/config.js';
import { loadConfig } from '#shared/config/index.js';
import { createLogger } from '#shared/log/index.js';
import { Cluster } from './adapters/kube/cluster.js';
import { uninstall } from './app/uninstall.js';
import { agentManagerConfigSpec } from './config.js';

/**
 * The chart's pre-delete hook (`helm uninstall`, app/uninstall.ts). Exit 1 when something could
 * not be undone (helm then reports the hook).
 */
const { KUBECONFIG, AGENT_MANAGER_KUBE_CONTEXT, OPERATOR_AGENT_NAMESPACE, LOG_LEVEL } = loadConfig({
  KUBECONFIG: agentManagerConfigSpec.KUBECONFIG,
  AGENT_MANAGER_KUBE_CONTEXT: agentManagerConfigSpec.AGENT_MANAGER_KUBE_CONTEXT,
  OPERATOR_AGENT_NAMESPACE: agentManagerConfigSpec.OPERATOR_AGENT_NAMESPACE,
  LOG_LEVEL: agentManagerConfigSpec.LOG_LEVEL,
});
const log = createLogger('agent-manager-uninstall', LOG_LEVEL);
const kc = loadKubeConfig(KUBECONFIG, AGENT_MANAGER_KUBE_CONTEXT, 'AGENT_MANAGER_KUBE_CONTEXT');
const report = await uninstall({ cluster: new Cluster(kc, OPERATOR_AGENT_NAMESPACE), log });
log.info(
  report,
  report.failed
    ? 'uninstall cleanup incomplete'
    : 'uninstall cleanup done: no agents, copies or scaled-down workloads left',
);
process.exit(report.failed ? 1 : 0);
