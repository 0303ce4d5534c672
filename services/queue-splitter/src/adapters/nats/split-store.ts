import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { QUEUE_SPLITS_BUCKET, streamReplicas } from '#shared/nats/index.js';
import type { SplitRecord, SplitStore, Versioned } from '../../app/ports.js';

const conflicted = (e: unknown) =>
  e instanceof JetStreamApiError &&
  (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/**
 * The split records in a JetStream KV bucket: every replica reads the same state, writes are
 * compare-and-set on the key's revision (a lost race answers undefined, the caller re-reads),
 * and the records outlive any replica and a restart of NATS (file storage).
 */
export class KvSplitStore implements SplitStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvSplitStore> {
    const kv = await new Kvm(nc).create(QUEUE_SPLITS_BUCKET, {
      history: 1,
      replicas: streamReplicas(nc),
      description: 'mirrord-teams queue splits: fallback, workload patch and sessions per split queue',
    });
    return new KvSplitStore(kv);
  }

  async get(key: string): Promise<Versioned<SplitRecord> | undefined> {
    const e = await this.kv.get(key);
    return e?.operation === 'PUT' ? { value: e.json<SplitRecord>(), revision: e.revision } : undefined;
  }

  async #cas(write: () => Promise<number>): Promise<number | undefined> {
    try {
      return await write();
    } catch (e) {
      if (conflicted(e)) return undefined;
      throw e;
    }
  }

  create(key: string, value: SplitRecord) {
    return this.#cas(() => this.kv.create(key, JSON.stringify(value)));
  }

  update(key: string, value: SplitRecord, revision: number) {
    return this.#cas(() => this.kv.update(key, JSON.stringify(value), revision));
  }

  async remove(key: string, revision: number): Promise<boolean> {
    return (await this.#cas(() => this.kv.delete(key, { previousSeq: revision }).then(() => 1))) !== undefined;
  }

  async list(): Promise<[string, Versioned<SplitRecord>][]> {
    const out: [string, Versioned<SplitRecord>][] = [];
    for await (const k of await this.kv.keys()) {
      const v = await this.get(k);
      if (v) out.push([k, v]);
    }
    return out;
  }

  /** Every change (and the current records first): how each replica's forwarders follow the splits. */
  async watch(onChange: (key: string, value: SplitRecord | undefined) => void): Promise<() => void> {
    const it = await this.kv.watch();
    void (async () => {
      for await (const e of it) onChange(e.key, e.operation === 'PUT' ? e.json<SplitRecord>() : undefined);
    })();
    return () => it.stop();
  }
}
