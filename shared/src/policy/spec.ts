import * as z from 'zod';
import { closedObject as obj, regexString } from '../mirrord-config/index.js';

/**
 * The custom resources of the Policies and Profiles documents, as the lint and the service
 * read them: MirrordPolicy / MirrordClusterPolicy (the same spec) and MirrordProfile /
 * MirrordClusterProfile. Unknown fields are errors with a did-you-mean, as in the config.
 */
export const POLICY_GROUP = 'policies.mirrord.metalbear.co';
export const PROFILE_GROUP = 'profiles.mirrord.metalbear.co';
export const VERSION = 'v1alpha';

export const BLOCKABLE = ['steal', 'steal-without-filter', 'mirror', 'copy-target-scale-down'] as const;
export type Blockable = (typeof BLOCKABLE)[number];
export const ADJUSTMENTS = [
  'incoming-mirror',
  'incoming-steal',
  'incoming-off',
  'dns-remote',
  'dns-off',
  'outgoing-remote',
  'outgoing-off',
] as const;
export type Adjustment = (typeof ADJUSTMENTS)[number];

const port = z.int().min(1).max(65535);
const cidr = z.string().check((ctx) => {
  if (!isCidr(ctx.value))
    ctx.issues.push({
      code: 'custom',
      message: `"${ctx.value}" is not a CIDR; write e.g. 10.0.0.0/8 or fd00::/8`,
      input: ctx.value,
    });
});
export const outgoingRule = obj({
  ipBlock: z.optional(obj({ cidr, except: z.optional(z.array(cidr)) })),
  hostname: z.optional(regexString),
  ports: z.optional(z.array(obj({ protocol: z.optional(z.enum(['TCP', 'UDP'])), port: z.optional(port) }))),
});
export type OutgoingRule = z.infer<typeof outgoingRule>;

const labelSelector = obj({
  matchLabels: z.optional(z.record(z.string(), z.string())),
  matchExpressions: z.optional(
    z.array(
      obj({
        key: z.string(),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.optional(z.array(z.string())),
      }),
    ),
  ),
});
export type LabelSelector = z.infer<typeof labelSelector>;

export const policySpec = obj({
  targetPath: z.optional(z.string().min(1)),
  selector: z.optional(labelSelector),
  block: z.optional(z.array(z.enum(BLOCKABLE))),
  env: z.optional(obj({ exclude: z.optional(z.array(z.string())) })),
  fs: z.optional(
    obj({
      readOnly: z.optional(z.array(regexString)),
      local: z.optional(z.array(regexString)),
      notFound: z.optional(z.array(regexString)),
    }),
  ),
  network: z.optional(
    obj({
      incoming: z.optional(obj({ httpFilter: z.optional(obj({ headerFilter: z.optional(regexString) })) })),
      outgoing: z.optional(obj({ allow: z.optional(z.array(outgoingRule)), block: z.optional(z.array(outgoingRule)) })),
    }),
  ),
  requireProfile: z.optional(z.boolean()),
  profileAllowlist: z.optional(z.array(z.string().min(1))),
  appliesToCopyTargets: z.optional(z.boolean()),
});
export type PolicySpec = z.infer<typeof policySpec>;

export const profileSpec = obj({
  featureAdjustments: z.optional(z.array(obj({ change: z.enum(ADJUSTMENTS) }))),
});
export type ProfileSpec = z.infer<typeof profileSpec>;

const name = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a lower-case Kubernetes name (letters, digits, "-", ".")');
const meta = (namespaced: boolean) => z.looseObject({ name, ...(namespaced ? { namespace: z.optional(name) } : {}) });

export const governanceDocument = z.discriminatedUnion('kind', [
  z.looseObject({
    apiVersion: z.literal(`${POLICY_GROUP}/${VERSION}`),
    kind: z.literal('MirrordPolicy'),
    metadata: meta(true),
    spec: policySpec,
  }),
  z.looseObject({
    apiVersion: z.literal(`${POLICY_GROUP}/${VERSION}`),
    kind: z.literal('MirrordClusterPolicy'),
    metadata: meta(false),
    spec: policySpec,
  }),
  z.looseObject({
    apiVersion: z.literal(`${PROFILE_GROUP}/${VERSION}`),
    kind: z.literal('MirrordProfile'),
    metadata: meta(true),
    spec: profileSpec,
  }),
  z.looseObject({
    apiVersion: z.literal(`${PROFILE_GROUP}/${VERSION}`),
    kind: z.literal('MirrordClusterProfile'),
    metadata: meta(false),
    spec: profileSpec,
  }),
]);
export type GovernanceDocument = z.infer<typeof governanceDocument>;
export const GOVERNANCE_KINDS = [
  'MirrordPolicy',
  'MirrordClusterPolicy',
  'MirrordProfile',
  'MirrordClusterProfile',
] as const;

/** IPv4 or IPv6 CIDR with a prefix length in range. */
export function isCidr(s: string): boolean {
  const [addr, len, extra] = s.split('/');
  if (addr === undefined || len === undefined || extra !== undefined || !/^\d{1,3}$/.test(len)) return false;
  const n = Number(len);
  if (addr.includes(':')) return parseIpv6(addr) !== undefined && n <= 128;
  return parseIpv4(addr) !== undefined && n <= 32;
}

export function parseIpv4(s: string): number | undefined {
  const p = s.split('.');
  if (p.length !== 4 || !p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255)) return undefined;
  return p.reduce((a, x) => a * 256 + Number(x), 0);
}

export function parseIpv6(s: string): bigint | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const part = (h: string) => (h === '' ? [] : h.split(':'));
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return groups.reduce((a, g) => (a << 16n) + BigInt(parseInt(g, 16)), 0n);
}
