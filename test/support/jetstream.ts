import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { EVENTS_STREAM, unpackValue } from '#shared/nats/index.js';
import { validateEvent, type LedgerEvent } from '#shared/events/index.js';

export interface StreamMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  traceparent: string | undefined;
  event: LedgerEvent;
}

/** Every message of MIRRORD_EVENTS, read with an ordered consumer, validated as events. */
export async function readEventStream(nc: NatsConnection, stream = EVENTS_STREAM): Promise<StreamMessage[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const last = info.state.last_seq;
  const out: StreamMessage[] = [];
  if (info.state.messages === 0) return out;
  const c = await jetstream(nc).consumers.get(stream);
  const iter = await c.consume();
  for await (const m of iter) {
    out.push({
      seq: m.seq,
      subject: m.subject,
      msgId: m.headers?.get('Nats-Msg-Id'),
      traceparent: m.headers?.get('traceparent') || undefined,
      event: validateEvent(unpackValue(m.data)),
    });
    if (m.seq >= last) break;
  }
  await iter.close();
  return out;
}
