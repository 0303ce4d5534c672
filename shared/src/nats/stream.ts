import { jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { EVENTS_STREAM, EVENTS_WILDCARD } from './subjects.js';

/** The duplicate window covers the outbox's re-publish horizon (architecture.md). */
export const DUPLICATE_WINDOW_MS = 60 * 60 * 1000;

/** Creates MIRRORD_EVENTS (file storage, 1 h dedupe) if missing; idempotent. */
export async function ensureEventsStream(nc: NatsConnection, name = EVENTS_STREAM, subjects = [EVENTS_WILDCARD]): Promise<JetStreamManager> {
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
