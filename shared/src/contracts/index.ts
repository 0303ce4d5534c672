export { contract, parseRequest, request, serveContract } from './contract.js';
export type { Contract } from './contract.js';
export { policyContracts } from './policy.js';
export type { Denial, PortFacts, StartDecision, StartFacts } from './policy.js';
export { agentManagerContracts } from './agent-manager.js';
export type { PrepareRequestBody, PreparedAgentReply } from './agent-manager.js';
export { jiraContracts } from './jira.js';
export { ledgerQueries } from './ledger-queries.js';
export type { EventsQuery } from './ledger-queries.js';
