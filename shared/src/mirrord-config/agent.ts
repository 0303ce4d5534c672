import { invalid } from '../errors/index.js';

/**
 * The mirrord config's `agent` section, read one way everywhere: verify-config and the
 * gateway check it with this (a config that passes them is one agent-manager accepts), and
 * agent-manager builds the agent from its result.
 */
/** The `agent` section of the mirrord config (seed names and defaults). */
export interface AgentConfig {
  image: string;
  image_pull_policy: string;
  /** As mirrord has it: a list of string maps, passed to the pod spec unchanged (`{name}` is what Kubernetes reads). */
  image_pull_secrets: Array<Record<string, string>>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ttl: number;
  tolerations: Array<Record<string, unknown>>;
  resources: Record<string, unknown>;
  node_selector: Record<string, string>;
  service_account?: string;
  privileged: boolean;
  startup_timeout: number;
  ephemeral: boolean;
  disabled_capabilities: string[];
  namespace?: string;
  log_level: string;
  json_log: boolean;
}

export const CAPABILITIES = ['NET_ADMIN', 'NET_RAW', 'SYS_PTRACE', 'SYS_ADMIN'] as const;

export const AGENT_DEFAULTS: AgentConfig = {
  image: 'ghcr.io/metalbear-co/mirrord:latest',
  image_pull_policy: 'IfNotPresent',
  image_pull_secrets: [],
  labels: {},
  annotations: {},
  ttl: 1,
  tolerations: [{ operator: 'Exists' }],
  resources: { requests: { cpu: '1m', memory: '1Mi' }, limits: { cpu: '100m', memory: '100Mi' } },
  node_selector: {},
  privileged: false,
  startup_timeout: 60,
  ephemeral: false,
  disabled_capabilities: [],
  log_level: 'info',
  json_log: false,
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strMap = (v: unknown, field: string): Record<string, string> => {
  if (v === undefined) return {};
  if (!isObj(v) || !Object.values(v).every((x) => typeof x === 'string'))
    throw invalid(field, 'expected an object of strings');
  return v as Record<string, string>;
};

/** `agent.image` as a string or `{registry, tag}` (seed: "Complete setup"). */
function image(v: unknown): string {
  if (v === undefined) return AGENT_DEFAULTS.image;
  if (typeof v === 'string' && v) return v;
  if (isObj(v) && typeof v.registry === 'string')
    return `${v.registry}:${typeof v.tag === 'string' ? v.tag : 'latest'}`;
  throw invalid('agent.image', 'expected an image name or {registry, tag}');
}

export function parseAgentConfig(v: unknown): AgentConfig {
  if (v === undefined || v === null) return { ...AGENT_DEFAULTS };
  if (!isObj(v)) throw invalid('agent', 'expected an object');
  const num = (k: string, min: number) => {
    const x = v[k];
    if (x === undefined) return AGENT_DEFAULTS[k as 'ttl'];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min)
      throw invalid(`agent.${k}`, `expected an integer ≥ ${min}, got ${JSON.stringify(x)}`);
    return x;
  };
  const bool = (k: string) => {
    const x = v[k];
    if (x === undefined) return AGENT_DEFAULTS[k as 'privileged'];
    if (typeof x !== 'boolean') throw invalid(`agent.${k}`, `expected true or false, got ${JSON.stringify(x)}`);
    return x;
  };
  const disabled = v.disabled_capabilities ?? [];
  if (
    !Array.isArray(disabled) ||
    !disabled.every((c) => typeof c === 'string' && (CAPABILITIES as readonly string[]).includes(c))
  )
    throw invalid('agent.disabled_capabilities', `expected a list of ${CAPABILITIES.join(', ')}`);
  const secrets = v.image_pull_secrets ?? [];
  if (
    !Array.isArray(secrets) ||
    !secrets.every((s) => isObj(s) && Object.values(s).every((x) => typeof x === 'string'))
  )
    throw invalid('agent.image_pull_secrets', 'expected a list of string maps, e.g. [{"name": "<secret-name>"}]');
  const tolerations = v.tolerations ?? AGENT_DEFAULTS.tolerations;
  if (!Array.isArray(tolerations) || !tolerations.every(isObj))
    throw invalid('agent.tolerations', 'expected a list of tolerations');
  if (v.resources !== undefined && !isObj(v.resources)) throw invalid('agent.resources', 'expected {requests, limits}');
  const cfg: AgentConfig = {
    image: image(v.image),
    image_pull_policy: typeof v.image_pull_policy === 'string' ? v.image_pull_policy : AGENT_DEFAULTS.image_pull_policy,
    image_pull_secrets: secrets as Array<Record<string, string>>,
    labels: strMap(v.labels, 'agent.labels'),
    annotations: strMap(v.annotations, 'agent.annotations'),
    ttl: num('ttl', 0),
    tolerations: tolerations as Obj[],
    resources: (v.resources as Obj | undefined) ?? AGENT_DEFAULTS.resources,
    node_selector: strMap(v.node_selector, 'agent.node_selector'),
    privileged: bool('privileged'),
    startup_timeout: num('startup_timeout', 1),
    ephemeral: bool('ephemeral'),
    disabled_capabilities: disabled as string[],
    log_level: typeof v.log_level === 'string' ? v.log_level : AGENT_DEFAULTS.log_level,
    json_log: bool('json_log'),
  };
  if (typeof v.service_account === 'string') cfg.service_account = v.service_account;
  if (typeof v.namespace === 'string') cfg.namespace = v.namespace;
  return cfg;
}
