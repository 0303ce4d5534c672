import type { KubeObject } from './registry.js';

/** Does the client (kubectl get) ask for the server-side Table rendering? */
export const wantsTable = (accept: string | undefined): boolean => !!accept && /as=Table/.test(accept);

function age(ts: string | undefined, now = Date.now()): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** The meta.k8s.io/v1 Table kubectl prints: Name, a few type-specific columns, Age. */
export function toTable(items: KubeObject[], kind: string, resourceVersion: string) {
  const extra: Array<{ name: string; cell: (o: KubeObject) => string | number }> = [];
  if (kind === 'Pod') {
    extra.push(
      { name: 'Status', cell: (o) => String(o.status?.phase ?? 'Pending') },
      { name: 'Node', cell: (o) => String((o.spec as { nodeName?: string } | undefined)?.nodeName ?? '<none>') },
    );
  } else if (kind === 'Deployment' || kind === 'StatefulSet' || kind === 'ReplicaSet') {
    extra.push({
      name: 'Ready',
      cell: (o) => `${Number(o.status?.readyReplicas ?? 0)}/${Number(o.spec?.replicas ?? 1)}`,
    });
  }
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name', priority: 0 },
      ...extra.map((c) => ({ name: c.name, type: 'string', format: '', description: c.name, priority: 0 })),
      { name: 'Age', type: 'string', format: '', description: 'Age', priority: 0 },
    ],
    rows: items.map((o) => ({
      cells: [o.metadata.name, ...extra.map((c) => c.cell(o)), age(o.metadata.creationTimestamp)],
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
