import type { LabelSelector, OutgoingRule } from './spec.js';
import { parseIpv4, parseIpv6 } from './spec.js';
import { compileFancyRegex } from '../mirrord-config/index.js';

/**
 * A glob: `?` one character, `*` any run (including `/`), the whole string — the seed's
 * targetPath patterns and env.exclude names (the agent's `WildMatch` semantics).
 */
export function globMatcher(pattern: string): (path: string) => boolean {
  if (!/[*?]/.test(pattern)) return (p) => p === pattern;
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  );
  return (p) => re.test(p);
}

/** The literal text before the first wildcard: lets the index skip policies for other targets. */
export const literalPrefix = (pattern: string): string => pattern.split(/[*?]/, 1)[0]!;

/** Kubernetes label-selector semantics: every matchLabels pair and every expression must hold. */
export function selectorMatcher(sel: LabelSelector): (labels: Readonly<Record<string, string>>) => boolean {
  const pairs = Object.entries(sel.matchLabels ?? {});
  const exprs = (sel.matchExpressions ?? []).map((e) => ({ ...e, set: new Set(e.values ?? []) }));
  return (labels) => {
    for (const [k, v] of pairs) if (labels[k] !== v) return false;
    for (const e of exprs) {
      const has = Object.prototype.hasOwnProperty.call(labels, e.key);
      switch (e.operator) {
        case 'In':
          if (!has || !e.set.has(labels[e.key]!)) return false;
          break;
        case 'NotIn':
          if (has && e.set.has(labels[e.key]!)) return false;
          break;
        case 'Exists':
          if (!has) return false;
          break;
        case 'DoesNotExist':
          if (has) return false;
          break;
      }
    }
    return true;
  };
}

export interface Destination {
  ip?: string;
  /** `ip` parsed, when the caller tests it against many rules. */
  address?: ParsedAddress;
  /** The names the destination is known by (for a connect, the names this session resolved to its IP). */
  hostname?: string | readonly string[];
  port?: number;
  protocol?: 'TCP' | 'UDP';
}

/** An address parsed once per connect (the rules of every policy test the same one). */
export type ParsedAddress = { v4: number } | { v6: bigint } | undefined;

export function parseAddress(ip: string): ParsedAddress {
  if (ip.includes(':')) {
    const v6 = parseIpv6(ip);
    return v6 === undefined ? undefined : { v6 };
  }
  const v4 = parseIpv4(ip);
  return v4 === undefined ? undefined : { v4 };
}

/** A CIDR compiled once, when the policy is read: a test of a parsed address. */
function cidrMatcher(cidr: string): (a: ParsedAddress) => boolean {
  const [addr, len] = cidr.split('/') as [string, string];
  const bits = Number(len);
  if (!addr.includes(':')) {
    const b = parseIpv4(addr);
    if (b === undefined) return () => false;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const net = (b & mask) >>> 0;
    return (a) => a !== undefined && 'v4' in a && (a.v4 & mask) >>> 0 === net;
  }
  const b = parseIpv6(addr);
  if (b === undefined) return () => false;
  const shift = BigInt(128 - bits);
  const net = b >> shift;
  return (a) => a !== undefined && 'v6' in a && a.v6 >> shift === net;
}

/** One outgoing rule: every part it names must match the destination. */
export function outgoingRuleMatcher(rule: OutgoingRule): (d: Destination) => boolean {
  const host = rule.hostname !== undefined ? compileFancyRegex(rule.hostname, 'i') : undefined;
  const block = rule.ipBlock ? cidrMatcher(rule.ipBlock.cidr) : undefined;
  const except = (rule.ipBlock?.except ?? []).map(cidrMatcher);
  return (d) => {
    if (block) {
      const a = d.address ?? (d.ip === undefined ? undefined : parseAddress(d.ip));
      if (!block(a)) return false;
      if (except.some((m) => m(a))) return false;
    }
    if (host) {
      const names = d.hostname === undefined ? [] : typeof d.hostname === 'string' ? [d.hostname] : d.hostname;
      if (!names.some((n) => host.test(n))) return false;
    }
    if (
      rule.ports &&
      !rule.ports.some(
        (p) =>
          (p.port === undefined || p.port === d.port) &&
          (p.protocol === undefined || p.protocol === (d.protocol ?? 'TCP')),
      )
    )
      return false;
    return true;
  };
}
