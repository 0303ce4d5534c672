/**
 * Mutations of a valid mirrord config, each with the JSON path its error must name: wrong
 * types, misspelt keys (which must be suggested back), misspelt enum values and out-of-range
 * numbers. Deterministic, so a failing case can be named and re-run.
 */
export interface Mutation {
  name: string;
  config: Record<string, unknown>;
  /** The path the first error must name. */
  path: string;
  /** A fragment the message must contain. */
  says: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const clone = <T>(v: T): T => structuredClone(v);

const ENUM_FIELDS: Record<string, string> = { mode: 'x', on_concurrent_steal: 'x' };
const U16 = new Set(['ttl', 'communication_timeout', 'ignore_ports', 'ports', 'port_mapping']);

function fmt(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function setAt(root: Json, path: (string | number)[], v: Json): void {
  let o = root as Record<string | number, Json>;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, Json>;
  o[path.at(-1)!] = v;
}

function typo(k: string): string {
  if (k.length < 4) return `${k}x`;
  const i = Math.floor(k.length / 2);
  const t = k.slice(0, i - 1) + k[i] + k[i - 1] + k.slice(i + 1);
  return t === k ? `${k}x` : t;
}

/** Keys whose values are free-form maps (labels, overrides): their keys are data, not fields. */
const MAPS = new Set(['labels', 'annotations', 'override', 'mapping', 'node_selector']);

export function mutations(base: Record<string, unknown>, label: string): Mutation[] {
  const out: Mutation[] = [];
  const walk = (v: Json, path: (string | number)[]) => {
    const last = path.at(-1);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const isMap = typeof last === 'string' && MAPS.has(last);
      for (const [k, child] of Object.entries(v)) {
        if (!isMap && !(typeof last === 'number')) {
          const cfg = clone(base) as Json;
          const parent = path.length
            ? (path.reduce<Json>((o, p) => (o as Record<string | number, Json>)[p]!, cfg) as Record<string, Json>)
            : (cfg as Record<string, Json>);
          const renamed = typo(k);
          parent[renamed] = parent[k]!;
          delete parent[k];
          out.push({
            name: `${label}: misspell ${fmt([...path, k])}`,
            config: cfg as Record<string, unknown>,
            path: fmt([...path, renamed]),
            says: `did you mean "${k}"`,
          });
        }
        walk(child, [...path, k]);
      }
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((child, i) => walk(child, [...path, i]));
      return;
    }
    if (v === null || path.length === 0) return;
    const key = String(path.filter((p) => typeof p === 'string').at(-1));
    const parentKey = typeof last === 'number' ? String(path.at(-2)) : key;
    const wrong: Json = typeof v === 'string' ? 12345 : typeof v === 'boolean' ? 'yes' : 'ten';
    const cfg = clone(base) as Json;
    setAt(cfg, path, wrong);
    out.push({
      name: `${label}: wrong type at ${fmt(path)}`,
      config: cfg as Record<string, unknown>,
      path: fmt(path),
      says: 'expected',
    });
    if (typeof v === 'string' && ENUM_FIELDS[key] && typeof last === 'string') {
      const c2 = clone(base) as Json;
      setAt(c2, path, `${v}${ENUM_FIELDS[key]}`);
      out.push({
        name: `${label}: bad value at ${fmt(path)}`,
        config: c2 as Record<string, unknown>,
        path: fmt(path),
        says: `got "${v}x"`,
      });
    }
    if (typeof v === 'number') {
      const c3 = clone(base) as Json;
      setAt(c3, path, U16.has(parentKey) ? 70000 : -1);
      out.push({
        name: `${label}: out of range at ${fmt(path)}`,
        config: c3 as Record<string, unknown>,
        path: fmt(path),
        says: U16.has(parentKey) ? 'at most 65535' : 'at least 0',
      });
    }
  };
  walk(base as Json, []);
  return out;
}
