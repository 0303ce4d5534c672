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

/**
 * `POST …/namespaces/{ns}/copytargets`: the CLI's `CopyTarget` (`operator/src/crd/copy_target.rs`).
 * `spec.target` is mirrord's untagged target config (`{"deployment": "x", "container": null}`);
 * the spec is kept as sent, since the CLI reuses a copy whose listed spec equals its own.
 */
export const copyTargetBody = z.object({
  apiVersion: z.string().optional(),
  kind: z.literal('CopyTarget', 'expected "CopyTarget"').optional(),
  metadata: z.object({ name: z.string().optional() }).loose().optional(),
  spec: z
    .object({
      target: z
        .union([
          z.literal('targetless'),
          z.record(
            z.string(),
            z.string().nullable(),
            'expected a target such as {"deployment": "x", "container": null}',
          ),
        ])
        .describe('The workload copied, as mirrord names it: {"deployment": "web", "container": null}.'),
      idle_ttl: z
        .number()
        .int()
        .min(0)
        .max(86_400)
        .nullish()
        .describe('Seconds the copy is kept after its last session, for the same user to reuse.'),
      scale_down: z
        .boolean()
        .default(false)
        .describe('Scale the original Deployment to 0 while the copy lives (restored after).'),
      split_queues: z
        .union([z.record(z.string(), z.unknown()), z.array(z.unknown())])
        .nullish()
        .describe(
          'The config\'s feature.split_queues: {"<queue id>": {"queue_type": "SQS" | "Kafka", "message_filter": {…}}} or a list; checked by the gateway.',
        ),
      exclude_containers: z.array(z.string()).default([]).describe('Not supported by mirrord-teams yet: [].'),
      exclude_init_containers: z.array(z.string()).default([]).describe('Not supported by mirrord-teams yet: [].'),
      session_key: z.string().nullish().describe('The session key sessions of one run share.'),
    })
    .loose(),
});
