import { jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { LedgerStore } from '../../domain/store.js';
import { EVENTS_STREAM, ensureEventsStream, eventSubject, packValue } from '../../../../../shared/src/nats/index.js';

export const OUTBOX_CHECKPOINT = 'outbox';

export interface OutboxOptions {
  stream?: string;
  batch?: number;
  log: Logger;
}

/**
 * Publishes every appended event to JetStream, in position order, with `Nats-Msg-Id` = event id.
 * The SQL event table is the outbox: a checkpoint row marks what JetStream has acknowledged.
 * After a start or a reconnect the checkpoint is re-derived from the stream's last message,
 * because a killed nats-server may have lost an acknowledged suffix (and a killed ledger may
 * not have written its checkpoint); re-publishes inside the window are deduplicated.
 */
export class OutboxPublisher {
  readonly #nc: NatsConnection;
  readonly #store: LedgerStore;
  readonly #opts: Readonly<Required<OutboxOptions>>;
  #js: JetStreamClient;
  #jsm: JetStreamManager | undefined;
  #position = 0;
  #committed = 0;
  #needResync = true;
  #wake: (() => void) | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #published = 0;

  constructor(nc: NatsConnection, store: LedgerStore, opts: OutboxOptions) {
    this.#nc = nc;
    this.#store = store;
    this.#opts = Object.freeze({ stream: EVENTS_STREAM, batch: 1000, ...opts });
    this.#js = jetstream(nc);
  }

  get publishedPosition(): number {
    return this.#position;
  }
  get publishedCount(): number {
    return this.#published;
  }

  /** Wakes the loop: something up to `position` is committed. */
  notify(position: number): void {
    if (position > this.#committed) this.#committed = position;
    this.#wake?.();
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void (async () => {
      for await (const s of this.#nc.status()) {
        if (s.type === 'reconnect') {
          this.#needResync = true;
          this.#wake?.();
        }
      }
    })().catch(() => undefined);
    this.#loop = this.#run();
  }

  async #resync(): Promise<void> {
    this.#jsm ??= await ensureEventsStream(this.#nc, this.#opts.stream);
    const info = await this.#jsm.streams.info(this.#opts.stream);
    let pos = 0;
    if (info.state.last_seq > 0) {
      const m = await this.#jsm.streams.getMessage(this.#opts.stream, { seq: info.state.last_seq }).catch(() => null);
      const id = m?.header?.get('Nats-Msg-Id');
      if (id) pos = (await this.#store.positionOf(id)) ?? (await this.#store.getCheckpoint(OUTBOX_CHECKPOINT));
      else pos = await this.#store.getCheckpoint(OUTBOX_CHECKPOINT);
    }
    this.#position = pos;
    this.#committed = Math.max(this.#committed, await this.#store.maxPosition());
    await this.#store.setCheckpoint(OUTBOX_CHECKPOINT, pos);
    this.#needResync = false;
  }

  async #run(): Promise<void> {
    let backoff = 100;
    while (this.#running) {
      try {
        if (this.#needResync) await this.#resync();
        const rows = await this.#store.readForPublish(this.#position, this.#opts.batch);
        if (rows.length === 0) {
          await this.#sleep(1000);
          continue;
        }
        const acks = rows.map(({ event, traceparent }) => {
          const h = headers();
          h.set('Nats-Msg-Id', event.id);
          if (traceparent) h.set('traceparent', traceparent);
          return this.#js.publish(eventSubject(event.type, event.session_id), packValue(event), { msgID: event.id, headers: h, timeout: 10_000 });
        });
        await Promise.all(acks);
        this.#position = rows[rows.length - 1]!.event.position;
        this.#published += rows.length;
        await this.#store.setCheckpoint(OUTBOX_CHECKPOINT, this.#position);
        backoff = 100;
      } catch (e) {
        if (!this.#running) break;
        this.#opts.log.warn({ err: e, position: this.#position }, 'outbox publish failed; retrying');
        this.#needResync = true;
        await this.#sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#committed > this.#position && !this.#needResync && ms >= 1000) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  /** Publishes everything committed so far, then stops (SIGTERM drain). */
  async drain(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#position < this.#committed && Date.now() < deadline && !this.#needResync) {
      this.#wake?.();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#running = false;
    this.#wake?.();
    await this.#loop;
  }
}
