import { Registry } from 'prom-client';
import Fastify, { type FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { DURATION_BUCKETS } from '#shared/ledger/index.js';
import type { HostPort } from '#shared/config/index.js';
import { MetricsState } from '../../domain/metrics-state.js';
import type { LedgerClient } from '../nats/ledger-client.js';
import { consumerLag, followMetrics } from './follower.js';
import { jiraOutcomes } from './jira-outcomes.js';
import { buildRegistry } from './registry.js';
import { licenseValidSeconds } from '#shared/license/index.js';
import { OPEN_LICENSE_EXPIRY } from '../http/resources.js';

/** `OPERATOR_METRICS_ENABLED`: Prometheus `/metrics` on its own address (seed: 0.0.0.0:9000). */
export async function startMetricsServer(
  addr: HostPort,
  nc: NatsConnection,
  ledger: LedgerClient,
  license: { expire_at: string } | undefined,
  log: Logger,
  traffic?: Registry,
): Promise<{ app: FastifyInstance; url: string; stop(): Promise<void> }> {
  const state = new MetricsState(DURATION_BUCKETS);
  const follow = await followMetrics(nc, state, log);
  // One ledger read per scrape serves both live gauges.
  let live: ReturnType<LedgerClient['sessions']> | undefined;
  const liveSessions = () => (live ??= ledger.sessions());
  const derived = buildRegistry(state, {
    activeSessions: async () => (await liveSessions()).sessions.length,
    heldPorts: async () => {
      const out = { steal: 0, mirror: 0 };
      for (const s of (await liveSessions()).sessions) for (const p of s.ports) out[p.mode]++;
      return out;
    },
    consumerLag: () => consumerLag(nc),
    appendLatency: () => ledger.appendLatency().catch(() => undefined),
    jiraOutcomes: () => jiraOutcomes(nc),
    licenseValidSeconds: () => licenseValidSeconds(license ?? { expire_at: OPEN_LICENSE_EXPIRY }, Date.now()),
  });
  const registry = traffic ? Registry.merge([derived, traffic]) : derived;
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => {
    live = undefined;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  await app.listen({ host: addr.host, port: addr.port });
  const a = app.server.address();
  const url = `http://${addr.host}:${typeof a === 'object' && a ? a.port : addr.port}/metrics`;
  log.info({ url }, 'metrics served');
  return {
    app,
    url,
    async stop() {
      await follow.close();
      await app.close();
    },
  };
}
