/**
 * What every route module shares with the server that mounts it: the gateway's dependencies, the
 * API prefix, spans, authorisation, identity and the Kubernetes Status for a failure. Apart from
 * server.ts so the routes and the server import it, not each other.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type * as z from 'zod';
import { OPERATOR_API, type HttpContract, type operatorApi } from '#shared/contracts/http.js';
import type { Logger } from 'pino';
import { AppError, ErrorCode, isAppError, unauthorized } from '#shared/errors/index.js';
import { contextFromHttp, inSpan, SpanKind } from '#shared/otel/index.js';
import type { FilterLimits } from '#shared/filters/index.js';
import type { License } from '#shared/license/index.js';
import type {
  AgentProvisioner,
  Authenticator,
  Authorizer,
  Identity,
  PolicyEvaluator,
  QueueSplitter,
  SeatAdmitter,
  TargetResolver,
  AccessRequest,
} from '../../domain/interfaces.js';
import type { SessionRates } from '../../domain/session-rates.js';
import { authorize as authorizeWith } from '../../app/authorize.js';
import type { AgentConnector } from '../agent-connection/agent-connector.js';
import type { TrafficMetrics } from '../metrics/traffic.js';
import type { ConnectionRegistry } from '../nats/connection-registry.js';
import type { LedgerClient } from '../nats/ledger-client.js';
import type { OperatorCa } from '../pki/operator-ca.js';
import { failureStatus, kubeFailure } from './resources.js';

export interface GatewayDeps {
  log: Logger;
  authn: Authenticator;
  authz: Authorizer;
  targets: TargetResolver;
  policy: PolicyEvaluator;
  agents: AgentProvisioner;
  ledger: LedgerClient;
  registry: ConnectionRegistry;
  version: string;
  license: License | undefined;
  /** The fleet's license server (LICENSE_SERVER): admits new seats. */
  seats?: SeatAdmitter;
  /** The open licence's organisation when there is no licence file (OPERATOR_ORGANIZATION). */
  organization?: string;
  defaultNamespace: string;
  /** GATEWAY_ACTIVITY_INTERVAL_MS: how often connected sessions are reported to the ledger. */
  activityIntervalMs: number;
  ready: () => Promise<boolean>;
  /** Largest mirrord-protocol message either side may send (PROTOCOL_MAX_MESSAGE_BYTES). */
  maxMessageBytes?: number;
  /** Opens agent connections (absent: sessions have no agent, the gateway answers for it). */
  agentConnector?: AgentConnector;
  /** The relay's traffic counters. */
  traffic?: TrafficMetrics;
  /** HTTP filter bounds and the per-session message rate (HTTP_FILTER_*, SESSION_MESSAGES_PER_SECOND). */
  limits?: { filter: FilterLimits; messagesPerSecond: number };
  /** The sessions' message buckets, shared by each session's sockets (buildServer makes it from `limits`). */
  rates?: SessionRates;
  /** The queue splitter (QUEUE_SPLITTING): sessions' split queues, and the features advertised for them. */
  queues?: QueueSplitter;
  /** Signs plugin certificates and identifies `x-client-der`. */
  ca?: OperatorCa;
  /** jira-reporter's dead-letter replay (`kubectl mirrord jira retry`). */
  jira?: { retry(): Promise<ReplyOf<typeof operatorApi.jiraRetry>> };
  /** Serve HTTPS; `ca` verifies client certificates (the front proxy's, and users' with a client CA). */
  https?: { key: string; cert: string; ca?: string[] };
}

declare module 'fastify' {
  interface FastifyRequest {
    identity: Identity | null;
  }
}

export const API_PREFIX = OPERATOR_API;

/** A route of the operator API as its contract declares it (shared/src/contracts/http.ts), for fastify. */
export const routeOf = (c: Pick<HttpContract, 'path'>): string => `${API_PREFIX}${c.path}`;
/** What a route's handler must answer: its contract's reply, as the plugin parses it. */
export type ReplyOf<C extends HttpContract<z.ZodType, z.ZodType | undefined>> = z.input<C['reply']>;
/** Refusals of a request that could not be read at all (Kubernetes' 400 BadRequest, not 422 Invalid). */
export const malformed = new WeakSet<AppError>();
export const badRequest = (e: AppError): AppError => (malformed.add(e), e);

export function sendError(reply: FastifyReply, e: unknown): FastifyReply {
  // Unexpected failures are 500, not 503: kube-rs (the mirrord CLI) retries a 503 twice.
  const err = isAppError(e)
    ? e
    : new AppError(ErrorCode.Unavailable, `internal error: ${e instanceof Error ? e.message : String(e)}`, {
        httpStatus: 500,
      });
  const k = kubeFailure(err, malformed.has(err));
  return reply.code(k.code).type('application/json').send(failureStatus(err, k));
}

/** Runs a handler in a SERVER span continuing the caller's W3C trace context. */
export function traced<T>(req: FastifyRequest, name: string, fn: () => Promise<T>): Promise<T> {
  return inSpan(
    name,
    SpanKind.SERVER,
    contextFromHttp(req.headers),
    { 'http.request.method': req.method, 'url.path': req.url.split('?')[0] ?? '' },
    () => fn(),
  );
}

/** Authorises or throws a Forbidden that names the missing RBAC permission (the routes' form). */
export const authorize = (deps: GatewayDeps, who: Identity, r: AccessRequest): Promise<void> =>
  authorizeWith(deps.authz, who, r);

export function requireIdentity(req: FastifyRequest): Identity {
  if (!req.identity) throw unauthorized('Unauthorized');
  return req.identity;
}
