import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { errors as natsErrors } from '@nats-io/nats-core';
import { SpanKind, context } from '@opentelemetry/api';
import { fromErrorBody, isErrorBody, toAppError, unavailable } from '../errors/index.js';
import { contextFromNats, inSpan, natsHeadersWithContext } from '../otel/index.js';
import { decode, encode } from './codec.js';
import { messagingSpan } from './messaging.js';


/**
 * Request-reply with the project's envelope: `{v, ok}` or `{v, error:{code,message,field?}}`.
 * The typed error is rebuilt on this side, so callers test codes, not strings.
 */
export async function call<T>(
  nc: NatsConnection,
  subject: string,
  body: Record<string, unknown>,
  timeoutMs = 5000,
): Promise<T> {
  const span = messagingSpan('send', subject);
  return inSpan(span.name, SpanKind.CLIENT, context.active(), span.attributes, async (s) => {
    let reply: Msg;
    try {
      const headers = natsHeadersWithContext();
      const data = encode(body);
      if (s.isRecording()) s.setAttribute('messaging.message.body.size', data.length);
      reply = await nc.request(subject, data, headers ? { timeout: timeoutMs, headers } : { timeout: timeoutMs });
    } catch (e) {
      if (e instanceof natsErrors.NoRespondersError || (e as { code?: string }).code === '503')
        throw unavailable(`no ${subject.split('.')[2] ?? 'service'} is running (no responders on ${subject})`, e);
      if (e instanceof natsErrors.TimeoutError) throw unavailable(`${subject} timed out after ${timeoutMs} ms`, e);
      throw unavailable(`${subject}: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    const o = decode(reply.data, 'reply');
    if (isErrorBody(o.error)) throw fromErrorBody(o.error);
    return o.ok as T;
  });
}

/** Serves one request: decode, run in a `process` span under the caller's context, respond. */
export async function serveRequest(
  msg: Msg,
  handler: (body: Record<string, unknown>) => Promise<unknown>,
): Promise<void> {
  const parent = contextFromNats(msg.headers);
  let out: Uint8Array;
  try {
    const span = messagingSpan('process', msg.subject, { 'messaging.message.body.size': msg.data.length });
    const result = await inSpan(span.name, SpanKind.SERVER, parent, span.attributes, () =>
      handler(decode(msg.data, 'request')),
    );
    out = encode({ ok: result ?? null });
  } catch (e) {
    out = encode({ error: toAppError(e).toBody() });
  }
  if (msg.reply) msg.respond(out);
}

