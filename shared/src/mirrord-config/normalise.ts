import type { OnConcurrentSteal, RawHttpFilter, RawMirrordConfig } from './schema.js';
import type { ConfigIssue } from './issues.js';
import { formatTarget, parseTarget, type Target } from '../targets/index.js';
import { mirrordTargetError } from './target.js';
import { isAppError } from '../errors/index.js';
import { parseAgentConfig } from './agent.js';

/**
 * The typed form every consumer uses: shorthands expanded (`"env": true`, `"fs": "read"`,
 * `"incoming": "steal"`, `"copy_target": true`, `"dns": false`, string-or-list patterns) and the
 * documented defaults filled in. Layer-side options stay in `rest` exactly as written.
 */
export type IncomingMode = 'mirror' | 'steal' | 'off';
export type FsMode = 'local' | 'localwithoverrides' | 'read' | 'write';

export type InnerFilter =
  | { header: string }
  | { path: string }
  | { method: string }
  | { query: string }
  | { body: 'json'; query: string; matches: string };
export interface HttpFilter {
  header_filter?: string;
  path_filter?: string;
  method_filter?: string;
  header_filter_jq?: string;
  body_filter?: { body: 'json'; query: string; matches: string };
  all_of?: InnerFilter[];
  any_of?: InnerFilter[];
  ports?: number[];
}
export type AddressFilter = { remote: string[] } | { local: string[] };

export interface MirrordConfig {
  /** `path` canonical (`deployment/x[/container/c]`, `targetless`), or as written for label/service targets. */
  target: { path?: string; namespace?: string };
  profile?: string;
  operator?: boolean;
  key?: string;
  feature: {
    env: {
      enabled: boolean;
      include?: string[];
      exclude?: string[];
      override?: Record<string, string>;
      mapping?: Record<string, string>;
      unset?: string[];
      env_file?: string;
      load_from_process?: boolean;
    };
    fs: {
      mode: FsMode;
      read_write: string[];
      read_only: string[];
      local: string[];
      not_found: string[];
      mapping?: Record<string, string>;
      readonly_file_buffer?: number;
    };
    network: {
      incoming: {
        mode: IncomingMode;
        http_filter?: HttpFilter;
        on_concurrent_steal: OnConcurrentSteal;
        ports?: number[];
        ignore_ports?: number[];
        port_mapping?: [number, number][];
        listen_ports?: [number, number][];
        ignore_localhost: boolean;
      };
      outgoing: {
        tcp: boolean;
        udp: boolean;
        ignore_localhost: boolean;
        filter?: AddressFilter;
        unix_streams?: string[];
      };
      dns: { enabled: boolean; filter?: AddressFilter };
      ipv6: boolean;
    };
    copy_target: {
      enabled: boolean;
      scale_down: boolean;
      exclude_containers?: string[];
      exclude_init_containers?: string[];
    };
    hostname: boolean;
  };
  /** Everything else, as written (agent, container, experimental, proxies, queues, …). */
  rest: Record<string, unknown>;
}

const list = (v: string | string[] | null | undefined, split = false): string[] | undefined => {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return v;
  return split ? v.split(';').filter((s) => s !== '') : [v];
};

function httpFilter(h: RawHttpFilter | boolean | null | undefined): HttpFilter | undefined {
  if (h === null || h === undefined || typeof h === 'boolean') return undefined;
  const out: HttpFilter = {};
  for (const k of ['header_filter', 'path_filter', 'method_filter', 'header_filter_jq'] as const)
    if (typeof h[k] === 'string') out[k] = h[k];
  if (h.body_filter) out.body_filter = h.body_filter;
  if (h.all_of) out.all_of = h.all_of as InnerFilter[];
  if (h.any_of) out.any_of = h.any_of as InnerFilter[];
  if (h.ports !== null && h.ports !== undefined) out.ports = Array.isArray(h.ports) ? h.ports : [h.ports];
  return Object.keys(out).length === 0 ? undefined : out;
}

const FILTER_KINDS = [
  'header_filter',
  'path_filter',
  'method_filter',
  'header_filter_jq',
  'body_filter',
  'all_of',
  'any_of',
] as const;

function addressFilter(
  f: { remote: string | string[] } | { local: string | string[] } | null | undefined,
): AddressFilter | undefined {
  if (!f) return undefined;
  return 'remote' in f ? { remote: list(f.remote)! } : { local: list(f.local)! };
}

/** Expands the raw config; the semantic checks the schema cannot express come back as issues. */
export function normalise(raw: RawMirrordConfig): {
  config: MirrordConfig;
  issues: ConfigIssue[];
  warnings: ConfigIssue[];
} {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const { target, profile, operator, key, feature, ...rest } = raw;
  const f = feature ?? {};

  const t: MirrordConfig['target'] = {};
  let parsed: Target | undefined;
  const tPath =
    typeof target === 'string'
      ? target
      : target && 'path' in target
        ? target.path
        : target && !('namespace' in target)
          ? target
          : undefined;
  if (target && typeof target === 'object' && 'namespace' in target && typeof target.namespace === 'string')
    t.namespace = target.namespace;
  if (typeof tPath === 'string' || (tPath && typeof tPath === 'object')) {
    const field = typeof target === 'string' ? 'target' : 'target.path';
    const s = typeof tPath === 'string' ? tPath : objectTargetPath(tPath as Record<string, unknown>);
    // What mirrord's own parser refuses (`node/x`, `sts/x`) is an error, as it is in mirrord.
    const refused = s === undefined ? undefined : mirrordTargetError(s);
    if (refused !== undefined) issues.push({ path: field, message: refused });
    else if (s !== undefined && s.startsWith('label/')) {
      t.path = s;
      warnings.push({
        path: field,
        message: `"${s}" is a mirrord label target, which this operator does not serve; a session on it is refused`,
      });
    } else if (s !== undefined) {
      try {
        parsed = parseTarget(s, field);
        t.path = formatTarget(parsed);
      } catch (e) {
        if (!isAppError(e)) throw e;
        // mirrord takes any name (the generated "pod/<changeme>" included) and the target is
        // checked when a session starts: a warning, not an error.
        warnings.push({
          path: field,
          message: `${e.message.replace(/^[^:]*: /, '')}; it is checked when a session starts`,
        });
      }
    }
  }

  const envRaw = f.env;
  const env: MirrordConfig['feature']['env'] = { enabled: envRaw !== false };
  if (envRaw && typeof envRaw === 'object') {
    const inc = list(envRaw.include, true);
    const exc = list(envRaw.exclude, true);
    if (inc) env.include = inc;
    if (exc) env.exclude = exc;
    if (envRaw.override) env.override = envRaw.override;
    if (envRaw.mapping) env.mapping = envRaw.mapping;
    const unset = list(envRaw.unset, true);
    if (unset) env.unset = unset;
    if (typeof envRaw.env_file === 'string') env.env_file = envRaw.env_file;
    if (typeof envRaw.load_from_process === 'boolean') env.load_from_process = envRaw.load_from_process;
  }

  const fsRaw = f.fs;
  const fs: MirrordConfig['feature']['fs'] = { mode: 'read', read_write: [], read_only: [], local: [], not_found: [] };
  if (fsRaw === false) fs.mode = 'local';
  else if (typeof fsRaw === 'string') fs.mode = fsRaw;
  else if (fsRaw && typeof fsRaw === 'object') {
    if (fsRaw.mode) fs.mode = fsRaw.mode;
    fs.read_write = list(fsRaw.read_write) ?? [];
    fs.read_only = list(fsRaw.read_only) ?? [];
    fs.local = list(fsRaw.local) ?? [];
    fs.not_found = list(fsRaw.not_found) ?? [];
    if (fsRaw.mapping) fs.mapping = fsRaw.mapping;
    if (typeof fsRaw.readonly_file_buffer === 'number') fs.readonly_file_buffer = fsRaw.readonly_file_buffer;
  }

  const netRaw = f.network;
  const net = netRaw && typeof netRaw === 'object' ? netRaw : {};
  const netOff = netRaw === false;
  const incRaw = net.incoming;
  const incoming: MirrordConfig['feature']['network']['incoming'] = {
    mode: netOff || incRaw === false ? 'off' : 'mirror',
    on_concurrent_steal: 'abort',
    ignore_localhost: false,
  };
  if (typeof incRaw === 'string') incoming.mode = incRaw;
  else if (incRaw && typeof incRaw === 'object') {
    if (incRaw.mode) incoming.mode = incRaw.mode;
    const hf = httpFilter(incRaw.http_filter);
    if (hf) incoming.http_filter = hf;
    if (incRaw.on_concurrent_steal) incoming.on_concurrent_steal = incRaw.on_concurrent_steal;
    for (const k of ['ports', 'ignore_ports'] as const) if (incRaw[k]) incoming[k] = incRaw[k];
    for (const k of ['port_mapping', 'listen_ports'] as const) if (incRaw[k]) incoming[k] = incRaw[k];
    if (typeof incRaw.ignore_localhost === 'boolean') incoming.ignore_localhost = incRaw.ignore_localhost;
    if (incRaw.ports && incRaw.ignore_ports)
      issues.push({
        path: 'feature.network.incoming.ports',
        message: 'ports and ignore_ports are mutually exclusive; keep one of them',
      });
    const h = incRaw.http_filter;
    if (h && typeof h === 'object') {
      const kinds = FILTER_KINDS.filter((k) => h[k] !== undefined && h[k] !== null);
      if (kinds.length > 1)
        issues.push({
          path: 'feature.network.incoming.http_filter',
          message: `${kinds.join(' and ')} are mutually exclusive; combine filters with all_of or any_of`,
        });
      for (const k of ['all_of', 'any_of'] as const)
        if (h[k] && h[k].length === 0)
          issues.push({
            path: `feature.network.incoming.http_filter.${k}`,
            message: 'cannot be an empty list; add a filter or remove the field',
          });
    }
  }

  const outRaw = net.outgoing;
  const outgoing: MirrordConfig['feature']['network']['outgoing'] = {
    tcp: !(netOff || outRaw === false),
    udp: !(netOff || outRaw === false),
    ignore_localhost: false,
  };
  if (outRaw && typeof outRaw === 'object') {
    if (typeof outRaw.tcp === 'boolean') outgoing.tcp = outRaw.tcp;
    if (typeof outRaw.udp === 'boolean') outgoing.udp = outRaw.udp;
    if (typeof outRaw.ignore_localhost === 'boolean') outgoing.ignore_localhost = outRaw.ignore_localhost;
    const af = addressFilter(outRaw.filter);
    if (af) outgoing.filter = af;
    const us = list(outRaw.unix_streams);
    if (us) outgoing.unix_streams = us;
  }
  const dnsRaw = net.dns;
  const dns: MirrordConfig['feature']['network']['dns'] = { enabled: !(netOff || dnsRaw === false) };
  if (dnsRaw && typeof dnsRaw === 'object') {
    if (typeof dnsRaw.enabled === 'boolean') dns.enabled = dnsRaw.enabled;
    const af = addressFilter(dnsRaw.filter);
    if (af) dns.filter = af;
  }

  // The agent section as agent-manager will read it (one parser, so a config that passes here
  // is never refused at session start).
  try {
    parseAgentConfig(rest.agent);
  } catch (e) {
    if (!isAppError(e)) throw e;
    issues.push({ path: e.field ?? 'agent', message: e.message.replace(/^[^:]*: /, '') });
  }

  const ctRaw = f.copy_target;
  const copy: MirrordConfig['feature']['copy_target'] = { enabled: ctRaw === true, scale_down: false };
  if (ctRaw && typeof ctRaw === 'object') {
    copy.enabled = ctRaw.enabled ?? true;
    copy.scale_down = ctRaw.scale_down ?? false;
    if (ctRaw.exclude_containers) copy.exclude_containers = ctRaw.exclude_containers;
    if (ctRaw.exclude_init_containers) copy.exclude_init_containers = ctRaw.exclude_init_containers;
  }
  if (copy.scale_down && parsed?.kind === 'workload' && parsed.type !== 'deployment')
    issues.push({
      path: 'feature.copy_target.scale_down',
      message: 'works with deployment targets only; remove it or target a deployment',
    });
  if (copy.enabled && parsed && (parsed.kind === 'targetless' || parsed.type === 'rollout'))
    issues.push({
      path: 'feature.copy_target',
      message: 'is not compatible with rollout targets or targetless runs; pick another target or disable copy_target',
    });

  if (
    typeof profile === 'string' &&
    !/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(profile)
  )
    issues.push({
      path: 'profile',
      message: `"${profile}" is not a profile name; use "<name>" (cluster profile) or "<namespace>/<name>"`,
    });

  const { magic, db_branches, preview, split_queues } = f;
  const featureRest = Object.fromEntries(
    Object.entries({ magic, db_branches, preview, split_queues }).filter(([, v]) => v !== undefined && v !== null),
  );
  const config: MirrordConfig = {
    target: t,
    feature: {
      env,
      fs,
      network: { incoming, outgoing, dns, ipv6: net.ipv6 === true },
      copy_target: copy,
      hostname: f.hostname ?? true,
    },
    rest: { ...stripNulls(rest), ...(Object.keys(featureRest).length ? { feature: featureRest } : {}) },
  };
  if (typeof profile === 'string') config.profile = profile;
  if (typeof operator === 'boolean') config.operator = operator;
  if (typeof key === 'string') config.key = key;
  return { config, issues, warnings };
}

const TYPED_KEYS: Record<string, string> = {
  deployment: 'deployment',
  pod: 'pod',
  rollout: 'rollout',
  job: 'job',
  cron_job: 'cronjob',
  stateful_set: 'statefulset',
  replica_set: 'replicaset',
  service: 'service',
};

function objectTargetPath(o: Record<string, unknown>): string | undefined {
  for (const [k, type] of Object.entries(TYPED_KEYS)) {
    if (typeof o[k] === 'string')
      return typeof o.container === 'string' ? `${type}/${o[k]}/container/${o.container}` : `${type}/${o[k]}`;
  }
  return undefined;
}

function stripNulls(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
}
