import { AGENT_CONNECTION_SERVER_NAME } from '#shared/pki/ca-dir.js';
import { containerRef } from '#shared/kube/container.js';
import type { PreparedAgentReply, TargetPod } from '#shared/contracts/agent-manager.js';
import { AGENT_PORT } from '../domain/manifests.js';
import type { PrepareRequest } from '../domain/request.js';
import { acquireAgent } from './agents/acquire-agent.js';
import { cleanupSession } from './cleanup-session.js';
import { copyTarget } from './copy-targets/copy-target.js';
import type { AgentManagerDeps } from './ports.js';

/**
 * What a session needs in the cluster before it starts: its copy (and scale-down) when it asks
 * for one, and the agent of its target or copy. Nothing half-made stays behind on failure.
 */
export async function prepareAgent(deps: AgentManagerDeps, req: PrepareRequest): Promise<PreparedAgentReply> {
  try {
    return await prepare(deps, req);
  } catch (e) {
    // Undo this session's objects, then report.
    await cleanupSession(deps, req.session_id).catch((err: unknown) =>
      deps.log.warn(
        { err, session_id: req.session_id },
        'cleanup after a failed prepare failed; reconciliation will retry',
      ),
    );
    throw e;
  }
}

async function prepare(deps: AgentManagerDeps, req: PrepareRequest): Promise<PreparedAgentReply> {
  const tls = deps.settings.operatorCertPem ? { tls_server_name: AGENT_CONNECTION_SERVER_NAME } : {};
  let pod: TargetPod | undefined = req.pod;
  let copyName: string | undefined;
  const t = req.parsedTarget;
  if (req.copy_target && t.kind === 'workload') {
    const copied = await copyTarget(deps, req, t);
    copyName = copied.metadata!.name!;
    const containers = (copied.spec?.containers ?? []).map((c) => c.name);
    const container = t.container ?? containers[0] ?? '';
    // The copy's own container id: the agent enters the copy's namespaces, not the original's.
    const ref = containerRef(copied.status?.containerStatuses?.find((c) => c.name === container)?.containerID);
    pod = {
      name: copyName,
      node: copied.spec?.nodeName ?? '',
      ip: copied.status?.podIP ?? '',
      labels: copied.metadata?.labels ?? {},
      container,
      ...ref,
    };
  }
  // One agent per target (or copy): a reconnecting session, or another session on the same
  // pod, gets the running one.
  const agent = await acquireAgent(deps, { ...req, ...(pod ? { pod } : {}) });
  return {
    agent: copyName ? 'copy' : agent.kind,
    address: `${agent.pod.status?.podIP}:${AGENT_PORT}`,
    ...(copyName ? { copy_pod: copyName } : {}),
    ...tls,
  };
}
