import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { Duplex } from 'node:stream';
import { invalid } from '#shared/errors/index.js';
import { DEFAULT_FILTER_LIMITS } from '#shared/filters/index.js';
import { parseMirrordConfig } from '#shared/mirrord-config/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { formatDottedTarget, formatTarget, rbacTargetName } from '#shared/targets/index.js';
import { API_VERSION, list } from './resources.js';
import { TokenBucket } from '../../domain/token-bucket.js';
import { contextFromHttp, context } from '#shared/otel/index.js';
import { parseConnectRequest, type ConnectRequest } from '../../domain/connect-request.js';
import { serveRelay } from '../relay/socket-relay.js';
import { DEFAULT_PROTOCOL_MAX_BYTES } from '../agent-connection/agent-connector.js';
import {
  API_PREFIX,
  authorize,
  requireIdentity,
  routeOf,
  sendError,
  traced,
  type GatewayDeps,
  type ReplyOf,
} from './route-kit.js';
import { startSession, type StartedSession } from '../../app/start-session.js';
import { parseWith, policyApi } from '#shared/contracts/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    mirrordSession?: StartedSession & { link?: Duplex };
  }
}

export type Params = { namespace: string; name: string };

/** The target named in the path, which the caller may `get` (explain, plain GET). */
async function gettableTarget(deps: GatewayDeps, req: FastifyRequest<{ Params: Params }>) {
  const who = requireIdentity(req);
  const cr = parseConnectRequest(req.params, {}, {}, newSessionId);
  await authorize(deps, who, {
    verb: 'get',
    resource: 'targets',
    namespace: cr.namespace,
    name: rbacTargetName(cr.target),
  });
  return { who, cr };
}

const isUpgrade = (req: FastifyRequest): boolean => String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';

/**
 * The connect call: authenticate, authorise `proxy` on the target, resolve it, ask policy,
 * start (or resume) the session in the ledger — all before the upgrade, so refusals are plain
 * HTTP Status answers — then carry port messages over the WebSocket until it closes.
 */
/** Who the client is, from the identity and the headers the CLI sends (`x-client-*`, the certificate). */
export function clientOf(
  deps: GatewayDeps,
  req: FastifyRequest,
  who: ReturnType<typeof requireIdentity>,
  cr: Pick<ConnectRequest, 'client_name' | 'client_hostname' | 'client_cli_version'>,
) {
  const der = req.headers['x-client-der'];
  const cert = typeof der === 'string' && der && deps.ca ? deps.ca.identify(der) : { user_id: '', client_id: '' };
  return {
    client_user: who.user,
    client_name: cr.client_name ?? who.user,
    client_hostname: cr.client_hostname ?? 'unknown',
    client_id: cert.client_id,
    user_id: cert.user_id,
    client_cli_version: cr.client_cli_version,
  };
}

/**
 * The HTTP side of a connect: parse, identify the client, call the use case. `copy` turns the
 * connect request into one for a `CopyTarget` (its original target, copied).
 */
export async function startConnect(
  deps: GatewayDeps,
  req: FastifyRequest<{ Params: Params; Querystring: Record<string, unknown> }>,
  copy?: { params: Params; adapt: (cr: ConnectRequest) => ConnectRequest },
): Promise<StartedSession & { link?: Duplex }> {
  const who = requireIdentity(req);
  const parsed = parseConnectRequest(copy?.params ?? req.params, req.query, req.headers, newSessionId);
  const cr = copy ? copy.adapt(parsed) : parsed;
  const connector = deps.agentConnector;
  return startSession(
    deps,
    who,
    cr,
    clientOf(deps, req, who, cr),
    connector ? (agent) => connector.open(agent.address, agent.tls_server_name !== undefined) : undefined,
  );
}

export function registerConnectRoute(app: FastifyInstance, deps: GatewayDeps): void {
  const start = (req: FastifyRequest<{ Params: Params; Querystring: Record<string, unknown> }>) =>
    startConnect(deps, req);

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
  app.post(routeOf(policyApi.explain), (req: FastifyRequest<{ Params: Params; Body: unknown }>) =>
    traced(req, 'POST targets/{name}/explain', async (): Promise<ReplyOf<typeof policyApi.explain>> => {
      const { who, cr } = await gettableTarget(deps, req);
      const body = parseWith(policyApi.explain.request, req.body ?? {}, 'body');
      const config = body.config ? (parseMirrordConfig(body.config, 'config'), body.config) : undefined;
      const profile = body.profile ? body.profile : undefined;
      const target = await deps.targets.resolve(who, cr.namespace, cr.target);
      return deps.policy.explain({ who, target, ...(config ? { config } : {}), ...(profile ? { profile } : {}) });
    }),
  );

  connectOrGet(app, deps, 'targets', start, async (req) => {
    // A plain GET: the target as this gateway sees it.
    const { who, cr } = await gettableTarget(deps, req);
    const t = await deps.targets.resolve(who, cr.namespace, cr.target);
    return {
      apiVersion: 'operator.metalbear.co/v1',
      kind: 'Target',
      metadata: { name: cr.dotted, namespace: t.namespace },
      spec: { path: t.path },
    };
  });
}

type ConnectRequestOf = FastifyRequest<{ Params: Params; Querystring: Record<string, unknown> }>;

/**
 * `…/namespaces/{ns}/<resource>/{name}` and `/proxy/…` (which the mirrord CLI takes when
 * `ProxyApi` is advertised): a WebSocket upgrade with `connect=true` starts (or resumes) a
 * session before the upgrade, so refusals are plain HTTP Status answers; a plain GET reads the object.
 */
export function connectOrGet(
  app: FastifyInstance,
  deps: GatewayDeps,
  resource: 'targets' | 'copytargets',
  start: (req: ConnectRequestOf) => Promise<StartedSession & { link?: Duplex }>,
  get: (req: ConnectRequestOf) => Promise<unknown>,
): void {
  for (const url of [
    `${API_PREFIX}/namespaces/:namespace/${resource}/:name`,
    `${API_PREFIX}/proxy/namespaces/:namespace/${resource}/:name`,
  ])
    app.route<{ Params: Params; Querystring: Record<string, unknown> }>({
      method: 'GET',
      url,
      preValidation: async (req, reply) => {
        if (!isUpgrade(req)) return;
        try {
          req.mirrordSession = await traced(req, `CONNECT ${resource}/{name}`, () => start(req));
        } catch (e) {
          return sendError(reply, e);
        }
      },
      handler: async (req) => {
        if (req.query.connect === 'true')
          throw invalid('connect', 'requires a WebSocket upgrade', 'send Connection: Upgrade, Upgrade: websocket');
        return get(req);
      },
      wsHandler: (socket, req) => serveSocket(deps, socket, req),
    });
}

export function serveSocket(deps: GatewayDeps, socket: WebSocket, req: FastifyRequest): void {
  const s = req.mirrordSession;
  if (!s) {
    socket.close(1011, 'session was not started');
    return;
  }
  const parent = contextFromHttp(req.headers);
  const rate = deps.limits?.messagesPerSecond ?? 20;
  const id = s.req.session_id;
  // One bucket per session (buildServer makes the set), however many sockets it opens.
  const bucket = deps.rates ? deps.rates.acquire(id, Date.now()) : new TokenBucket(rate, Date.now());
  socket.once('close', () => deps.rates?.release(id, Date.now()));
  serveRelay(
    {
      log: deps.log,
      policy: deps.policy,
      ledger: deps.ledger,
      registry: deps.registry,
      limits: deps.limits?.filter ?? DEFAULT_FILTER_LIMITS,
      bucket,
      now: () => Date.now(),
      maxMessageBytes: deps.maxMessageBytes ?? DEFAULT_PROTOCOL_MAX_BYTES,
      inTrace: (fn) => context.with(parent, fn),
      ...(deps.traffic ? { traffic: deps.traffic, bytes: deps.traffic.bytes } : {}),
      // In the connection's trace, so Session Ended (and what consumes it) joins the client's trace.
      endSession: (started) =>
        context.with(parent, () =>
          deps.ledger.command('end', {
            session_id: started.req.session_id,
            client_user: started.who.user,
            reason: 'ClientClosed',
          }),
        ),
    },
    socket,
    s,
    s.link,
    s.req.config,
  );
}
