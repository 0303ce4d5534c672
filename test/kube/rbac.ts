import type { KubeObject } from './registry.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

export interface Attributes {
  verb: string;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  namespace?: string;
  /** Non-resource requests (`/version`, `/apis`, …). */
  path?: string;
}

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs?: string[];
  nonResourceURLs?: string[];
}
interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

export interface RbacObjects {
  roles: KubeObject[];
  clusterRoles: KubeObject[];
  roleBindings: KubeObject[];
  clusterRoleBindings: KubeObject[];
}

const has = (xs: string[] | undefined, x: string): boolean => !!xs && (xs.includes('*') || xs.includes(x));

function resourceMatches(rule: Rule, a: Attributes): boolean {
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource!;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === full) return true;
    if (a.subresource && r === `*/${a.subresource}`) return true;
  }
  return false;
}

/** kube-apiserver's RBAC rule matching (rbac/v1 semantics, without aggregation). */
export function ruleAllows(rule: Rule, a: Attributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (a.path !== undefined) {
    return (rule.nonResourceURLs ?? []).some(
      (u) => u === '*' || u === a.path || (u.endsWith('*') && a.path!.startsWith(u.slice(0, -1))),
    );
  }
  if (!has(rule.apiGroups, a.apiGroup ?? '')) return false;
  if (!resourceMatches(rule, a)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0)
    return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

function subjectMatches(s: Subject, u: UserInfo, bindingNs: string | undefined): boolean {
  if (s.kind === 'User') return s.name === u.username;
  if (s.kind === 'Group') return u.groups.includes(s.name);
  if (s.kind === 'ServiceAccount') return u.username === `system:serviceaccount:${s.namespace ?? bindingNs}:${s.name}`;
  return false;
}

/** Every group a request's user is in, as the authenticator layer adds them. */
export function effectiveGroups(u: UserInfo): string[] {
  const g = new Set(u.groups);
  g.add('system:authenticated');
  const sa = /^system:serviceaccount:([^:]+):/.exec(u.username);
  if (sa) {
    g.add('system:serviceaccounts');
    g.add(`system:serviceaccounts:${sa[1]}`);
  }
  return [...g];
}

export type Decision = { allowed: true; reason: string } | { allowed: false; reason: string };

/** Decides a request as kube-apiserver's RBAC authoriser would. */
export function authorize(objs: RbacObjects, user: UserInfo, a: Attributes): Decision {
  const u = { ...user, groups: effectiveGroups(user) };
  if (u.groups.includes('system:masters')) return { allowed: true, reason: 'system:masters' };
  const role = (kind: string, name: string, ns: string | undefined) =>
    kind === 'ClusterRole'
      ? objs.clusterRoles.find((r) => r.metadata.name === name)
      : objs.roles.find((r) => r.metadata.name === name && r.metadata.namespace === ns);
  const rulesOf = (o: KubeObject | undefined): Rule[] => (o as { rules?: Rule[] } | undefined)?.rules ?? [];
  for (const b of objs.clusterRoleBindings) {
    const subjects = (b as { subjects?: Subject[] }).subjects ?? [];
    if (!subjects.some((s) => subjectMatches(s, u, undefined))) continue;
    const ref = b.roleRef as { kind: string; name: string };
    if (ref.kind !== 'ClusterRole') continue;
    if (rulesOf(role('ClusterRole', ref.name, undefined)).some((r) => ruleAllows(r, a)))
      return {
        allowed: true,
        reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name}" of ClusterRole "${ref.name}" to ${u.username}`,
      };
  }
  if (a.namespace && a.path === undefined) {
    for (const b of objs.roleBindings) {
      if (b.metadata.namespace !== a.namespace) continue;
      const subjects = (b as { subjects?: Subject[] }).subjects ?? [];
      if (!subjects.some((s) => subjectMatches(s, u, b.metadata.namespace))) continue;
      const ref = b.roleRef as { kind: string; name: string };
      if (rulesOf(role(ref.kind, ref.name, b.metadata.namespace)).some((r) => ruleAllows(r, a)))
        return {
          allowed: true,
          reason: `RBAC: allowed by RoleBinding "${b.metadata.name}/${b.metadata.namespace}" of ${ref.kind} "${ref.name}" to ${u.username}`,
        };
    }
  }
  return { allowed: false, reason: '' };
}

/** kube-apiserver's wording for a denied request. */
export function forbiddenMessage(u: UserInfo, a: Attributes): string {
  if (a.path !== undefined) return `forbidden: User "${u.username}" cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const named = a.name ? ` "${a.name}"` : '';
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `${a.resource}${a.apiGroup ? `.${a.apiGroup}` : ''}${named} is forbidden: User "${u.username}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup ?? ''}" ${scope}`;
}
