import * as z from 'zod';
import { policyContracts } from './policy.js';

/**
 * HTTP bodies of the gateway's own API, declared once for the gateway and the kubectl plugin.
 * `POST …/targets/{name}/explain`: the decision a session would get, without starting one.
 */
export const explainRequest = z.object({
  config: z.record(z.string(), z.unknown()).nullish(),
  profile: z.string().optional(),
});
export type ExplainRequest = z.input<typeof explainRequest>;
export const explainReply = policyContracts.decideStart.reply;
