import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { SessionClient, startSystem, type System } from '../support/system.js';
import { readEventStream } from '../support/jetstream.js';
import { startService } from '../support/service-process.js';
import { eventually } from '../support/eventually.js';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number>;
  service: string;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: { stringValue?: string; intValue?: number | string } }>;
}

/** A minimal OTLP/HTTP JSON receiver collecting spans with their service name. */
function otlpReceiver(): Promise<{ url: string; spans: Span[]; server: Server }> {
  const spans: Span[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        const doc = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans: Array<{ spans: OtlpSpan[] }>;
          }>;
        };
        for (const rs of doc.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
          for (const ss of rs.scopeSpans)
            for (const s of ss.spans) {
              const attributes = Object.fromEntries(
                (s.attributes ?? []).map((a) => [a.key, a.value.stringValue ?? Number(a.value.intValue)]),
              );
              spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                name: s.name,
                kind: s.kind,
                attributes,
                service,
              });
            }
        }
      } catch {
        /* not JSON: ignored, the assertion below will say what arrived */
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, spans, server });
    }),
  );
}

describe('OpenTelemetry: one trace from the client through gateway, ledger and JetStream', () => {
  let sys: System;
  let otlp: Awaited<ReturnType<typeof otlpReceiver>>;
  let nc: NatsConnection;
  before(async () => {
    otlp = await otlpReceiver();
    sys = await startSystem({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url });
    nc = await sys.nats.connect();
  });
  after(async () => {
    await nc?.close();
    await sys?.stop();
    otlp?.server.close();
  });

  it('carries the client traceparent over HTTP and NATS headers', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const { client } = await SessionClient.connect(sys, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    const id = await client!.sessionId();
    assert.equal((await client!.subscribe('steal', 80)).ok, true);
    await client!.close();
    await eventually('spans of the gateway and the ledger in the trace', () => {
      const services = new Set(otlp.spans.filter((s) => s.traceId === traceId).map((s) => s.service));
      return services.has('gateway') && services.has('ledger');
    });
    const mine = otlp.spans.filter((s) => s.traceId === traceId);
    assert.ok(
      mine.some((s) => s.service === 'gateway' && s.name === 'send mirrord.cmd.ledger.port-subscribe'),
      JSON.stringify(otlp.spans.slice(0, 10)),
    );
    assert.ok(
      mine.some((s) => s.service === 'ledger' && s.name === 'process mirrord.cmd.ledger.port-subscribe'),
      JSON.stringify(mine),
    );
    const stolen = await eventually('Port Stolen on the stream', async () =>
      (await readEventStream(nc)).find((m) => m.event.type === 'PortStolen' && m.event.session_id === id),
    );
    assert.match(stolen.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });

  it('one trace id spans gateway → ledger → jira-reporter (and its webtrigger POST) for one session', async () => {
    const posts: Array<{ traceparent: string }> = [];
    const rx = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        posts.push({ traceparent: String(req.headers.traceparent ?? '') });
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const a = rx.address();
    const jira = await startService('jira-reporter', {
      ...sys.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      JIRA_WEBTRIGGER_URL: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hook`,
    });
    try {
      const traceId = '5bf92f3577b34da6a3ce929d0e0e4737';
      const { client } = await SessionClient.connect(sys, {
        query: '&branch_name=feature-KEY-42',
        headers: { traceparent: `00-${traceId}-00f067aa0ba902b8-01` },
      });
      await client!.sessionId();
      await client!.close();
      await eventually(
        'a jira-reporter span in the trace',
        () => otlp.spans.some((s) => s.traceId === traceId && s.service === 'jira-reporter'),
        15_000,
      );
      const services = new Set(otlp.spans.filter((s) => s.traceId === traceId).map((s) => s.service));
      assert.deepEqual([...services].sort(), ['gateway', 'jira-reporter', 'ledger']);
      // Messaging semantic conventions: the ledger's outbox sends (PRODUCER), the reporter
      // processes (CONSUMER) as a child of that send; names use the subject template.
      const sent = otlp.spans.find(
        (s) => s.traceId === traceId && s.service === 'ledger' && s.name === 'send mirrord.events.SessionEnded.*',
      );
      assert.ok(
        sent,
        JSON.stringify(otlp.spans.filter((s) => s.traceId === traceId).map((s) => `${s.service}: ${s.name}`)),
      );
      assert.equal(sent.kind, 4);
      const processed = otlp.spans.find(
        (s) =>
          s.traceId === traceId && s.service === 'jira-reporter' && s.name === 'process mirrord.events.SessionEnded.*',
      );
      assert.ok(processed);
      assert.equal(processed.kind, 5);
      assert.equal(processed.parentSpanId, sent.spanId);
      assert.equal(processed.attributes['messaging.system'], 'nats');
      assert.equal(processed.attributes['messaging.operation.type'], 'process');
      assert.equal(processed.attributes['messaging.consumer.group.name'], 'jira-reporter');
      assert.match(
        String(processed.attributes['messaging.destination.name']),
        /^mirrord\.events\.SessionEnded\.[0-9A-F]{16}$/,
      );
      assert.equal(processed.attributes['messaging.destination.template'], 'mirrord.events.SessionEnded.*');
      assert.equal(processed.attributes['messaging.message.id'], sent.attributes['messaging.message.id']);
      const post = otlp.spans.find(
        (s) => s.traceId === traceId && s.service === 'jira-reporter' && s.name === 'POST jira webtrigger',
      );
      assert.equal(post?.parentSpanId, processed.spanId);
      assert.ok(
        otlp.spans.some(
          (s) => s.traceId === traceId && s.service === 'jira-reporter' && s.name === 'POST jira webtrigger',
        ),
      );
      assert.match(posts.at(-1)?.traceparent ?? '', new RegExp(`^00-${traceId}-`));
    } finally {
      await jira.stop();
      rx.close();
    }
  });
});
