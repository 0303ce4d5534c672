import * as z from 'zod';
import { commandSubject } from '../nats/subjects.js';
import { queueSplitRequest, startedSplit } from '../queues/index.js';
import { contract } from './contract.js';

const SERVICE = 'queue-splitter';
const queueType = z.enum(['SQS', 'Kafka']);
const sessionId = z.string().regex(/^[0-9A-F]{16}$/, 'expected 16 upper-case hex digits');

/**
 * A session's queue splits, before its socket is accepted (queues.md): the gateway sends what
 * the CLI asked for on the target it resolved; the splitter answers the variables the session's
 * environment answer gets (each split queue's variable → its temporary queue or topic). Repeated
 * for a session that has them (a reconnect), it answers the same. The wait covers the first
 * session's workload restart (`workloadRestartTimeout`, 120 s by default).
 */
const split = contract(
  commandSubject(SERVICE, 'split'),
  z.object({
    session_id: sessionId,
    namespace: z.string().min(1, 'is required'),
    /** The workload: `deployment/<name>` or `rollout/<name>`. */
    target: z.string().regex(/^(deployment|rollout)\/[^/]+$/, 'expected deployment/<name> or rollout/<name>'),
    container: z.string().optional(),
    client_user: z.string().min(1, 'is required'),
    splits: z.array(queueSplitRequest).min(1, 'has no queue'),
  }),
  z.object({
    env: z.record(z.string(), z.string()),
    /** What Queue Split Started records, once the session started (the gateway records it). */
    queues: z.array(startedSplit.extend({ fallback: z.string() })),
    /** What Workload Patched records: the patches this call made (the workload's first session). */
    patches: z.array(
      z.object({
        namespace: z.string(),
        target: z.string(),
        queue_type: queueType,
        queue_id: z.string(),
        env: z.string(),
        original: z.string(),
        fallback: z.string(),
      }),
    ),
    /** The workload rolled out (patched): a pod resolved before the split may be gone. */
    restarted: z.boolean(),
  }),
  180_000,
);

/** A split whose session did not start after all (agent, ledger refused): its queues go, nothing is recorded. */
const release = contract(
  commandSubject(SERVICE, 'release'),
  z.object({ session_id: sessionId }),
  z.object({ ended: z.number().int() }),
  120_000,
);

export const queueSplitterContracts = Object.freeze({ split, release });
