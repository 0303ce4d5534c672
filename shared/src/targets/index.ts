import { invalid } from '../errors/index.js';

/**
 * Target syntax (architecture.md): canonical `<type>/<name>[/container/<c>]` with long type
 * names, or `targetless`. Accepted input aliases map to the long names.
 */
export const TargetType = {
  deployment: 'deployment',
  pod: 'pod',
  rollout: 'rollout',
  statefulset: 'statefulset',
  replicaset: 'replicaset',
  job: 'job',
  cronjob: 'cronjob',
  /** A Service: the session takes one of the pods its selector picks (the mirrord CLI's `service/<name>`). */
  service: 'service',
} as const;
export type TargetType = (typeof TargetType)[keyof typeof TargetType];

const aliases: Readonly<Record<string, TargetType>> = Object.freeze({
  deployment: 'deployment',
  deploy: 'deployment',
  deployments: 'deployment',
  pod: 'pod',
  pods: 'pod',
  rollout: 'rollout',
  rollouts: 'rollout',
  statefulset: 'statefulset',
  sts: 'statefulset',
  statefulsets: 'statefulset',
  replicaset: 'replicaset',
  rs: 'replicaset',
  replicasets: 'replicaset',
  job: 'job',
  jobs: 'job',
  cronjob: 'cronjob',
  cronjobs: 'cronjob',
  service: 'service',
  svc: 'service',
  services: 'service',
});

/** Policy targetPath short names (seed: deploy, pod, rollout, statefulset, …). */
const shortName: Readonly<Record<TargetType, string>> = Object.freeze({
  deployment: 'deploy',
  pod: 'pod',
  rollout: 'rollout',
  statefulset: 'statefulset',
  replicaset: 'replicaset',
  job: 'job',
  cronjob: 'cronjob',
  service: 'service',
});

export type Target = { kind: 'targetless' } | { kind: 'workload'; type: TargetType; name: string; container?: string };

// RFC 1123 subdomain (pod and workload names) and label (container names).
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NS = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const fix =
  'use targetless, or <type>/<name>[/container/<name>] with type deployment (deploy), pod, rollout, statefulset, replicaset, job, cronjob or service (svc)';

function build(parts: string[], field: string, input: string): Target {
  if (parts.length === 1 && parts[0] === 'targetless') return { kind: 'targetless' };
  if (parts.length !== 2 && parts.length !== 4) throw invalid(field, `"${input}" is not a target`, fix);
  const type = aliases[parts[0]!.toLowerCase()];
  if (!type) throw invalid(field, `unknown target type "${parts[0]}" in "${input}"`, fix);
  const name = parts[1]!;
  if (name.length > 253 || !NAME.test(name))
    throw invalid(field, `"${name}" is not a valid Kubernetes object name`, 'lower-case letters, digits, "-" and "."');
  if (parts.length === 4) {
    if (parts[2] !== 'container')
      throw invalid(field, `expected "/container/<name>" after the target in "${input}"`, fix);
    const c = parts[3]!;
    if (c.length > 63 || !LABEL.test(c))
      throw invalid(field, `"${c}" is not a valid container name`, 'lower-case letters, digits and "-"');
    return { kind: 'workload', type, name, container: c };
  }
  return { kind: 'workload', type, name };
}

/** Parses the slash form (`deploy/x`, `pod/x/container/c`, `targetless`). */
export function parseTarget(input: string, field = 'target'): Target {
  const s = input.trim();
  if (s === '') throw invalid(field, 'is empty', fix);
  return build(s.split('/'), field, input);
}

/**
 * Parses the dotted connect-URL form (`deployment.x`, `pod.x.container.c`). Object names may
 * contain dots, so the `.container.` marker is found from the right.
 */
export function parseDottedTarget(input: string, field = 'target'): Target {
  const s = input.trim();
  if (s === 'targetless') return { kind: 'targetless' };
  const dot = s.indexOf('.');
  if (dot <= 0)
    throw invalid(
      field,
      `"${input}" is not a target`,
      'use the dotted form, e.g. deployment.my-app or pod.my-pod.container.app',
    );
  const type = s.slice(0, dot);
  const rest = s.slice(dot + 1);
  const ci = rest.lastIndexOf('.container.');
  if (ci > 0) return build([type, rest.slice(0, ci), 'container', rest.slice(ci + '.container.'.length)], field, input);
  return build([type, rest], field, input);
}

export function formatTarget(t: Target): string {
  if (t.kind === 'targetless') return 'targetless';
  return t.container ? `${t.type}/${t.name}/container/${t.container}` : `${t.type}/${t.name}`;
}

export function formatDottedTarget(t: Target): string {
  if (t.kind === 'targetless') return 'targetless';
  return t.container ? `${t.type}.${t.name}.container.${t.container}` : `${t.type}.${t.name}`;
}

/** The seed's policy targetPath form (`deploy/<name>[/container/<c>]`). */
export function policyTargetPath(t: Target): string {
  if (t.kind === 'targetless') return 'targetless';
  const base = `${shortName[t.type]}/${t.name}`;
  return t.container ? `${base}/container/${t.container}` : base;
}

/**
 * The workload part of the port-lock key: the container does not split a lock. Until target
 * resolution exists, a pod and its owning deployment are different keys.
 */
export function lockTargetOf(canonical: string): string {
  const i = canonical.indexOf('/container/');
  return i < 0 ? canonical : canonical.slice(0, i);
}

export function validateNamespace(ns: string, field = 'namespace'): string {
  if (ns.length > 63 || !NS.test(ns))
    throw invalid(
      field,
      `"${ns}" is not a valid namespace`,
      'lower-case letters, digits and "-", at most 63 characters',
    );
  return ns;
}

/** The `targets` resourceName RBAC rules match (seed: `deployment.my-deployment`, `pod.my-pod`). */
export function rbacTargetName(t: Target): string {
  return t.kind === 'targetless' ? 'targetless' : `${t.type}.${t.name}`;
}

/** mirrord's config keys for target types where they differ from ours (`stateful_set`, …). */
const CONFIG_KEY: Partial<Record<TargetType, string>> = {
  statefulset: 'stateful_set',
  cronjob: 'cron_job',
  replicaset: 'replica_set',
};

/** A target as mirrord's untagged `Target` config: `{deployment: "x", container: null}`, or `targetless`. */
export function targetConfig(t: Target): Record<string, string | null> | 'targetless' {
  if (t.kind === 'targetless') return 'targetless';
  return { [CONFIG_KEY[t.type] ?? t.type]: t.name, container: t.container ?? null };
}

/** The inverse: mirrord's untagged `Target` (as the CLI sends it in a `CopyTarget`) to ours. */
export function targetFromConfig(v: Record<string, string | null> | 'targetless', field = 'target'): Target {
  if (v === 'targetless') return { kind: 'targetless' };
  const keys = Object.keys(v).filter((k) => k !== 'container');
  const key = keys[0];
  const type = key === undefined ? undefined : (Object.entries(CONFIG_KEY).find(([, k]) => k === key)?.[0] ?? key);
  const name = key === undefined ? undefined : v[key];
  if (keys.length !== 1 || !type || !(type in TargetType) || typeof name !== 'string')
    throw invalid(field, `expected one of ${Object.keys(TargetType).join(', ')} with a name, e.g. {"deployment": "x"}`);
  const container = v.container;
  return parseTarget(`${type}/${name}${typeof container === 'string' ? `/container/${container}` : ''}`, field);
}
