import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { createHash } from 'node:crypto';
import { invalid, isAppError, toAppError, tooManyRequests, type ErrorBody } from '#shared/errors/index.js';
import { DEFAULT_FILTER_LIMITS } from '#shared/filters/index.js';
import { parseMirrordConfig } from '#shared/mirrord-config/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { formatDottedTarget, formatTarget, rbacTargetName } from '#shared/targets/index.js';
import { API_VERSION, list } from './resources.js';
import { TokenBucket } from '../../domain/token-bucket.js';
import { contextFromHttp, context } from '#shared/otel/index.js';
import { parseConnectRequest } from '../../domain/connect-request.js';
import type { LiveConnection } from '../nats/connection-registry.js';
import { API_PREFIX, authorize, requireIdentity, sendError, traced, type GatewayDeps } from './server.js';
import { startSession, type StartedSession } from '../../app/start-session.js';
import { subscribePort, unsubscribePort } from '../../app/port-subscriptions.js';
import { explainRequest, parseWith } from '#shared/contracts/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    mirrordSession?: StartedSession;
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
  // The HTTP side of a connect: parse, identify the client, call the use case.
  const start = async (
    req: FastifyRequest<{ Params: Params; Querystring: Record<string, unknown> }>,
  ): Promise<StartedSession> => {
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
    return startSession(deps, who, cr, client);
  };

  app.get(`${API_PREFIX}/namespaces/:namespace/targets`, (req: FastifyRequest<{ Params: { namespace: string } }>) =>
    traced(req, 'GET targets', async () => {
      const who = requireIdentity(req);
      await authorize(deps, who, { verb: 'list', resource: 'targets', namespace: req.params.namespace });
      const targets = await deps.targets.list(who, req.params.namespace);
      return list(
        'Target',
        targets.map((t) => ({
          apiVersion: API_VERSION,
          kind: 'Target',
          metadata: { name: formatDottedTarget(t), namespace: req.params.namespace },
          spec: { path: formatTarget(t) },
        })),
      );
    }),
  );

  // `kubectl mirrord policy explain`: the decision a session would get, without starting one.
  app.post(
    `${API_PREFIX}/namespaces/:namespace/targets/:name/explain`,
    (req: FastifyRequest<{ Params: Params; Body: unknown }>) =>
      traced(req, 'POST targets/{name}/explain', async () => {
        const who = requireIdentity(req);
        const cr = parseConnectRequest(req.params, {}, {}, newSessionId);
        await authorize(deps, who, {
          verb: 'get',
          resource: 'targets',
          namespace: cr.namespace,
          name: rbacTargetName(cr.target),
        });
        const body = parseWith(explainRequest, req.body ?? {}, 'body');
        const config = body.config ? (parseMirrordConfig(body.config, 'config'), body.config) : undefined;
        const profile = body.profile ? body.profile : undefined;
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
      if (req.query.connect === 'true')
        throw invalid('connect', 'requires a WebSocket upgrade', 'send Connection: Upgrade, Upgrade: websocket');
      const who = requireIdentity(req);
      const cr = parseConnectRequest(req.params, {}, {}, newSessionId);
      await authorize(deps, who, {
        verb: 'get',
        resource: 'targets',
        namespace: cr.namespace,
        name: rbacTargetName(cr.target),
      });
      const t = await deps.targets.resolve(who, cr.namespace, cr.target);
      return {
        apiVersion: 'operator.metalbear.co/v1',
        kind: 'Target',
        metadata: { name: cr.dotted, namespace: t.namespace },
        spec: { path: t.path },
      };
    },
    wsHandler: (socket, req) => serveSocket(deps, socket, req),
  });
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
      throw tooManyRequests(
        'message',
        `more than ${rate} messages a second on this session (SESSION_MESSAGES_PER_SECOND)`,
        'wait for answers before sending more',
      );
    if (Buffer.byteLength(raw) > maxBytes)
      throw invalid(
        'message',
        `${Buffer.byteLength(raw)} bytes exceeds the ${maxBytes}-byte limit`,
        'send a smaller message',
      );
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
        if (typeof m.config !== 'object' || m.config === null)
          throw invalid('config', 'expected the mirrord config object');
        parseMirrordConfig(m.config, 'config');
        config = m.config;
        return answer({ config_digest: createHash('sha256').update(JSON.stringify(config)).digest('hex') });
      }
      case 'port.subscribe': {
        const warnings = await subscribePort(deps, s, config, m, filterLimits);
        return warnings.length ? answer({ warnings }) : answer();
      }
      case 'port.unsubscribe':
        await unsubscribePort(deps, s, m.port);
        return answer();
      default:
        throw invalid(
          'type',
          `unknown message type ${JSON.stringify(m.type)}`,
          'expected "config", "port.subscribe" or "port.unsubscribe"',
        );
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
        context
          .with(parent, () =>
            deps.ledger.command('end', { session_id: id, client_user: s.who.user, reason: 'ClientClosed' }),
          )
          .catch((e) => {
            if (!isAppError(e, 'Conflict') && !isAppError(e, 'NotFound'))
              log.warn({ err: e }, 'could not end the session; it will expire as Unused');
          }),
      );
    } else {
      log.info({ code }, 'client connection dropped; session kept for a reconnect within the unused TTL');
    }
  });
  socket.on('error', (e) => log.warn({ err: e }, 'websocket error'));
}
