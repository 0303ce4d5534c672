/**
 * The resource types the stand-in serves, as discovery describes them. Built-in types are
 * fixed; CustomResourceDefinitions add theirs when created (as kube-apiserver does).
 */
export interface ResourceType {
  group: string; // '' = core
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  subresources?: string[];
  /** Create-only review types (TokenReview, SubjectAccessReview). */
  review?: boolean;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const builtins: ResourceType[] = [
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
  },
  { group: '', version: 'v1', plural: 'nodes', singular: 'node', kind: 'Node', namespaced: false, shortNames: ['no'] },
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    subresources: ['status', 'ephemeralcontainers'],
  },
  {
    group: '',
    version: 'v1',
    plural: 'services',
    singular: 'service',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
  },
  {
    group: '',
    version: 'v1',
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    kind: 'ServiceAccount',
    namespaced: true,
    shortNames: ['sa'],
  },
  { group: '', version: 'v1', plural: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true },
  {
    group: '',
    version: 'v1',
    plural: 'configmaps',
    singular: 'configmap',
    kind: 'ConfigMap',
    namespaced: true,
    shortNames: ['cm'],
  },
  {
    group: '',
    version: 'v1',
    plural: 'persistentvolumeclaims',
    singular: 'persistentvolumeclaim',
    kind: 'PersistentVolumeClaim',
    namespaced: true,
    shortNames: ['pvc'],
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    subresources: ['scale', 'status'],
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'statefulsets',
    singular: 'statefulset',
    kind: 'StatefulSet',
    namespaced: true,
    shortNames: ['sts'],
    subresources: ['scale', 'status'],
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'replicasets',
    singular: 'replicaset',
    kind: 'ReplicaSet',
    namespaced: true,
    shortNames: ['rs'],
    subresources: ['scale', 'status'],
  },
  {
    group: 'batch',
    version: 'v1',
    plural: 'jobs',
    singular: 'job',
    kind: 'Job',
    namespaced: true,
    subresources: ['status'],
  },
  {
    group: 'batch',
    version: 'v1',
    plural: 'cronjobs',
    singular: 'cronjob',
    kind: 'CronJob',
    namespaced: true,
    shortNames: ['cj'],
  },
  {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'roles',
    singular: 'role',
    kind: 'Role',
    namespaced: true,
  },
  {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'clusterroles',
    singular: 'clusterrole',
    kind: 'ClusterRole',
    namespaced: false,
  },
  {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'rolebindings',
    singular: 'rolebinding',
    kind: 'RoleBinding',
    namespaced: true,
  },
  {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'clusterrolebindings',
    singular: 'clusterrolebinding',
    kind: 'ClusterRoleBinding',
    namespaced: false,
  },
  {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    singular: 'customresourcedefinition',
    kind: 'CustomResourceDefinition',
    namespaced: false,
    shortNames: ['crd', 'crds'],
  },
  {
    group: 'apiregistration.k8s.io',
    version: 'v1',
    plural: 'apiservices',
    singular: 'apiservice',
    kind: 'APIService',
    namespaced: false,
  },
  {
    group: 'authentication.k8s.io',
    version: 'v1',
    plural: 'tokenreviews',
    singular: 'tokenreview',
    kind: 'TokenReview',
    namespaced: false,
    review: true,
  },
  {
    group: 'authorization.k8s.io',
    version: 'v1',
    plural: 'subjectaccessreviews',
    singular: 'subjectaccessreview',
    kind: 'SubjectAccessReview',
    namespaced: false,
    review: true,
  },
  {
    group: 'authorization.k8s.io',
    version: 'v1',
    plural: 'selfsubjectaccessreviews',
    singular: 'selfsubjectaccessreview',
    kind: 'SelfSubjectAccessReview',
    namespaced: false,
    review: true,
  },
];

export const groupVersion = (t: { group: string; version: string }): string =>
  t.group ? `${t.group}/${t.version}` : t.version;

export class Registry {
  readonly #types = new Map<string, ResourceType>(); // `${group}/${version}/${plural}`
  /** Groups served by another server (APIService), mapped to its base URL. */
  readonly aggregated = new Map<string, { version: string; url: string }>();

  constructor() {
    for (const t of builtins) this.add(t);
  }

  add(t: ResourceType): void {
    this.#types.set(`${t.group}/${t.version}/${t.plural}`, t);
  }

  remove(group: string, plural: string): void {
    for (const [k, t] of this.#types) if (t.group === group && t.plural === plural) this.#types.delete(k);
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.#types.get(`${group}/${version}/${plural}`);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    for (const t of this.#types.values()) if (groupVersion(t) === apiVersion && t.kind === kind) return t;
    return undefined;
  }

  all(): ResourceType[] {
    return [...this.#types.values()];
  }

  groups(): Array<{ name: string; versions: string[] }> {
    const m = new Map<string, Set<string>>();
    for (const t of this.#types.values())
      if (t.group) (m.get(t.group) ?? m.set(t.group, new Set()).get(t.group)!).add(t.version);
    for (const [g, a] of this.aggregated) (m.get(g) ?? m.set(g, new Set()).get(g)!).add(a.version);
    return [...m].map(([name, v]) => ({ name, versions: [...v] }));
  }

  resourceList(group: string, version: string) {
    const resources = [];
    for (const t of this.#types.values()) {
      if (t.group !== group || t.version !== version) continue;
      resources.push({
        name: t.plural,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: t.review ? ['create'] : VERBS,
        ...(t.shortNames ? { shortNames: t.shortNames } : {}),
      });
      for (const s of t.subresources ?? [])
        resources.push({
          name: `${t.plural}/${s}`,
          singularName: '',
          namespaced: t.namespaced,
          kind: s === 'scale' ? 'Scale' : t.kind,
          verbs: ['get', 'patch', 'update'],
        });
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources };
  }

  /** Registers (or re-registers) the served versions of a CustomResourceDefinition. */
  applyCrd(crd: KubeObject): void {
    const spec = crd.spec as {
      group: string;
      names: { plural: string; singular?: string; kind: string; shortNames?: string[] };
      scope: string;
      versions: Array<{ name: string; served?: boolean; subresources?: Record<string, unknown> }>;
    };
    this.remove(spec.group, spec.names.plural);
    for (const v of spec.versions) {
      if (v.served === false) continue;
      this.add({
        group: spec.group,
        version: v.name,
        plural: spec.names.plural,
        singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
        kind: spec.names.kind,
        namespaced: spec.scope === 'Namespaced',
        ...(spec.names.shortNames ? { shortNames: spec.names.shortNames } : {}),
        subresources: Object.keys(v.subresources ?? {}),
      });
    }
  }
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
}
