import { PROTOCOL_VERSION } from '#shared/protocol/index.js';
import { portLocks } from './port-locks.js';
import {
  formatTarget,
  lockTargetOf,
  parseDottedTarget,
  rbacTargetName,
  validateNamespace,
} from '#shared/targets/index.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { notFound, invalid, toAppError } from '#shared/errors/index.js';
import { sessionIdCandidates } from '#shared/ids/index.js';
import {
  eventItem,
  failureStatus,
  list,
  operatorJson,
  operatorObject,
  sessionObject,
  sessionTable,
  successStatus,
  type LedgerSessionView,
  type OperatorInfo,
} from './resources.js';
import { decodeCursor, encodeCursor, parseTimeBound } from '../../domain/time-range.js';
import { operatorApi } from '#shared/contracts/http.js';
import {
  API_PREFIX,
  authorize,
  requireIdentity,
  routeOf,
  traced,
  type GatewayDeps,
  type ReplyOf,
} from './route-kit.js';
import { findSession, killAll as killEvery, killSession as killOne } from '../../app/kill-sessions.js';
import { billingPeriod } from '#shared/license/index.js';

type NsParams = { namespace?: string };
/** What fastify itself sends with a JSON reply. */
const JSON_TYPE = 'application/json; charset=utf-8';
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

/**
 * The session a `fieldSelector=metadata.name=<id>` selects (what `kubectl delete --wait` lists and
 * watches); undefined without one. Other selectors are refused by name.
 */
function nameSelected(q: Query): string | undefined {
  const selector = q.fieldSelector ?? '';
  if (!selector) return undefined;
  const name = /^metadata\.name==?([^,]+)$/.exec(selector)?.[1];
  if (name === undefined)
    throw invalid('fieldSelector', `"${selector}" is not supported`, 'use metadata.name=<session id>');
  return name;
}

/** `?watch=true` (or `1`): client-go and kubectl send `true`. */
const isWatch = (v: string | undefined): boolean => v === 'true' || v === '1';
/** How often a watch asks the ledger for the sessions (the ledger does not push). */
const WATCH_POLL_MS = 1000;

/**
 * `GET sessions?watch=true`: a stream of WatchEvents, one JSON object per line (`ADDED` for each
 * session at first, then `ADDED` / `MODIFIED` / `DELETED` as the ledger's sessions change), as
 * Table rows when kubectl asks for a Table. Honours `fieldSelector=metadata.name=<id>` (what
 * `kubectl delete --wait` watches) and `timeoutSeconds`; ends when the client goes away.
 */
async function watchSessions(
  deps: GatewayDeps,
  req: FastifyRequest<{ Querystring: Query }>,
  reply: FastifyReply,
  ns: string | undefined,
  watches: Set<() => void>,
): Promise<FastifyReply> {
  const name = nameSelected(req.query);
  const timeout = req.query.timeoutSeconds === undefined ? undefined : Number(req.query.timeoutSeconds);
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 0))
    throw invalid('timeoutSeconds', `expected a whole number of seconds, got "${req.query.timeoutSeconds}"`);
  const table = wantsTable(req);
  const read = async () => {
    const { now, sessions } = await deps.ledger.sessions(ns);
    return { now, sessions: sessions.filter((s) => name === undefined || s.id === name) };
  };
  // The first read fails the request as any list would (a Status, not a broken stream).
  const first = await read();
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  // The status line now, not with the first event: a watch with nothing to report yet is still open.
  res.flushHeaders();
  const send = (type: 'ADDED' | 'MODIFIED' | 'DELETED', v: LedgerSessionView, now: number) =>
    res.write(`${JSON.stringify({ type, object: table ? sessionTable([v], now) : sessionObject(v, now) })}\n`);
  // A change is any change of the ledger's view (durations are computed, not stored).
  const stateOf = (v: LedgerSessionView) => JSON.stringify(v);
  const seen = new Map<string, { view: LedgerSessionView; state: string }>();
  for (const v of first.sessions) {
    seen.set(v.id, { view: v, state: stateOf(v) });
    send('ADDED', v, first.now);
  }
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    watches.delete(stop);
    clearInterval(timer);
    if (deadline) clearTimeout(deadline);
    res.end();
  };
  const timer = setInterval(() => {
    void read().then(
      (next) => {
        if (stopped) return;
        const ids = new Set<string>();
        for (const v of next.sessions) {
          ids.add(v.id);
          const state = stateOf(v);
          const before = seen.get(v.id);
          if (!before) send('ADDED', v, next.now);
          else if (before.state !== state) send('MODIFIED', v, next.now);
          seen.set(v.id, { view: v, state });
        }
        for (const [id, { view }] of seen)
          if (!ids.has(id)) {
            seen.delete(id);
            send('DELETED', view, next.now);
          }
      },
      (e: unknown) => {
        if (stopped) return;
        // A watch ends with an ERROR event carrying the Status (client-go re-lists and watches again).
        const err = toAppError(e);
        res.write(`${JSON.stringify({ type: 'ERROR', object: failureStatus(err) })}\n`);
        stop();
      },
    );
  }, WATCH_POLL_MS);
  const deadline = timeout ? setTimeout(stop, timeout * 1000) : undefined;
  watches.add(stop);
  req.raw.on('close', stop);
  res.on('close', stop);
  return reply;
}

export function registerSessionRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  /** The operator object's creationTimestamp: when this gateway started serving. */
  const startedAt = Date.now();
  /** Open watches: a stream never ends by itself, so closing the server ends them. */
  const watches = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const stop of [...watches]) stop();
    done();
  });
  // `?at=`: the sessions, users and seats as they were then, rebuilt from the ledger (no copies:
  // they are not events' history). History has no future: a time ahead of now is refused.
  const operatorInfo = async (atParam: string | undefined): Promise<OperatorInfo> => {
    const clock = Date.now();
    const at = atParam === undefined ? undefined : parseTimeBound('at', atParam, clock);
    if (at !== undefined && at > clock)
      throw invalid(
        'at',
        `"${atParam}" is in the future (now is ${new Date(clock).toISOString()})`,
        'status --at shows the past; leave it out for the present',
      );
    // Copies are shown when agent-manager answers; status must not fail because it is away.
    const period = billingPeriod(at ?? clock, deps.license?.billing_day ?? 1);
    const [{ now, sessions, quiet }, stats, copyTargets, seats] = await Promise.all([
      // Who has no client connected is a fact of the present: `--at` has none.
      at === undefined ? deps.ledger.sessions() : deps.ledger.sessionsAt(at).then((r) => ({ ...r, quiet: undefined })),
      deps.ledger.statistics(at),
      at === undefined ? deps.agents.copyTargets().catch(() => []) : Promise.resolve([]),
      // Status does not fail because seats cannot be counted (an older ledger, a slow store).
      // As of `at`: the seats of its billing period up to that moment.
      deps.ledger.seats(period.from, at === undefined ? period.to : at + 1).catch(() => undefined),
    ]);
    return {
      version: deps.version,
      protocolVersion: PROTOCOL_VERSION,
      fingerprint: deps.ca?.fingerprint ?? '',
      organization: deps.organization ?? 'mirrord-teams',
      defaultNamespace: deps.defaultNamespace,
      license: deps.license,
      sessions,
      now,
      ...(quiet ? { quiet } : {}),
      dau: stats.dau,
      mau: stats.mau,
      ...(seats === undefined ? {} : { seats: { used: seats, period_start: period.id } }),
      copyTargets,
      startedAt,
      queueSplitting: deps.queues !== undefined,
    };
  };
  // Serialised here, once, from cached per-session pieces (operatorJson): what fastify's
  // JSON.stringify of operatorObject would send, at a fraction of the cost with 10,000 sessions.
  app.get(routeOf(operatorApi.operator), (req: FastifyRequest<{ Querystring: { at?: string } }>, reply) =>
    traced(req, 'GET mirrordoperators/operator', async () => {
      await authorize(deps, requireIdentity(req), { verb: 'get', resource: 'mirrordoperators', name: 'operator' });
      return reply.type(JSON_TYPE).send(operatorJson(await operatorInfo(req.query.at)));
    }),
  );
  // Discovery advertises `list`: `kubectl get mirrordoperators` lists the one operator.
  app.get(`${API_PREFIX}/mirrordoperators`, (req: FastifyRequest<{ Querystring: { at?: string } }>) =>
    traced(req, 'GET mirrordoperators', async () => {
      await authorize(deps, requireIdentity(req), { verb: 'list', resource: 'mirrordoperators' });
      return list('MirrordOperator', [operatorObject(await operatorInfo(req.query.at))]);
    }),
  );

  const listSessions = (req: FastifyRequest<{ Params: NsParams; Querystring: Query }>, reply: FastifyReply) =>
    traced(req, 'GET sessions', async () => {
      const ns = nsOf(req.params);
      if (isWatch(req.query.watch)) {
        await authorize(deps, requireIdentity(req), { verb: 'watch', resource: 'sessions', ...inNs(ns) });
        return watchSessions(deps, req, reply, ns, watches);
      }
      await authorize(deps, requireIdentity(req), { verb: 'list', resource: 'sessions', ...inNs(ns) });
      const name = nameSelected(req.query);
      const { now, sessions: all } = await deps.ledger.sessions(ns);
      const sessions = name === undefined ? all : all.filter((s) => s.id === name);
      if (wantsTable(req)) return sessionTable(sessions, now);
      return list(
        'Session',
        sessions.map((s: LedgerSessionView) => sessionObject(s, now)),
      );
    });
  app.get(`${API_PREFIX}/sessions`, listSessions);

  // targets/port-locks: the ledger's locks, per namespace or per target (RBAC on the subresource).
  app.get(routeOf(operatorApi.portLocks), (req: FastifyRequest<{ Params: { namespace: string } }>) =>
    traced(req, 'GET targets/port-locks', async (): Promise<ReplyOf<typeof operatorApi.portLocks>> => {
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
    routeOf(operatorApi.targetPortLocks),
    (req: FastifyRequest<{ Params: { namespace: string; name: string } }>) =>
      traced(req, 'GET targets/{name}/port-locks', async (): Promise<ReplyOf<typeof operatorApi.targetPortLocks>> => {
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
    traced(req, 'DELETE sessions/{id}', async (): Promise<ReplyOf<typeof operatorApi.killSession>> => {
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
  app.delete(routeOf(operatorApi.killSession), killSession);
  app.delete(`${API_PREFIX}/namespaces/:namespace/sessions/:id`, killSession);

  const killAll = (req: FastifyRequest<{ Params: NsParams }>) =>
    traced(req, 'DELETE sessions', async (): Promise<ReplyOf<typeof operatorApi.killSessions>> => {
      const killed = await killEvery(deps, requireIdentity(req), nsOf(req.params));
      return successStatus(`${killed.length} session(s) killed`, { kind: 'sessions', killed });
    });
  app.delete(routeOf(operatorApi.killSessions), killAll);
  app.delete(routeOf(operatorApi.killNamespaceSessions), killAll);

  // A session's events in order, a page at a time (`limit`, `continue`): a long session's
  // history never has to fit one message.
  const sessionEvents = (req: FastifyRequest<{ Params: IdParams; Querystring: Query }>) =>
    traced(req, 'GET sessions/{id}/events', async (): Promise<ReplyOf<typeof operatorApi.sessionEvents>> => {
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
  app.get(routeOf(operatorApi.sessionEvents), sessionEvents);
  app.get(`${API_PREFIX}/namespaces/:namespace/sessions/:id/events`, sessionEvents);

  const events = (req: FastifyRequest<{ Params: NsParams; Querystring: Query }>) =>
    traced(req, 'GET events', async (): Promise<ReplyOf<typeof operatorApi.events>> => {
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
  app.get(routeOf(operatorApi.events), events);
  app.get(`${API_PREFIX}/namespaces/:namespace/events`, events);
}
