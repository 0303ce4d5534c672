import { headers, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { validateEvent, type LedgerEvent } from '#shared/events/index.js';
import {
  deadEventSubject,
  ensureStream,
  EVENTS_DEAD_STREAM,
  EVENTS_DEAD_WILDCARD,
  unpackValue,
} from '#shared/nats/index.js';

/** Headers on a dead letter: where it was found and why it is not an event. */
export const DEAD_STREAM_HEADER = 'Mirrord-Dead-Stream';
export const DEAD_SEQ_HEADER = 'Mirrord-Dead-Seq';
export const DEAD_REASON_HEADER = 'Mirrord-Dead-Reason';

/** The event a stream message holds, or why it holds none. */
export function eventOf(data: Uint8Array): { event: LedgerEvent } | { error: string } {
  try {
    return { event: validateEvent(unpackValue(data)) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Copies messages of the event stream that are not events to MIRRORD_EVENTS_DEAD, keyed by
 * stream and sequence (`Nats-Msg-Id`), so finding one again (the next start) adds nothing.
 * The stream is made on first use: most installations never have a dead letter.
 */
export class DeadLetters {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  #ready: Promise<unknown> | undefined;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#js = jetstream(nc);
  }

  async keep(stream: string, m: { subject: string; seq: number; data: Uint8Array }, reason: string): Promise<void> {
    this.#ready ??= ensureStream(this.#nc, EVENTS_DEAD_STREAM, [EVENTS_DEAD_WILDCARD]).catch((e: unknown) => {
      this.#ready = undefined;
      throw e;
    });
    await this.#ready;
    const h = headers();
    h.set(DEAD_STREAM_HEADER, stream);
    h.set(DEAD_SEQ_HEADER, String(m.seq));
    // Header values are one line.
    h.set(DEAD_REASON_HEADER, reason.replace(/[\r\n]+/g, ' ').slice(0, 512));
    await this.#js.publish(deadEventSubject(m.subject), m.data, { msgID: `${stream}:${m.seq}`, headers: h });
  }
}
