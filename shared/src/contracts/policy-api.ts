import * as z from 'zod';
import { startDecision } from '../policy/decision.js';
import { http } from './http.js';

/** `POST …/targets/{name}/explain`: the decision a session would get, without starting one. */
const explainRequest = z.object({
  config: z.record(z.string(), z.unknown()).nullish(),
  profile: z.string().optional(),
});
export type ExplainRequest = z.input<typeof explainRequest>;

/**
 * The operator API's policy routes (apart from http.ts: the decision's schemas bring the policy
 * engine's, which only `policy explain` needs to load).
 */
export const policyApi = Object.freeze({
  /** `policy explain`: the policy service's start decision, as it is. */
  explain: http('POST', '/namespaces/:namespace/targets/:name/explain', startDecision, explainRequest),
});
