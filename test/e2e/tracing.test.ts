import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { SessionClient, startSystem, type System } from '../support/system.js';
import { readEventStream } from '../support/jetstream.js';

interface Span {
  traceId: string;
  name: string;
  service: string;
}

/** A minimal OTLP/HTTP JSON receiver collecting spans with their service name. */
function otlpReceiver(): Promise<{ url: string; spans: Span[]; server: Server }> {
  const spans: Span[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      try {
        const doc = JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ traceId: string; name: string }> }> }> };
        for (const rs of doc.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ traceId: s.traceId, name: s.name, service });
        }
      } catch {
        /* not JSON: ignored, the assertion below will say what arrived */
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, spans, server });
  }));
}

describe('OpenTelemetry: one trace from the client through gateway, ledger and JetStream', () => {
  let sys: System;
  let otlp: Awaited<ReturnType<typeof otlpReceiver>>;
  let nc: NatsConnection;
  before(async () => {
    otlp = await otlpReceiver();
    sys = await startSystem({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url });
    nc = await connect({ servers: sys.nats.url });
  });
  after(async () => {
    await nc?.close();
    await sys?.stop();
    otlp?.server.close();
  });

  it('carries the client traceparent over HTTP and NATS headers', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const { client } = await SessionClient.connect(sys, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    const id = await client!.sessionId();
    assert.equal((await client!.ask({ type: 'port.subscribe', port: 80, mode: 'steal' })).ok, true);
    await client!.close();
    for (let i = 0; i < 50; i++) {
      const services = new Set(otlp.spans.filter((s) => s.traceId === traceId).map((s) => s.service));
      if (services.has('gateway') && services.has('ledger')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const mine = otlp.spans.filter((s) => s.traceId === traceId);
    assert.ok(mine.some((s) => s.service === 'gateway' && s.name === 'send mirrord.cmd.ledger.port-subscribe'), JSON.stringify(otlp.spans.slice(0, 10)));
    assert.ok(mine.some((s) => s.service === 'ledger' && s.name === 'process mirrord.cmd.ledger.port-subscribe'), JSON.stringify(mine));
    let msgs = await readEventStream(nc);
    for (let i = 0; i < 30 && !msgs.some((m) => m.event.type === 'PortStolen' && m.event.session_id === id); i++) {
      await new Promise((r) => setTimeout(r, 100));
      msgs = await readEventStream(nc);
    }
    const stolen = msgs.find((m) => m.event.type === 'PortStolen' && m.event.session_id === id)!;
    assert.match(stolen.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });
});
