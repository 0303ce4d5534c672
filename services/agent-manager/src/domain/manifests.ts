import { CAPABILITIES, type AgentConfig } from '#shared/mirrord-config/index.js';
import type { PrepareRequest } from './request.js';
import { AGENT_KEY, agentObjectName, TARGET_POD, usesLabel } from './shared-agents.js';

export { ROLE_LABEL, SESSION_LABEL } from '#shared/kube/labels.js';
import { ROLE_LABEL, SESSION_LABEL } from '#shared/kube/labels.js';
/** On a copy pod that scaled its deployment down: `<name>` and the replica count to restore. */
export const SCALED_DEPLOYMENT = 'mirrord.metalbear.co/scaled-deployment';
export const ORIGINAL_REPLICAS = 'mirrord.metalbear.co/original-replicas';
export const AGENT_PORT = 44128;
/** On a copy pod: identity of identical copies, and when its last session ended. */
export const COPY_KEY = 'mirrord.metalbear.co/copy-key';
/** The session that made a copy (its session label follows whoever uses it now). */
export const CREATOR_SESSION = 'mirrord.metalbear.co/creator-session';
/** A copy made through the CLI's `CopyTarget`: its spec (JSON, listed back as sent), creator and idle TTL. */
export const COPY_SPEC = 'mirrord.metalbear.co/copy-target-spec';
export const CREATOR_USER_ID = 'mirrord.metalbear.co/creator-user-id';
/** The authenticated user a copy was made for (the gateway's `client_user`): only they may use it. */
export const CREATOR_USER = 'mirrord.metalbear.co/creator-user';
export const COPY_IDLE_TTL = 'mirrord.metalbear.co/idle-ttl';

type Obj = Record<string, unknown>;
const dns = (s: string, max = 63) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, max)
    .replace(/-+$/, '');

/** How the agent reaches the target (`agent/src/cli.rs`): its network namespace, or none. */
export type AgentMode =
  | { mode: 'targetless' }
  | { mode: 'ephemeral'; container_id?: string }
  | { mode: 'targeted'; container_id: string; container_runtime: string };

/**
 * Seconds a Job agent outlives its last client by itself: long, because agent-manager decides
 * its life (OPERATOR_AGENT_IDLE_TTL); this only bounds an agent agent-manager lost track of.
 */
export const agentSelfIdleTtl = (operatorIdleTtlSeconds: number): number => Math.max(3600, operatorIdleTtlSeconds + 60);

/**
 * The agent's command line as the real `mirrord-agent` takes it: global flags (`-l` port,
 * `-t` seconds to wait for the first client), then the mode; the operator certificate travels
 * in `AGENT_OPERATOR_CERT_ENV` (the agent then does the TLS client side).
 */
export function agentCommand(cfg: AgentConfig, m: AgentMode): string[] {
  const mode =
    m.mode === 'targeted'
      ? ['targeted', '--container-id', m.container_id, '--container-runtime', m.container_runtime]
      : [m.mode];
  return ['./mirrord-agent', '-l', String(AGENT_PORT), '-t', String(cfg.startup_timeout), ...mode];
}

function agentContainer(
  cfg: AgentConfig,
  m: AgentMode,
  operatorCertPem: string | undefined,
  withResources: boolean,
  idleTtlSeconds: number,
): Obj {
  const caps = CAPABILITIES.filter((c) => !cfg.disabled_capabilities.includes(c));
  return {
    name: 'mirrord-agent',
    image: cfg.image,
    imagePullPolicy: cfg.image_pull_policy,
    command: agentCommand(cfg, m),
    env: [
      { name: 'RUST_LOG', value: cfg.log_level },
      { name: 'MIRRORD_AGENT_JSON_LOG', value: String(cfg.json_log) },
      { name: 'MIRRORD_AGENT_IDLE_TTL', value: String(idleTtlSeconds) },
      ...(m.mode === 'ephemeral' && m.container_id
        ? [{ name: 'MIRRORD_AGENT_EPHEMERAL_TARGET_CONTAINER_ID', value: m.container_id }]
        : []),
      ...(operatorCertPem ? [{ name: 'AGENT_OPERATOR_CERT_ENV', value: operatorCertPem }] : []),
    ],
    securityContext: { privileged: cfg.privileged, capabilities: { add: caps } },
    ...(withResources ? { resources: cfg.resources } : {}),
  };
}

/** The mode for a Job agent: in the target container's namespaces when the pod says which container runs. */
export function jobMode(pod: PrepareRequest['pod']): AgentMode {
  if (pod?.container_id && pod.container_runtime)
    return { mode: 'targeted', container_id: pod.container_id, container_runtime: pod.container_runtime };
  return { mode: 'targetless' };
}

export interface AgentJobInput {
  req: PrepareRequest;
  /** Namespace of the Job (agent.namespace, else OPERATOR_AGENT_NAMESPACE). */
  namespace: string;
  key: string;
  operatorCertPem: string | undefined;
  /** OPERATOR_AGENT_IDLE_TTL in seconds. */
  idleTtlSeconds: number;
}

/**
 * The agent Job of a target: on the target's node (targetless: `node_selector`), named after
 * its key so two sessions racing to create it make one, labelled with the session that asked.
 */
export function agentJob({ req, namespace, key, operatorCertPem, idleTtlSeconds }: AgentJobInput): Obj {
  const cfg = req.agent;
  const labels = { ...cfg.labels, app: 'mirrord-agent', [ROLE_LABEL]: 'agent', [AGENT_KEY]: key };
  const node = req.pod?.node;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: agentObjectName(key),
      namespace,
      labels: { ...labels, [usesLabel(req.session_id)]: 'true' },
      annotations: { ...cfg.annotations, ...(req.pod ? { [TARGET_POD]: `${req.namespace}/${req.pod.name}` } : {}) },
    },
    spec: {
      ttlSecondsAfterFinished: cfg.ttl,
      backoffLimit: 0,
      template: {
        metadata: { labels, annotations: cfg.annotations },
        spec: {
          restartPolicy: 'Never',
          hostPID: true,
          ...(node ? { nodeName: node } : { nodeSelector: cfg.node_selector }),
          tolerations: cfg.tolerations,
          imagePullSecrets: cfg.image_pull_secrets,
          ...(cfg.service_account ? { serviceAccountName: cfg.service_account } : {}),
          containers: [agentContainer(cfg, jobMode(req.pod), operatorCertPem, true, agentSelfIdleTtl(idleTtlSeconds))],
        },
      },
    },
  };
}

/**
 * The agent as an ephemeral container of the target pod (`agent.ephemeral`). Ephemeral
 * containers cannot be removed, so this agent ends itself after OPERATOR_AGENT_IDLE_TTL
 * without a client (the real agent's MIRRORD_AGENT_IDLE_TTL).
 */
export function ephemeralAgent(
  req: PrepareRequest,
  name: string,
  operatorCertPem: string | undefined,
  idleTtlSeconds: number,
): Obj {
  const m: AgentMode = { mode: 'ephemeral', ...(req.pod?.container_id ? { container_id: req.pod.container_id } : {}) };
  return {
    ...agentContainer(req.agent, m, operatorCertPem, false, Math.max(1, idleTtlSeconds)),
    name,
    targetContainerName: req.pod?.container,
  };
}

/**
 * A copy of the target's pod template: labels kept (so it receives the same traffic), probes
 * dropped (a paused process under mirrord must not be restarted), labelled with the session.
 */
export function copyPod(
  req: PrepareRequest,
  template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Obj },
  suffix: string,
  key: string,
  original?: { deployment: string; replicas: number },
): Obj {
  const spec = structuredClone(template.spec ?? {}) as {
    containers?: Obj[];
    initContainers?: Obj[];
    restartPolicy?: string;
  };
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    delete c.livenessProbe;
    delete c.readinessProbe;
    delete c.startupProbe;
  }
  const t = req.parsedTarget;
  const name = t.kind === 'workload' ? t.name : 'targetless';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: dns(`mirrord-copy-${name}-${suffix}`),
      namespace: req.namespace,
      labels: { ...(template.metadata?.labels ?? {}), [SESSION_LABEL]: req.session_id, [ROLE_LABEL]: 'copy' },
      annotations: {
        ...(template.metadata?.annotations ?? {}),
        'mirrord.metalbear.co/copy-of': req.target,
        [COPY_KEY]: key,
        [CREATOR_SESSION]: req.session_id,
        ...(typeof req.client.client_user === 'string' && req.client.client_user
          ? { [CREATOR_USER]: req.client.client_user }
          : {}),
        ...(typeof req.client.user_id === 'string' && req.client.user_id
          ? { [CREATOR_USER_ID]: req.client.user_id }
          : {}),
        ...(req.copy_target?.spec ? { [COPY_SPEC]: JSON.stringify(req.copy_target.spec) } : {}),
        ...(req.copy_target?.idle_ttl !== undefined ? { [COPY_IDLE_TTL]: String(req.copy_target.idle_ttl) } : {}),
        ...(original
          ? { [SCALED_DEPLOYMENT]: original.deployment, [ORIGINAL_REPLICAS]: String(original.replicas) }
          : {}),
      },
    },
    spec: {
      ...spec,
      restartPolicy: spec.restartPolicy === 'Always' || !spec.restartPolicy ? 'Never' : spec.restartPolicy,
    },
  };
}
