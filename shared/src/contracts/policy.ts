import * as z from 'zod';
import { querySubject } from '../nats/subjects.js';
import { contract } from './contract.js';
import { outgoingRule } from '../policy/spec.js';

const SERVICE = 'policy';

/** The target and client config a policy decision is about. */
const facts = z.object({
  namespace: z.string().min(1, 'is required'),
  /** The policy form of the target path (`deploy/x`, `pod/x/container/c`, `targetless`). */
  target: z.string().min(1, 'is required'),
  labels: z.record(z.string(), z.string()).default({}),
  config: z.record(z.string(), z.unknown()).optional(),
  profile: z.string().optional(),
});

/** An outgoing rule as the policy wrote it, with the policy it came from. */
const ruleOfPolicy = outgoingRule.extend({ policy: z.string() });

// detail: the reason without the feature and the policy (the protocol's ForbiddenWithReason names both itself).
const denial = z.object({ policy: z.string(), feature: z.string(), reason: z.string(), detail: z.string() });
export type Denial = z.infer<typeof denial>;

/** May this session start, and with which effective config (also what `policy explain` shows). */
const decideStart = contract(
  querySubject(SERVICE, 'decide-start'),
  facts,
  z.object({
    allowed: z.boolean(),
    denied_by: z.array(denial),
    applied: z.array(z.string()),
    profile: z.string().optional(),
    blocked: z.array(z.object({ feature: z.string(), policies: z.array(z.string()) })),
    changes: z.array(z.object({ policy: z.string(), field: z.string(), change: z.string() })),
    /** The outgoing rules that apply, by policy (what `policy explain` prints). */
    outgoing: z.object({ allow: z.array(z.unknown()), block: z.array(z.unknown()) }),
    effective_config: z.unknown(),
    /** What the gateway's relay enforces on the wire: env withheld, file opens answered, connects checked. */
    enforce: z.object({
      env_exclude: z.array(z.string()),
      fs: z.object({ local: z.array(z.string()), not_found: z.array(z.string()), read_only: z.array(z.string()) }),
      outgoing: z.object({ allow: z.array(ruleOfPolicy), block: z.array(ruleOfPolicy) }),
    }),
  }),
);

/** May this session steal or mirror this port (with this filter). */
const decidePort = contract(
  querySubject(SERVICE, 'decide-port'),
  facts.extend({ mode: z.enum(['steal', 'mirror']), http_filter: z.unknown().optional() }),
  z.object({ denied_by: z.array(denial), applied: z.array(z.string()) }),
);

/** How many policies and profiles the service holds (readiness, tests). */
const summary = contract(
  querySubject(SERVICE, 'summary'),
  z.object({}),
  z.object({ policies: z.number().int(), profiles: z.number().int() }),
);

/** The policy service's wires. */
export const policyContracts = Object.freeze({ decideStart, decidePort, summary });
export type StartFacts = z.output<typeof decideStart.request>;
export type PortFacts = z.output<typeof decidePort.request>;
export type StartDecision = z.output<typeof decideStart.reply>;
