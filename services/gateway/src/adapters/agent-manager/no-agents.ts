import { invalid } from '#shared/errors/index.js';
import type { CopyTargetView } from '#shared/ledger/index.js';
import type { AgentProvisioner, AgentRequest, PreparedAgent } from '../../domain/interfaces.js';

/** Without a cluster (the embedded default) there is nothing to create. */
export class NoAgents implements AgentProvisioner {
  async prepare(req: AgentRequest): Promise<PreparedAgent> {
    if (req.copy_target)
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
  createCopy(req: AgentRequest): Promise<CopyTargetView> {
    return this.prepare(req).then(() => {
      throw invalid('spec', 'copy targets need the operator on a cluster; this gateway runs without one');
    });
  }
  async deleteCopy(): Promise<boolean> {
    return false;
  }
}
