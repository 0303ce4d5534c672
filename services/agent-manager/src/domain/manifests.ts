import { CAPABILITIES, type AgentConfig } from '#shared/mirrord-config/index.js';
import type { PrepareRequest } from './request.js';

/** Every object made for a session carries these, so cleanup and reconciliation can find it. */
export const SESSION_LABEL = 'mirrord.metalbear.co/session';
export const ROLE_LABEL = 'mirrord.metalbear.co/role';
/** On a copy pod that scaled its deployment down: `<name>` and the replica count to restore. */
export const SCALED_DEPLOYMENT = 'mirrord.metalbear.co/scaled-deployment';
export const ORIGINAL_REPLICAS = 'mirrord.metalbear.co/original-replicas';
export const AGENT_PORT = 44128;
/** On a copy pod: identity of identical copies, and when its last session ended. */
export const COPY_KEY = 'mirrord.metalbear.co/copy-key';
export const IDLE_SINCE = 'mirrord.metalbear.co/idle-since';
/** The session that made a copy (its session label follows whoever uses it now). */
export const CREATOR_SESSION = 'mirrord.metalbear.co/creator-session';

type Obj = Record<string, unknown>;
const dns = (s: string, max = 63) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, max)
    .replace(/-+$/, '');

function agentContainer(cfg: AgentConfig, withResources: boolean): Obj {
  const caps = CAPABILITIES.filter((c) => !cfg.disabled_capabilities.includes(c));
  return {
    name: 'mirrord-agent',
    image: cfg.image,
    imagePullPolicy: cfg.image_pull_policy,
    command: ['./mirrord-agent', '-l', String(AGENT_PORT)],
    env: [
      { name: 'RUST_LOG', value: cfg.log_level },
      { name: 'MIRRORD_AGENT_JSON_LOG', value: String(cfg.json_log) },
    ],
    securityContext: { privileged: cfg.privileged, capabilities: { add: caps } },
    ...(withResources ? { resources: cfg.resources } : {}),
  };
}

/** Where the agent finds its TLS material (a Secret mounted read-only). */
export const AGENT_TLS_DIR = '/etc/mirrord/tls';

export const agentName = (req: PrepareRequest, suffix: string) => dns(`mirrord-agent-${req.session_id}-${suffix}`);

/** The Secret holding an agent's certificate, key and the operator CA. */
export function agentTlsSecret(
  req: PrepareRequest,
  namespace: string,
  name: string,
  pem: { cert: string; key: string; ca: string },
): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name: `${name}-tls`,
      namespace,
      labels: { [SESSION_LABEL]: req.session_id, [ROLE_LABEL]: 'agent-tls' },
    },
    stringData: { 'tls.crt': pem.cert, 'tls.key': pem.key, 'ca.crt': pem.ca },
  };
}

/** The agent Job: in the agent namespace, on the target's node (targetless: `node_selector`). */
export function agentJob(req: PrepareRequest, agentNamespace: string, suffix: string, tlsSecret?: string): Obj {
  const cfg = req.agent;
  const labels = { ...cfg.labels, app: 'mirrord-agent', [SESSION_LABEL]: req.session_id, [ROLE_LABEL]: 'agent' };
  const node = req.pod?.node;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: agentName(req, suffix),
      namespace: cfg.namespace ?? agentNamespace,
      labels,
      annotations: cfg.annotations,
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
          containers: [tlsSecret ? withTls(agentContainer(cfg, true)) : agentContainer(cfg, true)],
          ...(tlsSecret ? { volumes: [{ name: 'tls', secret: { secretName: tlsSecret } }] } : {}),
        },
      },
    },
  };
}

function withTls(c: Obj): Obj {
  return {
    ...c,
    env: [
      ...(c.env as Obj[]),
      { name: 'MIRRORD_AGENT_TLS_CERT', value: `${AGENT_TLS_DIR}/tls.crt` },
      { name: 'MIRRORD_AGENT_TLS_KEY', value: `${AGENT_TLS_DIR}/tls.key` },
      { name: 'MIRRORD_AGENT_OPERATOR_CA', value: `${AGENT_TLS_DIR}/ca.crt` },
    ],
    volumeMounts: [{ name: 'tls', mountPath: AGENT_TLS_DIR, readOnly: true }],
  };
}

/** The agent as an ephemeral container of the target pod (`agent.ephemeral`). */
export function ephemeralAgent(req: PrepareRequest, suffix: string): Obj {
  return { ...agentContainer(req.agent, false), name: agentName(req, suffix), targetContainerName: req.pod?.container };
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
