import { PROTOCOL_VERSION } from '#shared/protocol/index.js';
import { portLocks } from './port-locks.js';
import {
  formatTarget,
  lockTargetOf,
  parseDottedTarget,
  rbacTargetName,
  validateNamespace,
} from '#shared/targets/index.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { notFound, invalid } from '#shared/errors/index.js';
import { sessionIdCandidates } from '#shared/ids/index.js';
import {
  eventItem,
  list,
  operatorObject,
  sessionObject,
  sessionTable,
  successStatus,
  type LedgerSessionView,
} from './resources.js';
import { decodeCursor, encodeCursor, parseTimeBound } from '../../domain/time-range.js';
import { API_PREFIX, authorize, requireIdentity, traced, type GatewayDeps } from './server.js';
import { findSession, killAll as killEvery, killSession as killOne } from '../../app/kill-sessions.js';
import { billingPeriod } from '#shared/license/index.js';

type NsParams = { namespace?: string };
type IdParams = NsParams & { id: string };
type Query = Record<string, string | undefined>;

const nsOf = (p: NsParams): string | undefined =>
  p.namespace === undefined ? undefined : validateNamespace(p.namespace);
/** The namespace scope of an access request or ledger call: absent for cluster-wide paths. */
const inNs = (ns: string | undefined): { namespace?: string } => (ns === undefined ? {} : { namespace: ns });

/** kubectl get asks for the server-side Table rendering. */
const wantsTable = (req: FastifyRequest): boolean => /as=Table/.test(String(req.headers.accept ?? ''));

/** `limit` (1-1000) and `continue` (a cursor this server issued) of a paged event list. */
function pageParams(q: Query): { limit?: number; after?: number } {
  const out: { limit?: number; after?: number } = {};
  if (q.limit) {
    const n = Number(q.limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      throw invalid('limit', `expected a whole number from 1 to 1000, got "${q.limit}"`);
    out.limit = n;
  }
  if (q.continue) out.after = decodeCursor(q.continue);
  return out;
}

export function registerSessionRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  /** The operator object's creationTimestamp: when this gateway started serving. */
  const startedAt = Date.now();
  // `?at=`: the sessions as they were then, rebuilt from events (no copies: they are not events' history).
  const operator = async (atParam: string | undefined) => {
    const at = atParam === undefined ? undefined : parseTimeBound('at', atParam, Date.now());
    // Copies are shown when agent-manager answers; status must not fail because it is away.
    const period = billingPeriod(Date.now(), deps.license?.billing_day ?? 1);
    const [{ now, sessions }, stats, copyTargets, seats] = await Promise.all([
      at === undefined ? deps.ledger.sessions() : deps.ledger.sessionsAt(at),
      deps.ledger.statistics(),
      at === undefined ? deps.agents.copyTargets().catch(() => []) : Promise.resolve([]),
      // Status does not fail because seats cannot be counted (an older ledger, a slow store).
      at === undefined ? deps.ledger.seats(period.from, period.to).catch(() => undefined) : Promise.resolve(undefined),
    ]);
    return operatorObject({
      version: deps.version,
      protocolVersion: PROTOCOL_VERSION,
      fingerprint: deps.ca?.fingerprint ?? '',
      organization: deps.organization ?? 'mirrord-teams',
      defaultNamespace: deps.defaultNamespace,
      license: deps.license,
      sessions,
      now,
      dau: stats.dau,
      mau: stats.mau,
      ...(seats === undefined ? {} : { seats: { used: seats, period_start: period.id } }),
      copyTargets,
      startedAt,
    });
  };
  app.get(`${API_PREFIX}/mirrordoperators/operator`, (req: FastifyRequest<{ Querystring: { at?: string } }>) =>
    traced(req, 'GET mirrordoperators/operator', async () => {
      await authorize(deps, requireIdentity(req), { verb: 'get', resource: 'mirrordoperators', name: 'operator' });
      return operator(req.query.at);
    }),
  );
  // Discovery advertises `list`: `kubectl get mirrordoperators` lists the one operator.
  app.get(`${API_PREFIX}/mirrordoperators`, (req: FastifyRequest<{ Querystring: { at?: string } }>) =>
    traced(req, 'GET mirrordoperators', async () => {
      await authorize(deps, requireIdentity(req), { verb: 'list', resource: 'mirrordoperators' });
      return list('MirrordOperator', [await operator(req.query.at)]);
    }),
  );

  const listSessions = (req: FastifyRequest<{ Params: NsParams; Querystring: Query }>) =>
    traced(req, 'GET sessions', async () => {
      const ns = nsOf(req.params);
      await authorize(deps, requireIdentity(req), { verb: 'list', resource: 'sessions', ...inNs(ns) });
      const { now, sessions } = await deps.ledger.sessions(ns);
      if (wantsTable(req)) return sessionTable(sessions, now);
      return list(
        'Session',
        sessions.map((s: LedgerSessionView) => sessionObject(s, now)),
      );
    });
  app.get(`${API_PREFIX}/sessions`, listSessions);

  // targets/port-locks: the ledger's locks, per namespace or per target (RBAC on the subresource).
  app.get(
    `${API_PREFIX}/namespaces/:namespace/targets/port-locks`,
    (req: FastifyRequest<{ Params: { namespace: string } }>) =>
      traced(req, 'GET targets/port-locks', async () => {
        const namespace = validateNamespace(req.params.namespace);
        await authorize(deps, requireIdentity(req), {
          verb: 'list',
          resource: 'targets',
          subresource: 'port-locks',
          namespace,
        });
        const { sessions } = await deps.ledger.sessions(namespace);
        return list('PortLock', portLocks(sessions, { namespace }));
      }),
  );
  app.get(
    `${API_PREFIX}/namespaces/:namespace/targets/:name/port-locks`,
    (req: FastifyRequest<{ Params: { namespace: string; name: string } }>) =>
      traced(req, 'GET targets/{name}/port-locks', async () => {
        const namespace = validateNamespace(req.params.namespace);
        const target = parseDottedTarget(req.params.name);
        await authorize(deps, requireIdentity(req), {
          verb: 'get',
          resource: 'targets',
          subresource: 'port-locks',
          namespace,
          name: rbacTargetName(target),
        });
        const { sessions } = await deps.ledger.sessions(namespace);
        return list('PortLock', portLocks(sessions, { namespace, target: lockTargetOf(formatTarget(target)) }));
      }),
  );
  app.get(`${API_PREFIX}/namespaces/:namespace/sessions`, listSessions);

  const getSession = (req: FastifyRequest<{ Params: IdParams }>) =>
    traced(req, 'GET sessions/{id}', async () => {
      const ns = nsOf(req.params);
      await authorize(deps, requireIdentity(req), {
        verb: 'get',
        resource: 'sessions',
        name: req.params.id,
        ...inNs(ns),
      });
      const r = await findSession(deps.ledger, req.params.id, ns);
      if (wantsTable(req)) return sessionTable([r.session], r.now);
      return sessionObject(r.session, r.now);
    });
  app.get(`${API_PREFIX}/sessions/:id`, getSession);
  app.get(`${API_PREFIX}/namespaces/:namespace/sessions/:id`, getSession);

  const killSession = (req: FastifyRequest<{ Params: IdParams }>) =>
    traced(req, 'DELETE sessions/{id}', async () => {
      const id = await killOne(deps, requireIdentity(req), req.params.id, nsOf(req.params));
      return successStatus(`session ${id} killed`, { name: id, kind: 'sessions', group: 'operator.metalbear.co' });
    });
  // `mirrord operator session retain-active`: sessions whose sockets are all gone (missed two
  // activity reports) end now instead of waiting out SESSION_UNUSED_TTL.
  const killInactive = (req: FastifyRequest<{ Params: NsParams }>) =>
    traced(req, 'DELETE sessions/inactive', async () => {
      const killed = await killEvery(deps, requireIdentity(req), nsOf(req.params), 2 * deps.activityIntervalMs + 1000);
      return successStatus(`${killed.length} inactive session(s) killed`, { kind: 'sessions', killed });
    });
  app.delete(`${API_PREFIX}/sessions/inactive`, killInactive);
  app.delete(`${API_PREFIX}/namespaces/:namespace/sessions/inactive`, killInactive);
  app.delete(`${API_PREFIX}/sessions/:id`, killSession);
  app.delete(`${API_PREFIX}/namespaces/:namespace/sessions/:id`, killSession);

  const killAll = (req: FastifyRequest<{ Params: NsParams }>) =>
    traced(req, 'DELETE sessions', async () => {
      const killed = await killEvery(deps, requireIdentity(req), nsOf(req.params));
      return successStatus(`${killed.length} session(s) killed`, { kind: 'sessions', killed });
    });
  app.delete(`${API_PREFIX}/sessions`, killAll);
  app.delete(`${API_PREFIX}/namespaces/:namespace/sessions`, killAll);

  // A session's events in order, a page at a time (`limit`, `continue`): a long session's
  // history never has to fit one message.
  const sessionEvents = (req: FastifyRequest<{ Params: IdParams; Querystring: Query }>) =>
    traced(req, 'GET sessions/{id}/events', async () => {
      const ns = nsOf(req.params);
      await authorize(deps, requireIdentity(req), {
        verb: 'get',
        resource: 'sessions',
        name: req.params.id,
        ...inNs(ns),
      });
      const paging = pageParams(req.query);
      for (const id of sessionIdCandidates(req.params.id)) {
        const r = await deps.ledger.events({ session_id: id, ...inNs(ns), ...paging });
        if (r.events.length > 0)
          return list('Event', r.events.map(eventItem), r.next === undefined ? undefined : encodeCursor(r.next));
      }
      throw notFound(
        `no events for session "${req.params.id}"${paging.after === undefined ? '' : ' after this cursor'}`,
      );
    });
  app.get(`${API_PREFIX}/sessions/:id/events`, sessionEvents);
  app.get(`${API_PREFIX}/namespaces/:namespace/sessions/:id/events`, sessionEvents);

  const events = (req: FastifyRequest<{ Params: NsParams; Querystring: Query }>) =>
    traced(req, 'GET events', async () => {
      const q = req.query;
      const ns = nsOf(req.params) ?? (q.namespace ? validateNamespace(q.namespace) : undefined);
      await authorize(deps, requireIdentity(req), { verb: 'list', resource: 'sessions', ...inNs(ns) });
      const now = Date.now();
      const filter: Record<string, unknown> = {};
      if (q.user) filter.client_user = q.user;
      if (q.target) filter.target = q.target.replace(/^deploy\//, 'deployment/');
      if (ns) filter.namespace = ns;
      if (q.since) filter.since = parseTimeBound('since', q.since, now);
      if (q.until) filter.until = parseTimeBound('until', q.until, now);
      const r = await deps.ledger.events({ ...filter, ...pageParams(q) });
      return list('Event', r.events.map(eventItem), r.next === undefined ? undefined : encodeCursor(r.next));
    });
  app.get(`${API_PREFIX}/events`, events);
  app.get(`${API_PREFIX}/namespaces/:namespace/events`, events);
}
