import * as z from 'zod';
import { commandSubject } from '../nats/subjects.js';
import { queueSplitRequest } from '../queues/index.js';
import { contract } from './contract.js';

const SERVICE = 'queue-splitter';
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
    queues: z.array(
      z.object({
        queue_id: z.string(),
        queue_type: z.enum(['SQS', 'Kafka']),
        original: z.string(),
        output: z.string(),
      }),
    ),
  }),
  180_000,
);

export const queueSplitterContracts = Object.freeze({ split });
