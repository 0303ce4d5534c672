import { kvStream, LEDGER_LEASE_BUCKET, ledgerLeaseAliveSubject } from '#shared/nats/index.js';
import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { nanos, NoRespondersError, RequestError, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { streamReplicas } from '#shared/nats/index.js';

const LEASE_BUCKET = LEDGER_LEASE_BUCKET;
const KEY = 'writer';
/** A gone holder is confirmed this long after first seen gone (a subscription still spreading across a cluster's routes). */
const CONFIRM_GONE_MS = 250;

export interface LeaseOptions {
  /** Who asks: stable across restarts of one replica (its pod name), distinct between replicas. */
  instance: string;
  /** The key's time to live (the bucket's max age): how long a paused or cut-off holder blocks a takeover. */
  ttlMs: number;
  log: Logger;
}

interface Holder {
  instance: string;
  pid: number;
  since: number;
  /** Its liveness subject (absent in a holder from before it had one: waited out). */
  alive?: string;
}

const wrongSequence = (e: unknown) =>
  e instanceof JetStreamApiError &&
  (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
const noResponders = (e: unknown) =>
  e instanceof NoRespondersError ||
  (e instanceof RequestError && e.isNoResponders()) ||
  (e instanceof Error && e.cause instanceof NoRespondersError);

/**
 * The ledger's single-writer lease: a JetStream KV key with a time to live. The holder renews
 * it every third of the TTL; a standby polls and takes it once the holder's last renewal
 * expired (a partition, SIGSTOP past the TTL), was released (SIGTERM), or the holder's
 * connection is gone (kill -9: the server answers "no responders" on the holder's liveness
 * subject, twice, and the key is taken by compare-and-set on the revision the dead holder
 * left, so two standbys cannot both take it and a holder that renewed meanwhile keeps it).
 *
 * Never two writers: a holder whose last successful renewal is older than the TTL treats the
 * lease as lost and steps down, never writing the key again; and the store's writer epoch
 * (claimWriter, taken after the lease) makes any late append of a deposed writer fail, so a
 * holder deposed early (its connection lost while it lived) can never commit beside the new one.
 */
export class WriterLease {
  readonly #nc: NatsConnection;
  readonly #kv: KV;
  readonly #opts: LeaseOptions;
  #revision = 0;
  /** This process as the key's value, from its acquisition on. */
  #me = '';
  #alive: Subscription | undefined;
  /** When this process last knew the key was its own (monotonic ms). */
  #heldAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;

  private constructor(nc: NatsConnection, kv: KV, opts: LeaseOptions) {
    this.#nc = nc;
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
    // An existing bucket keeps the TTL it was made with: a changed LEDGER_LEASE_MS must reach it,
    // or keys would expire at the old TTL between this holder's renewals (or block a takeover longer).
    const jsm = await jetstreamManager(nc);
    const si = await jsm.streams.info(kvStream(LEASE_BUCKET));
    if (si.config.max_age !== nanos(opts.ttlMs)) {
      // The duplicates window may not outlast the max age (as the KV sets it when it makes a bucket).
      const window = nanos(Math.min(opts.ttlMs, 120_000));
      await jsm.streams.update(si.config.name, { ...si.config, max_age: nanos(opts.ttlMs), duplicate_window: window });
      opts.log.info({ ttl_ms: opts.ttlMs }, 'ledger lease: the lease bucket’s TTL changed to this ledger’s');
    }
    return new WriterLease(nc, kv, opts);
  }

  /** Who holds the lease now (undefined: nobody, or it expired). */
  async holder(): Promise<Holder | undefined> {
    const e = await this.#kv.get(KEY);
    return e?.operation === 'PUT' ? e.json<Holder>() : undefined;
  }

  /**
   * Waits until this process holds the lease. A key held by this same instance (its previous
   * process, killed before its TTL ran out) or by a holder whose connection is gone is taken at
   * once; a live holder is waited out.
   */
  async acquire(): Promise<{ waitedMs: number }> {
    const t0 = Date.now();
    // Answering before the key names it: a standby never finds a fresh holder's subject unanswered.
    const alive = ledgerLeaseAliveSubject(randomUUID());
    this.#alive ??= this.#nc.subscribe(alive, { callback: (_, m) => void m.respond() });
    await this.#nc.flush();
    const me: Holder = { instance: this.#opts.instance, pid: process.pid, since: Date.now(), alive };
    this.#me = JSON.stringify(me);
    let told = false;
    /** The revision first seen with its holder gone, and when. */
    let gone: { revision: number; at: number } | undefined;
    /** Takes the key; held from when the write was sent (its TTL runs from the server's write, later). */
    const take = async (write: () => Promise<number>) => {
      const sent = performance.now();
      this.#revision = await write();
      this.#heldAt = sent;
      return { waitedMs: Date.now() - t0 };
    };
    for (;;) {
      try {
        return await take(() => this.#kv.create(KEY, this.#me));
      } catch (e) {
        if (!wrongSequence(e)) this.#opts.log.warn({ err: e }, 'ledger lease: cannot reach the lease bucket; retrying');
      }
      const cur = await this.#kv.get(KEY).catch(() => null);
      const holder = cur?.operation === 'PUT' ? cur.json<Holder>() : undefined;
      if (cur && holder && holder.instance === this.#opts.instance) {
        try {
          const r = await take(() => this.#kv.update(KEY, this.#me, cur.revision));
          this.#opts.log.info(
            { instance: me.instance },
            'ledger lease: taken over from this instance’s previous process',
          );
          return r;
        } catch {
          // Raced with another taker: wait like any standby.
        }
      }
      if (cur && holder?.alive && (await this.#gone(holder.alive))) {
        if (gone?.revision !== cur.revision) gone = { revision: cur.revision, at: performance.now() };
        else if (performance.now() - gone.at >= CONFIRM_GONE_MS)
          try {
            const r = await take(() => this.#kv.update(KEY, this.#me, cur.revision));
            this.#opts.log.info(
              { holder, instance: me.instance },
              'ledger lease: taken over from a holder whose connection is gone',
            );
            return r;
          } catch {
            gone = undefined; // renewed or taken meanwhile: it was not gone after all
          }
        await sleep(CONFIRM_GONE_MS);
        continue;
      }
      gone = undefined;
      if (!told && holder) {
        told = true;
        this.#opts.log.info(
          { holder, ttl_ms: this.#opts.ttlMs },
          'ledger standby: another ledger holds the writer lease; waiting to take over',
        );
      }
      // Polled often (a few small requests): a released or orphaned key is taken within this,
      // an expired one within it after its TTL.
      await sleep(Math.min(250, Math.max(50, Math.floor(this.#opts.ttlMs / 10))));
    }
  }

  /** True only when the server says nobody answers the holder's subject (its connection is gone). */
  async #gone(subject: string): Promise<boolean> {
    try {
      await this.#nc.request(subject, undefined, { timeout: 1000 });
      return false;
    } catch (e) {
      return noResponders(e);
    }
  }

  /**
   * Renews every third of the TTL. `lost` is called once the lease passed to another: another
   * holder has the key, or this process's last successful renewal is older than the TTL (it was
   * paused or cut off that long) and the store has a newer writer. Past the TTL the key is taken
   * back only while `stillWriter` says nobody claimed the store meanwhile (a NATS outage with no
   * standby taking over): a woken holder never re-creates a key that a new writer's expired
   * meanwhile. A renewal that cannot reach NATS keeps trying.
   */
  keep(lost: (why: string) => void, stillWriter: () => Promise<boolean>): void {
    const ttl = this.#opts.ttlMs;
    const lose = (why: string) => {
      this.stop();
      lost(why);
    };
    const renew = async () => {
      const since = performance.now() - this.#heldAt;
      if (since >= ttl) return this.#reclaim(since, lose, stillWriter);
      // The key's TTL runs from when the server wrote it, after this: a late reply (a pause while
      // it was on its way) must not make the lease look younger than it is.
      const sent = performance.now();
      try {
        this.#revision = await this.#kv.update(KEY, this.#me, this.#revision);
        this.#heldAt = sent;
      } catch (e) {
        if (!wrongSequence(e)) {
          this.#opts.log.warn({ err: e }, 'ledger lease: renewal failed; retrying');
          return;
        }
        // Expired or changed under it (a renewal sent late, past the TTL): look at the key.
        return this.#reclaim(performance.now() - this.#heldAt, lose, stillWriter);
      }
    };
    // One renewal at a time: a slow one (NATS failing over) must not race the next.
    const tick = () => {
      if (this.#renewing || !this.#timer) return;
      this.#renewing = true;
      void renew().finally(() => (this.#renewing = false));
    };
    this.#timer = setInterval(tick, Math.max(50, Math.floor(ttl / 3)));
    // At once too: what ran since the lease was taken (claiming the store) may have used much of the TTL.
    tick();
  }

  /**
   * Past the TTL without a renewal, or a renewal refused: the key is still this process's
   * (renewed from its revision), is another's (lost), or is gone — then created again only if
   * the store still has this process as its writer, atomically (a standby creating it first
   * wins, and this one is lost).
   */
  async #reclaim(since: number, lose: (why: string) => void, stillWriter: () => Promise<boolean>): Promise<void> {
    const late = `the writer lease last renewed ${Math.round(since)} ms ago (its TTL: ${this.#opts.ttlMs} ms)`;
    const sent = performance.now();
    const cur = await this.#kv.get(KEY).catch(() => undefined);
    if (cur === undefined) return; // NATS still unreachable: the next tick tries again
    if (cur?.operation === 'PUT') {
      if (cur.string() !== this.#me) {
        const other = cur.json<Holder>();
        return lose(`${late}; the writer lease is held by ${other.instance} (pid ${other.pid})`);
      }
      try {
        this.#revision = await this.#kv.update(KEY, this.#me, cur.revision);
        this.#heldAt = sent;
      } catch {
        // Raced (a standby's compare-and-set, or NATS away again): the next tick reads the key again.
      }
      return;
    }
    const mine = await stillWriter().catch(() => undefined);
    if (mine === undefined) return; // the store unreachable: it fences appends anyway; ask again
    if (!mine) return lose(`${late}; another ledger has claimed the store since`);
    try {
      this.#revision = await this.#kv.create(KEY, this.#me);
      this.#heldAt = sent;
      this.#opts.log.warn(
        { late_ms: Math.round(since) },
        'ledger lease: taken back after an outage past its TTL; nobody took over',
      );
    } catch (e) {
      if (wrongSequence(e)) lose(`${late}; another ledger took the writer lease`);
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Gives the lease up (SIGTERM) so a standby takes over without waiting out the TTL. */
  async release(): Promise<void> {
    this.stop();
    await this.#kv.delete(KEY, { previousSeq: this.#revision }).catch(() => undefined);
    this.#alive?.unsubscribe();
    this.#alive = undefined;
  }
}
