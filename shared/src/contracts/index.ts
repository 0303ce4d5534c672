export { contract, parseRequest, parseWith, request, serveContract } from './contract.js';
export type { Contract, ContractReply } from './contract.js';
export { policyContracts } from './policy.js';
export type { Denial, PortFacts, StartDecision, StartFacts } from './policy.js';
export { agentManagerContracts } from './agent-manager.js';
export type { PrepareRequestBody, PreparedAgentReply, TargetPod } from './agent-manager.js';
export { jiraContracts } from './jira.js';
export { ledgerQueries } from './ledger-queries.js';
export type { EventsQuery } from './ledger-queries.js';
export { commandContract, ledgerCommands } from './ledger-commands.js';
export type { CommandBody, CommandReply } from './ledger-commands.js';
export { OPERATOR_API, apiPath, copyTargetBody, operatorApi } from './http.js';
export type { HttpContract } from './http.js';
export { policyApi } from './policy-api.js';
export type { ExplainRequest } from './policy-api.js';
export type {
  CopyTargetObject,
  EventItem,
  KafkaTopic,
  KubeStatus,
  MirrordOperator,
  OperatorSession,
  SqsSession,
} from './http.js';
export { apiResources } from './resources.js';
export type { ApiResource } from './resources.js';
export { queueSplitterContracts } from './queue-splitter.js';
