import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { EVENTS_STREAM, EVENTS_WILDCARD } from './subjects.js';

/** The duplicate window covers the outbox's re-publish horizon (architecture.md). */
export const DUPLICATE_WINDOW_MS = 60 * 60 * 1000;

/** Creates a stream (file storage, limits retention, 1 h dedupe) if missing; idempotent. */
export async function ensureStream(nc: NatsConnection, name: string, subjects: string[]): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(name);
  } catch {
    await jsm.streams.add({
      name,
      subjects,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
  }
  return jsm;
}

/** Creates MIRRORD_EVENTS if missing; idempotent. */
export function ensureEventsStream(
  nc: NatsConnection,
  name = EVENTS_STREAM,
  subjects = [EVENTS_WILDCARD],
): Promise<JetStreamManager> {
  return ensureStream(nc, name, subjects);
}

/**
 * A durable, explicitly acknowledged consumer of one event type on MIRRORD_EVENTS, created
 * when missing (new events only, redelivered forever until acknowledged), and its messages.
 */
export async function consumeEventType(
  nc: NatsConnection,
  durable: string,
  eventType: string,
  ackWaitMs: number,
  maxMessages: number,
): Promise<ConsumerMessages> {
  const jsm = await ensureEventsStream(nc);
  if (!(await jsm.consumers.info(EVENTS_STREAM, durable).catch(() => undefined)))
    await jsm.consumers.add(EVENTS_STREAM, {
      durable_name: durable,
      filter_subject: `mirrord.events.${eventType}.>`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ack_wait: nanos(ackWaitMs),
      max_deliver: -1,
    });
  return (await jetstream(nc).consumers.get(EVENTS_STREAM, durable)).consume({ max_messages: maxMessages });
}
