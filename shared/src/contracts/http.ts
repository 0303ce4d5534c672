import * as z from 'zod';
import {
  copyTargetObject,
  eventList,
  jiraRetryReply,
  kubeList,
  kubeStatus,
  mirrordOperator,
  operatorCertificate,
  portLock,
} from './operator-api.js';

/**
 * The gateway's own API (the operator API under `OPERATOR_API`), declared once for the gateway's
 * routes and the kubectl plugin: each route's method, path (fastify's `:param` form, filled in by
 * `apiPath`), request body and reply. The gateway's route handlers return `z.input` of the reply
 * and the plugin parses what it gets with it, so the two ends cannot drift.
 * Imports zod alone (no NATS, no mirrord config parser): every plugin command that calls the
 * gateway loads it. `policy explain`'s route, which needs the policy engine's schemas, is in
 * policy-api.ts.
 */
export interface HttpContract<Rep extends z.ZodType = z.ZodType, Req extends z.ZodType | undefined = undefined> {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly request: Req;
  readonly reply: Rep;
}

export function http<Rep extends z.ZodType, Req extends z.ZodType | undefined = undefined>(
  method: HttpContract['method'],
  path: string,
  reply: Rep,
  request?: Req,
): HttpContract<Rep, Req> {
  return Object.freeze({ method, path, reply, request: request as Req });
}

export type {
  CopyTargetObject,
  EventItem,
  KafkaTopic,
  KubeStatus,
  MirrordOperator,
  OperatorSession,
  PortLock,
  SqsSession,
} from './operator-api.js';

export const OPERATOR_API = '/apis/operator.metalbear.co/v1';

/**
 * A contract's path with its `:params` filled in (each encoded), under `OPERATOR_API`; a
 * param the path names but `params` lacks is a programming error, thrown as such.
 */
export function apiPath(c: Pick<HttpContract, 'path'>, params: Record<string, string> = {}): string {
  return `${OPERATOR_API}${c.path.replace(/:([a-z]+)/gi, (_, k: string) => {
    const v = params[k];
    if (v === undefined) throw new Error(`${c.path}: no value for :${k}`);
    return encodeURIComponent(v);
  })}`;
}

/**
 * `POST …/namespaces/{ns}/copytargets`: the CLI's `CopyTarget` (`operator/src/crd/copy_target.rs`).
 * `spec.target` is mirrord's untagged target config (`{"deployment": "x", "container": null}`);
 * the spec is kept as sent, since the CLI reuses a copy whose listed spec equals its own.
 */
export const copyTargetBody = z.object({
  apiVersion: z.string().optional(),
  kind: z.literal('CopyTarget', 'expected "CopyTarget"').optional(),
  metadata: z.object({ name: z.string().optional() }).loose().optional(),
  spec: z
    .object({
      target: z
        .union([
          z.literal('targetless'),
          z.record(
            z.string(),
            z.string().nullable(),
            'expected a target such as {"deployment": "x", "container": null}',
          ),
        ])
        .describe('The workload copied, as mirrord names it: {"deployment": "web", "container": null}.'),
      idle_ttl: z
        .number()
        .int()
        .min(0)
        .max(86_400)
        .nullish()
        .describe('Seconds the copy is kept after its last session, for the same user to reuse.'),
      scale_down: z
        .boolean()
        .default(false)
        .describe('Scale the original Deployment to 0 while the copy lives (restored after).'),
      split_queues: z
        .union([z.record(z.string(), z.unknown()), z.array(z.unknown())])
        .nullish()
        .describe(
          'The config\'s feature.split_queues: {"<queue id>": {"queue_type": "SQS" | "Kafka", "message_filter": {…}}} or a list; checked by the gateway.',
        ),
      exclude_containers: z.array(z.string()).default([]).describe('Not supported by mirrord-teams yet: [].'),
      exclude_init_containers: z.array(z.string()).default([]).describe('Not supported by mirrord-teams yet: [].'),
      session_key: z.string().nullish().describe('The session key sessions of one run share.'),
    })
    .loose(),
});

/** The operator API's routes the plugin calls, by use. */
export const operatorApi = Object.freeze({
  /** `operator status`, `license status` (`?at=`: as of then). */
  operator: http('GET', '/mirrordoperators/operator', mirrordOperator),
  /** The plugin's client certificate: a PEM CSR in, the signed certificate out. */
  certificate: http('POST', '/mirrordoperators/:name/certificate', operatorCertificate, z.string()),
  jiraRetry: http('POST', '/mirrordoperators/:name/jira-retry', jiraRetryReply),
  /** `audit`: events of every session, filtered and paged (`user`, `target`, `since`, `limit`, `continue`, …). */
  events: http('GET', '/events', eventList),
  /** `session events`: one session's trail, paged. */
  sessionEvents: http('GET', '/sessions/:id/events', eventList),
  killSession: http('DELETE', '/sessions/:id', kubeStatus),
  killSessions: http('DELETE', '/sessions', kubeStatus),
  killNamespaceSessions: http('DELETE', '/namespaces/:namespace/sessions', kubeStatus),
  /** A namespace's port locks, and one target's (`kubectl get`, tests). */
  portLocks: http('GET', '/namespaces/:namespace/targets/port-locks', kubeList(portLock)),
  targetPortLocks: http('GET', '/namespaces/:namespace/targets/:name/port-locks', kubeList(portLock)),
  createCopyTarget: http('POST', '/namespaces/:namespace/copytargets', copyTargetObject, copyTargetBody),
});
