import type { NatsConnection } from '@nats-io/nats-core';
import type { Service } from '@nats-io/services';
import * as z from 'zod';
import { AppError, ErrorCode, invalid } from '../errors/index.js';
import { call, serveRequest, type ResponderLog } from '../nats/rpc.js';
import { firstIssue } from './issue.js';

/**
 * One NATS request-reply wire, declared once: its subject and a zod schema for each direction.
 * Callers go through `request()` (the reply is validated too) and servers through
 * `parseRequest()`, so the two ends cannot drift.
 */
export interface Contract<Req extends z.ZodType, Rep extends z.ZodType> {
  readonly subject: string;
  readonly request: Req;
  readonly reply: Rep;
  /** The caller's default wait. */
  readonly timeoutMs: number;
}

/** A contract's reply as its caller gets it (parsed): the type of a port that passes it on. */
export type ContractReply<C extends Contract<z.ZodType, z.ZodType>> = z.output<C['reply']>;

export function contract<Req extends z.ZodType, Rep extends z.ZodType>(
  subject: string,
  request: Req,
  reply: Rep,
  timeoutMs = 5000,
): Contract<Req, Rep> {
  return Object.freeze({ subject, request, reply, timeoutMs });
}

/** A value checked by its schema, or an Invalid naming the first bad field (`root` when it is the whole). */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, root = 'request'): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const { field, message } = firstIssue(r.error, root);
  throw invalid(field, message);
}

/** A request body as the server may use it, or an Invalid naming the first bad field. */
export function parseRequest<Req extends z.ZodType>(c: Contract<Req, z.ZodType>, body: unknown): z.output<Req> {
  return parseWith(c.request, body);
}

/** Calls the contract's subject; a reply that does not match its schema is Unavailable, naming where. */
export async function request<Req extends z.ZodType, Rep extends z.ZodType>(
  nc: NatsConnection,
  c: Contract<Req, Rep>,
  body: z.input<Req>,
  timeoutMs = c.timeoutMs,
): Promise<z.output<Rep>> {
  const raw = await call<unknown>(nc, c.subject, body as Record<string, unknown>, timeoutMs);
  const r = c.reply.safeParse(raw);
  if (r.success) return r.data;
  const { field, message } = firstIssue(r.error, 'reply');
  throw new AppError(ErrorCode.Unavailable, `${c.subject} answered an unexpected reply (${field}: ${message})`);
}

/**
 * Serves a contract as an endpoint of a @nats-io/services service: requests parsed, handler's
 * answer sent. `subject` serves it elsewhere (a wildcard whose tokens say who asked: the
 * handler gets the subject each request came on).
 */
export function serveContract<Req extends z.ZodType, Rep extends z.ZodType>(
  svc: Service,
  name: string,
  c: Contract<Req, Rep>,
  handler: (req: z.output<Req>, subject: string) => Promise<z.input<Rep>> | z.input<Rep>,
  log?: ResponderLog,
  subject = c.subject,
): void {
  svc.addEndpoint(name, {
    subject,
    handler: (err, msg) => {
      if (!err) void serveRequest(msg, async (body) => handler(parseRequest(c, body), msg.subject), log);
    },
  });
}
