import { LEDGER_LEASE_BUCKET } from '#shared/nats/index.js';
import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { streamReplicas } from '#shared/nats/index.js';

const LEASE_BUCKET = LEDGER_LEASE_BUCKET;
const KEY = 'writer';

export interface LeaseOptions {
  /** Who asks: stable across restarts of one replica (its pod name), distinct between replicas. */
  instance: string;
  /** The key's time to live (the bucket's max age): how long a dead holder blocks a takeover. */
  ttlMs: number;
  log: Logger;
}

interface Holder {
  instance: string;
  pid: number;
  since: number;
}

const wrongSequence = (e: unknown) =>
  e instanceof JetStreamApiError &&
  (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/**
 * The ledger's single-writer lease: a JetStream KV key with a time to live. The holder renews
 * it every third of the TTL; a standby polls and creates it once the holder's last renewal
 * expired (kill -9, a partition, SIGSTOP past the TTL) or was released (SIGTERM). The lease
 * only chooses who writes; the store's writer epoch (claimWriter) is what makes a deposed
 * writer's late appends fail, so a paused holder that wakes up can never commit.
 */
export class WriterLease {
  readonly #kv: KV;
  readonly #opts: LeaseOptions;
  #revision = 0;
  /** This process as the key's value, from its acquisition on. */
  #me = '';
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;
  #lost: ((why: string) => void) | undefined;

  private constructor(kv: KV, opts: LeaseOptions) {
    this.#kv = kv;
    this.#opts = opts;
  }

  static async open(nc: NatsConnection, opts: LeaseOptions): Promise<WriterLease> {
    const kv = await new Kvm(nc).create(LEASE_BUCKET, {
      history: 1,
      ttl: opts.ttlMs,
      replicas: streamReplicas(nc),
      description: 'the mirrord-teams ledger writer lease',
    });
    return new WriterLease(kv, opts);
  }

  /** Who holds the lease now (undefined: nobody, or it expired). */
  async holder(): Promise<Holder | undefined> {
    const e = await this.#kv.get(KEY);
    return e?.operation === 'PUT' ? e.json<Holder>() : undefined;
  }

  /**
   * Waits until this process holds the lease. A key held by this same instance (its previous
   * process, killed before its TTL ran out) is taken at once; another holder is waited out.
   */
  async acquire(): Promise<{ waitedMs: number }> {
    const t0 = Date.now();
    const me: Holder = { instance: this.#opts.instance, pid: process.pid, since: Date.now() };
    this.#me = JSON.stringify(me);
    let told = false;
    for (;;) {
      try {
        this.#revision = await this.#kv.create(KEY, this.#me);
        return { waitedMs: Date.now() - t0 };
      } catch (e) {
        if (!wrongSequence(e)) this.#opts.log.warn({ err: e }, 'ledger lease: cannot reach the lease bucket; retrying');
      }
      const cur = await this.#kv.get(KEY).catch(() => null);
      if (cur?.operation === 'PUT' && cur.json<Holder>().instance === this.#opts.instance) {
        try {
          this.#revision = await this.#kv.update(KEY, this.#me, cur.revision);
          this.#opts.log.info(
            { instance: me.instance },
            'ledger lease: taken over from this instance’s previous process',
          );
          return { waitedMs: Date.now() - t0 };
        } catch {
          // Raced with another taker: wait like any standby.
        }
      }
      if (!told && cur?.operation === 'PUT') {
        told = true;
        this.#opts.log.info(
          { holder: cur.json<Holder>(), ttl_ms: this.#opts.ttlMs },
          'ledger standby: another ledger holds the writer lease; waiting to take over',
        );
      }
      // Polled often (two small requests): a released key is taken within this, an expired
      // one within it after its TTL.
      await sleep(Math.min(250, Math.max(50, Math.floor(this.#opts.ttlMs / 10))));
    }
  }

  /**
   * Renews every third of the TTL. `lost` is called once another holder has the key (this
   * process was paused or cut off past its TTL); a renewal that cannot reach NATS keeps trying,
   * and a key that merely expired meanwhile is created again.
   */
  keep(lost: (why: string) => void): void {
    this.#lost = lost;
    const renew = async () => {
      try {
        this.#revision = await this.#kv.update(KEY, this.#me, this.#revision);
      } catch (e) {
        if (!wrongSequence(e)) {
          this.#opts.log.warn({ err: e }, 'ledger lease: renewal failed; retrying');
          return;
        }
        const cur = await this.holder().catch(() => undefined);
        if (cur && !(cur.instance === this.#opts.instance && cur.pid === process.pid)) {
          this.stop();
          this.#lost?.(
            `the writer lease is held by ${cur.instance} (pid ${cur.pid}) since ${new Date(cur.since).toISOString()}`,
          );
          return;
        }
        // Expired while NATS was away and nobody took it: hold it again.
        this.#revision = await this.#kv.create(KEY, this.#me).catch(() => this.#revision);
      }
    };
    // One renewal at a time: a slow one (NATS failing over) must not race the next.
    const tick = () => {
      if (this.#renewing) return;
      this.#renewing = true;
      void renew().finally(() => (this.#renewing = false));
    };
    this.#timer = setInterval(tick, Math.max(50, Math.floor(this.#opts.ttlMs / 3)));
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Gives the lease up (SIGTERM) so a standby takes over without waiting out the TTL. */
  async release(): Promise<void> {
    this.stop();
    await this.#kv.delete(KEY, { previousSeq: this.#revision }).catch(() => undefined);
  }
}
