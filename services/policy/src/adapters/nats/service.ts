import { Svcm, type Service } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { policyContracts, serveContract } from '#shared/contracts/index.js';
import { decidePortRequest, decideStartRequest, type Governance } from '../../domain/decide.js';

const SERVICE = 'policy';

/** The policy service's contracts (decide-start, decide-port, summary) over request-reply. */
export async function servePolicy(nc: NatsConnection, g: Governance, version: string, log: Logger): Promise<Service> {
  const failed = (f: Record<string, unknown>, m: string) => log.error(f, m);
  const svc = await new Svcm(nc).add({
    name: SERVICE,
    version,
    queue: SERVICE,
    description: 'mirrord policies and profiles',
  });
  serveContract(svc, 'decide-start', policyContracts.decideStart, (req) => decideStartRequest(g, req), failed);
  serveContract(svc, 'decide-port', policyContracts.decidePort, (req) => decidePortRequest(g, req), failed);
  serveContract(
    svc,
    'summary',
    policyContracts.summary,
    () => ({ policies: g.policies.size, profiles: g.profiles.size }),
    failed,
  );
  return svc;
}
