import { KubeError } from './store.js';

type J = unknown;
const isObj = (v: J): v is Record<string, J> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: J, patch: J): J {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Record<string, J> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Strategic merge patch, as far as the project's objects need it: lists of named objects
 * (containers, env, ports by name) merge by `name`; other lists are replaced.
 */
export function strategicMergePatch(target: J, patch: J): J {
  if (
    Array.isArray(patch) &&
    Array.isArray(target) &&
    patch.every((p) => isObj(p) && typeof p.name === 'string') &&
    target.every((t) => isObj(t) && typeof t.name === 'string')
  ) {
    const out = target.map((t) => structuredClone(t));
    for (const p of patch as Array<Record<string, J>>) {
      if (p.$patch === 'delete') {
        const i = out.findIndex((t) => (t as Record<string, J>).name === p.name);
        if (i >= 0) out.splice(i, 1);
        continue;
      }
      const i = out.findIndex((t) => (t as Record<string, J>).name === p.name);
      if (i >= 0) out[i] = strategicMergePatch(out[i], p);
      else out.push(structuredClone(p));
    }
    return out;
  }
  if (!isObj(patch)) return structuredClone(patch);
  const out: Record<string, J> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) delete out[k];
    else out[k] = strategicMergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 JSON patch (add, replace, remove, test): what @kubernetes/client-node sends by default. */
export function jsonPatch(target: J, ops: J): J {
  if (!Array.isArray(ops)) throw new KubeError(400, 'BadRequest', 'json patch: expected an array of operations');
  let doc = structuredClone(target);
  for (const op of ops as Array<{ op: string; path: string; value?: J }>) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (parts.length === 0) {
      if (op.op === 'replace' || op.op === 'add') doc = structuredClone(op.value);
      continue;
    }
    let parent: J = doc;
    for (const p of parts.slice(0, -1)) {
      if (Array.isArray(parent)) parent = parent[Number(p)];
      else if (isObj(parent)) parent = parent[p] ??= op.op === 'add' ? {} : undefined;
      if (parent === undefined) throw new KubeError(422, 'Invalid', `json patch: path ${op.path} does not exist`);
    }
    const last = parts[parts.length - 1]!;
    if (op.op === 'test') {
      const cur = Array.isArray(parent) ? parent[Number(last)] : (parent as Record<string, J>)[last];
      if (JSON.stringify(cur) !== JSON.stringify(op.value))
        throw new KubeError(422, 'Invalid', `json patch: test failed at ${op.path}`);
    } else if (op.op === 'remove') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete (parent as Record<string, J>)[last];
    } else if (op.op === 'add' || op.op === 'replace') {
      if (Array.isArray(parent)) {
        if (last === '-') parent.push(structuredClone(op.value));
        else if (op.op === 'add') parent.splice(Number(last), 0, structuredClone(op.value));
        else parent[Number(last)] = structuredClone(op.value);
      } else (parent as Record<string, J>)[last] = structuredClone(op.value);
    } else throw new KubeError(422, 'Invalid', `json patch: unsupported op "${op.op}"`);
  }
  return doc;
}
