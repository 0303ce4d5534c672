import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamManager,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { streamReplicas } from './connect.js';
import { EVENTS_STREAM, EVENTS_WILDCARD } from './subjects.js';

/** The duplicate window covers the outbox's re-publish horizon (architecture.md). */
export const DUPLICATE_WINDOW_MS = 60 * 60 * 1000;

const notFound = (e: unknown) => e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound;

/**
 * A stream's info, or undefined only when it does not exist. Any other failure (a timeout while
 * a cluster elects the stream's leader after a node died) is asked again for a while: taking
 * it for "missing" would try to add a stream that exists, which the server refuses.
 */
async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await jsm.streams.info(name);
    } catch (e) {
      if (notFound(e)) return undefined;
      if (attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Creates a stream (file storage, limits retention, 1 h dedupe, the bus's replica count) if
 * missing; idempotent. A stream made before the bus became a cluster is scaled up to it.
 */
export async function ensureStream(nc: NatsConnection, name: string, subjects: string[]): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const replicas = streamReplicas(nc);
  const info = await streamInfo(jsm, name);
  if (!info) {
    await jsm.streams.add({
      name,
      subjects,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      num_replicas: replicas,
    });
  } else if (info.config.num_replicas < replicas) {
    await jsm.streams.update(name, { ...info.config, num_replicas: replicas });
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
 * Waits until the ledger has made the event stream: only the ledger may create it (its
 * permissions, permissions.ts), so a consumer that starts first waits rather than creating it.
 */
export async function awaitEventsStream(nc: NatsConnection, name = EVENTS_STREAM): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    const info = await jsm.streams.info(name).catch((e: unknown) => e);
    if (!(info instanceof Error)) return jsm;
    // Anything but "not there yet" (a permissions violation, a closed connection) is for the caller.
    if (!/not found/i.test(info.message) || nc.isClosed()) throw info;
    await new Promise((r) => setTimeout(r, wait));
  }
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
  const jsm = await awaitEventsStream(nc);
  if (!(await jsm.consumers.info(EVENTS_STREAM, durable).catch(() => undefined)))
    await jsm.consumers.add(EVENTS_STREAM, {
      durable_name: durable,
      filter_subject: `mirrord.events.${eventType}.>`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ack_wait: nanos(ackWaitMs),
      max_deliver: -1,
    });
  // Pulls expire every 5 s (heartbeat 2.5 s) rather than 30 s: after a NATS node or the
  // consumer's leader is lost, a stalled pull is noticed and re-issued in seconds, not half a minute.
  return (await jetstream(nc).consumers.get(EVENTS_STREAM, durable)).consume({
    max_messages: maxMessages,
    expires: 5000,
  });
}
