import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import { DEFAULT_PROTOCOL_MAX_BYTES } from '../agent-connection/agent-connector.js';
import type { TLSSocket } from 'node:tls';
import { AppError, ErrorCode, invalid, isAppError, tooLarge, unauthorized } from '#shared/errors/index.js';
import type { HttpRequestLike } from '../../domain/interfaces.js';
import { apiResourceList } from './resources.js';
import { API_PREFIX, badRequest, sendError, type GatewayDeps } from './route-kit.js';
import { GROUP } from '../../app/authorize.js';
import { registerConnectRoute } from './connect-route.js';
import { registerSessionRoutes } from './session-routes.js';
import { registerCopyTargetRoutes } from './copy-target-routes.js';
import { registerCertificateRoute } from './certificate-route.js';
import { registerJiraRoute } from './jira-route.js';
import { registerOpenApiRoutes } from './openapi.js';
import { SessionRates } from '../../domain/session-rates.js';

/** Largest request body (a CSR, an explain request, a config): 1 MiB. */
const BODY_LIMIT = 1024 * 1024;
const MAX_PARAM_LENGTH = 512;
/**
 * Fastify's own refusals (body too large, bad URL encoding, path too long, bad JSON) as the
 * Status the rest of the API answers, with their HTTP status and the part of the request at
 * fault; undefined for anything else.
 */
function frameworkError(e: unknown): AppError | undefined {
  if (isAppError(e)) return undefined;
  const status = (e as { statusCode?: number }).statusCode;
  if (!status || status >= 500) return undefined;
  const code = (e as { code?: string }).code ?? '';
  const message = e instanceof Error ? e.message : String(e);
  if (status === 413) return tooLarge('body', `larger than the ${BODY_LIMIT}-byte limit`, 'send a smaller body');
  if (code === 'FST_ERR_BAD_URL')
    return badRequest(invalid('path', 'is not valid percent-encoding', 'encode the URL with encodeURIComponent'));
  if (status === 414)
    return new AppError(ErrorCode.Invalid, `path: a path segment is longer than ${MAX_PARAM_LENGTH} characters`, {
      field: 'path',
      httpStatus: 414,
    });
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new AppError(ErrorCode.Invalid, `content-type: ${message}`, { field: 'content-type', httpStatus: 415 });
  if (code.startsWith('FST_ERR_CTP') || /JSON/.test(message))
    return badRequest(invalid('body', message, 'send a valid JSON body'));
  return badRequest(new AppError(ErrorCode.Invalid, message, { httpStatus: status }));
}

/** The client certificate's CN when TLS verified it (only the request-header CA is trusted). */
function verifiedClient(req: FastifyRequest): Pick<HttpRequestLike, 'tlsClient'> {
  const sock = req.raw.socket as TLSSocket;
  if (!sock.encrypted || !sock.authorized) return {};
  const c = sock.getPeerCertificate(true);
  const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);
  const name = list(c?.subject?.CN)[0];
  return name
    ? {
        tlsClient: {
          commonName: name,
          organizations: list(c.subject.O),
          issuerFingerprint: c.issuerCertificate?.fingerprint256 ?? '',
        },
      }
    : {};
}

export async function buildServer(given: GatewayDeps): Promise<FastifyInstance> {
  const deps: GatewayDeps = { ...given, rates: given.rates ?? new SessionRates(given.limits?.messagesPerSecond ?? 20) };
  const https = deps.https
    ? {
        https: {
          key: deps.https.key,
          cert: deps.https.cert,
          ...(deps.https.ca?.length ? { ca: deps.https.ca, requestCert: true, rejectUnauthorized: false } : {}),
        },
      }
    : {};
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Target names reach 253 + 63 characters (`pod.<name>.container.<name>`); longer is refused as 414.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors raised before routing (bad percent-encoding, …) skip setErrorHandler.
    frameworkErrors: (e, _req, reply) => {
      void sendError(reply, frameworkError(e) ?? e);
    },
    ...https,
  }) as unknown as FastifyInstance;
  // One mirrord-protocol message per frame: the frame limit is the message limit (ws closes 1009 above it).
  await app.register(websocket, { options: { maxPayload: deps.maxMessageBytes ?? DEFAULT_PROTOCOL_MAX_BYTES } });
  app.decorateRequest('identity', null);
  // kube-rs (the mirrord CLI) sends `application/json` with an empty body (collection DELETE)
  // and with a raw PEM body (the certificate request): neither is an error.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    if (text.trimStart().startsWith('-----BEGIN')) return done(null, text);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(
        badRequest(invalid('body', `not valid JSON (${(e as Error).message})`, 'send a valid JSON body')),
        undefined,
      );
    }
  });

  // A body of another type where JSON is expected is 415 (the certificate route alone reads PEM).
  app.addHook('preValidation', async (req) => {
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    if (typeof req.body !== 'string' || type === 'application/json' || req.url.split('?')[0]!.endsWith('/certificate'))
      return;
    throw new AppError(
      ErrorCode.Invalid,
      `content-type: ${type || 'none'} is not supported here; send application/json`,
      {
        field: 'content-type',
        httpStatus: 415,
      },
    );
  });
  app.setErrorHandler((e, req, reply) => {
    const framework = frameworkError(e);
    if (framework) return sendError(reply, framework);
    if (!isAppError(e)) req.log.error({ err: e, url: req.url }, 'request failed');
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(
      reply,
      new AppError(
        ErrorCode.NotFound,
        `the server could not find the requested resource (${req.method} ${req.url.split('?')[0]})`,
      ),
    ),
  );

  // Everything under /apis needs an identity; health endpoints do not.
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/apis')) return;
    const who = await deps.authn.authenticate({ headers: req.headers, ...verifiedClient(req) });
    if (!who)
      return sendError(reply, unauthorized('Unauthorized: a valid bearer token is required (see GATEWAY_TOKEN_FILE)'));
    req.identity = who;
    // Every parameter of this API takes one value; `?since=a&since=b` is refused by name.
    const repeated = Object.entries((req.query ?? {}) as Record<string, unknown>).find(([, v]) => Array.isArray(v));
    if (repeated)
      return sendError(
        reply,
        invalid(repeated[0], `given ${(repeated[1] as unknown[]).length} times`, `pass ${repeated[0]} once`),
      );
  });

  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok'));
  app.get('/readyz', async (_req, reply) => {
    const ok = await deps.ready().catch(() => false);
    return reply
      .code(ok ? 200 : 503)
      .type('text/plain')
      .send(ok ? 'ok' : 'ledger or NATS unavailable');
  });

  app.get('/apis', async () => ({
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [
      {
        name: GROUP,
        versions: [{ groupVersion: `${GROUP}/v1`, version: 'v1' }],
        preferredVersion: { groupVersion: `${GROUP}/v1`, version: 'v1' },
      },
    ],
  }));
  app.get(`/apis/${GROUP}`, async () => ({
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: GROUP,
    versions: [{ groupVersion: `${GROUP}/v1`, version: 'v1' }],
    preferredVersion: { groupVersion: `${GROUP}/v1`, version: 'v1' },
  }));
  app.get(API_PREFIX, async () => apiResourceList());
  registerOpenApiRoutes(app);

  registerSessionRoutes(app, deps);
  registerConnectRoute(app, deps);
  registerCopyTargetRoutes(app, deps);
  registerCertificateRoute(app, deps);
  registerJiraRoute(app, deps);
  return app;
}
