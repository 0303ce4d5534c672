import * as z from 'zod';
import { querySubject } from '../nats/subjects.js';
import { contract } from './contract.js';
import { portDecision, startDecision } from '../policy/decision.js';

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

/** May this session start, and with which effective config (also what `policy explain` shows). */
const decideStart = contract(querySubject(SERVICE, 'decide-start'), facts, startDecision);

/** May this session steal or mirror this port (with this filter). */
const decidePort = contract(
  querySubject(SERVICE, 'decide-port'),
  facts.extend({ mode: z.enum(['steal', 'mirror']), http_filter: z.unknown().optional() }),
  portDecision,
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
export type { Denial, StartDecision } from '../policy/decision.js';
