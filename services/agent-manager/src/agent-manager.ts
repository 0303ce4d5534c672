import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError, ErrorCode, conflict, forbidden, invalid, notFound } from '#shared/errors/index.js';
import type { Cluster } from './adapters/kube/cluster.js';
import { warnGivingUp } from '#shared/kube/pod-watch.js';
import { planCleanup, type CleanupPlan, type LabelledObject } from './domain/cleanup.js';
import { AGENT_CONNECTION_SERVER_NAME } from '#shared/pki/ca-dir.js';
import { containerRef } from '#shared/kube/container.js';
import type { V1Pod } from '@kubernetes/client-node';
import { AGENT_PORT, COPY_KEY, copyPod, ROLE_LABEL, SCALED_DEPLOYMENT, SESSION_LABEL } from './domain/manifests.js';
import type { PrepareRequest, TargetPodInfo } from './domain/request.js';
import { copyOwnedBy, copyTargetOf, idleExpired, idleTtlOf } from './domain/copy-targets.js';
import { AgentPool, type SessionStatus } from './agent-pool.js';
import { IDLE_SINCE, usersOf } from './domain/shared-agents.js';
import type { CopyTargetView } from '#shared/ledger/index.js';
import type { CommandBody } from '#shared/contracts/index.js';

export interface LedgerPort {
  copyTarget(body: CommandBody<'copy-target'>): Promise<void>;
  status(sessionId: string): Promise<SessionStatus>;
}

export interface Prepared {
  agent: 'job' | 'ephemeral' | 'copy';
  /** Where the operator reaches the agent. */
  address: string;
  copy_pod?: string;
  /** Present when the agent speaks TLS: the server name of the operator's agent-connection certificate. */
  tls_server_name?: string;
}

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

const notYours = (name: string) =>
  forbidden(`copy target "${name}" belongs to another user; create your own (copy_target in your mirrord config)`);

/** A session not yet started (or never known) is given this long before its objects count as leftovers. */
const SETUP_GRACE_MS = 5 * 60_000;

/**
 * Creates what a session needs in the cluster (agent Job or ephemeral container, copy pod,
 * scale-down) and removes it when the session ends. Every object is labelled with the session
 * and a scale-down's restore information lives on the copy pod, so after any crash
 * `reconcile()` can compare the cluster with the ledger and undo whatever is left over.
 */
export class AgentManager {
  private readonly agentNamespace: string;
  /** The agent-connection certificate agents trust, when operator–agent TLS is on (OPERATOR_AGENT_CONNECTION_TLS). */
  private readonly operatorCertPem: string | undefined;
  /** How long a copy outlives its session for the same user's next one (0: deleted at once). */
  private readonly idleTtlMs: number;
  /** The agents of targets, shared by their sessions. */
  readonly agents: AgentPool;

  constructor(
    private readonly cluster: Cluster,
    private readonly ledger: LedgerPort,
    private readonly log: Logger,
    opts: { agentNamespace: string; operatorCertPem?: string; copyIdleTtlMs?: number; agentIdleTtlMs?: number },
  ) {
    this.agentNamespace = opts.agentNamespace;
    this.operatorCertPem = opts.operatorCertPem;
    this.idleTtlMs = opts.copyIdleTtlMs ?? 0;
    this.agents = new AgentPool(cluster, log, {
      agentNamespace: opts.agentNamespace,
      operatorCertPem: opts.operatorCertPem,
      idleTtlMs: opts.agentIdleTtlMs ?? 0,
    });
  }

  async prepare(req: PrepareRequest): Promise<Prepared> {
    try {
      return await this.#prepare(req);
    } catch (e) {
      // Nothing half-made may stay behind: undo this session's objects, then report.
      await this.cleanup(req.session_id).catch((err: unknown) =>
        this.log.warn(
          { err, session_id: req.session_id },
          'cleanup after a failed prepare failed; reconciliation will retry',
        ),
      );
      throw e;
    }
  }

  async #prepare(req: PrepareRequest): Promise<Prepared> {
    const tls = this.operatorCertPem ? { tls_server_name: AGENT_CONNECTION_SERVER_NAME } : {};
    let pod: TargetPodInfo | undefined = req.pod;
    let copyName: string | undefined;
    const t = req.parsedTarget;
    if (req.copy_target && t.kind === 'workload') {
      const copied = await this.#copyFor(req, t);
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
    const agent = await this.agents.acquire({ ...req, ...(pod ? { pod } : {}) });
    return {
      agent: copyName ? 'copy' : agent.kind,
      address: `${agent.pod.status?.podIP}:${AGENT_PORT}`,
      ...(copyName ? { copy_pod: copyName } : {}),
      ...tls,
    };
  }

  /**
   * The CLI's `POST …/copytargets`: a new copy for the creator session (Target Copied is
   * recorded), without an agent — the session that connects to it next gets one.
   */
  async createCopy(req: PrepareRequest): Promise<CopyTargetView> {
    const t = req.parsedTarget;
    if (!req.copy_target || t.kind !== 'workload')
      throw invalid('spec.target', 'a copy needs a workload target', 'name a deployment, pod, rollout, job, …');
    try {
      return copyTargetOf(await this.#copyFor(req, t), this.idleTtlMs);
    } catch (e) {
      await this.cleanup(req.session_id).catch(() => undefined);
      throw e;
    }
  }

  /**
   * `DELETE …/copytargets/{name}`: a copy no live session uses goes with its session's objects
   * (a scaled-down deployment is restored). False when there is no such copy.
   */
  async deleteCopy(namespace: string, name: string): Promise<boolean> {
    const pod = await this.cluster.copyPod(namespace, name);
    if (!pod) return false;
    const sid = pod.metadata!.labels![SESSION_LABEL]!;
    if (!pod.metadata?.annotations?.[IDLE_SINCE] && (await this.ledger.status(sid)) === 'live')
      throw conflict(
        `copy target "${name}" is in use by session ${sid}; end that session first (kubectl mirrord session kill --id ${sid})`,
      );
    await this.cleanup(sid);
    return true;
  }

  /**
   * The copy a session connects to by name (the CLI's `…/copytargets/{name}?connect=true`): its
   * own (the creator session), or an idle one of the same user, now this session's. Undefined
   * when it is busy with another session: then the session gets a new copy like it.
   */
  async #namedCopy(
    req: PrepareRequest,
    name: string,
    key: string,
  ): Promise<{ pod: V1Pod; adopted: boolean } | undefined> {
    const timeout = req.agent.startup_timeout * 1000;
    const pod = await this.cluster.copyPod(req.namespace, name);
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
        pod: running ? pod : await this.cluster.waitForPod(req.namespace, selector, timeout, `copy pod ${name}`),
        adopted: false,
      };
    }
    if (a[COPY_KEY] !== key) throw conflict(`copy target "${name}" is another user's or of another target`);
    if (pod.status?.phase !== 'Running') return undefined;
    // Another socket of a session already sharing it (`exec` connects twice with one id).
    if (usersOf(pod.metadata?.labels).includes(req.session_id)) return { pod, adopted: false };
    if (a[IDLE_SINCE]) {
      if (await this.cluster.adoptCopy(req.namespace, name, req.session_id, a[IDLE_SINCE])) {
        this.log.info({ session_id: req.session_id, copy_pod: name }, 'reusing an idle copy (CopyTarget)');
        return { pod, adopted: true };
      }
      return undefined;
    }
    // In use by another session of the same user (a re-run within the first's unused TTL, a
    // second terminal): shared; it passes to the last one when its owner ends.
    await this.cluster.shareCopy(req.namespace, name, req.session_id);
    this.log.info(
      { session_id: req.session_id, copy_pod: name, owner: pod.metadata?.labels?.[SESSION_LABEL] },
      'sharing a copy in use (CopyTarget)',
    );
    return { pod, adopted: true };
  }

  /** The session's copy pod: the one it has (a reconnect), an idle identical one, or a new one. */
  async #copyFor(
    req: PrepareRequest,
    t: Extract<PrepareRequest['parsedTarget'], { kind: 'workload' }>,
  ): Promise<V1Pod> {
    const own = (await this.cluster.copyPods(req.namespace)).find(
      (p) => p.metadata?.labels?.[SESSION_LABEL] === req.session_id && p.status?.phase === 'Running',
    );
    if (own && !copyOwnedBy(own, String(req.client.client_user ?? ''))) throw notYours(own.metadata!.name!);
    if (own) return own;
    const timeout = req.agent.startup_timeout * 1000;
    const template = await this.cluster.podTemplate(t, req.namespace);
    const key = copyKey(String(req.client.client_user ?? ''), req.target, template);
    let original: { deployment: string; replicas: number } | undefined;
    const named = req.copy_target!.name;
    if (named) {
      const found = await this.#namedCopy(req, named, key);
      // The creator session's copy was recorded when it was made; an adopted one is recorded now.
      if (found) return found.adopted ? this.#recordCopy(req, found.pod, undefined) : found.pod;
    }
    // A CLI's POST (spec given, no name) asks for a new copy: it looked for its reusable ones itself.
    const fresh = req.copy_target!.scale_down || (req.copy_target!.spec !== undefined && !named);
    let copied = fresh ? undefined : await this.#adoptIdleCopy(req, key);
    let copyName = copied?.metadata?.name ?? '';
    if (!copied) {
      if (req.copy_target!.scale_down) {
        await this.#checkNotScaledDown(req.namespace, t.name);
        original = { deployment: t.name, replicas: await this.cluster.replicas(req.namespace, t.name) };
      }
      const manifest = copyPod(req, template, randomBytes(3).toString('hex'), key, original);
      copyName = (manifest.metadata as { name: string }).name;
      // The copy pod, carrying the replica count, exists before the scale-down: a crash in
      // between leaves something reconciliation can restore from.
      await this.cluster.createPod(manifest);
      if (original) await this.cluster.scale(req.namespace, original.deployment, 0);
      copied = await this.cluster
        .waitForPod(
          req.namespace,
          `${SESSION_LABEL}=${req.session_id},${ROLE_LABEL}=copy`,
          timeout,
          `copy pod ${copyName}`,
        )
        .catch(
          warnGivingUp(
            this.log,
            { session_id: req.session_id, copy_pod: copyName, namespace: req.namespace },
            'copy pod did not run within agent.startup_timeout: giving up, its objects are cleaned up',
          ),
        );
    }
    return this.#recordCopy(req, copied, original);
  }

  /** Target Copied, for the session now using the copy. */
  async #recordCopy(
    req: PrepareRequest,
    copied: V1Pod,
    original: { deployment: string; replicas: number } | undefined,
  ): Promise<V1Pod> {
    const copyName = copied.metadata!.name!;
    await this.ledger.copyTarget({
      session_id: req.session_id,
      target: req.target,
      namespace: req.namespace,
      client: req.client as CommandBody<'copy-target'>['client'],
      scale_down: !!original,
      copy_pod: copyName,
      ...(original ? { original_replicas: original.replicas } : {}),
    });
    return copied;
  }

  /** A running idle copy identical to what this session asks for, now labelled as its own. */
  async #adoptIdleCopy(req: PrepareRequest, key: string): Promise<V1Pod | undefined> {
    for (const p of await this.cluster.copyPods(req.namespace)) {
      if (idleTtlOf(p, this.idleTtlMs) <= 0) continue;
      const a = p.metadata?.annotations ?? {};
      if (a[COPY_KEY] !== key || !a[IDLE_SINCE] || p.status?.phase !== 'Running') continue;
      if (await this.cluster.adoptCopy(req.namespace, p.metadata!.name!, req.session_id, a[IDLE_SINCE])) {
        this.log.info(
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

  /** Deletes idle copies older than the idle TTL. */
  async sweepIdleCopies(now = Date.now()): Promise<number> {
    let n = 0;
    for (const p of await this.cluster.copyPods()) {
      if (!idleExpired(p, now, this.idleTtlMs)) continue;
      await this.cluster.delete({ kind: 'Pod', namespace: p.metadata!.namespace!, name: p.metadata!.name! });
      n++;
    }
    return n;
  }

  /** One scaled-down session per deployment at a time. */
  async #checkNotScaledDown(namespace: string, deployment: string): Promise<void> {
    for (const p of await this.cluster.copyPods(namespace)) {
      if (p.metadata?.annotations?.[SCALED_DEPLOYMENT] !== deployment) continue;
      const sid = p.metadata.labels![SESSION_LABEL]!;
      if ((await this.ledger.status(sid)) !== 'ended')
        throw new AppError(
          ErrorCode.Conflict,
          `deployment "${deployment}" in namespace "${namespace}" is already scaled down by session ${sid}; use copy_target without scale_down, or wait for that session to end`,
        );
    }
  }

  async copyTargets(namespace?: string): Promise<CopyTargetView[]> {
    return (await this.cluster.copyPods(namespace)).map((p) => copyTargetOf(p, this.idleTtlMs));
  }

  /**
   * Undoes everything of one session. When it ended normally (`keepCopies`), a copy that did not
   * scale anything down stays for the idle TTL, marked idle, for the same user's next session.
   * Idempotent.
   */
  async cleanup(sessionId: string, keepCopies = false): Promise<CleanupPlan> {
    await this.cluster.leaveCopies(sessionId);
    const all = await this.cluster.labelled(sessionId);
    const handed = await this.#handOverShared(all);
    const mine = all.filter((o) => !handed.has(`${o.namespace}/${o.name}`));
    const keep = keepCopies
      ? mine.filter(
          (o) =>
            o.kind === 'Pod' &&
            o.labels[ROLE_LABEL] === 'copy' &&
            !o.annotations[SCALED_DEPLOYMENT] &&
            idleTtlOf({ metadata: { annotations: o.annotations } }, this.idleTtlMs) > 0,
        )
      : [];
    for (const k of keep)
      if (!k.annotations[IDLE_SINCE]) await this.cluster.markIdle(k.namespace, k.name, new Date().toISOString());
    const plan = planCleanup(
      mine.filter((o) => !keep.includes(o)),
      () => true,
    );
    await this.#apply(plan);
    // Its agents go once nobody else uses them; one whose copy pod was just deleted goes now.
    const gone = new Set(plan.delete.filter((d) => d.kind === 'Pod').map((d) => `${d.namespace}/${d.name}`));
    return { ...plan, delete: [...plan.delete, ...(await this.agents.release(sessionId, gone))] };
  }

  /** Copies among `objects` that another live session shares pass to it; their `namespace/name`. */
  async #handOverShared(objects: LabelledObject[]): Promise<Set<string>> {
    const handed = new Set<string>();
    for (const o of objects) {
      if (o.kind !== 'Pod' || o.labels[ROLE_LABEL] !== 'copy') continue;
      const owner = o.labels[SESSION_LABEL]!;
      for (const u of usersOf(o.labels).filter((x) => x !== owner)) {
        if ((await this.ledger.status(u)) !== 'live') continue;
        if (await this.cluster.handOverCopy(o.namespace, o.name, owner, u)) {
          this.log.info({ copy_pod: o.name, from: owner, to: u }, 'copy handed to the session sharing it');
          handed.add(`${o.namespace}/${o.name}`);
        }
        break;
      }
    }
    return handed;
  }

  /** Start-up: objects whose session is over (or never started) are removed, deployments restored. */
  async reconcile(now = Date.now()): Promise<CleanupPlan> {
    const objects = await this.cluster.labelled();
    const status = new Map<string, SessionStatus>();
    for (const sid of new Set(objects.map((o) => o.labels[SESSION_LABEL]!)))
      status.set(sid, await this.ledger.status(sid));
    const young = (o: LabelledObject) => now - o.createdAt < SETUP_GRACE_MS;
    const youngSessions = new Set(objects.filter(young).map((o) => o.labels[SESSION_LABEL]!));
    // A copy whose owner ended while another session shared it (a crash mid-cleanup) passes on.
    const handed = await this.#handOverShared(objects.filter((o) => status.get(o.labels[SESSION_LABEL]!) === 'ended'));
    // Idle copies are the sweeper's: they outlive their session on purpose.
    const plan = planCleanup(
      objects.filter((o) => !o.annotations[IDLE_SINCE] && !handed.has(`${o.namespace}/${o.name}`)),
      (sid) => {
        const s = status.get(sid);
        if (s === 'ended') return true;
        if (s === 'live') return false;
        return !youngSessions.has(sid);
      },
    );
    await this.#apply(plan);
    await this.agents.reconcile((sid) => this.ledger.status(sid), now);
    const agents = await this.agents.sweep(now);
    if (plan.delete.length || agents)
      this.log.info(
        { deleted: plan.delete.length, agents_deleted: agents, restored: plan.restore },
        'reconciled leftovers of ended sessions',
      );
    return plan;
  }

  async #apply(plan: CleanupPlan): Promise<void> {
    for (const r of plan.restore) {
      await this.cluster.scale(r.namespace, r.deployment, r.replicas);
      this.log.info({ namespace: r.namespace, deployment: r.deployment, replicas: r.replicas }, 'deployment restored');
    }
    for (const d of plan.delete) await this.cluster.delete(d);
  }
}
