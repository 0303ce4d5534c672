import { groupVersion, type Registry } from './registry.js';

/**
 * Just enough OpenAPI v3 for kubectl: per group-version, each kind's PATCH operation tagged
 * with its GVK and a `fieldValidation` query parameter, so kubectl apply chooses server-side
 * field validation instead of downloading schemas (the stand-in accepts every field).
 */
export function openApiV3Root(registry: Registry) {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const t of registry.all()) {
    const key = t.group ? `apis/${t.group}/${t.version}` : 'api/v1';
    paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=standin` };
  }
  return { paths };
}

export function openApiV3Doc(registry: Registry, gvPath: string) {
  const paths: Record<string, unknown> = {};
  for (const t of registry.all()) {
    const key = t.group ? `apis/${t.group}/${t.version}` : 'api/v1';
    if (key !== gvPath || t.review) continue;
    const base = `/${key}/${t.namespaced ? 'namespaces/{namespace}/' : ''}${t.plural}/{name}`;
    paths[base] = {
      patch: {
        operationId: `patch${t.kind}`,
        'x-kubernetes-group-version-kind': { group: t.group, version: t.version, kind: t.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes stand-in', version: groupVersion({ group: '', version: 'v1' }) },
    paths,
    components: { schemas: {} },
  };
}
