import { randomUUID } from 'node:crypto';
import type { KubeObject, ResourceType } from './registry.js';

export type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface WatchEvent {
  type: WatchType;
  key: string; // `${group}/${plural}`
  object: KubeObject;
  rv: number;
}
type Listener = (e: WatchEvent) => void;

export class KubeError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const clone = <T>(o: T): T => structuredClone(o);
const typeKey = (t: Pick<ResourceType, 'group' | 'plural'>) => `${t.group}/${t.plural}`;
const objKey = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;

/**
 * Objects by type, namespace and name, with one resourceVersion counter for all of them (as
 * etcd's revision) and a bounded history so a watch can resume from a resourceVersion.
 */
export class ObjectStore {
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #history: WatchEvent[] = [];
  readonly #listeners = new Set<Listener>();
  #rv = 1;

  get resourceVersion(): number {
    return this.#rv;
  }

  #bucket(t: ResourceType): Map<string, KubeObject> {
    const k = typeKey(t);
    let m = this.#objects.get(k);
    if (!m) this.#objects.set(k, (m = new Map()));
    return m;
  }

  #emit(type: WatchType, t: ResourceType, object: KubeObject): void {
    const e: WatchEvent = { type, key: typeKey(t), object: clone(object), rv: this.#rv };
    this.#history.push(e);
    if (this.#history.length > 5000) this.#history.shift();
    for (const l of this.#listeners) l(e);
  }

  list(t: ResourceType, namespace?: string): KubeObject[] {
    const out = [...this.#bucket(t).values()].filter(
      (o) => !t.namespaced || namespace === undefined || o.metadata.namespace === namespace,
    );
    return out
      .map(clone)
      .sort((a, b) =>
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
      );
  }

  get(t: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.#bucket(t).get(objKey(t.namespaced ? namespace : undefined, name));
    return o ? clone(o) : undefined;
  }

  mustGet(t: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const o = this.get(t, namespace, name);
    if (!o) throw new KubeError(404, 'NotFound', `${t.plural}${t.group ? `.${t.group}` : ''} "${name}" not found`);
    return o;
  }

  create(t: ResourceType, namespace: string | undefined, obj: KubeObject): KubeObject {
    const o = clone(obj);
    o.metadata ??= {};
    if (!o.metadata.name && o.metadata.generateName)
      o.metadata.name = `${o.metadata.generateName}${randomUUID().slice(0, 5)}`;
    if (!o.metadata.name)
      throw new KubeError(422, 'Invalid', `${t.kind}: metadata.name: Required value: name or generateName is required`);
    if (t.namespaced) o.metadata.namespace = namespace ?? o.metadata.namespace ?? 'default';
    else delete o.metadata.namespace;
    const k = objKey(o.metadata.namespace, o.metadata.name);
    const b = this.#bucket(t);
    if (b.has(k))
      throw new KubeError(
        409,
        'AlreadyExists',
        `${t.plural}${t.group ? `.${t.group}` : ''} "${o.metadata.name}" already exists`,
      );
    o.apiVersion = t.group ? `${t.group}/${t.version}` : t.version;
    o.kind = t.kind;
    o.metadata.uid = randomUUID();
    o.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    o.metadata.resourceVersion = String(++this.#rv);
    b.set(k, o);
    this.#emit('ADDED', t, o);
    return clone(o);
  }

  /** Replaces an object (optimistic concurrency when the caller sends a resourceVersion). */
  update(t: ResourceType, namespace: string | undefined, obj: KubeObject): KubeObject {
    const cur = this.mustGet(t, namespace, obj.metadata.name!);
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== cur.metadata.resourceVersion)
      throw new KubeError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${t.plural} "${cur.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    const o = clone(obj);
    o.apiVersion = cur.apiVersion;
    o.kind = cur.kind;
    o.metadata = {
      ...o.metadata,
      namespace: cur.metadata.namespace,
      uid: cur.metadata.uid,
      creationTimestamp: cur.metadata.creationTimestamp,
      resourceVersion: String(++this.#rv),
    };
    if (!t.namespaced) delete o.metadata.namespace;
    this.#bucket(t).set(objKey(o.metadata.namespace, o.metadata.name!), o);
    this.#emit('MODIFIED', t, o);
    return clone(o);
  }

  delete(t: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const cur = this.mustGet(t, namespace, name);
    this.#bucket(t).delete(objKey(cur.metadata.namespace, name));
    cur.metadata.resourceVersion = String(++this.#rv);
    this.#emit('DELETED', t, cur);
    return cur;
  }

  /** Subscribes to changes; replays history after `fromRv` first (410 Gone when too old). */
  watch(fromRv: number | undefined, l: Listener): () => void {
    if (fromRv !== undefined && fromRv > 0) {
      const oldest = this.#history[0]?.rv ?? this.#rv;
      if (fromRv < oldest - 1) throw new KubeError(410, 'Expired', `too old resource version: ${fromRv} (${oldest})`);
      for (const e of this.#history) if (e.rv > fromRv) l(e);
    }
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
}
