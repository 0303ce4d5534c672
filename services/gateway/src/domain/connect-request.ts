import { invalid } from '#shared/errors/index.js';
import { sessionCiInfo, type SessionCiInfo } from '#shared/events/index.js';
import { parseClientSessionId } from '#shared/ids/index.js';
import {
  AGENT_DEFAULTS,
  CONCURRENT_STEAL,
  parseAgentConfig,
  parseMirrordConfig,
  type AgentConfig,
  type OnConcurrentSteal,
} from '#shared/mirrord-config/index.js';
import type { CopyRequest } from './interfaces.js';
import { QUEUE_CONNECT_PARAM, splitsFromConnectParams, type QueueSplitRequest } from '#shared/queues/index.js';
import { parseDottedTarget, validateNamespace, type Target } from '#shared/targets/index.js';

export interface ConnectRequest {
  namespace: string;
  target: Target;
  dotted: string;
  session_id: string;
  /** `x-session-id` was sent: the id is the client's (a live session with it is resumed). */
  client_chosen_id: boolean;
  /** Set by the start use case: this connect resumes a live session. */
  resume: boolean;
  on_concurrent_steal: OnConcurrentSteal;
  profile?: string;
  branch_name?: string;
  key?: string;
  /** `session_ci_info` (the real CLI's `mirrord ci start`): a CI session, which takes no seat. */
  ci?: SessionCiInfo;
  client_name?: string;
  client_hostname?: string;
  client_cli_version: string;
  /** The mirrord config from `x-mirrord-config` (base64 JSON): agents and copies need it before the session starts. */
  config?: Record<string, unknown>;
  /** The config's `agent` section through the shared parser (defaults without a config). */
  agent: AgentConfig;
  /** `feature.copy_target` when enabled: `{"enabled": false}` is no copy, as everywhere. */
  copy_target?: CopyRequest;
  /**
   * The queues the session splits: the CLI's `sqs_splits` / `kafka_splits` / `queue_modes`
   * (direct mode), or a `CopyTarget`'s `spec.split_queues` (set when connecting to it). Empty: none.
   */
  queue_splits: QueueSplitRequest[];
}

/** The real CLI's header carrying the whole connect query when `ConnectParamsInHeader` is advertised. */
export const CONNECT_PARAMS_HEADER = 'x-mirrord-connect-params';

const header = (h: Record<string, string | string[] | undefined>, k: string): string | undefined => {
  const v = h[k];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? undefined : s.trim();
};

/**
 * The connect call of api.md: path, query parameters and `x-*` headers, validated with
 * errors that name the parameter or header.
 */
export function parseConnectRequest(
  params: { namespace: string; name: string },
  query: Record<string, unknown>,
  headers: Record<string, string | string[] | undefined>,
  newSessionId: () => string,
): ConnectRequest {
  const namespace = validateNamespace(params.namespace, 'namespace');
  const target = parseDottedTarget(params.name, 'target');
  // With the header, the URL carries only `connect=true` and every parameter is in the header.
  const encoded = header(headers, CONNECT_PARAMS_HEADER);
  const source = encoded === undefined ? query : decodeConnectParams(encoded);
  const q = (k: string): string | undefined => {
    const v = source[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw invalid(k, 'expected one value');
    return v;
  };
  const mode = (q('on_concurrent_steal') ?? 'abort') as OnConcurrentSteal;
  if (!CONCURRENT_STEAL.includes(mode))
    throw invalid(
      'on_concurrent_steal',
      `expected ${CONCURRENT_STEAL.map((m) => `"${m}"`).join(' | ')}, got "${mode}"`,
    );
  const sid = header(headers, 'x-session-id');
  const out: ConnectRequest = {
    namespace,
    target,
    dotted: params.name,
    session_id: sid === undefined ? newSessionId() : parseClientSessionId(sid),
    client_chosen_id: sid !== undefined,
    resume: false,
    on_concurrent_steal: mode,
    client_cli_version: header(headers, 'x-mirrord-cli-version') ?? '',
    agent: { ...AGENT_DEFAULTS },
    queue_splits: [],
  };
  for (const k of ['profile', 'branch_name', 'key'] as const) {
    const v = q(k);
    if (v !== undefined && v !== '') out[k] = v;
  }
  const queueParams: Record<string, string> = {};
  for (const k of Object.keys(source).filter((k) => QUEUE_CONNECT_PARAM.test(k))) {
    const v = q(k);
    if (v !== undefined) queueParams[k] = v;
  }
  out.queue_splits = splitsFromConnectParams(queueParams);
  const ci = q('session_ci_info');
  if (ci !== undefined) out.ci = parseCiInfo(ci);
  const cfg = header(headers, 'x-mirrord-config');
  if (cfg !== undefined) {
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(cfg, 'base64').toString('utf8'));
    } catch {
      throw invalid(
        'x-mirrord-config',
        'is not base64 of a JSON mirrord config',
        'send base64(JSON.stringify(config))',
      );
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw invalid('x-mirrord-config', 'expected a JSON object');
    // Checked as verify-config does, so a broken config is refused naming its path.
    const checked = parseMirrordConfig(v, 'x-mirrord-config');
    out.config = v as Record<string, unknown>;
    out.agent = parseAgentConfig((v as Record<string, unknown>).agent);
    if (checked.feature.copy_target.enabled) out.copy_target = { scale_down: checked.feature.copy_target.scale_down };
    if (out.profile === undefined && checked.profile !== undefined) out.profile = checked.profile;
  }
  const name = header(headers, 'x-client-name');
  if (name !== undefined) out.client_name = name;
  const host = header(headers, 'x-client-hostname');
  if (host !== undefined) out.client_hostname = host;
  return out;
}

const HEADER_HINT = 'send base64 (standard alphabet, padded) of the connect query string, as the mirrord CLI does';

/**
 * `x-mirrord-connect-params`: base64 (standard, padded) of the query string the CLI would
 * otherwise put in the URL (`make_operator_session` in `operator/src/client.rs`). The decoded
 * text must read as serde_urlencoded writes it: printable ASCII `key=value` pairs joined by `&`.
 */
function decodeConnectParams(raw: string): Record<string, string | string[]> {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 === 1)
    throw invalid(CONNECT_PARAMS_HEADER, 'is not base64', HEADER_HINT);
  const text = Buffer.from(raw, 'base64').toString('latin1');
  if (!/^[\x21-\x7e]*$/.test(text) || text.split('&').some((pair) => !/^[^=&]+=/.test(pair)))
    throw invalid(CONNECT_PARAMS_HEADER, 'does not decode to a query string (key=value&…)', HEADER_HINT);
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
  }
  return out;
}

/** The CLI sends `session_ci_info` as JSON of its `SessionCiInfo` (camelCase fields, all optional). */
function parseCiInfo(raw: string): SessionCiInfo {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalid('session_ci_info', 'is not JSON', 'send {"provider":…,"environment":…,"pipeline":…,"triggeredBy":…}');
  }
  const r = sessionCiInfo.safeParse(v);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path.length ? `.${issue.path.join('.')}` : '';
    throw invalid(
      `session_ci_info${at}`,
      issue.message,
      'fields: provider, environment, pipeline, triggeredBy (strings)',
    );
  }
  return r.data;
}
