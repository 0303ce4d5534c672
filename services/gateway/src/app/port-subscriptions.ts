import type { CommandBody, CommandReply } from '#shared/contracts/index.js';
import { AppError, ErrorCode, isAppError } from '#shared/errors/index.js';
import { checkFilterPatterns, type FilterLimits } from '#shared/filters/index.js';
import type { HttpFilter } from '#shared/mirrord-config/index.js';
import type { Refusal } from '#shared/protocol/index.js';
import type { PolicyEvaluator, SessionLedger } from '../domain/interfaces.js';
import { recordRejection, type StartedSession } from './start-session.js';

export interface PortDeps {
  policy: PolicyEvaluator;
  ledger: SessionLedger;
  log: Parameters<typeof recordRejection>[0]['log'];
}

/** A port subscription as the relay read it from the client's protocol message. */
export interface PortSubscription {
  mode: 'steal' | 'mirror';
  port: number;
  /** The filter as the mirrord config spells it (what policy evaluates). */
  filter?: HttpFilter;
  /** The filter as lists and events show it. */
  rendered?: string;
}

export type SubscribeOutcome =
  ({ ok: true } & Pick<CommandReply, 'warnings' | 'unlocked'>) | { ok: false; refusal: Refusal; error: AppError };

/**
 * Subscribes a port of a live session: the filter bounded (HTTP_FILTER_MAX_*), policy asked
 * (a refusal is recorded and never reaches the ledger's locks), then the ledger decides the
 * lock. A refusal comes back as the protocol answer it becomes; an Invalid filter is thrown.
 */
export async function subscribePort(
  deps: PortDeps,
  s: StartedSession,
  config: unknown,
  sub: PortSubscription,
  limits: FilterLimits,
): Promise<SubscribeOutcome> {
  const { mode, port } = sub;
  if (sub.filter && sub.rendered !== undefined) checkFilterPatterns('http_filter', sub.filter, sub.rendered, limits);
  const decision = await deps.policy.evaluatePort({
    who: s.who,
    target: s.target,
    config,
    port,
    mode,
    ...(sub.filter ? { http_filter: sub.filter } : {}),
    ...(s.req.profile ? { profile: s.req.profile } : {}),
  });
  if (!decision.allowed) {
    const error = new AppError(ErrorCode.Forbidden, decision.message);
    await recordRejection(deps, s, error, 'port', {
      port,
      mode,
      ...(decision.policy ? { policy: decision.policy } : {}),
    });
    return {
      ok: false,
      error,
      // The protocol's sentence names the action and the policy; its reason says only why.
      refusal: {
        kind: 'Forbidden',
        reason: decision.detail ?? decision.message,
        ...(decision.policy ? { policy: decision.policy } : {}),
      },
    };
  }
  const body: CommandBody<'port-subscribe'> = {
    session_id: s.req.session_id,
    client_user: s.who.user,
    port,
    mode,
    on_concurrent_steal: s.req.on_concurrent_steal,
  };
  if (sub.rendered !== undefined && mode === 'steal') body.http_filter = sub.rendered;
  try {
    const r = await deps.ledger.command('port-subscribe', body);
    return { ok: true, warnings: r.warnings, ...(r.unlocked ? { unlocked: true } : {}) };
  } catch (e) {
    // The ledger recorded the refusal (who asked, who holds the port) in the audit trail.
    if (isAppError(e, 'PortAlreadyStolen')) return { ok: false, error: e, refusal: { kind: 'PortAlreadyStolen' } };
    // The session's own limits (SESSION_MAX_EVENTS, SESSION_MAX_PORTS): a refusal with its
    // reason, never a failure the client would retry (asking again cannot succeed).
    if (isAppError(e, 'Forbidden')) return { ok: false, error: e, refusal: { kind: 'Forbidden', reason: e.message } };
    throw e;
  }
}

/** Releases a port the session holds. */
export async function unsubscribePort(deps: Pick<PortDeps, 'ledger'>, s: StartedSession, port: number): Promise<void> {
  await deps.ledger.command('port-unsubscribe', { session_id: s.req.session_id, client_user: s.who.user, port });
}
