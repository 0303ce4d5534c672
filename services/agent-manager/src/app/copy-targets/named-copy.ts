import type { V1Pod } from '@kubernetes/client-node';
import { conflict, forbidden, notFound } from '#shared/errors/index.js';
import { copyOwnedBy } from '../../domain/copy-targets.js';
import { COPY_KEY, ROLE_LABEL, SESSION_LABEL } from '../../domain/manifests.js';
import type { PrepareRequest } from '../../domain/request.js';
import { IDLE_SINCE, usersOf } from '../../domain/shared-agents.js';
import type { AgentManagerDeps } from '../ports.js';

export const notYours = (name: string) =>
  forbidden(`copy target "${name}" belongs to another user; create your own (copy_target in your mirrord config)`);

/**
 * The copy a session connects to by name (the CLI's `…/copytargets/{name}?connect=true`): its
 * own (the creator session), or an idle one of the same user, now this session's. Undefined
 * when it is busy with another session: then the session gets a new copy like it.
 */
export async function namedCopy(
  { cluster, log }: Pick<AgentManagerDeps, 'cluster' | 'log'>,
  req: PrepareRequest,
  name: string,
  key: string,
): Promise<{ pod: V1Pod; adopted: boolean } | undefined> {
  const timeout = req.agent.startup_timeout * 1000;
  const pod = await cluster.copyPod(req.namespace, name);
  if (!pod)
    throw notFound(
      `copy target "${name}" not found in namespace "${req.namespace}"; list them with kubectl get copytargets.operator.metalbear.co -n ${req.namespace}`,
    );
  if (pod.status?.phase === 'Failed') throw conflict(`copy target "${name}" failed; create a new one`);
  const a = pod.metadata?.annotations ?? {};
  // Whatever session id is presented: a copy is its creator's user's alone.
  if (!copyOwnedBy(pod, String(req.client.client_user ?? ''), key)) throw notYours(name);
  if (pod.metadata?.labels?.[SESSION_LABEL] === req.session_id) {
    const selector = `${SESSION_LABEL}=${req.session_id},${ROLE_LABEL}=copy`;
    const running = pod.status?.phase === 'Running';
    return {
      pod: running ? pod : await cluster.waitForPod(req.namespace, selector, timeout, `copy pod ${name}`),
      adopted: false,
    };
  }
  if (a[COPY_KEY] !== key) throw conflict(`copy target "${name}" is another user's or of another target`);
  if (pod.status?.phase !== 'Running') return undefined;
  // Another socket of a session already sharing it (`exec` connects twice with one id).
  if (usersOf(pod.metadata?.labels).includes(req.session_id)) return { pod, adopted: false };
  if (a[IDLE_SINCE]) {
    if (await cluster.adoptCopy(req.namespace, name, req.session_id, a[IDLE_SINCE])) {
      log.info({ session_id: req.session_id, copy_pod: name }, 'reusing an idle copy (CopyTarget)');
      return { pod, adopted: true };
    }
    return undefined;
  }
  // In use by another session of the same user (a re-run within the first's unused TTL, a
  // second terminal): shared; it passes to the last one when its owner ends.
  await cluster.shareCopy(req.namespace, name, req.session_id);
  log.info(
    { session_id: req.session_id, copy_pod: name, owner: pod.metadata?.labels?.[SESSION_LABEL] },
    'sharing a copy in use (CopyTarget)',
  );
  return { pod, adopted: true };
}
