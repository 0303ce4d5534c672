import { Svcm, type Service } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { querySubject, serveRequest } from '#shared/nats/index.js';
import { decidePortRequest, decideStartRequest, type Governance } from '../../domain/decide.js';

export const SERVICE = 'policy';
export const PolicyQuery = { start: 'decide-start', port: 'decide-port', summary: 'summary' } as const;

/** `mirrord.query.policy.decide-start` / `.decide-port`: decisions over request-reply. */
export async function servePolicy(nc: NatsConnection, g: Governance, version: string, log: Logger): Promise<Service> {
  const failed = (f: Record<string, unknown>, m: string) => log.error(f, m);
  const svc = await new Svcm(nc).add({
    name: SERVICE,
    version,
    queue: SERVICE,
    description: 'mirrord policies and profiles',
  });
  svc.addEndpoint('decide-start', {
    subject: querySubject(SERVICE, PolicyQuery.start),
    handler: (err, msg) => {
      if (!err) void serveRequest(msg, async (body) => decideStartRequest(g, body), failed);
    },
  });
  svc.addEndpoint('decide-port', {
    subject: querySubject(SERVICE, PolicyQuery.port),
    handler: (err, msg) => {
      if (!err) void serveRequest(msg, async (body) => decidePortRequest(g, body), failed);
    },
  });
  svc.addEndpoint('summary', {
    subject: querySubject(SERVICE, PolicyQuery.summary),
    handler: (err, msg) => {
      if (!err) void serveRequest(msg, async () => ({ policies: g.policies.size, profiles: g.profiles.size }), failed);
    },
  });
  return svc;
}
