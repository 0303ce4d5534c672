import { Watch, type CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AppError, ErrorCode } from '../errors/index.js';

/** Which pods a wait looks at: one namespace, by label or field selector. */
export interface PodQuery {
  namespace: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** A wait that ran out (Unavailable), with the last state seen of the pod waited for. */
export class PodWaitTimeout extends AppError {
  constructor(
    message: string,
    /** What the pod was doing when the wait gave up (phase, reasons), for the caller's warn line. */
    readonly lastState: string,
    readonly pod: string | undefined,
  ) {
    super(ErrorCode.Unavailable, message);
  }
}

/**
 * A rejection handler: a PodWaitTimeout is logged at warn — `fields` (the session, the Job or
 * copy pod), the pod and its last state — before it goes on; a give-up is never silent.
 */
export const warnGivingUp =
  (log: Logger, fields: Record<string, unknown>, msg: string) =>
  (e: unknown): never => {
    if (e instanceof PodWaitTimeout) log.warn({ ...fields, pod: e.pod, state: e.lastState }, msg);
    throw e;
  };

/**
 * Why a pod is not running, from what the kubelet and scheduler reported: its phase, a
 * condition that is False with its reason (Unschedulable), and each container's waiting or
 * terminated reason (ImagePullBackOff, CrashLoopBackOff, Error).
 */
export function podState(p: V1Pod | undefined): string {
  if (!p) return 'no pod was created for it';
  const s = p.status ?? {};
  const parts: string[] = [s.phase ?? 'Pending'];
  if (s.reason) parts.push(`${s.reason}${s.message ? `: ${s.message}` : ''}`);
  for (const c of s.conditions ?? [])
    if (c.status === 'False' && c.reason) parts.push(`${c.type}=False ${c.reason}${c.message ? `: ${c.message}` : ''}`);
  for (const c of [...(s.initContainerStatuses ?? []), ...(s.containerStatuses ?? [])]) {
    const why = c.state?.waiting ?? c.state?.terminated;
    if (why?.reason) parts.push(`container ${c.name} ${why.reason}${why.message ? `: ${why.message}` : ''}`);
  }
  if (!p.spec?.nodeName) parts.push('not scheduled to a node');
  if (!s.podIP) parts.push('no pod IP');
  return `pod ${p.metadata?.name}: ${parts.join('; ')}`;
}

/** A watch that ended on its own (`timeoutSeconds`) is reopened from the last resourceVersion at most this often. */
const WATCH_SECONDS = 25;
/** After a watch error (410 Gone, a dropped connection) the wait re-lists after this pause. */
const RELIST_PAUSE_MS = 500;

type Outcome = { pod: V1Pod } | { expired: true } | { error: unknown };

/** How long a wait may take, and the setting that says so (named in the timeout's message). */
export interface WaitLimit {
  timeoutMs: number;
  setting?: string;
}

/**
 * Waits until `found` picks a pod, by watch (agent-manager for agents and copies, the gateway
 * for a target's pod): one LIST (the state now and its resourceVersion),
 * then a WATCH from it, reopened from the last resourceVersion when the server ends it, and a
 * fresh LIST only after a watch error. A timeout is a PodWaitTimeout naming the pod's last state.
 */
export class PodWatcher {
  readonly #watch: Watch;

  constructor(
    kc: KubeConfig,
    private readonly core: CoreV1Api,
  ) {
    this.#watch = new Watch(kc);
  }

  async waitFor(
    q: PodQuery,
    { timeoutMs, setting }: WaitLimit,
    what: string,
    found: (pods: V1Pod[]) => V1Pod | undefined,
  ): Promise<V1Pod> {
    const deadline = Date.now() + timeoutMs;
    const pods = new Map<string, V1Pod>();
    let last: V1Pod | undefined;
    const selectors = {
      ...(q.labelSelector ? { labelSelector: q.labelSelector } : {}),
      ...(q.fieldSelector ? { fieldSelector: q.fieldSelector } : {}),
    };
    const timedOut = (): PodWaitTimeout => {
      const state = podState(last);
      return new PodWaitTimeout(
        `${what} after ${Math.round(timeoutMs / 1000)} s${setting ? ` (${setting})` : ''}; last state: ${state}`,
        state,
        last?.metadata?.name,
      );
    };
    const pause = () =>
      new Promise((r) => setTimeout(r, Math.min(RELIST_PAUSE_MS, Math.max(0, deadline - Date.now()))));
    for (;;) {
      let listed: Awaited<ReturnType<CoreV1Api['listNamespacedPod']>>;
      try {
        listed = await this.core.listNamespacedPod({ namespace: q.namespace, ...selectors });
      } catch (e) {
        // Refused (RBAC, no such namespace) stays refused; anything else (a restarting apiserver) is retried.
        if ([401, 403, 404].includes((e as { code?: number }).code ?? 0) || Date.now() >= deadline) throw e;
        await pause();
        continue;
      }
      pods.clear();
      for (const p of listed.items) pods.set(p.metadata!.name!, p);
      last = listed.items.at(-1) ?? last;
      const now = found(listed.items);
      if (now) return now;
      const outcome = await this.#watchUntil(q, selectors, listed.metadata?.resourceVersion, deadline, (type, p) => {
        if (type === 'DELETED') pods.delete(p.metadata!.name!);
        else pods.set(p.metadata!.name!, p);
        last = p;
        return found([...pods.values()]);
      });
      if ('pod' in outcome) return outcome.pod;
      if ('expired' in outcome || Date.now() >= deadline) throw timedOut();
      await pause();
    }
  }

  /** One watch (reopened when the server closes it cleanly) until a pod is found, the deadline or an error. */
  #watchUntil(
    q: PodQuery,
    selectors: Record<string, string>,
    from: string | undefined,
    deadline: number,
    seen: (type: string, p: V1Pod) => V1Pod | undefined,
  ): Promise<Outcome> {
    let rv = from;
    let settled = false;
    let controller: AbortController | undefined;
    return new Promise<Outcome>((resolve) => {
      const finish = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        controller?.abort();
        resolve(o);
      };
      const timer = setTimeout(() => finish({ expired: true }), Math.max(0, deadline - Date.now()));
      const open = () => {
        const opened = Date.now();
        const left = Math.ceil((deadline - Date.now()) / 1000);
        this.#watch
          .watch(
            `/api/v1/namespaces/${encodeURIComponent(q.namespace)}/pods`,
            {
              ...selectors,
              ...(rv ? { resourceVersion: rv } : {}),
              allowWatchBookmarks: true,
              timeoutSeconds: Math.max(1, Math.min(WATCH_SECONDS, left)),
            },
            (type: string, obj: V1Pod & { code?: number; message?: string }) => {
              if (type === 'ERROR') return finish({ error: new Error(obj.message ?? `watch error ${obj.code}`) });
              if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
              if (type === 'BOOKMARK') return;
              const pod = seen(type, obj);
              if (pod) finish({ pod });
            },
            (err: unknown) => {
              if (settled) return;
              // Closed by the server at timeoutSeconds: resume from where it was. Closed at once:
              // something is wrong with the watch, so re-list (after a pause) instead of spinning.
              if (err) finish({ error: err });
              else if (Date.now() - opened < 1000) finish({ error: new Error('the pod watch closed at once') });
              else open();
            },
          )
          .then(
            (c) => {
              controller = c;
              if (settled) c.abort();
            },
            (err: unknown) => finish({ error: err }),
          );
      };
      open();
    });
  }
}
