import type { JsMsg } from '@nats-io/jetstream';
import type { Attributes, Context } from '@opentelemetry/api';
import { SpanKind } from '@opentelemetry/api';
import { contextFromNats, inSpan } from '../otel/index.js';
import { EVENTS_WILDCARD } from './subjects.js';

/**
 * OpenTelemetry messaging semantic conventions for NATS: span names are
 * `{operation} {destination}`, with the session id of event subjects replaced by `*` so that
 * names stay low-cardinality (the full subject is `messaging.destination.name`).
 */
export type MessagingOperation = 'send' | 'process';

const EVENTS_PREFIX = EVENTS_WILDCARD.slice(0, -1);

/** `mirrord.events.SessionEnded.0123…` → `mirrord.events.SessionEnded.*`; other subjects as they are. */
export function destinationTemplate(subject: string): string {
  return subject.startsWith(EVENTS_PREFIX) ? `${subject.slice(0, subject.lastIndexOf('.'))}.*` : subject;
}

export function messagingSpan(
  operation: MessagingOperation,
  subject: string,
  extra: Attributes = {},
): { name: string; attributes: Attributes } {
  const template = destinationTemplate(subject);
  const attributes: Attributes = {
    'messaging.system': 'nats',
    'messaging.operation.name': operation,
    'messaging.operation.type': operation,
    'messaging.destination.name': subject,
    ...extra,
  };
  if (template !== subject) attributes['messaging.destination.template'] = template;
  return { name: `${operation} ${template}`, attributes };
}

/**
 * Runs a JetStream consumer's handling of one message in a CONSUMER `process` span, child of
 * the context the message carries (the producer's span, hence the command that caused it).
 */
export function inConsumerSpan<T>(m: JsMsg, group: string, fn: () => Promise<T>): Promise<T> {
  const extra: Attributes = {
    'messaging.consumer.group.name': group,
    'messaging.message.body.size': m.data.length,
    'messaging.nats.stream.sequence': m.seq,
    'messaging.nats.delivery_count': m.info.deliveryCount,
  };
  const id = m.headers?.get('Nats-Msg-Id');
  if (id) extra['messaging.message.id'] = id;
  const { name, attributes } = messagingSpan('process', m.subject, extra);
  const parent: Context = contextFromNats(m.headers);
  return inSpan(name, SpanKind.CONSUMER, parent, attributes, fn);
}
