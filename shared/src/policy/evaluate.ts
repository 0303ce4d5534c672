import type { HttpFilter, MirrordConfig } from '../mirrord-config/index.js';
import type { CompiledPolicy, TargetFacts } from './policy-set.js';
import { applyProfile, type Profile } from './profiles.js';
import type { OutgoingRule } from './spec.js';
import type { Change, Denial, Enforcement, StartDecision } from './decision.js';
import { outgoingRuleMatcher, parseAddress, type Destination } from './matchers.js';

/**
 * Policy evaluation (Policies document): which policies apply to a session, what they block,
 * what they override in the user's config, and why a request is refused. Pure: the caller
 * supplies the applicable policies (PolicySet.applicable) and the resolved profile.
 * The decision is the wire's (decision.ts), with the engine's typed effective config.
 */
export type Decision = StartDecision & { effective_config: MirrordConfig };

export interface StartRequest {
  target: TargetFacts;
  config: MirrordConfig;
  /** The client sent its config: its incoming mode is checked now, not only at port subscribe. */
  configGiven: boolean;
  profile?: Profile;
}

const where = (t: TargetFacts) => `(${t.path} in namespace ${t.namespace})`;
const on = (t: TargetFacts) => `${t.path} in namespace ${t.namespace}`;
const forbidden = (feature: string, p: CompiledPolicy, t: TargetFacts, fix?: string): Denial => ({
  policy: p.id,
  feature,
  reason: `${feature} is forbidden by the mirrord policy "${p.id}" for this target ${where(t)}${fix ? `: ${fix}` : ''}`,
  detail: `${feature} is blocked on ${on(t)}${fix ? `; ${fix}` : ''}`,
});

const isFiltered = (f: HttpFilter | undefined): boolean =>
  !!f &&
  (f.header_filter !== undefined ||
    f.path_filter !== undefined ||
    f.method_filter !== undefined ||
    f.header_filter_jq !== undefined ||
    f.body_filter !== undefined ||
    !!f.all_of?.length ||
    !!f.any_of?.length);

/** The seed's header-filter rule for plain, all_of and any_of filters. */
export function headerFilterSatisfies(f: HttpFilter, re: RegExp): boolean {
  if (f.header_filter !== undefined) return re.test(f.header_filter);
  if (f.all_of) return f.all_of.some((i) => 'header' in i && re.test(i.header));
  if (f.any_of) return f.any_of.every((i) => 'header' in i && re.test(i.header));
  return false;
}

/** Port subscribe: may this session steal (with this filter) or mirror on the target? */
export function checkIncoming(
  policies: readonly CompiledPolicy[],
  t: TargetFacts,
  mode: 'steal' | 'mirror',
  filter: HttpFilter | undefined,
): Denial[] {
  const out: Denial[] = [];
  const filtered = isFiltered(filter);
  for (const p of policies) {
    if (mode === 'mirror') {
      if (p.blocks.has('mirror')) out.push(forbidden('mirror', p, t));
      continue;
    }
    if (p.blocks.has('steal')) out.push(forbidden('steal', p, t));
    else if (!filtered && (p.blocks.has('steal-without-filter') || p.headerFilter))
      out.push(
        forbidden(
          'steal-without-filter',
          p,
          t,
          'set an HTTP filter (feature.network.incoming.http_filter)' +
            (p.headerFilter ? ` with a header filter matching ${p.headerFilter.source}` : ''),
        ),
      );
    else if (p.headerFilter && filter && !headerFilterSatisfies(filter, p.headerFilter)) {
      const must = `${
        filter.any_of ? 'every any_of filter must be a header filter matching' : 'at least one header filter must match'
      } ${p.headerFilter.source}`;
      out.push({
        policy: p.id,
        feature: 'header-filter',
        reason: `steal with this HTTP filter is forbidden by the mirrord policy "${p.id}" for this target ${where(t)}: ${must}`,
        detail: `on ${on(t)}, ${must}`,
      });
    }
  }
  return out;
}

const unique = (xs: string[]) => [...new Set(xs)];

interface FsLists {
  local: string[];
  not_found: string[];
  read_only: string[];
}

function forceFs(
  lists: FsLists,
  key: keyof FsLists,
  patterns: string[] | undefined,
  policy: string,
  changes: Change[],
): void {
  if (!patterns) return;
  for (const x of patterns) {
    lists[key].push(x);
    changes.push({ policy, field: `feature.fs.${key}`, change: `forces ${x}` });
  }
}

function addBlocked(blocked: Map<string, string[]>, feature: string, id: string): void {
  const ids = blocked.get(feature);
  if (ids) ids.push(id);
  else blocked.set(feature, [id]);
}

export function decideStart(policies: readonly CompiledPolicy[], req: StartRequest): Decision {
  const t = req.target;
  const denied: Denial[] = [];
  const changes: Change[] = [];
  // Copy what is overridden below; the caller's config stays as the user wrote it.
  const base = req.profile ? applyProfile(req.config, req.profile) : req.config;
  const config: MirrordConfig = {
    ...base,
    feature: { ...base.feature, env: { ...base.feature.env }, fs: { ...base.feature.fs } },
  };
  const selected = req.profile?.id;

  for (const p of policies) {
    if (p.spec.requireProfile && selected === undefined)
      denied.push({
        policy: p.id,
        feature: 'profile',
        reason: `a mirrord profile is required by the mirrord policy "${p.id}" for this target ${where(t)}: select one with "profile" in the mirrord config`,
        detail: `a mirrord profile is required on ${on(t)}; select one with "profile" in the mirrord config`,
      });
    const allow = p.spec.profileAllowlist;
    if (allow && selected !== undefined && !allow.includes(selected))
      denied.push({
        policy: p.id,
        feature: 'profile',
        reason: `profile "${selected}" is not allowed by the mirrord policy "${p.id}" for this target ${where(t)}: allowed profiles are ${allow.join(', ')}`,
        detail: `profile "${selected}" is not allowed on ${on(t)}; allowed profiles are ${allow.join(', ')}`,
      });
    if (
      config.feature.copy_target.enabled &&
      config.feature.copy_target.scale_down &&
      p.blocks.has('copy-target-scale-down')
    )
      denied.push(forbidden('copy-target-scale-down', p, t, 'remove feature.copy_target.scale_down'));
  }
  const inc = config.feature.network.incoming;
  if (req.configGiven && inc.mode !== 'off') denied.push(...checkIncoming(policies, t, inc.mode, inc.http_filter));

  // Overrides: the policy wins over the user's config (env, fs), and outgoing rules apply.
  // One pass, no closures: this runs for every session start and every explain.
  const env = config.feature.env;
  const fs = config.feature.fs;
  const policyFs: FsLists = { local: [], not_found: [], read_only: [] };
  const outgoing: Decision['outgoing'] = { allow: [], block: [] };
  const blocked = new Map<string, string[]>();
  const applied: string[] = [];
  const envExclude: string[] = [];
  for (const p of policies) {
    applied.push(p.id);
    const spec = p.spec;
    const exclude = spec.env?.exclude;
    if (exclude?.length) {
      for (const x of exclude)
        changes.push({ policy: p.id, field: 'feature.env.exclude', change: `excludes ${x} (wins over include)` });
      env.exclude = unique([...(env.exclude ?? []), ...exclude]);
      envExclude.push(...exclude);
    }
    if (spec.fs) {
      forceFs(policyFs, 'local', spec.fs.local, p.id, changes);
      forceFs(policyFs, 'not_found', spec.fs.notFound, p.id, changes);
      forceFs(policyFs, 'read_only', spec.fs.readOnly, p.id, changes);
    }
    const out = spec.network?.outgoing;
    if (out) {
      for (const r of out.allow ?? []) outgoing.allow.push({ ...r, policy: p.id });
      for (const r of out.block ?? []) outgoing.block.push({ ...r, policy: p.id });
    }
    for (const b of p.blocks) addBlocked(blocked, b, p.id);
    if (p.headerFilter && !p.blocks.has('steal-without-filter')) addBlocked(blocked, 'steal-without-filter', p.id);
  }
  // Precedence when several policy lists name a pattern: local, then notFound, then readOnly;
  // a forced pattern leaves the user's other lists.
  if (policyFs.local.length + policyFs.not_found.length + policyFs.read_only.length > 0) {
    const forced = new Set([...policyFs.local, ...policyFs.not_found, ...policyFs.read_only]);
    const local = unique([...policyFs.local, ...fs.local]);
    const notFound = unique([...policyFs.not_found, ...fs.not_found]).filter((x) => !policyFs.local.includes(x));
    const readOnly = unique([...policyFs.read_only, ...fs.read_only]).filter(
      (x) => !policyFs.local.includes(x) && !policyFs.not_found.includes(x),
    );
    config.feature.fs = {
      ...fs,
      local,
      not_found: notFound,
      read_only: readOnly,
      read_write: fs.read_write.filter((x) => !forced.has(x)),
    };
  }
  const blockedList: Decision['blocked'] = [];
  for (const [feature, ids] of blocked) blockedList.push({ feature, policies: ids });
  const d: Decision = {
    allowed: denied.length === 0,
    denied_by: denied,
    applied,
    blocked: blockedList,
    changes,
    outgoing,
    effective_config: config,
    enforce: {
      env_exclude: unique(envExclude),
      fs: {
        local: unique(policyFs.local),
        not_found: unique(policyFs.not_found).filter((x) => !policyFs.local.includes(x)),
        read_only: unique(policyFs.read_only).filter(
          (x) => !policyFs.local.includes(x) && !policyFs.not_found.includes(x),
        ),
      },
      outgoing,
    },
  };
  if (selected !== undefined) d.profile = selected;
  return d;
}

/** Outgoing rules compiled once per session (the relay checks every connect against them). */
export interface OutgoingRules {
  allow: Array<{ policy: string; rule: string; test: (d: Destination) => boolean }>;
  block: Array<{ policy: string; rule: string; test: (d: Destination) => boolean }>;
}

/** A rule in words, for refusals and explain: `10.1.0.0/16 except 10.1.9.0/24, hostname ~ re, TCP/5432`. */
export function describeOutgoingRule(r: OutgoingRule): string {
  const parts: string[] = [];
  if (r.ipBlock)
    parts.push(`${r.ipBlock.cidr}${r.ipBlock.except?.length ? ` except ${r.ipBlock.except.join(', ')}` : ''}`);
  if (r.hostname !== undefined) parts.push(`hostname ~ ${r.hostname}`);
  if (r.ports?.length) parts.push(r.ports.map((p) => `${p.protocol ?? 'TCP+UDP'}/${p.port ?? '*'}`).join(' '));
  return parts.length ? parts.join(', ') : 'any destination';
}

export function compileOutgoing(o: Enforcement['outgoing']): OutgoingRules {
  const compile = (rules: Array<OutgoingRule & { policy: string }>) =>
    rules.map(({ policy, ...rule }) => ({ policy, rule: describeOutgoingRule(rule), test: outgoingRuleMatcher(rule) }));
  return { allow: compile(o.allow), block: compile(o.block) };
}

export type OutgoingVerdict = { allowed: true } | { allowed: false; policy: string; reason: string };

/**
 * Outgoing traffic under the policies: a destination matching a block rule is refused (even
 * when an allow rule matches it too); a non-empty allow list refuses everything it does not
 * match. The refusal names the policy of the rule that refused (for an allow list, the first
 * policy that has one) and why.
 */
export function outgoingVerdict(rules: OutgoingRules, to: Destination): OutgoingVerdict {
  const dest = to.ip !== undefined && to.address === undefined ? { ...to, address: parseAddress(to.ip) } : to;
  for (const r of rules.block)
    if (r.test(dest)) return { allowed: false, policy: r.policy, reason: `its network.outgoing.block rule ${r.rule}` };
  if (rules.allow.length === 0 || rules.allow.some((r) => r.test(dest))) return { allowed: true };
  const policies = [...new Set(rules.allow.map((r) => r.policy))];
  return {
    allowed: false,
    policy: policies[0]!,
    reason: `not in the network.outgoing.allow list (${rules.allow.map((r) => r.rule).join('; ')})`,
  };
}
