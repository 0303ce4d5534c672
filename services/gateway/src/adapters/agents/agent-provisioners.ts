import { parseMirrordConfig } from '#shared/mirrord-config/index.js';
import type { NatsConnection } from '@nats-io/nats-core';
import { invalid } from '#shared/errors/index.js';
import { call, commandSubject, querySubject } from '#shared/nats/index.js';
import type { CopyTargetView } from '#shared/ledger/index.js';
import type { AgentProvisioner, AgentRequest, PreparedAgent } from '../../domain/interfaces.js';

/** Without a cluster (the embedded default) there is nothing to create. */
export class NoAgents implements AgentProvisioner {
  async prepare(req: AgentRequest): Promise<PreparedAgent> {
    // The normalised config: `{"enabled": false}` is no copy, here as everywhere.
    if (req.config && parseMirrordConfig(req.config, 'x-mirrord-config').feature.copy_target.enabled)
      throw invalid(
        'feature.copy_target',
        'needs the operator on a cluster; this gateway runs without one',
        'set KUBECONFIG for the gateway and run agent-manager',
      );
    return { agent: 'none' };
  }
  async release(): Promise<void> {}
  async copyTargets(): Promise<CopyTargetView[]> {
    return [];
  }
}

/** agent-manager over NATS request-reply; waits as long as the agent may take to start. */
export class NatsAgents implements AgentProvisioner {
  constructor(private readonly nc: NatsConnection) {}

  prepare(req: AgentRequest): Promise<PreparedAgent> {
    const agent = (req.config?.agent ?? {}) as { startup_timeout?: unknown };
    const startup = typeof agent.startup_timeout === 'number' ? agent.startup_timeout : 60;
    return call<PreparedAgent>(
      this.nc,
      commandSubject('agent-manager', 'prepare'),
      {
        session_id: req.session_id,
        namespace: req.namespace,
        target: req.target.path,
        pod: req.target.pod,
        config: req.config ?? {},
        client: req.client,
      },
      (startup + 15) * 1000,
    );
  }

  async release(sessionId: string): Promise<void> {
    await call(this.nc, commandSubject('agent-manager', 'release'), { session_id: sessionId }, 30_000);
  }

  async copyTargets(namespace?: string): Promise<CopyTargetView[]> {
    const r = await call<{ copy_targets: CopyTargetView[] }>(
      this.nc,
      querySubject('agent-manager', 'copytargets'),
      namespace ? { namespace } : {},
      10_000,
    );
    return r.copy_targets;
  }
}
