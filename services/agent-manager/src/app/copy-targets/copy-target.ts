import { createHash, randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { AppError, ErrorCode } from '#shared/errors/index.js';
import { warnGivingUp } from '#shared/kube/pod-watch.js';
import type { CommandBody } from '#shared/contracts/index.js';
import { copyOwnedBy, idleTtlOf } from '../../domain/copy-targets.js';
import { COPY_KEY, copyPod, ROLE_LABEL, SCALED_DEPLOYMENT, SESSION_LABEL } from '../../domain/manifests.js';
import type { PrepareRequest } from '../../domain/request.js';
import { IDLE_SINCE } from '../../domain/shared-agents.js';
import type { AgentManagerDeps } from '../ports.js';
import { namedCopy, notYours } from './named-copy.js';

type Workload = Extract<PrepareRequest['parsedTarget'], { kind: 'workload' }>;
type Original = { deployment: string; replicas: number };

/**
 * Two copies are identical when the same user copies the same target from the same pod
 * template: then a copy left idle by one session can serve that user's next one.
 */
function copyKey(user: string, target: string, template: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify([user, target, template]))
    .digest('hex')
    .slice(0, 32);
}

/**
 * The session's copy pod: the one it has (a reconnect), the named one, an idle identical one, or
 * a new one (with its deployment scaled down when asked). Target Copied is recorded for the
 * session now using it.
 */
export async function copyTarget(deps: AgentManagerDeps, req: PrepareRequest, t: Workload): Promise<V1Pod> {
  const { cluster, log } = deps;
  const own = (await cluster.copyPods(req.namespace)).find(
    (p) => p.metadata?.labels?.[SESSION_LABEL] === req.session_id && p.status?.phase === 'Running',
  );
  if (own && !copyOwnedBy(own, String(req.client.client_user ?? ''))) throw notYours(own.metadata!.name!);
  if (own) return own;
  const timeout = req.agent.startup_timeout * 1000;
  const template = await cluster.podTemplate(t, req.namespace);
  const key = copyKey(String(req.client.client_user ?? ''), req.target, template);
  let original: Original | undefined;
  const named = req.copy_target!.name;
  if (named) {
    const found = await namedCopy(deps, req, named, key);
    // The creator session's copy was recorded when it was made; an adopted one is recorded now.
    if (found) return found.adopted ? recordCopy(deps, req, found.pod, undefined) : found.pod;
  }
  // A CLI's POST (spec given, no name) asks for a new copy: it looked for its reusable ones itself.
  const fresh = req.copy_target!.scale_down || (req.copy_target!.spec !== undefined && !named);
  let copied = fresh ? undefined : await adoptIdleCopy(deps, req, key);
  let copyName = copied?.metadata?.name ?? '';
  if (!copied) {
    if (req.copy_target!.scale_down) {
      await checkNotScaledDown(deps, req.namespace, t.name);
      original = { deployment: t.name, replicas: await cluster.replicas(req.namespace, t.name) };
    }
    const manifest = copyPod(req, template, randomBytes(3).toString('hex'), key, original);
    copyName = (manifest.metadata as { name: string }).name;
    // The copy pod, carrying the replica count, exists before the scale-down: a crash in
    // between leaves something reconciliation can restore from.
    await cluster.createPod(manifest);
    if (original) await cluster.scale(req.namespace, original.deployment, 0);
    copied = await cluster
      .waitForPod(
        req.namespace,
        `${SESSION_LABEL}=${req.session_id},${ROLE_LABEL}=copy`,
        timeout,
        `copy pod ${copyName}`,
      )
      .catch(
        warnGivingUp(
          log,
          { session_id: req.session_id, copy_pod: copyName, namespace: req.namespace },
          'copy pod did not run within agent.startup_timeout: giving up, its objects are cleaned up',
        ),
      );
  }
  return recordCopy(deps, req, copied, original);
}

/** Target Copied, for the session now using the copy. */
async function recordCopy(
  { ledger }: AgentManagerDeps,
  req: PrepareRequest,
  copied: V1Pod,
  original: Original | undefined,
): Promise<V1Pod> {
  await ledger.copyTarget({
    session_id: req.session_id,
    target: req.target,
    namespace: req.namespace,
    client: req.client as CommandBody<'copy-target'>['client'],
    scale_down: !!original,
    copy_pod: copied.metadata!.name!,
    ...(original ? { original_replicas: original.replicas } : {}),
  });
  return copied;
}

/** A running idle copy identical to what this session asks for, now labelled as its own. */
async function adoptIdleCopy(
  { cluster, log, settings }: AgentManagerDeps,
  req: PrepareRequest,
  key: string,
): Promise<V1Pod | undefined> {
  for (const p of await cluster.copyPods(req.namespace)) {
    if (idleTtlOf(p, settings.copyIdleTtlMs) <= 0) continue;
    const a = p.metadata?.annotations ?? {};
    if (a[COPY_KEY] !== key || !a[IDLE_SINCE] || p.status?.phase !== 'Running') continue;
    if (await cluster.adoptCopy(req.namespace, p.metadata!.name!, req.session_id, a[IDLE_SINCE])) {
      log.info(
        {
          session_id: req.session_id,
          copy_pod: p.metadata!.name,
          previous_session: p.metadata?.labels?.[SESSION_LABEL],
        },
        'reusing an idle copy',
      );
      return p;
    }
  }
  return undefined;
}

/** One scaled-down session per deployment at a time. */
async function checkNotScaledDown(
  { cluster, ledger }: AgentManagerDeps,
  namespace: string,
  deployment: string,
): Promise<void> {
  for (const p of await cluster.copyPods(namespace)) {
    if (p.metadata?.annotations?.[SCALED_DEPLOYMENT] !== deployment) continue;
    const sid = p.metadata.labels![SESSION_LABEL]!;
    if ((await ledger.status(sid)) !== 'ended')
      throw new AppError(
        ErrorCode.Conflict,
        `deployment "${deployment}" in namespace "${namespace}" is already scaled down by session ${sid}; use copy_target without scale_down, or wait for that session to end`,
      );
  }
}
