import type { NatsConnection } from '@nats-io/nats-core';
import { agentManagerContracts, request } from '#shared/contracts/index.js';
import type { CopyTargetView } from '#shared/ledger/index.js';
import type { AgentProvisioner, AgentRequest, PreparedAgent } from '../../domain/interfaces.js';

const bodyOf = (req: AgentRequest) => ({
  session_id: req.session_id,
  namespace: req.namespace,
  target: req.target.path,
  ...(req.target.pod ? { pod: req.target.pod } : {}),
  agent: req.agent,
  ...(req.copy_target ? { copy_target: req.copy_target } : {}),
  client: req.client,
});

/** agent-manager over NATS request-reply; waits as long as the agent may take to start. */
export class NatsAgents implements AgentProvisioner {
  constructor(private readonly nc: NatsConnection) {}

  prepare(req: AgentRequest): Promise<PreparedAgent> {
    return request(this.nc, agentManagerContracts.prepare, bodyOf(req), (req.agent.startup_timeout + 15) * 1000);
  }

  createCopy(req: AgentRequest): Promise<CopyTargetView> {
    return request(this.nc, agentManagerContracts.createCopy, bodyOf(req), (req.agent.startup_timeout + 15) * 1000);
  }

  async deleteCopy(namespace: string, name: string): Promise<boolean> {
    return (await request(this.nc, agentManagerContracts.deleteCopy, { namespace, name })).deleted;
  }

  async release(sessionId: string): Promise<void> {
    await request(this.nc, agentManagerContracts.release, { session_id: sessionId });
  }

  async copyTargets(namespace?: string): Promise<CopyTargetView[]> {
    const r = await request(this.nc, agentManagerContracts.copyTargets, namespace ? { namespace } : {});
    return r.copy_targets;
  }
}
