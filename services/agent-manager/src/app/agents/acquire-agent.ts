import type { V1Pod } from '@kubernetes/client-node';
import { AppError, ErrorCode } from '#shared/errors/index.js';
import { podState, warnGivingUp } from '#shared/kube/pod-watch.js';
import { agentJob, ephemeralAgent } from '../../domain/manifests.js';
import type { PrepareRequest } from '../../domain/request.js';
import { AGENT_KEY, agentHealth, agentObjectName, IDLE_SINCE, usersOf, usesLabel } from '../../domain/shared-agents.js';
import type { AgentDeps } from '../ports.js';
import { agentKey } from './agent-key.js';

export interface AcquiredAgent {
  kind: 'job' | 'ephemeral';
  pod: V1Pod;
}

/**
 * The running agent of this session's target (made, revived or joined), once it runs: one agent
 * per target (domain/shared-agents.ts). Joining and deleting race safely across agent-managers:
 * a join changes the Job's resourceVersion and a delete is conditional on the version it judged.
 */
export function acquireAgent(deps: AgentDeps, req: PrepareRequest): Promise<AcquiredAgent> {
  const ephemeral = req.agent.ephemeral && !!req.pod;
  const jobNs = req.agent.namespace ?? deps.settings.agentNamespace;
  const key = agentKey({
    runs: ephemeral ? 'ephemeral' : { job: jobNs },
    ...(req.pod ? { pod: { namespace: req.namespace, name: req.pod.name, container: req.pod.container } } : {}),
    session_id: req.session_id,
  });
  return deps.acquiring.run(key, () => (ephemeral ? ephemeralOf(deps, req, key) : jobOf(deps, req, jobNs, key)));
}

async function jobOf(deps: AgentDeps, req: PrepareRequest, ns: string, key: string): Promise<AcquiredAgent> {
  const { cluster, log, settings } = deps;
  const name = agentObjectName(key);
  const timeout = req.agent.startup_timeout * 1000;
  for (let attempt = 0; attempt < 5; attempt++) {
    const job = await cluster.readJob(ns, name);
    if (job) {
      const pods = await cluster.agentPods(ns, key);
      if (agentHealth(pods.map((p) => p.status?.phase)) === 'dead') {
        // Its process ended (killed, crashed or timed out): a new agent replaces it.
        await cluster.deleteJobAt(ns, name, job.metadata!.resourceVersion!);
        log.warn(
          {
            session_id: req.session_id,
            agent_job: name,
            namespace: ns,
            users: usersOf(job.metadata?.labels),
            state: podState(pods.at(-1)),
          },
          'agent exited: deleting its Job and creating a new one',
        );
        await gone(deps, ns, name);
        continue;
      }
      const joined = await cluster.patchJob(ns, name, {
        metadata: { labels: { [usesLabel(req.session_id)]: 'true' }, annotations: { [IDLE_SINCE]: null } },
      });
      if (!joined) continue;
      log.info(
        { agent: name, session_id: req.session_id, users: usersOf(joined.metadata?.labels) },
        'session joined a running agent',
      );
    } else {
      const manifest = agentJob({
        req,
        namespace: ns,
        key,
        operatorCertPem: settings.operatorCertPem,
        idleTtlSeconds: Math.round(settings.agentIdleTtlMs / 1000),
      });
      try {
        await cluster.createJob(manifest);
      } catch (e) {
        // Another agent-manager made it first: join that one.
        if ((e as { code?: number }).code === 409) continue;
        throw e;
      }
    }
    const pod = await cluster.waitForPod(ns, `${AGENT_KEY}=${key}`, timeout, `agent job ${name}`).catch(
      warnGivingUp(
        log,
        {
          session_id: req.session_id,
          agent_job: name,
          namespace: ns,
          startup_timeout_s: req.agent.startup_timeout,
        },
        'agent did not run within agent.startup_timeout: giving up, the session does not start',
      ),
    );
    return { kind: 'job', pod };
  }
  throw new AppError(ErrorCode.Unavailable, `agent job ${name} kept changing while joining it; try again`);
}

/** Waits (briefly) for a deleted Job's name to be free again. */
async function gone({ cluster }: AgentDeps, ns: string, name: string): Promise<void> {
  for (let i = 0; i < 50 && (await cluster.readJob(ns, name)); i++) await new Promise((r) => setTimeout(r, 100));
}

/**
 * An ephemeral agent in the target pod: the running one if there is one; else a new container
 * (ephemeral containers cannot be removed or restarted, so a replacement takes a new name).
 */
async function ephemeralOf(deps: AgentDeps, req: PrepareRequest, key: string): Promise<AcquiredAgent> {
  const { cluster, log, settings } = deps;
  const podName = req.pod!.name;
  const base = agentObjectName(key);
  const cur = await cluster.readPod(req.namespace, podName);
  if (!cur) throw new AppError(ErrorCode.NotFound, `target pod "${podName}" in namespace "${req.namespace}" not found`);
  const statuses = cur.status?.ephemeralContainerStatuses ?? [];
  const mine = (cur.spec?.ephemeralContainers ?? []).filter((c) => c.name.startsWith(base));
  const live = mine.find((c) => !statuses.some((s) => s.name === c.name && s.state?.terminated));
  let name = live?.name;
  if (!name) {
    name = mine.length ? `${base}-${mine.length}` : base;
    const idleTtlSeconds = Math.round(settings.agentIdleTtlMs / 1000);
    await cluster.addEphemeralContainer(
      req.namespace,
      podName,
      ephemeralAgent(req, name, settings.operatorCertPem, idleTtlSeconds),
    );
  } else log.info({ agent: name, pod: podName, session_id: req.session_id }, 'session joined a running agent');
  const pod = await cluster.waitForEphemeral(req.namespace, podName, name, req.agent.startup_timeout * 1000);
  return { kind: 'ephemeral', pod };
}
