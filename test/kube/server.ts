import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import { createCa, issue, type CertificateAuthority } from '#shared/pki/index.js';
import { createServer as createHttps } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Controllers } from './controllers.js';
import type { AgentRuntime } from './agent-runtime.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { authorize, forbiddenMessage, type Attributes, type UserInfo } from './rbac.js';
import { groupVersion, Registry, type KubeObject, type ResourceType } from './registry.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { KubeError, ObjectStore } from './store.js';
import { toTable, wantsTable } from './table.js';
import { openApiV3Doc, openApiV3Root } from './openapi.js';
import { bootstrapObjects } from './bootstrap.js';
import { proxyAggregated, proxyUpgrade, type AggregateTarget } from './aggregate.js';
import type { Duplex } from 'node:stream';

export interface StandInOptions {
  /** Bearer tokens (kube-apiserver --token-auth-file semantics). */
  tokens: Map<string, UserInfo>;
  /**
   * HTTPS material (default: a fresh cluster CA and a serving certificate for 127.0.0.1).
   * Client certificates signed by `ca` authenticate (CN = user, O = groups). kubectl sends
   * bearer tokens only over HTTPS, so the stand-in never serves plain HTTP.
   */
  tls?: { key: string; cert: string; ca: string };
  seed?: KubeObject[];
  /** Where APIService-registered groups are served (the gateway in aggregated mode). */
  aggregate?: Record<string, AggregateTarget>;
  /** Play the controllers and kubelet (default true). */
  controllers?: boolean;
  /** The demo: agents serve their target's subscribed ports at the target pod's (loopback) IP. */
  demoTraffic?: boolean;
}

export interface KubeStandIn {
  url: string;
  /** The cluster CA (PEM): for kubeconfigs, and to sign client certificates. */
  ca: CertificateAuthority;
  store: ObjectStore;
  registry: Registry;
  apply(objs: KubeObject[]): void;
  /** Where an APIService's group is served (known only once that server is up). */
  setAggregate(group: string, target: AggregateTarget): void;
  typeOf(apiVersion: string, kind: string): ResourceType;
  /** The test agents running in agent pods (absent without controllers). */
  agents?: AgentRuntime;
  close(): Promise<void>;
}

const json = (res: ServerResponse, code: number, body: unknown) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const status = (e: KubeError) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: e.message,
  reason: e.reason,
  code: e.code,
});

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (String(req.headers['content-type'] ?? '').includes('protobuf'))
    throw new KubeError(
      415,
      'UnsupportedMediaType',
      'the stand-in speaks JSON only (kubectl auth can-i sends protobuf; use a SubjectAccessReview in JSON)',
    );
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // kubectl sends YAML nowhere; a garbled body is the caller's error.
    throw new KubeError(400, 'BadRequest', 'request body is not valid JSON');
  }
}

interface Route {
  type: ResourceType;
  namespace?: string;
  name?: string;
  sub?: string;
}

export async function startKubeStandIn(opts: StandInOptions): Promise<KubeStandIn> {
  const ca = await createCa('kubernetes-standin-ca');
  const serving = await issue(ca, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes.default.svc'],
    ips: ['127.0.0.1'],
    usage: 'server',
  });
  const tls = opts.tls ?? { key: serving.keyPem, cert: serving.certPem, ca: ca.certPem };
  const registry = new Registry();
  const store = new ObjectStore();
  const t = (g: string, p: string) => registry.find(g, 'v1', p)!;
  const rbacTypes = {
    roles: t('rbac.authorization.k8s.io', 'roles'),
    clusterRoles: t('rbac.authorization.k8s.io', 'clusterroles'),
    roleBindings: t('rbac.authorization.k8s.io', 'rolebindings'),
    clusterRoleBindings: t('rbac.authorization.k8s.io', 'clusterrolebindings'),
  };
  const rbac = () => ({
    roles: store.list(rbacTypes.roles),
    clusterRoles: store.list(rbacTypes.clusterRoles),
    roleBindings: store.list(rbacTypes.roleBindings),
    clusterRoleBindings: store.list(rbacTypes.clusterRoleBindings),
  });
  const crdType = t('apiextensions.k8s.io', 'customresourcedefinitions');
  const aggregate = new Map(Object.entries(opts.aggregate ?? {}));
  const apiServiceType = t('apiregistration.k8s.io', 'apiservices');

  const typeOf = (apiVersion: string, kind: string): ResourceType => {
    const ty = registry.byKind(apiVersion, kind);
    if (!ty) throw new KubeError(404, 'NotFound', `no matches for kind "${kind}" in version "${apiVersion}"`);
    return ty;
  };

  /** Side effects of writes kube-apiserver itself performs (CRDs, APIServices). */
  const afterWrite = (ty: ResourceType, o: KubeObject, deleted = false) => {
    if (ty === crdType) {
      const spec = o.spec as { group: string; names: { plural: string } };
      if (deleted) registry.remove(spec.group, spec.names.plural);
      else {
        registry.applyCrd(o);
        if (!(o.status as { conditions?: unknown[] } | undefined)?.conditions)
          store.update(crdType, undefined, {
            ...o,
            metadata: { ...o.metadata, resourceVersion: undefined },
            status: {
              acceptedNames: (o.spec as { names: unknown }).names,
              conditions: [
                { type: 'Established', status: 'True', reason: 'InitialNamesAccepted' },
                { type: 'NamesAccepted', status: 'True' },
              ],
            },
          });
      }
    }
    if (ty === apiServiceType) {
      const spec = o.spec as { group: string; version: string };
      const target = aggregate.get(spec.group);
      if (deleted) registry.aggregated.delete(spec.group);
      else if (target) registry.aggregated.set(spec.group, { version: spec.version, url: target.url });
    }
  };

  const apply = (objs: KubeObject[]) => {
    for (const o of objs) {
      const ty = typeOf(o.apiVersion!, o.kind!);
      const existing = store.get(ty, o.metadata.namespace, o.metadata.name!);
      const saved = existing
        ? store.update(ty, o.metadata.namespace, { ...o, metadata: { ...o.metadata, resourceVersion: undefined } })
        : store.create(ty, o.metadata.namespace, o);
      afterWrite(ty, saved);
    }
  };
  apply(bootstrapObjects);
  // CRDs first: the objects of their kinds may follow them in the same seed.
  const seed = opts.seed ?? [];
  apply(seed.filter((o) => o.kind === 'CustomResourceDefinition'));
  apply(seed.filter((o) => o.kind !== 'CustomResourceDefinition'));
  const controllers =
    opts.controllers === false ? undefined : new Controllers(store, registry, undefined, opts.demoTraffic ?? false);

  const authenticate = (req: IncomingMessage): UserInfo | undefined => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return opts.tokens.get(auth.slice(7).trim());
    const sock = req.socket as TLSSocket;
    if (sock.authorized) {
      const c = sock.getPeerCertificate();
      const o = c.subject?.O as string | string[] | undefined;
      const cn = c.subject?.CN as string | string[] | undefined;
      const user = Array.isArray(cn) ? cn[0] : cn;
      if (user) return { username: user, groups: o === undefined ? [] : Array.isArray(o) ? o : [o] };
    }
    return undefined;
  };

  const check = (u: UserInfo, a: Attributes) => {
    const d = authorize(rbac(), u, a);
    if (!d.allowed) throw new KubeError(403, 'Forbidden', forbiddenMessage(u, a));
  };

  /** Impersonate-User / Impersonate-Group, allowed by the `impersonate` verb. */
  const impersonate = (req: IncomingMessage, u: UserInfo): UserInfo => {
    const user = req.headers['impersonate-user'];
    if (typeof user !== 'string') return u;
    check(u, { verb: 'impersonate', apiGroup: '', resource: 'users', name: user });
    const g = req.headers['impersonate-group'];
    const groups =
      g === undefined ? [] : (Array.isArray(g) ? g : [g]).flatMap((x) => x.split(',').map((s) => s.trim()));
    for (const grp of groups) check(u, { verb: 'impersonate', apiGroup: '', resource: 'groups', name: grp });
    return { username: user, groups };
  };

  const route = (group: string, version: string, segs: string[]): Route | undefined => {
    if (segs[0] === 'namespaces' && segs.length >= 3) {
      const ty = registry.find(group, version, segs[2]!);
      if (ty?.namespaced)
        return {
          type: ty,
          namespace: segs[1]!,
          ...(segs[3] ? { name: segs[3] } : {}),
          ...(segs[4] ? { sub: segs[4] } : {}),
        };
    }
    const ty = registry.find(group, version, segs[0]!);
    if (!ty) return undefined;
    return { type: ty, ...(segs[1] ? { name: segs[1] } : {}), ...(segs[2] ? { sub: segs[2] } : {}) };
  };

  const discovery = (path: string): unknown => {
    if (path === '/version')
      return {
        major: '1',
        minor: '32',
        gitVersion: 'v1.32.0-mirrord-standin',
        gitCommit: 'standin',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.23',
        compiler: 'gc',
        platform: 'linux/amd64',
      };
    if (path === '/api')
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }],
      };
    if (path === '/api/v1') return registry.resourceList('', 'v1');
    if (path === '/openapi/v3') return openApiV3Root(registry);
    if (path.startsWith('/openapi/v3/')) return openApiV3Doc(registry, path.slice('/openapi/v3/'.length));
    if (path === '/apis') {
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: registry.groups().map((g) => ({
          name: g.name,
          versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
          preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
        })),
      };
    }
    const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (m) {
      const g = registry.groups().find((x) => x.name === m[1]);
      if (!g) return undefined;
      if (!m[2])
        return {
          kind: 'APIGroup',
          apiVersion: 'v1',
          name: g.name,
          versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
          preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
        };
      if (g.versions.includes(m[2])) return registry.resourceList(m[1]!, m[2]);
    }
    return undefined;
  };

  const reviews = (r: Route, u: UserInfo, body: KubeObject): KubeObject => {
    const spec = (body.spec ?? {}) as Record<string, unknown>;
    if (r.type.kind === 'TokenReview') {
      const who = opts.tokens.get(String(spec.token ?? ''));
      return {
        ...body,
        status: who
          ? {
              authenticated: true,
              user: { username: who.username, uid: who.uid ?? '', groups: [...who.groups, 'system:authenticated'] },
            }
          : { authenticated: false, error: 'invalid bearer token' },
      };
    }
    const subject: UserInfo =
      r.type.kind === 'SelfSubjectAccessReview'
        ? u
        : { username: String(spec.user ?? ''), groups: (spec.groups as string[] | undefined) ?? [] };
    const ra = spec.resourceAttributes as Record<string, string> | undefined;
    const na = spec.nonResourceAttributes as Record<string, string> | undefined;
    const a: Attributes = ra
      ? {
          verb: ra.verb ?? '',
          apiGroup: ra.group ?? '',
          resource: ra.resource ?? '',
          ...(ra.subresource ? { subresource: ra.subresource } : {}),
          ...(ra.name ? { name: ra.name } : {}),
          ...(ra.namespace ? { namespace: ra.namespace } : {}),
        }
      : { verb: na?.verb ?? 'get', path: na?.path ?? '/' };
    const d = authorize(rbac(), subject, a);
    return { ...body, status: { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) } };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/$/, '') || '/';
    if (path === '/healthz' || path === '/livez' || path === '/readyz') return void res.end('ok');
    const authed = authenticate(req);
    if (!authed) throw new KubeError(401, 'Unauthorized', 'Unauthorized');
    const u = impersonate(req, authed);
    const method = req.method ?? 'GET';

    const agg = /^\/apis\/([^/]+)/.exec(path)?.[1];
    const aggTarget = agg ? aggregate.get(agg) : undefined;
    if (agg && aggTarget && registry.aggregated.has(agg)) {
      const m = /^\/apis\/[^/]+\/([^/]+)\/(.*)$/.exec(path);
      if (m) {
        // `…/v1/proxy/namespaces/{ns}/targets/{name}` is the `proxy` verb on `targets`, not a resource named proxy.
        const viaProxy = m[2]!.startsWith('proxy/');
        const segs = (viaProxy ? m[2]!.slice('proxy/'.length) : m[2]!).split('/');
        const ns = segs[0] === 'namespaces' && segs.length >= 3 ? segs[1] : undefined;
        const rest = ns ? segs.slice(2) : segs;
        const verb = viaProxy
          ? 'proxy'
          : method === 'GET'
            ? rest[1]
              ? 'get'
              : url.searchParams.get('watch')
                ? 'watch'
                : 'list'
            : method === 'POST'
              ? 'create'
              : method === 'DELETE'
                ? rest[1]
                  ? 'delete'
                  : 'deletecollection'
                : method === 'PATCH'
                  ? 'patch'
                  : 'update';
        check(u, {
          verb,
          apiGroup: agg,
          resource: rest[0]!,
          ...(rest[2] ? { subresource: rest[2] } : {}),
          ...(rest[1] ? { name: rest[1] } : {}),
          ...(ns ? { namespace: ns } : {}),
        });
      }
      return proxyAggregated(req, res, aggTarget, u);
    }

    if (method === 'GET') {
      const d = discovery(path);
      if (d) return json(res, 200, d);
    }
    const m = /^\/api\/v1\/(.+)$/.exec(path) ?? /^\/apis\/([^/]+)\/([^/]+)\/(.+)$/.exec(path);
    if (!m) throw new KubeError(404, 'NotFound', 'the server could not find the requested resource');
    const [group, version, rest] = m.length === 2 ? ['', 'v1', m[1]!] : [m[1]!, m[2]!, m[3]!];
    const r = route(group, version, rest.split('/'));
    if (!r)
      throw new KubeError(404, 'NotFound', `the server could not find the requested resource (${method} ${path})`);
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const verb =
      method === 'GET'
        ? watch
          ? 'watch'
          : r.name
            ? 'get'
            : 'list'
        : method === 'POST'
          ? 'create'
          : method === 'PUT'
            ? 'update'
            : method === 'PATCH'
              ? 'patch'
              : method === 'DELETE'
                ? r.name
                  ? 'delete'
                  : 'deletecollection'
                : method.toLowerCase();
    check(u, {
      verb,
      apiGroup: r.type.group,
      resource: r.type.plural,
      ...(r.sub ? { subresource: r.sub } : {}),
      ...(r.name ? { name: r.name } : {}),
      ...(r.namespace ? { namespace: r.namespace } : {}),
    });
    return serveResource(req, res, r, verb, url, u);
  };

  const serveResource = async (
    req: IncomingMessage,
    res: ServerResponse,
    r: Route,
    verb: string,
    url: URL,
    u: UserInfo,
  ) => {
    const ty = r.type;
    const labels = parseLabelSelector(url.searchParams.get('labelSelector') ?? undefined);
    const fields = parseFieldSelector(url.searchParams.get('fieldSelector') ?? undefined);
    const select = (o: KubeObject) => labels(o.metadata.labels ?? {}) && fields(o);
    if (ty.review) {
      if (verb !== 'create') throw new KubeError(405, 'MethodNotAllowed', `${ty.kind} supports create only`);
      return json(res, 201, reviews(r, u, (await readBody(req)) as KubeObject));
    }
    switch (verb) {
      case 'list': {
        const items = store.list(ty, r.namespace).filter(select);
        if (wantsTable(req.headers.accept))
          return json(res, 200, toTable(items, ty.kind, String(store.resourceVersion)));
        return json(res, 200, {
          kind: `${ty.kind}List`,
          apiVersion: groupVersion(ty),
          metadata: { resourceVersion: String(store.resourceVersion) },
          items,
        });
      }
      case 'watch':
        return serveWatch(req, res, ty, r.namespace, select, url);
      case 'get': {
        const o = store.mustGet(ty, r.namespace, r.name!);
        if (r.sub === 'scale') return json(res, 200, scaleOf(o));
        if (wantsTable(req.headers.accept)) return json(res, 200, toTable([o], ty.kind, String(store.resourceVersion)));
        return json(res, 200, o);
      }
      case 'create': {
        const body = (await readBody(req)) as KubeObject;
        if (!body?.metadata) throw new KubeError(400, 'BadRequest', 'the object has no metadata');
        if (url.searchParams.get('dryRun') === 'All') return json(res, 201, body);
        if (ty.kind === 'Secret' && body.stringData) {
          // kube-apiserver folds stringData into data (base64) on write.
          const data = { ...((body.data as Record<string, string> | undefined) ?? {}) };
          for (const [k, v] of Object.entries(body.stringData as Record<string, string>))
            data[k] = Buffer.from(v).toString('base64');
          body.data = data;
          delete body.stringData;
        }
        const saved = store.create(ty, r.namespace, body);
        afterWrite(ty, saved);
        return json(res, 201, saved);
      }
      case 'update':
      case 'patch': {
        const cur = store.mustGet(ty, r.namespace, r.name!);
        const body = await readBody(req);
        const ct = String(req.headers['content-type'] ?? '');
        let next: KubeObject;
        if (r.sub === 'scale') {
          const scale = verb === 'update' ? (body as KubeObject) : (patchWith(ct, scaleOf(cur), body) as KubeObject);
          next = { ...cur, spec: { ...cur.spec, replicas: Number(scale.spec?.replicas ?? 0) } };
        } else if (verb === 'update')
          next = r.sub === 'status' ? { ...cur, status: (body as KubeObject).status ?? {} } : (body as KubeObject);
        else {
          const patched = patchWith(ct, cur, body) as KubeObject;
          next =
            r.sub === 'status'
              ? { ...cur, status: patched.status ?? {} }
              : { ...patched, metadata: { ...patched.metadata, name: cur.metadata.name } };
        }
        if (url.searchParams.get('dryRun') === 'All') return json(res, 200, next);
        const saved = store.update(
          ty,
          r.namespace,
          verb === 'patch' ? { ...next, metadata: { ...next.metadata, resourceVersion: undefined } } : next,
        );
        afterWrite(ty, saved);
        return json(res, 200, r.sub === 'scale' ? scaleOf(saved) : saved);
      }
      case 'delete': {
        if (url.searchParams.get('dryRun') === 'All') return json(res, 200, store.mustGet(ty, r.namespace, r.name!));
        // DeleteOptions.preconditions: delete only the version the caller decided on.
        const pre = (
          (await readBody(req)) as { preconditions?: { resourceVersion?: string; uid?: string } } | undefined
        )?.preconditions;
        const cur = store.mustGet(ty, r.namespace, r.name!);
        for (const [field, want, have] of [
          ['ResourceVersion', pre?.resourceVersion, cur.metadata.resourceVersion],
          ['UID', pre?.uid, cur.metadata.uid],
        ] as const)
          if (want !== undefined && want !== have)
            throw new KubeError(
              409,
              'Conflict',
              `Precondition failed: ${field} in precondition: ${want}, ${field} in object meta: ${have}`,
            );
        const gone = store.delete(ty, r.namespace, r.name!);
        afterWrite(ty, gone, true);
        return json(res, 200, gone);
      }
      case 'deletecollection': {
        const items = store.list(ty, r.namespace).filter(select);
        for (const o of items) afterWrite(ty, store.delete(ty, o.metadata.namespace, o.metadata.name!), true);
        return json(res, 200, { kind: `${ty.kind}List`, apiVersion: groupVersion(ty), metadata: {}, items });
      }
      default:
        throw new KubeError(405, 'MethodNotAllowed', `verb ${verb} is not supported`);
    }
  };

  const serveWatch = (
    req: IncomingMessage,
    res: ServerResponse,
    ty: ResourceType,
    namespace: string | undefined,
    select: (o: KubeObject) => boolean,
    url: URL,
  ) => {
    const key = `${ty.group}/${ty.plural}`;
    const rv = url.searchParams.get('resourceVersion');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // Headers now: a watch may wait long for its first event, and clients wait for the headers.
    res.flushHeaders();
    const send = (type: string, object: KubeObject) => res.write(`${JSON.stringify({ type, object })}\n`);
    // No resourceVersion: the current state first, as ADDED events (kube-apiserver's semantics).
    if (!rv || rv === '0') for (const o of store.list(ty, namespace).filter(select)) send('ADDED', o);
    const off = store.watch(rv && rv !== '0' ? Number(rv) : undefined, (e) => {
      if (
        e.key !== key ||
        (ty.namespaced && namespace !== undefined && e.object.metadata.namespace !== namespace) ||
        !select(e.object)
      )
        return;
      send(e.type, e.object);
    });
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    const done = () => {
      off();
      if (timer) clearTimeout(timer);
    };
    req.on('close', done);
    res.on('close', done);
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      const err =
        e instanceof KubeError ? e : new KubeError(500, 'InternalError', e instanceof Error ? e.message : String(e));
      if (!res.headersSent) json(res, err.code, status(err));
      else res.end();
    });
  };
  const server: Server = createHttps(
    { key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: false },
    listener,
  );
  // Upgrades (the connect WebSocket) are authorised as the request they carry, then proxied.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (code: number, reason: string, message: string) =>
      socket.end(
        `HTTP/1.1 ${code} ${reason}\r\ncontent-type: application/json\r\n\r\n${JSON.stringify(status(new KubeError(code, reason, message)))}`,
      );
    try {
      const authed = authenticate(req);
      if (!authed) return refuse(401, 'Unauthorized', 'Unauthorized');
      const u = impersonate(req, authed);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const agg = /^\/apis\/([^/]+)\/[^/]+\/(proxy\/)?namespaces\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
      const target = agg ? aggregate.get(agg[1]!) : undefined;
      if (!agg || !target || !registry.aggregated.has(agg[1]!)) return refuse(404, 'NotFound', `no upgrade at ${path}`);
      check(u, {
        verb: agg[2] ? 'proxy' : 'get',
        apiGroup: agg[1]!,
        resource: agg[4]!,
        name: agg[5]!,
        namespace: agg[3]!,
      });
      proxyUpgrade(req, socket, head, target, u);
    } catch (e) {
      const err = e instanceof KubeError ? e : new KubeError(500, 'InternalError', String(e));
      refuse(err.code, err.reason, err.message);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    ca,
    store,
    registry,
    apply,
    typeOf,
    ...(controllers ? { agents: controllers.agents } : {}),
    setAggregate(group, target) {
      aggregate.set(group, target);
      for (const o of store.list(apiServiceType)) afterWrite(apiServiceType, o);
    },
    async close() {
      await controllers?.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function patchWith(contentType: string, cur: unknown, body: unknown): unknown {
  if (contentType.includes('json-patch')) return jsonPatch(cur, body);
  if (contentType.includes('strategic-merge-patch')) return strategicMergePatch(cur, body);
  if (contentType.includes('apply-patch'))
    throw new KubeError(
      415,
      'UnsupportedMediaType',
      'server-side apply is not supported by the stand-in; use client-side kubectl apply',
    );
  return mergePatch(cur, body);
}

function scaleOf(o: KubeObject): KubeObject {
  const sel = (o.spec?.selector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels ?? {};
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      resourceVersion: o.metadata.resourceVersion,
      uid: o.metadata.uid,
    },
    spec: { replicas: Number(o.spec?.replicas ?? 1) },
    status: {
      replicas: Number(o.status?.replicas ?? 0),
      selector: Object.entries(sel)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    },
  };
}
