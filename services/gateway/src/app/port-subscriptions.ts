import { AppError, ErrorCode, invalid } from '#shared/errors/index.js';
import { parseHttpFilter, renderHttpFilter, type FilterLimits } from '#shared/filters/index.js';
import type { PolicyEvaluator, SessionLedger } from '../domain/interfaces.js';
import { recordRejection, type StartedSession } from './start-session.js';

export interface PortDeps {
  policy: PolicyEvaluator;
  ledger: SessionLedger;
  log: Parameters<typeof recordRejection>[0]['log'];
}

/** A subscribe message as the client sent it: every field is checked here. */
export interface SubscribeRequest {
  port?: unknown;
  mode?: unknown;
  http_filter?: unknown;
}

/**
 * Subscribes a port of a live session: the request checked (port, mode, filter within its
 * limits), policy asked (a refusal is recorded and never reaches the ledger's locks), then the
 * ledger decides the lock. Returns the ledger's warnings (a shadowed filter).
 */
export async function subscribePort(
  deps: PortDeps,
  s: StartedSession,
  config: unknown,
  m: SubscribeRequest,
  limits: FilterLimits,
): Promise<string[]> {
  const mode = m.mode;
  if (mode !== 'steal' && mode !== 'mirror')
    throw invalid('mode', `expected "steal" | "mirror", got ${JSON.stringify(mode)}`);
  if (!Number.isInteger(m.port) || (m.port as number) < 1 || (m.port as number) > 65535)
    throw invalid('port', `expected a port number 1-65535, got ${JSON.stringify(m.port)}`);
  const filter = renderHttpFilter(parseHttpFilter(m.http_filter, 'http_filter', limits));
  if (mode === 'mirror' && filter !== undefined) throw invalid('http_filter', 'an HTTP filter applies to steal only');
  const port = m.port as number;
  const decision = await deps.policy.evaluatePort({
    who: s.who,
    target: s.target,
    config,
    port,
    mode,
    ...(filter ? { http_filter: m.http_filter } : {}),
    ...(s.req.profile ? { profile: s.req.profile } : {}),
  });
  if (!decision.allowed) {
    const e = new AppError(ErrorCode.Forbidden, decision.message);
    await recordRejection(deps, s, e, 'port', { port, mode, ...(decision.policy ? { policy: decision.policy } : {}) });
    throw e;
  }
  const body: Record<string, unknown> = {
    session_id: s.req.session_id,
    client_user: s.who.user,
    port,
    mode,
    on_concurrent_steal: s.req.on_concurrent_steal,
  };
  if (filter !== undefined) body.http_filter = filter;
  return (await deps.ledger.command('port-subscribe', body)).warnings;
}

/** Releases a port the session holds. */
export async function unsubscribePort(deps: Pick<PortDeps, 'ledger'>, s: StartedSession, port: unknown): Promise<void> {
  if (!Number.isInteger(port)) throw invalid('port', `expected a port number, got ${JSON.stringify(port)}`);
  await deps.ledger.command('port-unsubscribe', { session_id: s.req.session_id, client_user: s.who.user, port });
}
