import type { QueueSplitRequest } from '#shared/queues/index.js';
import type * as z from 'zod';
import type { queueSplitterContracts } from '#shared/contracts/index.js';
import type { Enforcement } from '#shared/policy/index.js';
import type { Target } from '#shared/targets/index.js';
import type { CopyTargetView, SessionView } from '#shared/ledger/index.js';
import type {
  CommandBody,
  CommandReply,
  PrepareRequestBody,
  PreparedAgentReply,
  StartDecision,
  TargetPod,
} from '#shared/contracts/index.js';
import type { ClientFields } from '#shared/events/index.js';
import type { AgentConfig } from '#shared/mirrord-config/index.js';

/**
 * The start flow's plug points. Each has one interface so the Kubernetes issue can swap the
 * static implementations (token file, default role, syntax-only targets, allow-all policy)
 * for TokenReview / SubjectAccessReview / real resolution / the policy service.
 */
export interface Identity {
  user: string;
  uid: string;
  groups: string[];
}

export interface HttpRequestLike {
  headers: Record<string, string | string[] | undefined>;
  /** The TLS client certificate, when one was presented and verified (by the request-header or client CA). */
  tlsClient?: { commonName: string; organizations: string[]; issuerFingerprint: string };
}

export interface Authenticator {
  /** The caller's identity, or undefined when the request carries no valid credentials. */
  authenticate(req: HttpRequestLike): Promise<Identity | undefined>;
}

export interface AccessRequest {
  verb: 'get' | 'list' | 'create' | 'delete' | 'deletecollection' | 'proxy' | 'watch';
  resource: 'mirrordoperators' | 'targets' | 'sessions' | 'copytargets';
  subresource?: string;
  namespace?: string;
  name?: string;
}

export type AccessDecision = { allowed: true } | { allowed: false; reason: string };

export interface Authorizer {
  authorize(who: Identity, req: AccessRequest): Promise<AccessDecision>;
}

/** The running pod a session attaches to: agent-manager's prepare request carries it as it is. */
export type { TargetPod } from '#shared/contracts/index.js';

export interface ResolvedTarget {
  target: Target;
  /** Canonical path (`deployment/x[/container/c]` or `targetless`). */
  path: string;
  namespace: string;
  /** The running pod the session attaches to (absent for targetless, and before resolution exists). */
  pod?: TargetPod;
  /** The targeted workload's labels (the pod's when a pod is targeted): policy selectors match them. */
  labels?: Record<string, string>;
}

export interface ResolveOptions {
  /**
   * For a copy target: the copy is made from the workload's pod template, so no running pod of
   * it is needed (a Deployment scaled to 0 can be copied); a bare pod must still run.
   */
  copy?: boolean;
  /**
   * For a session start: when the target has pods but none is ready, wait (by watch, a bounded
   * time) for one, rather than refusing at once.
   */
  waitReady?: boolean;
}

export interface TargetResolver {
  /** Resolves a target for a user; throws NotFound / Invalid naming the target and namespace. */
  resolve(who: Identity, namespace: string, target: Target, opts?: ResolveOptions): Promise<ResolvedTarget>;
  /** Targets in a namespace the user may use (may `get` the workload and `proxy` the target). */
  list(who: Identity, namespace: string): Promise<Target[]>;
}

export interface SessionRequest {
  who: Identity;
  target: ResolvedTarget;
  config?: unknown;
  profile?: string;
}
export interface PortRequest extends SessionRequest {
  port: number;
  mode: 'steal' | 'mirror';
  /** The filter as the client sent it (the config's http_filter shape). */
  http_filter?: unknown;
}
export type PolicyDecision =
  | { allowed: true; applied?: string[]; enforce?: Enforcement }
  /** detail: the message without the feature and the policy, for answers that name those themselves. */
  | { allowed: false; message: string; detail?: string; policy?: string };

/** `policy explain`: the whole decision, as the policy service makes it, without a session. */
/** What `policy explain` shows: the policy service's start decision, as its contract declares it. */
export type PolicyExplanation = StartDecision;

export interface PolicyEvaluator {
  evaluateStart(req: SessionRequest): Promise<PolicyDecision>;
  evaluatePort(req: PortRequest): Promise<PolicyDecision>;
  explain(req: SessionRequest): Promise<PolicyExplanation>;
}

export interface AgentRequest {
  session_id: string;
  namespace: string;
  target: ResolvedTarget;
  /** The config's `agent` section, normalised (defaults filled in). */
  agent: AgentConfig;
  /** Set when the config enables `feature.copy_target`, or the session connects to a `CopyTarget`. */
  copy_target?: CopyRequest;
  client: Record<string, unknown>;
}

/** A copy as a session asks for it; through the CLI's `CopyTarget`, with its name, spec and idle TTL. */
export type CopyRequest = NonNullable<PrepareRequestBody['copy_target']>;
/** agent-manager's prepare reply (tls_server_name included), or `none` where nothing is made. */
export type PreparedAgent = PreparedAgentReply | { agent: 'none' };

/** What the session needs in the cluster (agent-manager), made before Session Started. */
export interface AgentProvisioner {
  prepare(req: AgentRequest): Promise<PreparedAgent>;
  /** Undoes a prepare whose session did not start. */
  release(sessionId: string): Promise<void>;
  /** The copies of targets that exist now (none without a cluster). */
  copyTargets(namespace?: string): Promise<CopyTargetView[]>;
  /** The CLI's `POST …/copytargets`: the copy alone, for the creator session that connects next. */
  createCopy(req: AgentRequest): Promise<CopyTargetView>;
  /** `DELETE …/copytargets/{name}`; false when there is no such copy. */
  deleteCopy(namespace: string, name: string): Promise<boolean>;
}

/** A session's queue splits (the queue splitter): the variables its environment answer gets instead. */
export interface QueueSplitter {
  split(req: {
    session_id: string;
    namespace: string;
    target: string;
    container?: string;
    client_user: string;
    splits: QueueSplitRequest[];
  }): Promise<QueueSplitAnswer>;
  /** The session did not start after all: its splits go (nothing is recorded). */
  release(sessionId: string): Promise<void>;
}
export type QueueSplitAnswer = z.output<(typeof queueSplitterContracts)['split']['reply']>;

/** The ledger's commands the gateway sends. */
type GatewayLedgerVerb =
  | 'start'
  | 'reject'
  | 'port-subscribe'
  | 'port-unsubscribe'
  | 'end'
  | 'kill'
  | 'kill-all'
  | 'outgoing-blocked'
  | 'workload-patch'
  | 'queue-split-start';

/** The ledger as the gateway's use cases need it (NATS request-reply in production), bodies typed by their contracts. */
export interface SessionLedger {
  command<V extends GatewayLedgerVerb>(verb: V, body: CommandBody<V>): Promise<CommandReply>;
  session(id: string): Promise<{
    session: Pick<SessionView, 'id' | 'status' | 'client_user' | 'target' | 'namespace' | 'end_reason'> | null;
  }>;
}

/** Who the client is, as Session Started records it (the event's client fields minus the target). */
export type ClientInfo = Omit<ClientFields, 'target' | 'namespace'>;

/** The license server's answer for a seat (`unverified`: it could not be asked; the session goes on). */
export type SeatDecision =
  | { admission: 'known' | 'new' | 'overage' | 'unverified' }
  | { admission: 'refused'; seats_used: number; seats_licensed: number | null };

/** Seats across the fleet (LICENSE_SERVER): asked before a developer session starts. */
export interface SeatAdmitter {
  admit(seat: string, user: string): Promise<SeatDecision>;
}
