/**
 * The kubelet's part in what a container sees: its volumes written out as files (Secrets,
 * ConfigMaps, projected service-account tokens from the TokenRequest API, the downward API,
 * emptyDir, a directory per PersistentVolumeClaim) and its environment (values, fieldRef,
 * secretKeyRef / configMapKeyRef, envFrom, `$(VAR)` expansion, the `KUBERNETES_SERVICE_*`
 * variables). A Secret or ConfigMap that does not exist yet (and is not optional) keeps the pod
 * waiting, as ContainerCreating does: `Missing` names it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CoreV1Api, V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';

export class Missing extends Error {}

type Items = Array<{ key: string; path: string; mode?: number }> | undefined;
const code = (e: unknown): number | undefined => (e as { code?: number }).code;

export class PodFiles {
  readonly #secrets = new Map<string, Record<string, string> | null>();
  readonly #configMaps = new Map<string, Record<string, string> | null>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly pod: V1Pod,
    private readonly pvDir: string,
  ) {}

  get #ns(): string {
    return this.pod.metadata!.namespace!;
  }

  /** A Secret's data (decoded), null when it does not exist. */
  async secret(name: string): Promise<Record<string, string> | null> {
    if (!this.#secrets.has(name)) {
      try {
        const s = await this.core.readNamespacedSecret({ name, namespace: this.#ns });
        const data = Object.fromEntries(
          Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        );
        this.#secrets.set(name, { ...data, ...(s.stringData ?? {}) });
      } catch (e) {
        if (code(e) !== 404) throw e;
        this.#secrets.set(name, null);
      }
    }
    return this.#secrets.get(name)!;
  }

  async configMap(name: string): Promise<Record<string, string> | null> {
    if (!this.#configMaps.has(name)) {
      try {
        const c = await this.core.readNamespacedConfigMap({ name, namespace: this.#ns });
        this.#configMaps.set(name, c.data ?? {});
      } catch (e) {
        if (code(e) !== 404) throw e;
        this.#configMaps.set(name, null);
      }
    }
    return this.#configMaps.get(name)!;
  }

  #field(path: string): string {
    const p = this.pod;
    const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
    if (label) return (label[1] === 'labels' ? p.metadata?.labels : p.metadata?.annotations)?.[label[2]!] ?? '';
    const values: Record<string, string | undefined> = {
      'metadata.name': p.metadata?.name,
      'metadata.namespace': p.metadata?.namespace,
      'metadata.uid': p.metadata?.uid,
      'spec.nodeName': p.spec?.nodeName,
      'spec.serviceAccountName': p.spec?.serviceAccountName,
      'status.podIP': p.status?.podIP,
      'status.hostIP': p.status?.hostIP,
    };
    return values[path] ?? '';
  }

  async #keyed(
    kind: 'Secret' | 'ConfigMap',
    name: string,
    items: Items,
    optional: boolean | undefined,
  ): Promise<Array<[string, string]>> {
    const data = kind === 'Secret' ? await this.secret(name) : await this.configMap(name);
    if (!data) {
      if (optional) return [];
      throw new Missing(`${kind.toLowerCase()} "${name}" not found`);
    }
    if (!items) return Object.entries(data);
    return items.flatMap((i): Array<[string, string]> => {
      if (i.key in data) return [[i.path, data[i.key]!]];
      if (optional) return [];
      throw new Missing(`${kind.toLowerCase()} "${name}" has no key "${i.key}"`);
    });
  }

  /** Writes one volume's files under `dir` (a directory per PVC outside it, kept across pods). */
  async volume(v: V1Volume, dir: string): Promise<string> {
    const out = join(dir, v.name);
    const files: Array<[string, string]> = [];
    if (v.secret) files.push(...(await this.#keyed('Secret', v.secret.secretName!, v.secret.items, v.secret.optional)));
    else if (v.configMap)
      files.push(...(await this.#keyed('ConfigMap', v.configMap.name!, v.configMap.items, v.configMap.optional)));
    else if (v.downwardAPI)
      for (const i of v.downwardAPI.items ?? []) files.push([i.path, this.#field(i.fieldRef?.fieldPath ?? '')]);
    else if (v.projected)
      for (const s of v.projected.sources ?? []) {
        if (s.secret) files.push(...(await this.#keyed('Secret', s.secret.name!, s.secret.items, s.secret.optional)));
        if (s.configMap)
          files.push(...(await this.#keyed('ConfigMap', s.configMap.name!, s.configMap.items, s.configMap.optional)));
        if (s.downwardAPI)
          for (const i of s.downwardAPI.items ?? []) files.push([i.path, this.#field(i.fieldRef?.fieldPath ?? '')]);
        if (s.serviceAccountToken) files.push([s.serviceAccountToken.path, await this.#token(s.serviceAccountToken)]);
      }
    else if (v.persistentVolumeClaim) {
      const pv = join(this.pvDir, this.#ns, v.persistentVolumeClaim.claimName);
      mkdirSync(pv, { recursive: true });
      return pv;
    }
    mkdirSync(out, { recursive: true });
    for (const [path, content] of files) {
      mkdirSync(dirname(join(out, path)), { recursive: true });
      writeFileSync(join(out, path), content, { mode: 0o644 });
    }
    return out;
  }

  /** A bound service-account token for this pod (the TokenRequest API, as the kubelet asks). */
  async #token(t: { audience?: string; expirationSeconds?: number }): Promise<string> {
    const r = await this.core.createNamespacedServiceAccountToken({
      name: this.pod.spec?.serviceAccountName ?? 'default',
      namespace: this.#ns,
      body: {
        spec: {
          audiences: t.audience ? [t.audience] : [],
          expirationSeconds: t.expirationSeconds ?? 3607,
          boundObjectRef: {
            kind: 'Pod',
            apiVersion: 'v1',
            name: this.pod.metadata!.name!,
            uid: this.pod.metadata!.uid!,
          },
        },
      },
    });
    return r.status?.token ?? '';
  }

  /** A container's environment as the kubelet builds it. */
  async env(c: V1Container, kubernetes: { host: string; port: number } | undefined): Promise<Record<string, string>> {
    const env: Record<string, string> = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOSTNAME: this.pod.spec?.hostname ?? this.pod.metadata!.name!,
      HOME: '/root',
      ...(kubernetes
        ? {
            KUBERNETES_SERVICE_HOST: kubernetes.host,
            KUBERNETES_SERVICE_PORT: String(kubernetes.port),
            KUBERNETES_SERVICE_PORT_HTTPS: String(kubernetes.port),
          }
        : {}),
    };
    for (const from of c.envFrom ?? []) {
      const pre = from.prefix ?? '';
      const data = from.secretRef
        ? await this.secret(from.secretRef.name!)
        : from.configMapRef
          ? await this.configMap(from.configMapRef.name!)
          : {};
      if (!data && !(from.secretRef?.optional ?? from.configMapRef?.optional))
        throw new Missing(
          `${from.secretRef ? 'secret' : 'configmap'} "${from.secretRef?.name ?? from.configMapRef?.name}" not found`,
        );
      for (const [k, v] of Object.entries(data ?? {})) env[pre + k] = v;
    }
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = expand(e.value, env);
      else if (e.valueFrom?.fieldRef) env[e.name] = this.#field(e.valueFrom.fieldRef.fieldPath);
      else if (e.valueFrom?.secretKeyRef || e.valueFrom?.configMapKeyRef) {
        const ref = (e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef)!;
        const kind = e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
        const [hit] = await this.#keyed(kind, ref.name!, [{ key: ref.key, path: ref.key }], ref.optional);
        if (hit) env[e.name] = hit[1];
      }
    }
    return env;
  }
}

/** `$(VAR)` from earlier variables, `$$(VAR)` escaped, unknown references kept as written. */
export const expand = (s: string, env: Record<string, string>): string =>
  s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) =>
    m === '$$' ? '$' : name !== undefined && name in env ? env[name]! : m,
  );
