import { parseAllDocuments } from 'yaml';
import { toConfigIssues, type ConfigIssue } from '../mirrord-config/index.js';
import { compilePolicy, PolicySet } from './policy-set.js';
import { ProfileSet } from './profiles.js';
import { GOVERNANCE_KINDS, governanceDocument, type GovernanceDocument } from './spec.js';

/** A lint finding: which document (file, index, kind/name) and which path in it. */
export interface DocumentIssue extends ConfigIssue {
  source: string;
}

export interface Workload {
  namespace: string;
  kind: string;
  name: string;
  labels: Record<string, string>;
}

export interface ParsedFile {
  governance: GovernanceDocument[];
  /** Workloads (and Services: targets too) with their labels. */
  workloads: Workload[];
  /** Names of the Namespace objects (offline explain: is the asked namespace one of them?). */
  namespaces: string[];
  issues: DocumentIssue[];
}

const WORKLOAD_KINDS = new Set([
  'Deployment',
  'Pod',
  'StatefulSet',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Rollout',
  'Service',
]);

/**
 * Reads YAML (one or many documents): policies and profiles are validated with path-named
 * errors; workloads give their labels (for selectors, offline) and, with Namespaces, say what
 * exists (offline explain warns of a target or namespace the files do not have); other kinds are ignored.
 */
export function parseGovernanceYaml(text: string, file: string, defaultNamespace = 'default'): ParsedFile {
  const out: ParsedFile = { governance: [], workloads: [], namespaces: [], issues: [] };
  const docs = parseAllDocuments(text);
  docs.forEach((doc, i) => {
    const label = `${file}#${i + 1}`;
    if (doc.errors.length) {
      for (const e of doc.errors)
        out.issues.push({ source: label, path: '(yaml)', message: e.message.split('\n')[0]! });
      return;
    }
    let v: unknown;
    try {
      // Errors the parser leaves to conversion (an alias to no anchor, an alias bomb's size limit).
      v = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      out.issues.push({ source: label, path: '(yaml)', message: (e as Error).message.split('\n')[0]! });
      return;
    }
    if (v === null || v === undefined) return;
    if (typeof v !== 'object' || Array.isArray(v)) {
      out.issues.push({ source: label, path: '(root)', message: 'expected a Kubernetes object' });
      return;
    }
    const o = v as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown; labels?: unknown } };
    const name = typeof o.metadata?.name === 'string' ? o.metadata.name : '?';
    const source = `${label} (${String(o.kind)} ${name})`;
    if (typeof o.kind === 'string' && WORKLOAD_KINDS.has(o.kind)) {
      const labels =
        o.metadata?.labels && typeof o.metadata.labels === 'object'
          ? (o.metadata.labels as Record<string, string>)
          : {};
      out.workloads.push({
        namespace: typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : defaultNamespace,
        kind: o.kind,
        name,
        labels,
      });
      return;
    }
    if (o.kind === 'Namespace') {
      out.namespaces.push(name);
      return;
    }
    if (!(GOVERNANCE_KINDS as readonly unknown[]).includes(o.kind)) {
      if (typeof o.kind !== 'string')
        out.issues.push({
          source,
          path: 'kind',
          message: `expected one of ${GOVERNANCE_KINDS.join(', ')} (or a workload)`,
        });
      return;
    }
    const r = governanceDocument.safeParse(v, { reportInput: true });
    if (!r.success) {
      for (const issue of toConfigIssues(r.error.issues)) out.issues.push({ source, ...issue });
      return;
    }
    const d = r.data;
    if ((d.kind === 'MirrordPolicy' || d.kind === 'MirrordProfile') && d.metadata.namespace === undefined)
      d.metadata.namespace = defaultNamespace;
    out.governance.push(d);
  });
  return out;
}

/** Policies and profiles, compiled, from documents (the offline counterpart of the informers). */
export function buildState(docs: readonly GovernanceDocument[]): { policies: PolicySet; profiles: ProfileSet } {
  const policies = new PolicySet();
  const profiles = new ProfileSet();
  for (const d of docs) ingest(d, policies, profiles);
  return { policies, profiles };
}

export function ingest(d: GovernanceDocument, policies: PolicySet, profiles: ProfileSet): void {
  const ns = (d.metadata as { namespace?: string }).namespace;
  switch (d.kind) {
    case 'MirrordPolicy':
    case 'MirrordClusterPolicy':
      policies.upsert(compilePolicy(d.kind, d.metadata.name, ns, d.spec));
      break;
    case 'MirrordProfile':
      profiles.upsert({ id: `${ns}/${d.metadata.name}`, kind: d.kind, spec: d.spec });
      break;
    case 'MirrordClusterProfile':
      profiles.upsert({ id: d.metadata.name, kind: d.kind, spec: d.spec });
      break;
  }
}
