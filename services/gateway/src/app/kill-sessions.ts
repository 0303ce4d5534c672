import { isAppError, notFound } from '#shared/errors/index.js';
import { sessionIdCandidates } from '#shared/ids/index.js';
import type { Authorizer, Identity, SessionLedger } from '../domain/interfaces.js';
import { authorize } from './authorize.js';

type ReplyOf<L extends Pick<SessionLedger, 'session'>> = Awaited<ReturnType<L['session']>>;
type Found<L extends Pick<SessionLedger, 'session'>> = ReplyOf<L> & { session: NonNullable<ReplyOf<L>['session']> };

/** The session an id means (hex or decimal), optionally within a namespace; NotFound names both. */
export async function findSession<L extends Pick<SessionLedger, 'session'>>(
  ledger: L,
  rawId: string,
  namespace: string | undefined,
): Promise<Found<L>> {
  for (const id of sessionIdCandidates(rawId)) {
    const r = (await ledger.session(id)) as ReplyOf<L>;
    if (r.session && (namespace === undefined || r.session.namespace === namespace)) return r as Found<L>;
  }
  throw notFound(
    `sessions.operator.metalbear.co "${rawId}" not found${namespace ? ` in namespace "${namespace}"` : ''}`,
  );
}

export interface KillDeps {
  authz: Authorizer;
  ledger: SessionLedger;
}

/** `kubectl mirrord session kill`: RBAC `delete` on the session, then Killed by this user. Returns its id. */
export async function killSession(deps: KillDeps, who: Identity, rawId: string, namespace?: string): Promise<string> {
  await authorize(deps.authz, who, {
    verb: 'delete',
    resource: 'sessions',
    name: rawId,
    ...(namespace ? { namespace } : {}),
  });
  const { session } = await findSession(deps.ledger, rawId, namespace);
  if (session.status !== 'live')
    throw notFound(
      session.status === 'ended'
        ? `session ${session.id} already ended (${session.end_reason})`
        : `session ${session.id} never started`,
    );
  try {
    await deps.ledger.command('kill', { session_id: session.id, by: who.user });
  } catch (e) {
    if (isAppError(e, 'Conflict')) throw notFound(`session ${session.id} already ended`);
    throw e;
  }
  return session.id;
}

/**
 * Kill-all (per namespace or everywhere): RBAC `deletecollection`; returns the ids it ended.
 * With `inactiveForMs` (`mirrord operator session retain-active`) only the sessions no gateway
 * has reported a connected socket of for that long.
 */
export async function killAll(
  deps: KillDeps,
  who: Identity,
  namespace?: string,
  inactiveForMs?: number,
): Promise<string[]> {
  await authorize(deps.authz, who, {
    verb: 'deletecollection',
    resource: 'sessions',
    ...(namespace ? { namespace } : {}),
  });
  const r = await deps.ledger.command('kill-all', {
    by: who.user,
    ...(namespace ? { namespace } : {}),
    ...(inactiveForMs ? { inactive_for_ms: inactiveForMs } : {}),
  });
  return r.events.filter((e) => e.type === 'SessionEnded').map((e) => e.session_id);
}
