import type { KubeObject } from './registry.js';

type Req = (labels: Record<string, string>) => boolean;

/** Label selectors as `kubectl -l` and client-node send them: =, ==, !=, in, notin, exists, !exists. */
export function parseLabelSelector(s: string | undefined): Req {
  if (!s) return () => true;
  const reqs: Req[] = [];
  for (const raw of s.match(/([^,(]+(\([^)]*\))?)/g) ?? []) {
    const part = raw.trim().replace(/^,/, '').trim();
    if (!part) continue;
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part))) {
      const [, k, op, vs] = m;
      const set = vs!.split(',').map((x) => x.trim());
      reqs.push(
        op === 'in'
          ? (l) => l[k!] !== undefined && set.includes(l[k!]!)
          : (l) => l[k!] === undefined || !set.includes(l[k!]!),
      );
    } else if ((m = /^([^!=]+)!=(.*)$/.exec(part))) {
      const [, k, v] = m;
      reqs.push((l) => l[k!.trim()] !== v!.trim());
    } else if ((m = /^([^!=]+)==?(.*)$/.exec(part))) {
      const [, k, v] = m;
      reqs.push((l) => l[k!.trim()] === v!.trim());
    } else if (part.startsWith('!')) reqs.push((l) => l[part.slice(1)] === undefined);
    else reqs.push((l) => l[part] !== undefined);
  }
  return (l) => reqs.every((r) => r(l));
}

function field(o: KubeObject, path: string): string | undefined {
  let cur: unknown = o;
  for (const p of path.split('.'))
    cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[p] : undefined;
  return cur === undefined ? undefined : String(cur);
}

/** Field selectors: `a.b=c`, `a.b==c`, `a.b!=c`, comma-separated. */
export function parseFieldSelector(s: string | undefined): (o: KubeObject) => boolean {
  if (!s) return () => true;
  const reqs = s.split(',').map((part) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(part.trim());
    if (!m) return () => true;
    const [, path, op, v] = m;
    return (o: KubeObject) => (op === '!=' ? field(o, path!) !== v : field(o, path!) === v);
  });
  return (o) => reqs.every((r) => r(o));
}
