import { didYouMean } from './suggest.js';

/**
 * The target types mirrord's own config parser knows (`Target::from_str` in
 * mirrord/config/src/target.rs), spelled as it spells them: case-sensitive, no plurals and no
 * kubectl short names (`sts/x` and `Deployment/x` fail in mirrord, so they fail here too).
 */
const MIRRORD_TYPES = [
  'deployment',
  'deploy',
  'rollout',
  'pod',
  'job',
  'cronjob',
  'statefulset',
  'service',
  'replicaset',
  'label',
] as const;

/** kubectl spellings a user may reach for, and the name mirrord wants instead. */
const KUBECTL_SPELLINGS: Readonly<Record<string, string>> = Object.freeze({
  deployments: 'deployment',
  pods: 'pod',
  po: 'pod',
  rollouts: 'rollout',
  jobs: 'job',
  cronjobs: 'cronjob',
  cj: 'cronjob',
  statefulsets: 'statefulset',
  sts: 'statefulset',
  services: 'service',
  svc: 'service',
  replicasets: 'replicaset',
  rs: 'replicaset',
});

const FORMS =
  'mirrord takes targetless, <type>/<name>[/container/<name>] with type deployment (deploy), pod, rollout, job, cronjob, statefulset, service or replicaset, or label/<key>=<value>[,…]';

/** Kinds mirrord never targets: no did-you-mean for these (`node` is not a typo of `pod`). */
const OTHER_KINDS = new Set(['node', 'nodes', 'no', 'namespace', 'namespaces', 'ns', 'configmap', 'secret', 'ingress']);

function suggestType(type: string): string | undefined {
  const lower = type.toLowerCase();
  if (OTHER_KINDS.has(lower)) return undefined;
  if ((MIRRORD_TYPES as readonly string[]).includes(lower)) return lower;
  return KUBECTL_SPELLINGS[lower] ?? didYouMean(lower, MIRRORD_TYPES);
}

/** `label/<k>=<v>[,<k>=<v>…][/container/<c>]`, as `LabelTarget::from_str` reads it. */
function labelError(s: string): string | undefined {
  const path = s.slice('label/'.length);
  const cut = path.lastIndexOf('/container/');
  const selector = cut < 0 ? path : path.slice(0, cut);
  if (cut >= 0) {
    const container = path.slice(cut + '/container/'.length);
    if (container === '' || container.includes('/')) return `"${s}" has no valid container after /container/`;
  }
  if (selector === '') return `"${s}" names no label (label/<key>=<value>[,…])`;
  const keys = new Set<string>();
  for (const requirement of selector.split(',')) {
    const eq = requirement.indexOf('=');
    if (eq <= 0) return `"${requirement}" in "${s}" is not <key>=<value>`;
    const key = requirement.slice(0, eq);
    if (keys.has(key)) return `"${s}" names the label "${key}" twice`;
    keys.add(key);
  }
  return undefined;
}

/**
 * Why mirrord itself would refuse this target string, or undefined when it parses it. Only the
 * shape is mirrord's business here: a name it takes but Kubernetes would not (the generated
 * `pod/<changeme>`) passes, and is a warning of the caller's.
 */
export function mirrordTargetError(s: string): string | undefined {
  if (s === 'targetless') return undefined;
  const parts = s.split('/');
  const type = parts[0]!;
  if (type === 'label') return labelError(s);
  if (!(MIRRORD_TYPES as readonly string[]).includes(type)) {
    const hint = suggestType(type);
    return parts.length === 1
      ? `"${s}" is not a target${hint ? `; did you mean ${hint}/${s}?` : ''} (${FORMS})`
      : `unknown target type "${type}" in "${s}"${hint ? `; did you mean "${hint}"?` : ''} (${FORMS})`;
  }
  if (parts.length === 1) return `"${s}" names no ${type}; expected ${type}/<name>[/container/<name>]`;
  if (parts.length === 2) return undefined;
  if (parts.length === 4 && parts[2] === 'container' && parts[3] !== '') return undefined;
  return `"${s}" is not ${type}/<name> or ${type}/<name>/container/<name>`;
}
