import {
  ROOT_CONTEXT,
  context,
  type ContextManager,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Context,
  type Span,
  type TextMapGetter,
  type Attributes,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';

export { SpanKind, context, trace } from '@opentelemetry/api';
export type { Span, Context } from '@opentelemetry/api';

let provider: NodeTracerProvider | undefined;
let propagatorSet = false;

/**
 * Registers W3C trace-context propagation and the async context manager always (so context
 * flows even when nothing is exported), and an OTLP/HTTP exporter when an endpoint is set.
 */
/**
 * Context only for the synchronous extent of `context.with`. AsyncLocalStorage costs every
 * promise a hook (measured: 18% of the ledger's command throughput); a service that reads the
 * active context only synchronously inside its handlers (the ledger) uses this instead.
 */
class SyncContextManager implements ContextManager {
  #current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.#current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const prev = this.#current;
    this.#current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#current = prev;
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#current = ROOT_CONTEXT;
    return this;
  }
}

export interface TelemetryOptions {
  /** Keep context across awaits (AsyncLocalStorage). Default true. */
  asyncContext?: boolean;
}

export function initTelemetry(
  service: string,
  endpoint?: string,
  opts: TelemetryOptions = {},
): { shutdown(): Promise<void> } {
  if (provider) return { shutdown: () => provider!.shutdown() };
  const contextManager =
    opts.asyncContext === false ? new SyncContextManager() : new AsyncLocalStorageContextManager().enable();
  if (!endpoint) {
    // Nothing to export: keep the no-op tracer (spans carry the caller's context through
    // unchanged, at no cost) but still propagate W3C context across HTTP and NATS.
    if (!propagatorSet) {
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
      context.setGlobalContextManager(contextManager);
      propagatorSet = true;
    }
    return { shutdown: async () => undefined };
  }
  const url = endpoint.replace(/\/$/, '') + (endpoint.endsWith('/v1/traces') ? '' : '/v1/traces');
  const spanProcessors: SpanProcessor[] = [
    new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 200 }),
  ];
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors,
  });
  provider.register({ propagator: new W3CTraceContextPropagator(), contextManager });
  return { shutdown: () => provider!.shutdown() };
}

export function tracer(name = 'mirrord-teams') {
  return trace.getTracer(name);
}

const natsGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (h) => (h ? [...h.keys()] : []),
  get: (h, k) => (h?.has(k) ? h.get(k) : undefined),
};

/**
 * NATS headers carrying the active W3C trace context (plus any extra headers given), or
 * undefined when there is nothing to carry: a message without headers is cheaper for the
 * sender, the server and the receiver alike.
 */
export function natsHeadersWithContext(
  ctx: Context = context.active(),
  extra?: Record<string, string>,
): MsgHdrs | undefined {
  const carrier: Record<string, string> = { ...extra };
  propagation.inject(ctx, carrier);
  const keys = Object.keys(carrier);
  if (keys.length === 0) return undefined;
  const h = natsHeaders();
  for (const k of keys) h.set(k, carrier[k]!);
  return h;
}

export function contextFromNats(h: MsgHdrs | undefined): Context {
  return propagation.extract(context.active(), h, natsGetter);
}

type HttpHeaders = Record<string, string | string[] | undefined>;
const httpGetter: TextMapGetter<HttpHeaders> = {
  keys: (h) => Object.keys(h),
  get: (h, k) => {
    const v = h[k.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  },
};
export function contextFromHttp(h: HttpHeaders): Context {
  return propagation.extract(context.active(), h, httpGetter);
}

/** Runs fn in a span that is a child of parent; records failures on the span. */
export async function inSpan<T>(
  name: string,
  kind: SpanKind,
  parent: Context,
  attrs: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(name, { kind, attributes: attrs }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (e) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
    throw e;
  } finally {
    span.end();
  }
}

/**
 * A PRODUCER span for a message published on behalf of an earlier operation whose context was
 * stored as a `traceparent` (the outbox publishes after the command's span ended). Returns the
 * traceparent the message must carry — the producer span's, so consumers hang under it.
 */
export function producerSpan(
  name: string,
  attributes: Attributes,
  traceparent: string,
): { traceparent: string; end(error?: unknown): void } {
  const parent = propagation.extract(ROOT_CONTEXT, { traceparent }, httpGetter);
  const span = tracer().startSpan(name, { kind: SpanKind.PRODUCER, attributes }, parent);
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(parent, span), carrier);
  return {
    traceparent: carrier.traceparent ?? traceparent,
    end(error?: unknown) {
      if (error !== undefined)
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      span.end();
    },
  };
}
