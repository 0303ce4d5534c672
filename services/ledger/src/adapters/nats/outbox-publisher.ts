import { jetstream, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { Checkpoints, EventLog, StoreIdentity, StoredEvent } from '../../domain/store.js';

/** The outbox reads the log from a position, keeps its own, and stamps the store's identity. */
type OutboxPorts = Pick<EventLog, 'readAll' | 'positionOf' | 'maxPosition'> &
  Checkpoints &
  Pick<StoreIdentity, 'storeId'>;
import {
  EVENTS_STREAM,
  LEDGER_HEADER,
  ensureEventsStream,
  eventSubject,
  messagingSpan,
  packValue,
  unpackValue,
} from '#shared/nats/index.js';
import { producerSpan } from '#shared/otel/index.js';
import { DeadLetters, eventOf } from './dead-letter.js';

export const OUTBOX_CHECKPOINT = 'outbox';
/** Messages (non-events, gaps) the start-up walks back over before it resumes from its checkpoint instead. */
const MAX_SKIPPED = 1000;

export interface OutboxOptions {
  stream?: string;
  batch?: number;
  log: Logger;
  /** How often the fallback checkpoint row is written (it is re-derived on resync anyway). */
  checkpointEveryMs?: number;
  /** Events held in memory before falling back to reading the table. */
  maxMemory?: number;
}

/**
 * Publishes every appended event to JetStream, in position order, with `Nats-Msg-Id` = event id.
 * The SQL event table is the outbox. After a start, a reconnect or an error the publisher reads
 * the table from the stream's last message on (a killed nats-server may have lost an
 * acknowledged suffix, a killed ledger may not have written its checkpoint; re-publishes inside
 * the duplicate window are deduplicated). Once the table has nothing newer, it switches to the
 * events the ledger hands over at commit, so the steady state never re-reads what it just wrote.
 */
/** The stream holds events this ledger's store does not: it refuses to publish into it. */
class ProvenanceError extends Error {
  readonly streamPosition: number | undefined;
  constructor(
    lastMessage: Uint8Array,
    readonly ledgerPosition: number,
  ) {
    let pos: number | undefined;
    try {
      pos = (unpackValue(lastMessage) as { position?: number }).position;
    } catch {
      pos = undefined;
    }
    super(
      `the events stream holds events this ledger's store does not have (stream at position ${pos ?? 'unknown'}, this ledger at ${ledgerPosition}): its database is empty, restored from an older backup, or another ledger's. Not publishing into it: restore the database that wrote the stream, or, to start a new history, delete the stream (nats stream rm MIRRORD_EVENTS) and restart the ledger`,
    );
    this.streamPosition = pos;
  }
}

export class OutboxPublisher {
  readonly #nc: NatsConnection;
  readonly #store: OutboxPorts;
  #storeId: string | undefined;
  readonly #opts: Readonly<Required<OutboxOptions>>;
  readonly #js: JetStreamClient;
  #jsm: JetStreamManager | undefined;
  #position = 0;
  #committed = 0;
  #needResync = true;
  /** True once the table held nothing past #position: new events then come from #memory. */
  #fromMemory = false;
  #memory: StoredEvent[] = [];
  #wake: (() => void) | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #lastCheckpoint = 0;
  readonly #dead: DeadLetters;
  /** The stream's last sequence as this publisher knows it (undefined: unknown, ack each). */
  #streamSeq: number | undefined;

  constructor(nc: NatsConnection, store: OutboxPorts, opts: OutboxOptions) {
    this.#nc = nc;
    this.#store = store;
    this.#opts = Object.freeze({
      stream: EVENTS_STREAM,
      batch: 1000,
      checkpointEveryMs: 1000,
      maxMemory: 50_000,
      ...opts,
    });
    this.#js = jetstream(nc);
    this.#dead = new DeadLetters(nc);
  }

  get publishedPosition(): number {
    return this.#position;
  }

  /** Committed events, in position order, handed over by the ledger. */
  enqueue(events: StoredEvent[]): void {
    const last = events[events.length - 1];
    if (!last) return;
    this.#committed = Math.max(this.#committed, last.event.position);
    if (this.#memory.length + events.length > this.#opts.maxMemory) {
      // Too far behind (NATS down): drop the copies and read the table when it is back.
      this.#memory = [];
      this.#fromMemory = false;
    } else {
      for (const e of events) this.#memory.push(e);
    }
    this.#wake?.();
  }

  /** Wakes the loop: something up to `position` is committed (written by another process). */
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
    this.#storeId ??= await this.#store.storeId();
    const info = await this.#jsm.streams.info(this.#opts.stream);
    this.#streamSeq = info.state.last_seq;
    let pos = 0;
    const m = info.state.last_seq > 0 ? await this.#lastEvent(info.state.first_seq, info.state.last_seq) : null;
    // null: the stream holds no event (empty, or nothing but dead letters): everything is published.
    if (m !== null) {
      const id = m?.header?.get('Nats-Msg-Id');
      const known = id ? await this.#store.positionOf(id) : undefined;
      const from = m?.header?.get(LEDGER_HEADER);
      // The stream's newest event is not this store's: an emptied or restored database, or
      // another ledger's. Publishing on would interleave two histories.
      if (m && known === undefined && from !== this.#storeId)
        throw new ProvenanceError(m.data, await this.#store.maxPosition());
      pos = known ?? (await this.#store.getCheckpoint(OUTBOX_CHECKPOINT));
    }
    this.#position = pos;
    this.#fromMemory = false;
    this.#committed = Math.max(this.#committed, await this.#store.maxPosition());
    await this.#writeCheckpoint(true);
    this.#needResync = false;
  }

  /**
   * The stream's newest message that is an event, walking back over anything else: a message
   * that is not an event has no id this store knows and no provenance, so taken as the newest
   * it read as another ledger's history and stopped publishing for good. What is walked over
   * is kept in MIRRORD_EVENTS_DEAD. null: the stream holds no event; undefined: none within
   * MAX_SKIPPED (the checkpoint decides).
   */
  async #lastEvent(first: number, last: number): Promise<StoredMsg | null | undefined> {
    const stream = this.#opts.stream;
    let skipped = 0;
    for (let seq = last; seq >= first; seq--) {
      if (skipped++ === MAX_SKIPPED) return undefined;
      const m = await this.#jsm!.streams.getMessage(stream, { seq });
      if (!m) continue; // deleted: a gap in the sequence
      const r = eventOf(m.data);
      if ('event' in r) return m;
      this.#opts.log.warn(
        { stream, seq, subject: m.subject, bytes: m.data.length, reason: r.error },
        'a message on the event stream is not an event: skipped, and kept in MIRRORD_EVENTS_DEAD',
      );
      // Publishing matters more than keeping the copy: a failure here is only logged.
      await this.#dead
        .keep(stream, m, r.error)
        .catch((err: unknown) =>
          this.#opts.log.error({ err, stream, seq }, 'could not keep a non-event in MIRRORD_EVENTS_DEAD'),
        );
    }
    return null;
  }

  async #next(): Promise<StoredEvent[]> {
    if (this.#fromMemory) {
      let i = 0;
      while (i < this.#memory.length && this.#memory[i]!.event.position <= this.#position) i++;
      const rows = this.#memory.slice(i, i + this.#opts.batch);
      this.#memory = this.#memory.slice(i + rows.length);
      return rows;
    }
    const rows = await this.#store.readAll(this.#position, this.#opts.batch);
    if (rows.length === 0) this.#fromMemory = true;
    return rows;
  }

  async #writeCheckpoint(force = false): Promise<void> {
    const now = Date.now();
    if (!force && now - this.#lastCheckpoint < this.#opts.checkpointEveryMs) return;
    this.#lastCheckpoint = now;
    await this.#store.setCheckpoint(OUTBOX_CHECKPOINT, this.#position);
  }

  async #run(): Promise<void> {
    let backoff = 100;
    while (this.#running) {
      try {
        if (this.#needResync) await this.#resync();
        const rows = await this.#next();
        if (rows.length === 0) {
          await this.#writeCheckpoint();
          await this.#sleep(1000);
          continue;
        }
        await this.#publishBatch(rows);
        this.#position = rows[rows.length - 1]!.event.position;
        await this.#writeCheckpoint();
        backoff = 100;
      } catch (e) {
        if (!this.#running) break;
        if (e instanceof ProvenanceError) {
          this.#opts.log.error(
            { stream_position: e.streamPosition, ledger_position: e.ledgerPosition, stream: this.#opts.stream },
            e.message,
          );
          this.#needResync = true;
          await this.#sleep(30_000);
          continue;
        }
        this.#opts.log.warn({ err: e, position: this.#position }, 'outbox publish failed; retrying');
        this.#needResync = true;
        this.#streamSeq = undefined;
        await this.#sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** One batch of committed events, each with a producer span when its command was traced. */
  async #publishBatch(rows: StoredEvent[]): Promise<void> {
    const spans: Array<ReturnType<typeof producerSpan>> = [];
    const msgs = rows.map(({ event, traceparent }) => {
      const h = headers();
      h.set('Nats-Msg-Id', event.id);
      h.set(LEDGER_HEADER, this.#storeId!);
      const subject = eventSubject(event.type, event.session_id);
      const data = packValue(event);
      if (traceparent) {
        // The command's span has ended by now: a producer span under it carries the context on.
        const { name, attributes } = messagingSpan('send', subject, {
          'messaging.message.id': event.id,
          'messaging.message.body.size': data.length,
        });
        const span = producerSpan(name, attributes, traceparent);
        spans.push(span);
        h.set('traceparent', span.traceparent);
      }
      return { subject, data, h, id: event.id };
    });
    let error: unknown;
    try {
      await this.#send(msgs);
    } catch (e) {
      error = e;
      throw e;
    } finally {
      for (const s of spans) s.end(error);
    }
  }

  /**
   * Pipelines a batch: every event but the last goes out as a plain publish (no ack to wait
   * for or parse), the last as an acked JetStream publish. One connection keeps them in order,
   * so an ack whose sequence is exactly `last known + batch size` proves every one was stored
   * once. Anything else (a duplicate after a resync, a message the server refused) re-sends the
   * batch acked one by one; duplicates are dropped by Nats-Msg-Id.
   */
  async #send(
    msgs: Array<{ subject: string; data: Uint8Array; h: ReturnType<typeof headers>; id: string }>,
  ): Promise<void> {
    const before = this.#streamSeq;
    for (let i = 0; i < msgs.length - 1; i++)
      this.#nc.publish(msgs[i]!.subject, msgs[i]!.data, { headers: msgs[i]!.h });
    const last = msgs[msgs.length - 1]!;
    const pa = await this.#js.publish(last.subject, last.data, { msgID: last.id, headers: last.h, timeout: 10_000 });
    if (before !== undefined && !pa.duplicate && pa.seq === before + msgs.length) {
      this.#streamSeq = pa.seq;
      return;
    }
    const acks = await Promise.all(
      msgs.map((m) => this.#js.publish(m.subject, m.data, { msgID: m.id, headers: m.h, timeout: 10_000 })),
    );
    this.#streamSeq = Math.max(...acks.map((a) => a.seq));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const pending = this.#fromMemory ? this.#memory.length > 0 : this.#committed > this.#position;
      if (pending && !this.#needResync && ms >= 1000) return resolve();
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
    await this.#writeCheckpoint(true).catch(() => undefined);
  }
}
