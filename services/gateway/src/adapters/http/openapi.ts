import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as z from 'zod';
import { apiResources, type ApiResource } from '#shared/contracts/index.js';
import { GROUP } from '../../app/authorize.js';
import { apiResourceList } from './resources.js';

/**
 * The OpenAPI documents kube-apiserver's aggregator downloads from every APIService
 * (`/openapi/v2`, and `/openapi/v3` with one document per group-version), generated from the
 * resource schemas in shared/src/contracts/resources.ts. Without them the apiserver logs a
 * failure for our APIService every minute and `kubectl explain` cannot find our kinds.
 *
 * Schemas are made Kubernetes-shaped (structural, as a CRD's): no unions (a union of shapes
 * becomes `x-kubernetes-preserve-unknown-fields`), no `additionalProperties: false`, no
 * `const`; v2 has no `nullable` (it is `x-nullable`). Every definition is inline except the
 * kinds themselves, so each document stands alone (kubectl reads one group-version's).
 */
const VERSION = 'v1';
const GROUP_VERSION = `${GROUP}/${VERSION}`;
const API = `/apis/${GROUP_VERSION}`;
/** Definition names as Kubernetes forms them for CRDs: the group reversed. */
const PREFIX = `${GROUP.split('.').reverse().join('.')}.${VERSION}.`;

type Json = Record<string, unknown>;

/** A JSON Schema from zod made structural (see above); `v2` drops what Swagger 2.0 lacks. */
function structural(s: Json, v2: boolean): Json {
  const out: Json = {};
  const union = (s.anyOf ?? s.oneOf) as Json[] | undefined;
  if (union) {
    const shapes = union.filter(
      (u) => u.type !== 'null' && !(Array.isArray(u.enum) && u.enum.every((e) => e === null)),
    );
    const nullable = shapes.length < union.length;
    const one =
      shapes.length === 1
        ? structural(shapes[0]!, v2)
        : { 'x-kubernetes-preserve-unknown-fields': true as const, description: 'One of several shapes.' };
    return { ...one, ...(s.description ? { description: s.description } : {}), ...nullability(nullable, v2) };
  }
  for (const [k, v] of Object.entries(s)) {
    if (k === '$schema' || k === 'nullable') continue;
    if (k === 'additionalProperties') {
      if (v === false) continue;
      if (typeof v === 'object' && v && Object.keys(v).length === 0) out['x-kubernetes-preserve-unknown-fields'] = true;
      else out[k] = structural(v as Json, v2);
    } else if (k === 'properties')
      out[k] = Object.fromEntries(Object.entries(v as Record<string, Json>).map(([p, ps]) => [p, structural(ps, v2)]));
    else if (k === 'items') out[k] = structural(v as Json, v2);
    else if (k === 'const') out.enum = [v];
    else if (k === 'enum') {
      const values = (v as unknown[]).filter((e) => e !== null);
      if (values.length) out.enum = values;
    } else if ((k === 'minimum' || k === 'maximum') && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    else out[k] = v;
  }
  return { ...out, ...nullability(s.nullable === true, v2) };
}
const nullability = (nullable: boolean, v2: boolean): Json =>
  nullable ? (v2 ? { 'x-nullable': true } : { nullable: true }) : {};

const gvk = (kind: string) => ({ 'x-kubernetes-group-version-kind': [{ group: GROUP, version: VERSION, kind }] });
const str = (description: string) => ({ type: 'string', description });
const TYPE_META = {
  apiVersion: str(`${GROUP_VERSION}`),
  kind: str('The kind of the object.'),
};

function definitions(v2: boolean, ref: (name: string) => string): Record<string, Json> {
  const schema = (t: z.ZodType): Json =>
    structural(z.toJSONSchema(t, { target: 'openapi-3.0', io: 'output', unrepresentable: 'any' }) as Json, v2);
  const defs: Record<string, Json> = {};
  for (const r of apiResources) {
    const body = schema(r.schema);
    defs[`${PREFIX}${r.kind}`] = {
      type: 'object',
      description: r.description,
      properties: { ...TYPE_META, metadata: schema(r.metadata), ...(body.properties as Json) },
      ...gvk(r.kind),
    };
    defs[`${PREFIX}${r.kind}List`] = {
      type: 'object',
      description: `A list of ${r.kind}.`,
      required: ['items'],
      properties: {
        ...TYPE_META,
        metadata: { type: 'object', properties: { continue: str('Where the next page starts.') } },
        items: { type: 'array', items: { $ref: ref(`${PREFIX}${r.kind}`) } },
      },
      ...gvk(`${r.kind}List`),
    };
  }
  return defs;
}

/** The verbs discovery advertises for a resource (the document describes no more). */
const verbsOf = (plural: string): string[] => apiResourceList().resources.find((x) => x.name === plural)?.verbs ?? [];

function paths(v2: boolean, ref: (name: string) => string): Record<string, Json> {
  const param = (name: string, description: string) =>
    v2
      ? { name, in: 'path', required: true, type: 'string', description }
      : { name, in: 'path', required: true, schema: { type: 'string' }, description };
  const ok = (kind: string) =>
    v2
      ? { '200': { description: 'OK', schema: { $ref: ref(`${PREFIX}${kind}`) } } }
      : {
          '200': { description: 'OK', content: { 'application/json': { schema: { $ref: ref(`${PREFIX}${kind}`) } } } },
        };
  const op = (r: ApiResource, action: string, kind: string) => ({
    operationId: `${action}${r.namespaced ? 'Namespaced' : ''}${r.kind}`,
    tags: [`${GROUP}_${VERSION}`],
    responses: ok(kind),
    'x-kubernetes-action': action,
    // On an operation one GVK object (on a definition a list): kubectl explain's template reads it so.
    'x-kubernetes-group-version-kind': { group: GROUP, version: VERSION, kind: r.kind },
  });
  const out: Record<string, Json> = {};
  for (const r of apiResources) {
    const verbs = verbsOf(r.plural);
    const base = `${API}/${r.namespaced ? 'namespaces/{namespace}/' : ''}${r.plural}`;
    const nsParam = r.namespaced ? [param('namespace', 'object name and auth scope')] : [];
    if (verbs.includes('list')) {
      out[base] = { get: op(r, 'list', `${r.kind}List`), parameters: nsParam };
      if (r.namespaced) out[`${API}/${r.plural}`] = { get: op(r, 'list', `${r.kind}List`) };
    }
    if (verbs.includes('get')) {
      const item: Json = {
        get: op(r, 'get', r.kind),
        parameters: [...nsParam, param('name', `name of the ${r.kind}`)],
      };
      if (verbs.includes('delete'))
        item.delete = { ...op(r, 'delete', r.kind), responses: { '200': { description: 'OK' } } };
      out[`${base}/{name}`] = item;
    }
  }
  return out;
}

const info = { title: 'mirrord-teams operator.metalbear.co', version: VERSION };
const V2 = JSON.stringify({
  swagger: '2.0',
  info,
  paths: paths(true, (n) => `#/definitions/${n}`),
  definitions: definitions(true, (n) => `#/definitions/${n}`),
});
const V3 = JSON.stringify({
  openapi: '3.0.0',
  info,
  paths: paths(false, (n) => `#/components/schemas/${n}`),
  components: { schemas: definitions(false, (n) => `#/components/schemas/${n}`) },
});
const hash = (s: string) => createHash('sha256').update(s).digest('hex').toUpperCase();
const V3_HASH = hash(V3);
const V3_ROOT = JSON.stringify({
  paths: { [`apis/${GROUP_VERSION}`]: { serverRelativeURL: `/openapi/v3/apis/${GROUP_VERSION}?hash=${V3_HASH}` } },
});

/** A fixed document with its ETag: the aggregator re-downloads with If-None-Match every minute. */
const send = (req: FastifyRequest, reply: FastifyReply, body: string, etag: string) => {
  reply.header('etag', `"${etag}"`);
  if (req.headers['if-none-match'] === `"${etag}"`) return reply.code(304).send();
  return reply.type('application/json').send(body);
};

/** Public, as kube-apiserver's own: the documents describe shapes, not objects. */
export function registerOpenApiRoutes(app: FastifyInstance): void {
  const v2Hash = hash(V2);
  const rootHash = hash(V3_ROOT);
  app.get('/openapi/v2', (req, reply) => send(req, reply, V2, v2Hash));
  app.get('/openapi/v3', (req, reply) => send(req, reply, V3_ROOT, rootHash));
  app.get(`/openapi/v3/apis/${GROUP_VERSION}`, (req, reply) => send(req, reply, V3, V3_HASH));
}
