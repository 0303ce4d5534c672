import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, ErrorCode, forbidden, invalid, notFound } from '#shared/errors/index.js';
import { AGENT_DEFAULTS } from '#shared/mirrord-config/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { parseWith } from '#shared/contracts/index.js';
import type { CopyTargetView } from '#shared/ledger/index.js';
import { formatDottedTarget, parseTarget, targetFromConfig, validateNamespace } from '#shared/targets/index.js';
import { copyTargetCrd, list, successStatus } from './resources.js';
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
import { clientOf, connectOrGet, startConnect, type Params } from './connect-route.js';
import { recordRejection } from '../../app/start-session.js';
import type { ConnectRequest } from '../../domain/connect-request.js';
import { splitsFromConfig } from '#shared/queues/index.js';

type NsParams = { namespace?: string };

/** The config a copy's policy decision sees: copy_target on (appliesToCopyTargets, copy-target-scale-down). */
const copyConfig = (base: Record<string, unknown> | undefined, scale_down: boolean): Record<string, unknown> => {
  const feature = (base?.feature ?? {}) as Record<string, unknown>;
  return { ...base, feature: { ...feature, copy_target: { enabled: true, scale_down } } };
};

/**
 * The splits a `CopyTarget` was created with (`spec.split_queues`, the user's whole
 * `feature.split_queues`). With `auto_queue_splitting` (`mirrord up`) the CLI fills it with jq
 * wildcards for every broker and asks the operator to dismiss kinds it does not support rather
 * than refuse: this operator runs no jq, so none of them apply.
 */
const copySplits = (spec: Record<string, unknown>) =>
  spec.auto_queue_splitting === true ? [] : splitsFromConfig(spec.split_queues, 'spec.split_queues');

/**
 * The CLI's copy-target flow (`operator/src/client.rs`): list its own reusable copies, create
 * one (`POST`), poll it until Ready (`GET`), then connect to it
 * (`…/copytargets/{name}?connect=true`, also under `/proxy/`); and `DELETE`.
 */
export function registerCopyTargetRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const copyNamed = async (namespace: string, name: string): Promise<CopyTargetView> => {
    const c = (await deps.agents.copyTargets(namespace)).find((x) => x.name === name);
    if (!c)
      throw notFound(
        `copy target "${name}" not found in namespace "${namespace}"; list them with kubectl get copytargets.operator.metalbear.co -n ${namespace}`,
      );
    return c;
  };

  /** The copy the path names, once the caller may `verb` it. */
  const authorizedCopy = async (req: FastifyRequest<{ Params: Params }>, verb: 'get' | 'proxy') => {
    const namespace = validateNamespace(req.params.namespace);
    await authorize(deps, requireIdentity(req), { verb, resource: 'copytargets', namespace, name: req.params.name });
    return copyNamed(namespace, req.params.name);
  };

  const listCopies = (req: FastifyRequest<{ Params: NsParams }>) =>
    traced(req, 'GET copytargets', async () => {
      const ns = req.params.namespace === undefined ? undefined : validateNamespace(req.params.namespace);
      await authorize(deps, requireIdentity(req), {
        verb: 'list',
        resource: 'copytargets',
        ...(ns === undefined ? {} : { namespace: ns }),
      });
      return list('CopyTarget', (await deps.agents.copyTargets(ns)).map(copyTargetCrd));
    });
  app.get(`${API_PREFIX}/copytargets`, listCopies);
  app.get(`${API_PREFIX}/namespaces/:namespace/copytargets`, listCopies);

  // Create: the copy is made for a new (creator) session, which the CLI connects with next.
  app.post(
    routeOf(operatorApi.createCopyTarget),
    (req: FastifyRequest<{ Params: { namespace: string }; Body: unknown }>, reply) =>
      traced(req, 'POST copytargets', async (): Promise<ReplyOf<typeof operatorApi.createCopyTarget>> => {
        const who = requireIdentity(req);
        const namespace = validateNamespace(req.params.namespace);
        await authorize(deps, who, { verb: 'create', resource: 'copytargets', namespace });
        const body = parseWith(operatorApi.createCopyTarget.request, req.body ?? {}, 'body');
        const t = targetFromConfig(body.spec.target, 'spec.target');
        if (t.kind === 'targetless')
          throw invalid('spec.target', 'a copy needs a target', 'name a deployment, pod, rollout, job, …');
        if (body.spec.exclude_containers.length || body.spec.exclude_init_containers.length)
          throw invalid(
            'spec.exclude_containers',
            'is not supported by mirrord-teams yet',
            'remove it from copy_target',
          );
        // Refused now, naming spec.split_queues…, rather than when the CLI connects to the copy.
        copySplits(body.spec);
        const target = await deps.targets.resolve(who, namespace, t, { copy: true });
        const session_id = newSessionId();
        const client = clientOf(deps, req, who, {
          client_cli_version: String(req.headers['x-mirrord-cli-version'] ?? ''),
        });
        const decision = await deps.policy.evaluateStart({
          who,
          target,
          config: copyConfig(undefined, body.spec.scale_down),
        });
        if (!decision.allowed) {
          const e = new AppError(ErrorCode.Forbidden, decision.message);
          const base = { who, req: { session_id } as ConnectRequest, target, client };
          await recordRejection(deps, base, e, 'start', decision.policy ? { policy: decision.policy } : {});
          throw e;
        }
        // The spec as the CLI sent it: listed back unchanged, so the CLI's equality check can reuse it.
        const sent = (req.body as { spec: Record<string, unknown> }).spec;
        const copy = await deps.agents.createCopy({
          session_id,
          namespace,
          target,
          agent: { ...AGENT_DEFAULTS },
          copy_target: {
            scale_down: body.spec.scale_down,
            spec: sent,
            ...(body.spec.idle_ttl != null ? { idle_ttl: body.spec.idle_ttl } : {}),
          },
          client: { ...client },
        });
        void reply.code(201);
        return copyTargetCrd(copy);
      }),
  );

  const deleteCopy = (req: FastifyRequest<{ Params: Params }>) =>
    traced(req, 'DELETE copytargets/{name}', async () => {
      const namespace = validateNamespace(req.params.namespace);
      const name = req.params.name;
      await authorize(deps, requireIdentity(req), { verb: 'delete', resource: 'copytargets', namespace, name });
      if (!(await deps.agents.deleteCopy(namespace, name)))
        throw notFound(`copy target "${name}" not found in namespace "${namespace}"`);
      return successStatus(`copy target ${name} deleted`, { kind: 'copytargets', name });
    });
  app.delete(`${API_PREFIX}/namespaces/:namespace/copytargets/:name`, deleteCopy);

  // Get (the CLI polls it until Ready), or connect: a session on the copy's agent.
  connectOrGet(
    app,
    deps,
    'copytargets',
    async (req) => {
      const c = await authorizedCopy(req, 'proxy');
      // A copy runs with its creator's environment: only their user may connect to it, whatever
      // session id is presented (the identity is the authenticated one, never a request field).
      if (c.client_user !== requireIdentity(req).user)
        throw forbidden(
          c.client_user === undefined
            ? `copy target "${c.name}" does not record its user (made by an older operator); create a new one`
            : `copy target "${c.name}" belongs to another user; create your own (copy_target in your mirrord config)`,
        );
      return startConnect(deps, req, {
        params: { namespace: c.namespace, name: formatDottedTarget(parseTarget(c.target)) },
        adapt: (cr) => ({
          ...cr,
          copy_target: {
            scale_down: c.scale_down,
            name: c.name,
            ...(c.spec ? { spec: c.spec } : {}),
            idle_ttl: c.idle_ttl,
          },
          config: copyConfig(cr.config, c.scale_down),
          // In copy-target mode the CLI's connect carries no queue parameters: the splits are
          // the ones the copy was created with.
          ...(c.spec?.split_queues != null ? { queue_splits: copySplits(c.spec) } : {}),
        }),
      });
    },
    async (req) => copyTargetCrd(await authorizedCopy(req, 'get')),
  );
}
