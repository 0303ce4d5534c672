import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { errors as natsErrors } from '@nats-io/nats-core';
import { SpanKind, context } from '@opentelemetry/api';
import { fromErrorBody, isAppError, isErrorBody, toAppError, unavailable, ErrorCode } from '../errors/index.js';
import { contextFromNats, inSpan, natsHeadersWithContext } from '../otel/index.js';
import { decode, encode } from './codec.js';
import { isBusDown } from './connect.js';
import { messagingSpan } from './messaging.js';

/**
 * The largest reply a responder builds on purpose. NATS refuses a message above the server's
 * `max_payload` (1 MiB by default); queries that could grow (lists, event pages) stop a page
 * at this budget and hand back a cursor, leaving room for the envelope and headers.
 */
export const REPLY_BUDGET_BYTES = 256 * 1024;

/**
 * Request-reply with the project's envelope: `{v, ok}` or `{v, error:{code,message,field?}}`.
 * The typed error is rebuilt on this side, so callers test codes, not strings. While the
 * connection to NATS is down the call fails at once (no 5 s wait for a reply that cannot come).
 */
export async function call<T>(
  nc: NatsConnection,
  subject: string,
  body: Record<string, unknown>,
  timeoutMs = 5000,
): Promise<T> {
  if (isBusDown(nc)) throw unavailable(`message bus unavailable: NATS is not connected (${subject})`);
  const span = messagingSpan('send', subject);
  return inSpan(span.name, SpanKind.CLIENT, context.active(), span.attributes, async (s) => {
    let reply: Msg;
    try {
      const headers = natsHeadersWithContext();
      const data = encode(body);
      if (s.isRecording()) s.setAttribute('messaging.message.body.size', data.length);
      reply = await nc.request(subject, data, headers ? { timeout: timeoutMs, headers } : { timeout: timeoutMs });
    } catch (e) {
      if (noResponders(e))
        throw unavailable(`no ${subject.split('.')[2] ?? 'service'} is running (no responders on ${subject})`, e);
      if (e instanceof natsErrors.TimeoutError) throw unavailable(`${subject} timed out after ${timeoutMs} ms`, e);
      throw unavailable(`${subject}: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    const o = decode(reply.data, 'reply');
    if (isErrorBody(o.error)) throw fromErrorBody(o.error);
    return o.ok as T;
  });
}

/** The bus answered a request at once because nothing subscribes to its subject. */
function noResponders(e: unknown): boolean {
  return (
    e instanceof natsErrors.NoRespondersError ||
    (e instanceof natsErrors.RequestError && e.isNoResponders()) ||
    (e as { code?: string }).code === '503'
  );
}

/** An Unavailable from `call` because no service subscribes to the subject (none is running). */
export function isNoResponders(e: unknown): boolean {
  return isAppError(e, ErrorCode.Unavailable) && noResponders(e.cause);
}

/** Where a responder reports what it could not send (a logger's `error`). */
export type ResponderLog = (fields: Record<string, unknown>, msg: string) => void;

/**
 * Serves one request: decode, run in a `process` span under the caller's context, respond.
 * It never rejects: a handler's failure becomes an error reply, and a reply the bus refuses
 * (larger than max_payload, connection gone) becomes a small `Unavailable` reply or a log
 * line, so no request can take its service down.
 */
export async function serveRequest(
  msg: Msg,
  handler: (body: Record<string, unknown>) => Promise<unknown>,
  log?: ResponderLog,
): Promise<void> {
  let out: Uint8Array;
  try {
    const parent = contextFromNats(msg.headers);
    const span = messagingSpan('process', msg.subject, { 'messaging.message.body.size': msg.data.length });
    const result = await inSpan(span.name, SpanKind.SERVER, parent, span.attributes, () =>
      handler(decode(msg.data, 'request')),
    );
    out = encode({ ok: result ?? null });
  } catch (e) {
    out = encode({ error: toAppError(e).toBody() });
  }
  if (!msg.reply) return;
  try {
    msg.respond(out);
  } catch (e) {
    const message = `the reply to ${msg.subject} (${out.length} bytes) could not be sent: ${e instanceof Error ? e.message : String(e)}; ask for a smaller page`;
    log?.({ subject: msg.subject, bytes: out.length, err: e }, 'reply not sent');
    try {
      msg.respond(encode({ error: { code: ErrorCode.Unavailable, message } }));
    } catch {
      /* the connection itself is gone: the caller times out */
    }
  }
}
