import { createHash } from 'node:crypto';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AppError, ErrorCode } from '#shared/errors/index.js';
import type { Cluster } from './adapters/kube/cluster.js';
import { podState, warnGivingUp } from '#shared/kube/pod-watch.js';
import { agentJob, ephemeralAgent } from './domain/manifests.js';
import type { PrepareRequest } from './domain/request.js';
import {
  IDLE_SINCE,
  AGENT_KEY,
  agentHealth,
  agentObjectName,
  sweepAgent,
  TARGET_POD,
  usersOf,
  usesLabel,
} from './domain/shared-agents.js';

/** A session as the ledger knows it, for reconciling agents (unknown: the ledger did not answer). */
export type SessionStatus = 'live' | 'pending' | 'ended' | 'unknown';

export interface AgentPlace {
  /** Where the agent runs: a Job in this namespace, or an ephemeral container of the target pod. */
  runs: { job: string } | 'ephemeral';
  /** The target pod; absent for a targetless session, whose agent is its own. */
  pod?: { namespace: string; name: string; container: string };
  session_id: string;
}

/** 32 hex digits naming the agent of a place: equal for every session on the same target. */
export function agentKey(p: AgentPlace): string {
  const where = typeof p.runs === 'string' ? 'ephemeral' : `job:${p.runs.job}`;
  const what = p.pod ? [p.pod.namespace, p.pod.name, p.pod.container] : ['targetless', p.session_id];
  return createHash('sha256')
    .update(JSON.stringify([where, ...what]))
    .digest('hex')
    .slice(0, 32);
}

export interface Acquired {
  kind: 'job' | 'ephemeral';
  pod: V1Pod;
}

export interface DeletedAgent {
  kind: 'Job';
  namespace: string;
  name: string;
}

/** A session not yet started (or never known) is given this long before it stops counting as a user. */
const SETUP_GRACE_MS = 5 * 60_000;

/**
 * The agents of targets, shared by the sessions on them (domain/shared-agents.ts). The cluster
 * is the only record: an agent Job's labels say who uses it, so any agent-manager (a restarted
 * one, or a replica) takes over from what it finds. Joining and deleting race safely: a join
 * changes the Job's resourceVersion and a delete is conditional on the version it judged.
 */
export class AgentPool {
  /** One acquisition per agent at a time in this process (two sessions arriving together make one agent). */
  readonly #busy = new Map<string, Promise<unknown>>();

  constructor(
    private readonly cluster: Cluster,
    private readonly log: Logger,
    private readonly opts: { agentNamespace: string; operatorCertPem: string | undefined; idleTtlMs: number },
  ) {}

  /** The running agent of this session's target (made, revived or joined), once it runs. */
  acquire(req: PrepareRequest): Promise<Acquired> {
    const ephemeral = req.agent.ephemeral && !!req.pod;
    const jobNs = req.agent.namespace ?? this.opts.agentNamespace;
    const key = agentKey({
      runs: ephemeral ? 'ephemeral' : { job: jobNs },
      ...(req.pod ? { pod: { namespace: req.namespace, name: req.pod.name, container: req.pod.container } } : {}),
      session_id: req.session_id,
    });
    const prev = this.#busy.get(key) ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(() => (ephemeral ? this.#ephemeral(req, key) : this.#job(req, jobNs, key)));
    this.#busy.set(key, run);
    void run
      .finally(() => {
        if (this.#busy.get(key) === run) this.#busy.delete(key);
      })
      .catch(() => undefined);
    return run;
  }

  async #job(req: PrepareRequest, ns: string, key: string): Promise<Acquired> {
    const name = agentObjectName(key);
    const timeout = req.agent.startup_timeout * 1000;
    for (let attempt = 0; attempt < 5; attempt++) {
      const job = await this.cluster.readJob(ns, name);
      if (job) {
        const pods = await this.cluster.agentPods(ns, key);
        if (agentHealth(pods.map((p) => p.status?.phase)) === 'dead') {
          // Its process ended (killed, crashed or timed out): a new agent replaces it.
          await this.cluster.deleteJobAt(ns, name, job.metadata!.resourceVersion!);
          this.log.warn(
            {
              session_id: req.session_id,
              agent_job: name,
              namespace: ns,
              users: usersOf(job.metadata?.labels),
              state: podState(pods.at(-1)),
            },
            'agent exited: deleting its Job and creating a new one',
          );
          await this.#gone(ns, name);
          continue;
        }
        const joined = await this.cluster.patchJob(ns, name, {
          metadata: { labels: { [usesLabel(req.session_id)]: 'true' }, annotations: { [IDLE_SINCE]: null } },
        });
        if (!joined) continue;
        this.log.info(
          { agent: name, session_id: req.session_id, users: usersOf(joined.metadata?.labels) },
          'session joined a running agent',
        );
      } else {
        const manifest = agentJob({
          req,
          namespace: ns,
          key,
          operatorCertPem: this.opts.operatorCertPem,
          idleTtlSeconds: Math.round(this.opts.idleTtlMs / 1000),
        });
        try {
          await this.cluster.createJob(manifest);
        } catch (e) {
          // Another agent-manager made it first: join that one.
          if ((e as { code?: number }).code === 409) continue;
          throw e;
        }
      }
      const pod = await this.cluster.waitForPod(ns, `${AGENT_KEY}=${key}`, timeout, `agent job ${name}`).catch(
        warnGivingUp(
          this.log,
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
  async #gone(ns: string, name: string): Promise<void> {
    for (let i = 0; i < 50 && (await this.cluster.readJob(ns, name)); i++) await new Promise((r) => setTimeout(r, 100));
  }

  /**
   * An ephemeral agent in the target pod: the running one if there is one; else a new container
   * (ephemeral containers cannot be removed or restarted, so a replacement takes a new name).
   */
  async #ephemeral(req: PrepareRequest, key: string): Promise<Acquired> {
    const podName = req.pod!.name;
    const base = agentObjectName(key);
    const cur = await this.cluster.readPod(req.namespace, podName);
    if (!cur)
      throw new AppError(ErrorCode.NotFound, `target pod "${podName}" in namespace "${req.namespace}" not found`);
    const statuses = cur.status?.ephemeralContainerStatuses ?? [];
    const mine = (cur.spec?.ephemeralContainers ?? []).filter((c) => c.name.startsWith(base));
    const live = mine.find((c) => !statuses.some((s) => s.name === c.name && s.state?.terminated));
    let name = live?.name;
    if (!name) {
      name = mine.length ? `${base}-${mine.length}` : base;
      const container = ephemeralAgent(req, name, this.opts.operatorCertPem, Math.round(this.opts.idleTtlMs / 1000));
      await this.cluster.addEphemeralContainer(req.namespace, podName, container);
    } else this.log.info({ agent: name, pod: podName, session_id: req.session_id }, 'session joined a running agent');
    const pod = await this.cluster.waitForEphemeral(req.namespace, podName, name, req.agent.startup_timeout * 1000);
    return { kind: 'ephemeral', pod };
  }

  /**
   * The session no longer uses its agents. An agent nobody uses is deleted at once when it
   * cannot serve anyone again (targetless, its target `gonePods` being deleted, TTL 0), else
   * marked idle for the sweeper.
   */
  async release(sessionId: string, gonePods: ReadonlySet<string> = new Set()): Promise<DeletedAgent[]> {
    const deleted: DeletedAgent[] = [];
    for (const job of await this.cluster.agentJobs(usesLabel(sessionId))) {
      const { namespace, name } = job.metadata as { namespace: string; name: string };
      const after = await this.cluster.patchJob(namespace, name, {
        metadata: { labels: { [usesLabel(sessionId)]: null } },
      });
      if (!after || usersOf(after.metadata?.labels).length > 0) continue;
      const target = after.metadata?.annotations?.[TARGET_POD];
      if (this.opts.idleTtlMs <= 0 || !target || gonePods.has(target)) {
        if (await this.cluster.deleteJobAt(namespace, name, after.metadata!.resourceVersion!))
          deleted.push({ kind: 'Job', namespace, name });
      } else await this.#markIdle(after);
    }
    return deleted;
  }

  async #markIdle(job: V1Job): Promise<void> {
    const { namespace, name } = job.metadata as { namespace: string; name: string };
    await this.cluster.patchJob(namespace, name, {
      metadata: { annotations: { [IDLE_SINCE]: new Date().toISOString() } },
    });
  }

  /** Deletes agents unused for the idle TTL, dead ones and those whose target pod is gone. */
  async sweep(now = Date.now()): Promise<number> {
    let deleted = 0;
    for (const job of await this.cluster.agentJobs()) {
      const {
        namespace,
        name,
        labels = {},
        annotations = {},
      } = job.metadata as Required<NonNullable<V1Job['metadata']>>;
      if (usersOf(labels).length > 0) continue;
      const key = labels[AGENT_KEY]!;
      const target = annotations[TARGET_POD]?.split('/');
      const phases = (await this.cluster.agentPods(namespace, key)).map((p) => p.status?.phase);
      const decision = sweepAgent(
        {
          labels,
          annotations,
          dead: agentHealth(phases) === 'dead',
          targetGone: target ? !(await this.cluster.readPod(target[0]!, target[1]!)) : false,
        },
        now,
        this.opts.idleTtlMs,
      );
      if (decision === 'mark-idle') await this.#markIdle(job);
      else if (
        decision === 'delete' &&
        (await this.cluster.deleteJobAt(namespace, name, job.metadata!.resourceVersion!))
      ) {
        deleted++;
        this.log.info(
          { agent: name, namespace },
          'agent removed: unused for the idle TTL, exited, or its target is gone',
        );
      }
    }
    return deleted;
  }

  /** Start-up: sessions that ended (or never started) while nobody watched stop counting as users. */
  async reconcile(status: (sessionId: string) => Promise<SessionStatus>, now = Date.now()): Promise<void> {
    for (const job of await this.cluster.agentJobs()) {
      const created = job.metadata?.creationTimestamp ? new Date(job.metadata.creationTimestamp).getTime() : 0;
      for (const sid of usersOf(job.metadata?.labels)) {
        const s = await status(sid);
        if (s === 'ended' || (s === 'unknown' && now - created >= SETUP_GRACE_MS)) await this.release(sid);
      }
    }
  }
}
