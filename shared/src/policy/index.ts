/** The policy engine: MirrordPolicy/ClusterPolicy and profiles parsed, compiled and evaluated (the policy service and the CLI's offline explain). */
export {
  ADJUSTMENTS,
  BLOCKABLE,
  GOVERNANCE_KINDS,
  POLICY_GROUP,
  PROFILE_GROUP,
  VERSION,
  governanceDocument,
  isCidr,
  outgoingRule,
  parseIpv4,
  parseIpv6,
  policySpec,
  profileSpec,
} from './spec.js';
export type {
  Adjustment,
  Blockable,
  GovernanceDocument,
  LabelSelector,
  OutgoingRule,
  PolicySpec,
  ProfileSpec,
} from './spec.js';
export { globMatcher, literalPrefix, outgoingRuleMatcher, selectorMatcher } from './matchers.js';
export type { Destination } from './matchers.js';
export { PolicySet, compilePolicy } from './policy-set.js';
export type { CompiledPolicy, TargetFacts } from './policy-set.js';
export { ProfileSet, applyProfile } from './profiles.js';
export type { Profile } from './profiles.js';
export {
  checkIncoming,
  compileOutgoing,
  decideStart,
  describeOutgoingRule,
  headerFilterSatisfies,
  outgoingVerdict,
} from './evaluate.js';
export type { Decision, OutgoingRules, OutgoingVerdict, StartRequest } from './evaluate.js';
export { change, denial, enforcement, portDecision, startDecision } from './decision.js';
export type { Change, Denial, Enforcement, PortDecision, StartDecision } from './decision.js';
export { buildState, ingest, parseGovernanceYaml } from './documents.js';
export type { DocumentIssue, ParsedFile, Workload } from './documents.js';
