import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { hostPort } from '#shared/config/index.js';
import type { ForwarderMetrics } from '../app/forwarders.js';

/**
 * The splitter's own Prometheus metrics (counted where the messages pass, per replica; a
 * scrape sums the replicas): messages routed per queue and destination, and the forwarders' lag.
 */
export class SplitterMetrics implements ForwarderMetrics {
  readonly registry = new Registry();
  readonly #messages = new Counter({
    name: 'mirrord_teams_queue_messages_total',
    help: 'Messages the queue splitter routed from an original queue or topic, by destination (session or fallback)',
    labelNames: ['queue_type', 'queue_id', 'destination'] as const,
    registers: [this.registry],
  });
  readonly #lagMessages = new Gauge({
    name: 'mirrord_teams_queue_forwarder_lag_messages',
    help: 'Messages a forwarder received and has not yet deleted or committed',
    labelNames: ['queue_type', 'queue_id'] as const,
    registers: [this.registry],
  });
  readonly #lagSeconds = new Gauge({
    name: 'mirrord_teams_queue_forwarder_lag_seconds',
    help: 'Age of the oldest message a forwarder holds',
    labelNames: ['queue_type', 'queue_id'] as const,
    registers: [this.registry],
  });

  routed(r: { queue_type: string; queue_id: string; destination: 'session' | 'fallback' }): void {
    this.#messages.inc(r);
  }

  lag(r: { queue_type: string; queue_id: string; messages: number; oldestMs: number }): void {
    const labels = { queue_type: r.queue_type, queue_id: r.queue_id };
    this.#lagMessages.set(labels, r.messages);
    this.#lagSeconds.set(labels, r.oldestMs / 1000);
  }

  /** `/metrics` on `addr` (host:port). */
  serve(addr: string): Server {
    const { host, port } = hostPort(addr, 'QUEUE_SPLITTER_METRICS_ADDR');
    const server = createServer((req, res) => {
      if ((req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found');
        return;
      }
      void this.registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(body);
      });
    });
    server.listen(port, host);
    return server;
  }
}
