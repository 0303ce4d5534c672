import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { unavailable } from '#shared/errors/index.js';
import { AGENT_KEY, agentObjectName, ROLE_LABEL, SESSION_LABEL, usesLabel } from '#shared/kube/labels.js';
import type { CopyTargetView } from '#shared/ledger/index.js';
import type { AgentProvisioner, AgentRequest, PreparedAgent } from '../../domain/interfaces.js';

/**
 * The gateway dials only an agent it can see agent-manager made for this session (issue 25):
 * besides the bus's own guarantee (only agent-manager may answer `prepare`), the address is
 * checked against the Kubernetes API — a Running agent pod whose Job carries this session's
 * label, or (ephemeral agent) the target pod itself or the session's copy pod. Anything else is
 * refused before a byte is sent, and what was prepared is released.
 */
export class KubeVerifiedAgents implements AgentProvisioner {
  readonly #core: CoreV1Api;
  readonly #batch: BatchV1Api;

  constructor(
    private readonly inner: AgentProvisioner,
    kc: KubeConfig,
  ) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#batch = kc.makeApiClient(BatchV1Api);
  }

  async prepare(req: AgentRequest): Promise<PreparedAgent> {
    const prepared = await this.inner.prepare(req);
    if (prepared.agent === 'none') return prepared;
    let why: string | undefined;
    try {
      why = await this.#mismatch(req, prepared.agent, hostOf(prepared.address));
    } catch (e) {
      why = `the Kubernetes API did not confirm it: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (why === undefined) return prepared;
    await this.inner.release(req.session_id).catch(() => undefined);
    throw unavailable(`agent-manager answered agent address ${prepared.address}, but ${why}; it was not dialled`);
  }

  /** Why `ip` is not this session's agent, or undefined when it is. */
  async #mismatch(req: AgentRequest, kind: 'job' | 'ephemeral' | 'copy', ip: string): Promise<string | undefined> {
    if (kind === 'ephemeral') {
      const pod = req.target.pod;
      if (!pod) return 'an ephemeral agent needs a target pod';
      const p = await this.#core.readNamespacedPod({ name: pod.name, namespace: req.namespace });
      return p.status?.podIP === ip ? undefined : `it is not the target pod ${req.namespace}/${pod.name}`;
    }
    // A copy's agent is a Job like any (targeting the copy), or an ephemeral container of the copy pod.
    if (kind === 'copy') {
      const copies = await this.#pods(`${SESSION_LABEL}=${req.session_id},${ROLE_LABEL}=copy`);
      if (copies.some((p) => p.status?.podIP === ip)) return undefined;
    }
    const pods = (await this.#pods(`${ROLE_LABEL}=agent,${AGENT_KEY}`)).filter((p) => p.status?.podIP === ip);
    for (const p of pods) {
      const key = p.metadata?.labels?.[AGENT_KEY];
      if (!key || p.status?.phase !== 'Running') continue;
      const job = await this.#batch.readNamespacedJob({
        name: agentObjectName(key),
        namespace: p.metadata!.namespace!,
      });
      if (job.metadata?.labels?.[usesLabel(req.session_id)] === 'true') return undefined;
    }
    return 'no running agent pod made for this session has that address';
  }

  async #pods(labelSelector: string): Promise<V1Pod[]> {
    return (await this.#core.listPodForAllNamespaces({ labelSelector })).items;
  }

  release(sessionId: string): Promise<void> {
    return this.inner.release(sessionId);
  }
  copyTargets(namespace?: string): Promise<CopyTargetView[]> {
    return this.inner.copyTargets(namespace);
  }
  createCopy(req: AgentRequest): Promise<CopyTargetView> {
    return this.inner.createCopy(req);
  }
  deleteCopy(namespace: string, name: string): Promise<boolean> {
    return this.inner.deleteCopy(namespace, name);
  }
}

/** `10.0.0.5:44128` → `10.0.0.5`, `[fd00::5]:44128` → `fd00::5`. */
const hostOf = (address: string): string => address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
