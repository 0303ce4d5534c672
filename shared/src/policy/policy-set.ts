import { compileFancyRegex } from '../mirrord-config/index.js';
import { literalPrefix, selectorMatcher, globMatcher } from './matchers.js';
import type { Blockable, PolicySpec } from './spec.js';

/** A policy ready to evaluate: patterns compiled once, when the resource changes. */
export interface CompiledPolicy {
  /** `namespace/name` for MirrordPolicy, `name` for MirrordClusterPolicy (how decisions name it). */
  id: string;
  kind: 'MirrordPolicy' | 'MirrordClusterPolicy';
  namespace?: string;
  spec: PolicySpec;
  prefix: string;
  matchesPath: (path: string) => boolean;
  matchesLabels: (labels: Readonly<Record<string, string>>) => boolean;
  blocks: ReadonlySet<Blockable>;
  headerFilter?: RegExp;
}

export function compilePolicy(
  kind: CompiledPolicy['kind'],
  name: string,
  namespace: string | undefined,
  spec: PolicySpec,
): CompiledPolicy {
  const p: CompiledPolicy = {
    id: kind === 'MirrordPolicy' ? `${namespace}/${name}` : name,
    kind,
    spec,
    prefix: spec.targetPath === undefined ? '' : literalPrefix(spec.targetPath),
    matchesPath: spec.targetPath === undefined ? () => true : globMatcher(spec.targetPath),
    matchesLabels: spec.selector === undefined ? () => true : selectorMatcher(spec.selector),
    blocks: new Set(spec.block ?? []),
  };
  if (kind === 'MirrordPolicy') p.namespace = namespace;
  const hf = spec.network?.incoming?.httpFilter?.headerFilter;
  if (hf !== undefined) p.headerFilter = compileFancyRegex(hf);
  return p;
}

export interface TargetFacts {
  namespace: string;
  /** The seed's targetPath form: `deploy/x`, `pod/x/container/c`, `targetless`. */
  path: string;
  /** The workload's labels when a workload is targeted, the pod's when a pod is. */
  labels: Readonly<Record<string, string>>;
  copyTarget: boolean;
}

/**
 * Every policy, indexed so a decision only looks at the few that can apply: namespaced
 * policies by namespace, and within a bucket by the literal prefix of their targetPath (a
 * sorted list, binary-searched for the prefixes of the target's path).
 */
class Bucket {
  readonly byPrefix = new Map<string, CompiledPolicy[]>();
  readonly lengths = new Set<number>();

  add(p: CompiledPolicy): void {
    const list = this.byPrefix.get(p.prefix);
    if (list) list.push(p);
    else this.byPrefix.set(p.prefix, [p]);
    this.lengths.add(p.prefix.length);
  }

  remove(id: string): boolean {
    for (const [k, list] of this.byPrefix) {
      const i = list.findIndex((p) => p.id === id);
      if (i < 0) continue;
      list.splice(i, 1);
      if (list.length === 0) {
        this.byPrefix.delete(k);
        if (![...this.byPrefix.keys()].some((x) => x.length === k.length)) this.lengths.delete(k.length);
      }
      return true;
    }
    return false;
  }

  collect(t: TargetFacts, out: CompiledPolicy[]): void {
    for (const n of this.lengths) {
      if (n > t.path.length) continue;
      const list = this.byPrefix.get(t.path.slice(0, n));
      if (!list) continue;
      for (const p of list)
        if (
          p.matchesPath(t.path) &&
          p.matchesLabels(t.labels) &&
          (!t.copyTarget || p.spec.appliesToCopyTargets === true)
        )
          out.push(p);
    }
  }

  get size(): number {
    let n = 0;
    for (const l of this.byPrefix.values()) n += l.length;
    return n;
  }
}

const byId = (a: CompiledPolicy, b: CompiledPolicy) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class PolicySet {
  readonly #namespaced = new Map<string, Bucket>();
  readonly #cluster = new Bucket();

  upsert(p: CompiledPolicy): void {
    this.remove(p.kind, p.id);
    if (p.kind === 'MirrordClusterPolicy') this.#cluster.add(p);
    else {
      let b = this.#namespaced.get(p.namespace!);
      if (!b) this.#namespaced.set(p.namespace!, (b = new Bucket()));
      b.add(p);
    }
  }

  remove(kind: CompiledPolicy['kind'], id: string): void {
    if (kind === 'MirrordClusterPolicy') this.#cluster.remove(id);
    else {
      const ns = id.slice(0, id.indexOf('/'));
      const b = this.#namespaced.get(ns);
      if (b?.remove(id) && b.size === 0) this.#namespaced.delete(ns);
    }
  }

  /** The policies that apply to a target, cluster-wide ones first, each ordered by id. */
  applicable(t: TargetFacts): CompiledPolicy[] {
    const out: CompiledPolicy[] = [];
    this.#cluster.collect(t, out);
    const n = out.length;
    this.#namespaced.get(t.namespace)?.collect(t, out);
    if (n === 0 || n === out.length) return out.sort(byId);
    return [...out.slice(0, n).sort(byId), ...out.slice(n).sort(byId)];
  }

  get size(): number {
    let n = this.#cluster.size;
    for (const b of this.#namespaced.values()) n += b.size;
    return n;
  }
}
