import type { AppError } from '#shared/errors/index.js';
import type { LedgerEvent } from '#shared/events/index.js';
import type { CopyTargetView, SessionView } from '#shared/ledger/index.js';
import { formatDuration } from '#shared/format/duration.js';
import { parseTarget, targetConfig } from '#shared/targets/index.js';
import { clipFilter } from '#shared/filters/index.js';
import { GROUP } from '../../app/authorize.js';
import type { License } from '#shared/license/index.js';
import { queueStatus } from './queue-status.js';
import { durationSecs, headerFilter, idleSecs, lockedPorts, members, sessionsJson } from './status-json.js';
import type {
  CopyTargetObject,
  EventItem,
  KubeStatus,
  MirrordOperator,
  OperatorSession,
} from '#shared/contracts/index.js';

/** What the ledger's `sessions` query returns for one session. */
export type LedgerSessionView = SessionView;

export const API_VERSION = `${GROUP}/v1`;

/** A Kubernetes timestamp (RFC 3339, whole seconds). */
const kubeTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `quietSince`: when a client was last seen connected, for a session none is connected to now. */
export function sessionInfo(v: LedgerSessionView, now: number, quietSince?: number): OperatorSession {
  const info: OperatorSession = {
    id: v.id,
    duration_secs: durationSecs(v, now),
    user: `${v.client_name}/${v.client_user}@${v.client_hostname}`,
    target: v.target,
    namespace: v.namespace,
    locked_ports: lockedPorts(v),
    user_id: v.user_id,
  };
  if (v.key) info.key = v.key;
  if (quietSince !== undefined) info.idle_secs = idleSecs(now, quietSince);
  const header = headerFilter(v);
  if (header) info.http_filter = { headerFilter: header.slice('header='.length) };
  return Object.assign(info, queueStatus(v));
}

export function sessionObject(v: LedgerSessionView, now: number) {
  return {
    apiVersion: API_VERSION,
    kind: 'Session',
    metadata: {
      name: v.id,
      namespace: v.namespace,
      creationTimestamp: kubeTime(v.started_at),
    },
    spec: { session: sessionInfo(v, now) },
    status: v.status === 'ended' ? { ended: true, reason: v.end_reason, killed_by: v.killed_by } : { ended: false },
  };
}

export function list<T>(kind: string, items: T[], cont?: string) {
  return { apiVersion: API_VERSION, kind: `${kind}List`, metadata: cont ? { continue: cont } : {}, items };
}

/** `operator_version` the mirrord CLI compares against (below 3.84.0 it lists only open-source target kinds). */
export const OPERATOR_COMPAT_VERSION = '3.250.0';
/** Without a licence file: an open licence the CLI accepts (it checks `expire_at` itself). */
export const OPEN_LICENSE_EXPIRY = '2099-12-31';

export interface OperatorInfo {
  version: string;
  /** The mirrord protocol version the relay speaks. */
  protocolVersion: string;
  /** Hex SHA-256 of the operator CA certificate (the licence fingerprint). */
  fingerprint: string;
  organization: string;
  defaultNamespace: string;
  license: License | undefined;
  sessions: LedgerSessionView[];
  now: number;
  /** Live sessions with no client connected lately → when one last was (the present only). */
  quiet?: Record<string, number>;
  dau: number;
  mau: number;
  /** Seats taken in the billing period (of `?at=`: up to that moment); absent when they cannot be counted. */
  seats?: { used: number; period_start: string };
  copyTargets: CopyTargetView[];
  /** The object's creationTimestamp (when the gateway started serving it). */
  startedAt?: number;
  /** The queue splitter runs: the CLI may split SQS queues and Kafka topics, directly on the target. */
  queueSplitting?: boolean;
}

/**
 * The queue features the CLI checks before it asks (`check_feature_support`): without the
 * `…Direct` forms it would make a copy target for every split. The jq and protobuf forms are
 * not advertised: this operator filters on attributes and headers only.
 */
const QUEUE_FEATURES = [
  'SqsQueueSplitting',
  'KafkaQueueSplitting',
  'SqsQueueSplittingDirect',
  'KafkaQueueSplittingDirect',
];

/**
 * A copy target as the CLI's `CopyTargetCrd`, for `copytargets` and the operator status: the
 * spec as the CLI created it (it reuses a copy whose spec equals its own), `status.creator_session`
 * a Session with the creator's `user_id` (it reuses only its own), `phase` InProgress / Ready / Failed.
 */
export function copyTargetCrd(c: CopyTargetView): CopyTargetObject {
  return {
    apiVersion: API_VERSION,
    kind: 'CopyTarget',
    metadata: {
      name: c.name,
      namespace: c.namespace,
      creationTimestamp: kubeTime(c.created_at),
    },
    spec: c.spec ?? {
      target: targetConfig(parseTarget(c.target)),
      idle_ttl: c.idle_ttl,
      scale_down: c.scale_down,
      split_queues: null,
      exclude_containers: [],
      exclude_init_containers: [],
    },
    status: {
      creator_session: {
        id: c.creator_session,
        duration_secs: 0,
        user: '',
        target: c.target,
        namespace: c.namespace,
        ...(c.user_id ? { user_id: c.user_id } : {}),
      },
      phase: c.phase,
      ...(c.phase === 'Failed' ? { failure_message: `the copy pod ${c.name} failed` } : {}),
      // Ours: when the copy's last session ended (it is kept for the idle TTL).
      ...(c.idle_since ? { idle_since: new Date(c.idle_since).toISOString() } : {}),
    },
  };
}

export function operatorObject(o: OperatorInfo): MirrordOperator {
  const op = operatorParts(o);
  op.status.sessions = o.sessions.map((s) => sessionInfo(s, o.now, o.quiet?.[s.id]));
  return op;
}

/**
 * The operator object serialised: byte for byte JSON.stringify(operatorObject(o)), made from
 * per-session pieces (10,000 sessions: a few ms instead of building and stringifying them all).
 */
export function operatorJson(o: OperatorInfo): string {
  const { status, ...rest } = operatorParts(o);
  // `sessions: undefined` drops the empty placeholder: JSON.stringify leaves such keys out.
  return `${JSON.stringify(rest).slice(0, -1)},"status":{"sessions":${sessionsJson(o.sessions, o.now, o.quiet)}${members({ ...status, sessions: undefined })}}}`;
}

/** The operator object with its status' `sessions` left empty (first, where they go). */
function operatorParts(o: OperatorInfo): MirrordOperator {
  return {
    apiVersion: API_VERSION,
    kind: 'MirrordOperator',
    metadata: {
      name: 'operator',
      ...(o.startedAt === undefined ? {} : { creationTimestamp: kubeTime(o.startedAt) }),
    },
    spec: {
      operator_version: OPERATOR_COMPAT_VERSION,
      mirrord_teams_version: o.version,
      default_namespace: o.defaultNamespace,
      // Only what works against the real CLI.
      // ConnectParamsInHeader: the CLI then sends its connect query base64'd in a header.
      supported_features: [
        'ProxyApi',
        'SessionManagement',
        'CopyTarget',
        'ConnectParamsInHeader',
        ...(o.queueSplitting ? QUEUE_FEATURES : []),
      ],
      features: ['ProxyApi'],
      copy_target_enabled: true,
      protocol_version: o.protocolVersion,
      // The fields the CLI reads (seats and billing stay the operator's business).
      license: {
        name: o.license?.name ?? 'mirrord-teams open licence',
        organization: o.license?.organization ?? o.organization,
        expire_at: o.license?.expire_at ?? OPEN_LICENSE_EXPIRY,
        fingerprint: o.fingerprint,
        subscription_id: o.license?.subscription_id ?? null,
      },
    },
    status: {
      sessions: [],
      /** When the sessions were observed (now, or the `at` asked for). */
      observed_at: new Date(o.now).toISOString(),
      statistics: {
        dau: o.dau,
        mau: o.mau,
        ...(o.seats
          ? {
              seat_mode: o.license?.seat_mode ?? 'machine',
              seats_used: o.seats.used,
              seats_licensed: o.license?.seats ?? null,
              billing_period_start: o.seats.period_start,
            }
          : {}),
      },
      copy_targets: o.copyTargets.map((c) => ({ pod_name: c.name, copy_target: copyTargetCrd(c) })),
    },
  };
}

/** A Kubernetes `Status` reason and HTTP code for one of our errors. */
export interface KubeFailure {
  code: number;
  reason: string;
}

/**
 * The Kubernetes reason for an error: ours where Kubernetes has the same (NotFound, Forbidden,
 * Conflict, …) or none (PortAlreadyStolen, ReconnectNotPossible, MaxSeatCountReached); for the
 * rest Kubernetes' own: `Invalid` 422 (a field's value), `BadRequest` 400 (a malformed request),
 * `UnsupportedMediaType` 415, `ServiceUnavailable` 503, `InternalError` 500.
 */
export function kubeFailure(e: AppError, malformed = false): KubeFailure {
  const status = e.httpStatus;
  if (e.code === 'Invalid') {
    if (status === 415) return { code: 415, reason: 'UnsupportedMediaType' };
    if (status !== 400 || malformed) return { code: status, reason: 'BadRequest' };
    return { code: 422, reason: 'Invalid' };
  }
  if (e.code === 'Unavailable') {
    if (status === 500) return { code: 500, reason: 'InternalError' };
    if (status === 503) return { code: 503, reason: 'ServiceUnavailable' };
  }
  return { code: status, reason: e.code };
}

/**
 * A Kubernetes Status object for an error. `details.error_code` keeps our code (`reason` is
 * Kubernetes'); a field's error is one cause whose message does not repeat the field (kubectl
 * prints `field: message`).
 */
export function failureStatus(e: AppError, k: KubeFailure = kubeFailure(e)): KubeStatus {
  const details: Record<string, unknown> = { error_code: e.code };
  if (e.field) {
    const prefix = `${e.field}: `;
    const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    details.causes = [{ reason: k.reason === 'Invalid' ? 'FieldValueInvalid' : k.reason, field: e.field, message }];
  }
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: e.message,
    reason: k.reason,
    code: k.code,
    details,
  };
}

export function successStatus(message: string, details: Record<string, unknown> = {}): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', message, code: 200, details };
}

export function eventItem(e: LedgerEvent): EventItem {
  return {
    id: e.id,
    type: e.type,
    session_id: e.session_id,
    version: e.version,
    position: e.position,
    time: new Date(e.time).toISOString(),
    actor: e.actor,
    // A copy as a plain object: the events' data interfaces have no index signature.
    data: { ...e.data },
  };
}

/** The discovery document kubectl and the mirrord CLI read. */
export function apiResourceList() {
  const r = (name: string, namespaced: boolean, kind: string, verbs: string[]) => ({
    name,
    singularName: name.includes('/') ? '' : name.replace(/s$/, ''),
    namespaced,
    kind,
    verbs,
  });
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: API_VERSION,
    resources: [
      r('mirrordoperators', false, 'MirrordOperator', ['get', 'list']),
      r('mirrordoperators/certificate', false, 'MirrordOperator', ['create']),
      r('sessions', true, 'Session', ['get', 'list', 'watch', 'delete', 'deletecollection']),
      r('targets', true, 'Target', ['get', 'list', 'proxy']),
      r('targets/port-locks', true, 'Target', ['get', 'list']),
      r('copytargets', true, 'CopyTarget', ['get', 'list', 'create', 'delete', 'proxy']),
    ],
  };
}

/** Sessions as the meta.k8s.io/v1 Table `kubectl get sessions.operator.metalbear.co` prints. */
export function sessionTable(views: LedgerSessionView[], now: number) {
  const col = (name: string, format = '') => ({ name, type: 'string', format, description: name, priority: 0 });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {},
    columnDefinitions: [col('Name', 'name'), col('Target'), col('User'), col('Ports'), col('Duration'), col('Age')],
    rows: views.map((v) => {
      const info = sessionInfo(v, now);
      const ports = info.locked_ports
        .map((p) => `${p.port}/${p.kind}${p.filter ? ` (${clipFilter(p.filter)})` : ''}`)
        .join(', ');
      return {
        cells: [
          v.id,
          v.target,
          info.user,
          ports || '<none>',
          formatDuration(info.duration_secs),
          // Since the session started (kubectl's AGE, from metadata.creationTimestamp).
          formatDuration((now - v.started_at) / 1000),
        ],
        object: {
          kind: 'PartialObjectMetadata',
          apiVersion: 'meta.k8s.io/v1',
          metadata: sessionObject(v, now).metadata,
        },
      };
    }),
  };
}
