import { invalid } from '#shared/errors/index.js';
import type { EnvLocation } from './registry.js';

/** The parts of a pod template the splitter reads and patches (Deployment and Rollout alike). */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: { name: string; env?: EnvVar[] }[] };
}

/** The label patched pods carry (queues.md), so a user sees which pods read the fallback. */
export const PATCHED_LABEL = 'operator.metalbear.co/patched';

function container(t: PodTemplate, at: EnvLocation, what: string) {
  const cs = t.spec?.containers ?? [];
  const c = at.container === undefined ? cs[0] : cs.find((x) => x.name === at.container);
  if (!c)
    throw invalid(
      what,
      `the workload has no container ${at.container === undefined ? '' : `"${at.container}"`} (containers: ${cs.map((x) => x.name).join(', ') || 'none'})`,
      'fix the container name in the queue resource',
    );
  return c;
}

/**
 * The value of a variable as the template sets it: a literal `value` only — one from a
 * ConfigMap or Secret would need the referenced object, which the registry's `fallbackName`
 * stands in for. Absent: undefined.
 */
export function envValue(t: PodTemplate, at: EnvLocation, what: string): string | undefined {
  const v = container(t, at, what).env?.find((e) => e.name === at.variable);
  if (v === undefined) return undefined;
  if (v.value !== undefined) return v.value;
  if (v.valueFrom !== undefined)
    throw invalid(
      what,
      `${at.variable} is set from ${Object.keys(v.valueFrom as object).join(', ')}, not a literal value`,
      'set fallbackName in the registry to the queue name, or give the variable a literal value',
    );
  return '';
}

/**
 * The template with `at` set to `value` (replacing a `valueFrom` too), and the entry it replaced
 * (undefined when the variable was absent) so a restore puts back exactly what was there.
 */
export function setEnv(
  t: PodTemplate,
  at: EnvLocation,
  value: string,
  what: string,
): { template: PodTemplate; replaced: EnvVar | undefined } {
  const copy = structuredClone(t);
  const c = container(copy, at, what);
  c.env ??= [];
  const i = c.env.findIndex((e) => e.name === at.variable);
  const replaced = i >= 0 ? c.env[i] : undefined;
  if (i >= 0) c.env[i] = { name: at.variable, value };
  else c.env.push({ name: at.variable, value });
  return { template: copy, replaced };
}

/** The template with `at` back as `original` was (removed when it was absent). */
export function restoreEnv(t: PodTemplate, at: EnvLocation, original: EnvVar | undefined, what: string): PodTemplate {
  const copy = structuredClone(t);
  const c = container(copy, at, what);
  const env = (c.env ?? []).filter((e) => e.name !== at.variable);
  const i = (c.env ?? []).findIndex((e) => e.name === at.variable);
  if (original) env.splice(i >= 0 ? i : env.length, 0, original);
  c.env = env;
  return copy;
}

/** Marks (or unmarks) the template's pods as reading a fallback queue. */
export function withPatchedLabel(t: PodTemplate, patched: boolean): PodTemplate {
  const copy = structuredClone(t);
  copy.metadata ??= {};
  const labels = { ...(copy.metadata.labels ?? {}) };
  if (patched) labels[PATCHED_LABEL] = 'true';
  else delete labels[PATCHED_LABEL];
  copy.metadata.labels = labels;
  return copy;
}
