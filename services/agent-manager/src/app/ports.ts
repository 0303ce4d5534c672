import type * as z from 'zod';
import type { Logger } from 'pino';
import type { CommandBody, ledgerQueries } from '#shared/contracts/index.js';
import type { Cluster } from '../adapters/kube/cluster.js';
import type { OneAtATime } from './agents/one-at-a-time.js';

type SessionReply = z.output<(typeof ledgerQueries)['session']['reply']>;

/** A session as the ledger's `session` query knows it (unknown: the ledger did not answer). */
export type SessionStatus = NonNullable<SessionReply['session']>['status'] | 'unknown';

/** The ledger as agent-manager needs it: record Target Copied, and a session's status. */
export interface LedgerPort {
  copyTarget(body: CommandBody<'copy-target'>): Promise<void>;
  status(sessionId: string): Promise<SessionStatus>;
}

/** agent-manager's settings, frozen at start. */
export interface AgentManagerSettings {
  /** Namespace of agent Jobs (a session's agent.namespace overrides it). */
  agentNamespace: string;
  /** The agent-connection certificate agents trust, when operator–agent TLS is on (OPERATOR_AGENT_CONNECTION_TLS). */
  operatorCertPem: string | undefined;
  /** How long a copy outlives its session for the same user's next one (0: deleted at once). */
  copyIdleTtlMs: number;
  /** How long an agent outlives its last session for the next one on its target (0: deleted at once). */
  agentIdleTtlMs: number;
}

/**
 * What the agents' use cases need. The cluster is their only record (an agent Job's labels say
 * who uses it), so any agent-manager, a restarted one or a replica, takes over from what it finds.
 */
export interface AgentDeps {
  cluster: Cluster;
  log: Logger;
  settings: Readonly<AgentManagerSettings>;
  /** One acquisition per agent at a time in this process (two sessions arriving together make one agent). */
  acquiring: OneAtATime;
}

/** What every use case may need: the agents' needs and the ledger. */
export interface AgentManagerDeps extends AgentDeps {
  ledger: LedgerPort;
}
