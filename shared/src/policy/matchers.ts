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
  /** The names the destination is known by (for a connect, the names this session resolved to its IP). */
  hostname?: string | readonly string[];
  port?: number;
  protocol?: 'TCP' | 'UDP';
}

function inCidr(ip: string, cidr: string): boolean {
  const [addr, len] = cidr.split('/') as [string, string];
  const bits = Number(len);
  if (addr.includes(':') !== ip.includes(':')) return false;
  if (!ip.includes(':')) {
    const a = parseIpv4(ip);
    const b = parseIpv4(addr);
    if (a === undefined || b === undefined) return false;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return (a & mask) >>> 0 === (b & mask) >>> 0;
  }
  const a = parseIpv6(ip);
  const b = parseIpv6(addr);
  if (a === undefined || b === undefined) return false;
  const shift = BigInt(128 - bits);
  return a >> shift === b >> shift;
}

/** One outgoing rule: every part it names must match the destination. */
export function outgoingRuleMatcher(rule: OutgoingRule): (d: Destination) => boolean {
  const host = rule.hostname !== undefined ? compileFancyRegex(rule.hostname, 'i') : undefined;
  return (d) => {
    if (rule.ipBlock) {
      if (d.ip === undefined || !inCidr(d.ip, rule.ipBlock.cidr)) return false;
      if ((rule.ipBlock.except ?? []).some((c) => inCidr(d.ip!, c))) return false;
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
