import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { createHash } from 'node:crypto';
import { AppError, ErrorCode, conflict, forbidden, invalid, isAppError, notFound, toAppError, tooManyRequests, type ErrorBody } from '#shared/errors/index.js';
import { DEFAULT_FILTER_LIMITS, parseHttpFilter, renderHttpFilter } from '#shared/filters/index.js';
import { parseMirrordConfig } from '#shared/mirrord-config/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { formatDottedTarget, formatTarget, rbacTargetName } from '#shared/targets/index.js';
import { API_VERSION, list } from './resources.js';
import { TokenBucket } from '../../domain/token-bucket.js';
import { contextFromHttp, context } from '#shared/otel/index.js';
import { parseConnectRequest, type ConnectRequest } from '../../domain/connect-request.js';
import type { Identity, ResolvedTarget } from '../../domain/interfaces.js';
import type { LiveConnection } from '../nats/connection-registry.js';
import { API_PREFIX, authorize, requireIdentity, sendError, traced, type GatewayDeps } from './server.js';

interface Started {
  who: Identity;
  req: ConnectRequest;
  target: ResolvedTarget;
  client: Record<string, string>;
  resumed: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    mirrordSession?: Started;
  }
}

type Params = { namespace: string; name: string };
/** Messages queued unanswered on one connection before it is closed (1008). */
const MAX_BACKLOG = 1000;

const isUpgrade = (req: FastifyRequest): boolean => String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';

/**
 * The connect call: authenticate, authorise `proxy` on the target, resolve it, ask policy,
 * start (or resume) the session in the ledger — all before the upgrade, so refusals are plain
 * HTTP Status answers — then carry port messages over the WebSocket until it closes.
 */
export function registerConnectRoute(app: FastifyInstance, deps: GatewayDeps): void {
  const recordRejection = (s: Omit<Started, 'resumed'>, e: AppError, asked: 'start' | 'port', extra: Record<string, unknown> = {}) =>
    deps.ledger
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

  const start = async (req: FastifyRequest<{ Params: Params; Querystring: Record<string, unknown> }>): Promise<Started> => {
    const who = requireIdentity(req);
    const cr = parseConnectRequest(req.params, req.query, req.headers, newSessionId);
    const der = req.headers['x-client-der'];
    const cert = typeof der === 'string' && der && deps.ca ? deps.ca.identify(der) : { user_id: '', client_id: '' };
    const client = {
      client_user: who.user,
      client_name: cr.client_name ?? who.user,
      client_hostname: cr.client_hostname ?? 'unknown',
      client_id: cert.client_id,
      user_id: cert.user_id,
      client_cli_version: cr.client_cli_version,
    };
    const target = await deps.targets.resolve(who, cr.namespace, cr.target);
    if (cr.resume) await checkResume(deps, who, cr.session_id, target);
    const base = { who, req: cr, target, client };
    try {
      await authorize(deps, who, { verb: 'proxy', resource: 'targets', namespace: cr.namespace, name: rbacTargetName(cr.target) });
    } catch (e) {
      if (isAppError(e, 'Forbidden')) await recordRejection(base, e, 'start', { permission: `proxy targets/${rbacTargetName(cr.target)}` });
      throw e;
    }
    const decision = await deps.policy.evaluateStart({ who, target, ...(cr.config ? { config: cr.config } : {}), ...(cr.profile ? { profile: cr.profile } : {}) });
    if (!decision.allowed) {
      const e = new AppError(ErrorCode.Forbidden, decision.message);
      await recordRejection(base, e, 'start', decision.policy ? { policy: decision.policy } : {});
      throw e;
    }
    // A resumed session keeps the agent it has; only a new one gets an agent prepared.
    const prepared = cr.resume ? { agent: 'none' as const } : await deps.agents.prepare({ session_id: cr.session_id, namespace: target.namespace, target, config: cr.config, client });
    const body: Record<string, unknown> = { session_id: cr.session_id, target: target.path, namespace: target.namespace, client, agent: prepared.agent };
    if (cr.resume) body.resume = true;
    for (const k of ['profile', 'branch_name', 'key'] as const) if (cr[k] !== undefined) body[k] = cr[k];
    let r;
    try {
      r = await deps.ledger.command('start', body);
    } catch (e) {
      // No Session Started, so no Session Ended will clean up: undo the agent now.
      if (prepared.agent !== 'none') await deps.agents.release(cr.session_id).catch(() => undefined);
      throw e;
    }
    return { ...base, resumed: r.resumed === true };
  };

  app.get(`${API_PREFIX}/namespaces/:namespace/targets`, (req: FastifyRequest<{ Params: { namespace: string } }>) =>
    traced(req, 'GET targets', async () => {
      const who = requireIdentity(req);
      await authorize(deps, who, { verb: 'list', resource: 'targets', namespace: req.params.namespace });
      const targets = await deps.targets.list(who, req.params.namespace);
      return list('Target', targets.map((t) => ({ apiVersion: API_VERSION, kind: 'Target', metadata: { name: formatDottedTarget(t), namespace: req.params.namespace }, spec: { path: formatTarget(t) } })));
    }),
  );

  // `kubectl mirrord policy explain`: the decision a session would get, without starting one.
  app.post(`${API_PREFIX}/namespaces/:namespace/targets/:name/explain`, (req: FastifyRequest<{ Params: Params; Body: unknown }>) =>
    traced(req, 'POST targets/{name}/explain', async () => {
      const who = requireIdentity(req);
      const cr = parseConnectRequest(req.params, {}, {}, newSessionId);
      await authorize(deps, who, { verb: 'get', resource: 'targets', namespace: cr.namespace, name: rbacTargetName(cr.target) });
      const body = (req.body ?? {}) as { config?: unknown; profile?: unknown };
      if (typeof body !== 'object' || Array.isArray(body)) throw invalid('body', 'expected {"config": {…}, "profile": "…"}');
      const config = body.config === undefined || body.config === null ? undefined : parseMirrordConfig(body.config, 'config') && (body.config as Record<string, unknown>);
      const profile = typeof body.profile === 'string' && body.profile !== '' ? body.profile : undefined;
      const target = await deps.targets.resolve(who, cr.namespace, cr.target);
      return deps.policy.explain({ who, target, ...(config ? { config } : {}), ...(profile ? { profile } : {}) });
    }),
  );

  app.route<{ Params: Params; Querystring: Record<string, unknown> }>({
    method: 'GET',
    url: `${API_PREFIX}/namespaces/:namespace/targets/:name`,
    preValidation: async (req, reply) => {
      if (!isUpgrade(req)) return;
      try {
        req.mirrordSession = await traced(req, 'CONNECT targets/{name}', () => start(req));
      } catch (e) {
        return sendError(reply, e);
      }
    },
    handler: async (req) => {
      // A plain GET: the target as this gateway sees it (real listing comes with resolution).
      if (req.query.connect === 'true') throw invalid('connect', 'requires a WebSocket upgrade', 'send Connection: Upgrade, Upgrade: websocket');
      const who = requireIdentity(req);
      const cr = parseConnectRequest(req.params, {}, {}, newSessionId);
      await authorize(deps, who, { verb: 'get', resource: 'targets', namespace: cr.namespace, name: rbacTargetName(cr.target) });
      const t = await deps.targets.resolve(who, cr.namespace, cr.target);
      return { apiVersion: 'operator.metalbear.co/v1', kind: 'Target', metadata: { name: cr.dotted, namespace: t.namespace }, spec: { path: t.path } };
    },
    wsHandler: (socket, req) => serveSocket(deps, socket, req),
  });
}

/**
 * `x-session-id` resumes a live session of the same user on the same target, and nothing else:
 * checked before authorisation and policy so a resume cannot borrow another target's decision
 * (the ledger checks again, for races).
 */
async function checkResume(deps: GatewayDeps, who: Identity, id: string, target: ResolvedTarget): Promise<void> {
  const { session } = await deps.ledger.session(id);
  if (!session || session.status === 'pending') throw notFound(`x-session-id: session ${id} is not live; start a new session without x-session-id`);
  if (session.client_user !== who.user) throw forbidden(`x-session-id: session ${id} belongs to another user`);
  if (session.status === 'ended') throw conflict(`x-session-id: session ${id} already ended (${session.end_reason}); start a new session without x-session-id`);
  if (session.target !== target.path || session.namespace !== target.namespace)
    throw conflict(`x-session-id: session ${id} runs on ${session.target} in namespace ${session.namespace}, not ${target.path} in ${target.namespace}; resume it on the same target, or start a new session without x-session-id`);
}

function serveSocket(deps: GatewayDeps, socket: WebSocket, req: FastifyRequest): void {
  const s = req.mirrordSession;
  if (!s) {
    socket.close(1011, 'session was not started');
    return;
  }
  const id = s.req.session_id;
  const log = deps.log.child({ session_id: id });
  const parent = contextFromHttp(req.headers);
  let closedByServer = false;
  let config: unknown = s.req.config;
  const send = (m: Record<string, unknown>) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
  };
  const conn: LiveConnection = {
    sessionId: id,
    closeBySession(reason, by) {
      closedByServer = true;
      send(by === undefined ? { type: 'closed', reason } : { type: 'closed', reason, by });
      socket.close(1000, reason.slice(0, 100));
    },
  };
  deps.registry.add(conn);
  send(s.resumed ? { type: 'session', id, resumed: true } : { type: 'session', id });

  const maxBytes = deps.maxMessageBytes ?? 64 * 1024;
  const filterLimits = deps.limits?.filter ?? DEFAULT_FILTER_LIMITS;
  const rate = deps.limits?.messagesPerSecond ?? 20;
  const bucket = new TokenBucket(rate, Date.now());
  const handle = async (raw: string): Promise<Record<string, unknown>> => {
    if (!bucket.take(Date.now()))
      throw tooManyRequests('message', `more than ${rate} messages a second on this session (SESSION_MESSAGES_PER_SECOND)`, 'wait for answers before sending more');
    if (Buffer.byteLength(raw) > maxBytes) throw invalid('message', `${Buffer.byteLength(raw)} bytes exceeds the ${maxBytes}-byte limit`, 'send a smaller message');
    let m: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(raw);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
      m = v as Record<string, unknown>;
    } catch (e) {
      throw invalid('message', `not a valid JSON message (${(e as Error).message})`, 'send {"id": …, "type": …}');
    }
    const answer = (extra: Record<string, unknown> = {}) => ({ id: m.id ?? null, ok: true, ...extra });
    switch (m.type) {
      case 'config': {
        if (typeof m.config !== 'object' || m.config === null) throw invalid('config', 'expected the mirrord config object');
        parseMirrordConfig(m.config, 'config');
        config = m.config;
        return answer({ config_digest: createHash('sha256').update(JSON.stringify(config)).digest('hex') });
      }
      case 'port.subscribe': {
        const mode = m.mode;
        if (mode !== 'steal' && mode !== 'mirror') throw invalid('mode', `expected "steal" | "mirror", got ${JSON.stringify(mode)}`);
        if (!Number.isInteger(m.port) || (m.port as number) < 1 || (m.port as number) > 65535)
          throw invalid('port', `expected a port number 1-65535, got ${JSON.stringify(m.port)}`);
        const filter = renderHttpFilter(parseHttpFilter(m.http_filter, 'http_filter', filterLimits));
        if (mode === 'mirror' && filter !== undefined) throw invalid('http_filter', 'an HTTP filter applies to steal only');
        const port = m.port as number;
        const decision = await deps.policy.evaluatePort({ who: s.who, target: s.target, config, port, mode, ...(filter ? { http_filter: m.http_filter } : {}), ...(s.req.profile ? { profile: s.req.profile } : {}) });
        if (!decision.allowed) {
          const e = new AppError(ErrorCode.Forbidden, decision.message);
          await deps.ledger
            .command('reject', { session_id: id, target: s.target.path, namespace: s.target.namespace, client: s.client, asked: 'port', port, mode, code: e.code, message: e.message, ...(decision.policy ? { policy: decision.policy } : {}) })
            .catch(() => undefined);
          throw e;
        }
        const body: Record<string, unknown> = { session_id: id, client_user: s.who.user, port, mode, on_concurrent_steal: s.req.on_concurrent_steal };
        if (filter !== undefined) body.http_filter = filter;
        const r = await deps.ledger.command('port-subscribe', body);
        return r.warnings.length ? answer({ warnings: r.warnings }) : answer();
      }
      case 'port.unsubscribe': {
        if (!Number.isInteger(m.port)) throw invalid('port', `expected a port number, got ${JSON.stringify(m.port)}`);
        await deps.ledger.command('port-unsubscribe', { session_id: id, client_user: s.who.user, port: m.port });
        return answer();
      }
      default:
        throw invalid('type', `unknown message type ${JSON.stringify(m.type)}`, 'expected "config", "port.subscribe" or "port.unsubscribe"');
    }
  };

  // Messages are answered in the order they arrive; a client that keeps sending without
  // reading answers is cut off before its backlog grows without bound (the session stays).
  let chain = Promise.resolve();
  let backlog = 0;
  socket.on('message', (data, isBinary) => {
    const raw = isBinary ? '<binary>' : data.toString();
    if (++backlog > MAX_BACKLOG) {
      log.warn({ backlog }, 'client sends faster than it reads answers; closing its connection');
      socket.close(1008, `more than ${MAX_BACKLOG} unanswered messages`);
      return;
    }
    chain = chain.then(async () => {
      backlog--;
      let id: unknown = null;
      try {
        id = (JSON.parse(raw) as { id?: unknown }).id ?? null;
      } catch {
        /* reported by handle */
      }
      try {
        const out = await context.with(parent, () => handle(raw));
        send(out);
      } catch (e) {
        const err: ErrorBody = toAppError(e).toBody();
        send({ id, ok: false, error: err });
      }
    });
  });

  socket.on('close', (code) => {
    deps.registry.remove(conn);
    if (closedByServer) return;
    if (code === 1000) {
      // A deliberate close ends the session now; anything else keeps it for a reconnect
      // within the unused TTL.
      // In the connection's trace, so Session Ended (and what consumes it) joins the client's trace.
      void chain.then(() =>
        context.with(parent, () => deps.ledger.command('end', { session_id: id, client_user: s.who.user, reason: 'ClientClosed' })).catch((e) => {
          if (!isAppError(e, 'Conflict') && !isAppError(e, 'NotFound')) log.warn({ err: e }, 'could not end the session; it will expire as Unused');
        }),
      );
    } else {
      log.info({ code }, 'client connection dropped; session kept for a reconnect within the unused TTL');
    }
  });
  socket.on('error', (e) => log.warn({ err: e }, 'websocket error'));
}
