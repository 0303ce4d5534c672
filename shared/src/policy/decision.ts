import * as z from 'zod';
import { outgoingRule } from './spec.js';

/**
 * A policy decision as it crosses the wire (the policy service's decide-start and decide-port
 * replies, the gateway's `…/explain` body): declared once, so the engine's result, the
 * service's reply and the plugin's reading are one type.
 */
export const denial = z.object({
  policy: z.string(),
  /** What was refused: steal, steal-without-filter, header-filter, mirror, copy-target-scale-down, profile. */
  feature: z.string(),
  reason: z.string(),
  /**
   * The reason without the feature and the policy: what mirrord's own sentence for
   * ForbiddenWithReason ("{action} is forbidden by the mirrord policy "X" for this target
   * ({reason}).") lacks, so the protocol answer names the policy once.
   */
  detail: z.string(),
});
export type Denial = z.output<typeof denial>;

export const change = z.object({ policy: z.string(), field: z.string(), change: z.string() });
export type Change = z.output<typeof change>;

/** An outgoing rule as the policy wrote it, with the policy it came from. */
const ruleOfPolicy = outgoingRule.extend({ policy: z.string() });
const outgoingByPolicy = z.object({ allow: z.array(ruleOfPolicy), block: z.array(ruleOfPolicy) });

/** What the gateway's relay enforces on the wire, whatever the client's config says. */
export const enforcement = z.object({
  /** Globs (`*`, `?`) of environment variable names withheld from `GetEnvVarsResponse`. */
  env_exclude: z.array(z.string()),
  /**
   * The policies' fs path regexes after precedence (a path in `local` is in neither other list):
   * opened locally, not found, or not found when opened for writing.
   */
  fs: z.object({ local: z.array(z.string()), not_found: z.array(z.string()), read_only: z.array(z.string()) }),
  /** The outgoing rules of every applicable policy, by policy: checked on each TCP / UDP connect. */
  outgoing: outgoingByPolicy,
});
export type Enforcement = z.output<typeof enforcement>;

/** May this session start, and with which effective config (also what `policy explain` shows). */
export const startDecision = z.object({
  allowed: z.boolean(),
  denied_by: z.array(denial),
  applied: z.array(z.string()),
  profile: z.string().optional(),
  /** Blocked features and the policies that block them (block lists and implied ones). */
  blocked: z.array(z.object({ feature: z.string(), policies: z.array(z.string()) })),
  changes: z.array(change),
  /** The outgoing rules that apply, by policy (what `policy explain` prints). */
  outgoing: outgoingByPolicy,
  /** The user's config after profile and policies (the engine's MirrordConfig; JSON on the wire). */
  effective_config: z.unknown(),
  /** The same values `policy explain` prints, so the two cannot disagree. */
  enforce: enforcement,
});
export type StartDecision = z.output<typeof startDecision>;

/** May this session steal or mirror this port (with this filter). */
export const portDecision = z.object({ denied_by: z.array(denial), applied: z.array(z.string()) });
export type PortDecision = z.output<typeof portDecision>;
