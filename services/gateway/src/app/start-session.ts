import type { Enforcement } from '#shared/policy/index.js';
import type { Logger } from 'pino';
import { AppError, ErrorCode, conflict, forbidden, invalid, isAppError } from '#shared/errors/index.js';
import { rbacTargetName } from '#shared/targets/index.js';
import { checkConfigFilters, DEFAULT_FILTER_LIMITS, type FilterLimits } from '#shared/filters/index.js';
import { seatOf, type License } from '#shared/license/index.js';
import type { ConnectRequest } from '../domain/connect-request.js';
import type { CommandBody, PreparedAgentReply } from '#shared/contracts/index.js';
import type {
  AgentProvisioner,
  Authorizer,
  ClientInfo,
  Identity,
  PolicyEvaluator,
  QueueSplitAnswer,
  QueueSplitter,
  ResolvedTarget,
  SeatAdmitter,
  SessionLedger,
  TargetResolver,
} from '../domain/interfaces.js';
import { authorize } from './authorize.js';

export interface StartSessionDeps {
  log: Logger;
  authz: Authorizer;
  targets: TargetResolver;
  policy: PolicyEvaluator;
  agents: AgentProvisioner;
  ledger: SessionLedger;
  /** The licence's seat mode decides what a session's seat is (no licence: machine). */
  license?: Pick<License, 'seat_mode'> | undefined;
  /** The fleet's license server (absent: seats are only recorded, never refused). */
  seats?: SeatAdmitter | undefined;
  /** The queue splitter (absent: queue splitting is off, and a session asking for it is refused). */
  queues?: QueueSplitter | undefined;
  /** HTTP_FILTER_MAX_* (absent: the defaults), the bounds the relay puts on a subscription's filter. */
  limits?: { filter: FilterLimits } | undefined;
}

/** A session the gateway serves: who, what they asked for, the resolved target. */
export interface StartedSession {
  who: Identity;
  req: ConnectRequest;
  target: ResolvedTarget;
  client: ClientInfo;
  resumed: boolean;
  /** What the relay enforces for this session's policies (absent: nothing). */
  enforce?: Enforcement;
  /** Split queues' variables: the session's environment answer names its temporary queues instead. */
  queue_env?: Record<string, string>;
}

/** Records a refusal as Session Rejected (the audit trail of denials); never fails the caller. */
export function recordRejection(
  deps: Pick<StartSessionDeps, 'ledger' | 'log'>,
  s: Omit<StartedSession, 'resumed'>,
  e: AppError,
  asked: 'start' | 'port',
  extra: Record<string, unknown> = {},
): Promise<unknown> {
  return deps.ledger
    .command('reject', {
      session_id: s.req.session_id,
      target: s.target.path,
      namespace: s.target.namespace,
      client: s.client,
      asked,
      code: e.code,
      message: e.message,
      ...extra,
    })
    .catch((err) => deps.log.warn({ err }, 'could not record the rejection'));
}

/**
 * `x-session-id` is chosen by the client (the mirrord CLI always sends one): an unknown id
 * starts a new session with it; a live session of the same user on the same target is resumed
 * (reconnect, or a second socket of `exec` / `port-forward`); a pending one (a copy made for
 * it, a refusal recorded) is started only by its own user, since `copytargets` lists a copy's
 * creator session for everyone; anything else is refused — checked before authorisation and
 * policy so a resume cannot borrow another target's decision (the ledger checks again, for races).
 */
async function resumes(ledger: SessionLedger, who: Identity, id: string, target: ResolvedTarget): Promise<boolean> {
  const { session } = await ledger.session(id);
  if (!session) return false;
  if (session.client_user !== who.user) throw forbidden(`x-session-id: session ${id} belongs to another user`);
  if (session.status === 'pending') return false;
  if (session.status === 'ended')
    throw new AppError(
      ErrorCode.ReconnectNotPossible,
      `x-session-id: session ${id} already ended (${session.end_reason}); start a new session with another id`,
    );
  if (session.target !== target.path || session.namespace !== target.namespace)
    throw conflict(
      `x-session-id: session ${id} runs on ${session.target} in namespace ${session.namespace}, not ${target.path} in ${target.namespace}; resume it on the same target, or start a new session with another id`,
    );
  return true;
}

/**
 * Starts (or resumes) a session: resolve the target, authorise `proxy` on it, ask policy,
 * prepare the agent, record Session Started — and undo the agent if the ledger refuses.
 * Every refusal is recorded; every step runs before the client's socket is accepted.
 */
export async function startSession<L extends { destroy(): void }>(
  deps: StartSessionDeps,
  who: Identity,
  asked: ConnectRequest,
  client: ClientInfo,
  link?: (agent: PreparedAgentReply) => Promise<L>,
): Promise<StartedSession & { link?: L }> {
  // The config's HTTP filter is bounded as its subscription would be, before anything is made
  // or recorded: a filter the relay would refuse never leaves a session (or an agent) behind.
  if (asked.config) checkConfigFilters(asked.config, deps.limits?.filter ?? DEFAULT_FILTER_LIMITS);
  // A copy runs from the workload's template: its own pods need not run (scaled to 0, or by scale_down).
  let target = await deps.targets.resolve(who, asked.namespace, asked.target, {
    copy: !!asked.copy_target,
    waitReady: true,
  });
  const resume = asked.client_chosen_id && (await resumes(deps.ledger, who, asked.session_id, target));
  const req = { ...asked, resume };
  const base = { who, req, target, client };
  // Authorisation and policy are asked together (two round trips in one): policy's answer is
  // a query, only read once authorisation allowed the start.
  const authorized = authorize(deps.authz, who, {
    verb: 'proxy',
    resource: 'targets',
    namespace: req.namespace,
    name: rbacTargetName(req.target),
  }).then(
    () => undefined,
    (e: unknown) => ({ e }),
  );
  const deciding = deps.policy
    .evaluateStart({
      who,
      target,
      ...(req.config ? { config: req.config } : {}),
      ...(req.profile ? { profile: req.profile } : {}),
    })
    .then(
      (d) => ({ d }),
      // Held, not left unhandled while authorisation is still being asked (that would end the process).
      (e: unknown) => ({ e }),
    );
  const refused = await authorized;
  if (refused) {
    if (isAppError(refused.e, 'Forbidden'))
      await recordRejection(deps, base, refused.e, 'start', {
        permission: `proxy targets/${rbacTargetName(req.target)}`,
      });
    throw refused.e;
  }
  const decided = await deciding;
  if ('e' in decided) throw decided.e;
  const decision = decided.d;
  if (!decision.allowed) {
    const e = new AppError(ErrorCode.Forbidden, decision.message);
    await recordRejection(deps, base, e, 'start', decision.policy ? { policy: decision.policy } : {});
    throw e;
  }
  // CI sessions take no seat (counted apart, by concurrency); a resumed session has its seat.
  const seat = req.ci ? undefined : seatOf(deps.license?.seat_mode ?? 'machine', client);
  const admission = seat !== undefined && !resume && deps.seats ? await deps.seats.admit(seat, who.user) : undefined;
  if (admission?.admission === 'refused') {
    const e = new AppError(
      ErrorCode.MaxSeatCountReached,
      `MaxSeatCountReached: all ${admission.seats_licensed ?? admission.seats_used} licensed seats are taken this billing period and seat overages are off; ask your platform team for more seats (or allowSeatOverages)`,
    );
    await recordRejection(deps, base, e, 'start', { seat });
    throw e;
  }
  // Queues are split before the agent is made: a first session's split rolls the workload out
  // (its pods read the fallback), and the agent must attach to a pod of the patched workload.
  const split = req.queue_splits.length > 0 ? await splitQueues(deps, req, target, who) : undefined;
  const unsplit = async () => {
    if (split && !resume)
      await deps
        .queues!.release(req.session_id)
        .catch((err: unknown) =>
          deps.log.warn(
            { err, session_id: req.session_id },
            'could not release the queue splits of a session that did not start',
          ),
        );
  };
  if (split?.restarted)
    target = await deps.targets.resolve(who, req.namespace, req.target, { copy: !!req.copy_target, waitReady: true });
  // A resumed session gets the agent it has (agent-manager answers with it); a new one gets one made.
  const prepared = await deps.agents
    .prepare({
      session_id: req.session_id,
      namespace: target.namespace,
      target,
      agent: req.agent,
      ...(req.copy_target ? { copy_target: req.copy_target } : {}),
      client: { ...client },
    })
    .catch(async (e: unknown) => {
      await unsplit();
      throw e;
    });
  // The agent connection is open before the session is recorded: a dead agent is a refusal, not a session.
  let opened: L | undefined;
  try {
    if (link && prepared.agent !== 'none') opened = await link(prepared);
  } catch (e) {
    if (!resume) await deps.agents.release(req.session_id).catch(() => undefined);
    await unsplit();
    throw e;
  }
  const body: CommandBody<'start'> = {
    session_id: req.session_id,
    target: target.path,
    namespace: target.namespace,
    client,
    agent: prepared.agent,
  };
  if (req.resume) body.resume = true;
  for (const k of ['profile', 'branch_name', 'key'] as const) if (req[k] !== undefined) body[k] = req[k];
  if (seat !== undefined) body.seat = seat;
  if (req.ci) body.ci = req.ci;
  if (admission) body.admission = admission.admission;
  let r;
  try {
    r = await deps.ledger.command('start', body);
  } catch (e) {
    // No Session Started, so no Session Ended will clean up: undo the agent now.
    opened?.destroy();
    if (prepared.agent !== 'none' && !resume) await deps.agents.release(req.session_id).catch(() => undefined);
    await unsplit();
    throw e;
  }
  // The split's start is recorded on the session now that it has one (the audit, status and --at show it).
  if (split && !r.resumed) await recordSplit(deps, req.session_id, split);
  return {
    ...base,
    resumed: r.resumed === true,
    ...(split && Object.keys(split.env).length ? { queue_env: split.env } : {}),
    ...(decision.enforce ? { enforce: decision.enforce } : {}),
    ...(opened !== undefined ? { link: opened } : {}),
  };
}

/**
 * The session's queue splits (queues.md): only on a deployment or rollout (the workload a queue
 * registry names as its consumer); the splitter answers the environment its local app reads.
 */
async function splitQueues(
  deps: StartSessionDeps,
  req: ConnectRequest,
  target: ResolvedTarget,
  who: Identity,
): Promise<QueueSplitAnswer> {
  if (!deps.queues)
    throw invalid(
      'feature.split_queues',
      'queue splitting is not enabled on this operator',
      'ask your platform team to enable it (Helm value queueSplitting.enabled), or remove feature.split_queues',
    );
  const t = req.target;
  if (t.kind !== 'workload' || (t.type !== 'deployment' && t.type !== 'rollout'))
    throw invalid(
      'target',
      `queue splitting needs a deployment or rollout target (the consumer a queue registry names), not ${target.path}`,
      'target the deployment/<name> or rollout/<name> that consumes the queue',
    );
  const container = t.container ?? target.pod?.container;
  return deps.queues.split({
    session_id: req.session_id,
    namespace: target.namespace,
    target: `${t.type}/${t.name}`,
    ...(container ? { container } : {}),
    client_user: who.user,
    splits: req.queue_splits,
  });
}

/** Workload Patched and Queue Split Started, on the session's stream; a failure is logged, the session goes on. */
async function recordSplit(deps: StartSessionDeps, sessionId: string, split: QueueSplitAnswer) {
  try {
    for (const p of split.patches) await deps.ledger.command('workload-patch', { session_id: sessionId, ...p });
    for (const q of split.queues) await deps.ledger.command('queue-split-start', { session_id: sessionId, ...q });
  } catch (err) {
    deps.log.warn({ err, session_id: sessionId }, 'could not record the queue split');
  }
}
