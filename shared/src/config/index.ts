import { parseDurationMs } from '../format/duration.js';
import { AppError, ErrorCode } from '../errors/index.js';

/**
 * 12-factor env loading. Each variable has a parser and a default; every bad value is collected
 * so one start-up failure names all the variables to fix.
 */
export type Parser<T> = (raw: string, name: string) => T;
export interface VarSpec<T> {
  parse: Parser<T>;
  default?: T;
  doc: string;
}

export class ConfigError extends AppError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(ErrorCode.Invalid, problems.join('; '));
    this.problems = problems;
  }
}

export function loadConfig<S extends Record<string, VarSpec<unknown>>>(
  spec: S,
  env: NodeJS.ProcessEnv = process.env,
): Readonly<{ [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never }> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, s] of Object.entries(spec)) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if (!('default' in s)) problems.push(`${name} is required: ${s.doc}`);
      else out[name] = s.default;
      continue;
    }
    try {
      out[name] = s.parse(raw, name);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as never;
}

export const str: Parser<string> = (raw) => raw;

export const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  (raw, name) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max)
      throw new Error(`${name}: expected an integer between ${min} and ${max}, got "${raw}"`);
    return n;
  };

/** A duration as milliseconds: `24h`, `90s`, `1h30m`, `500ms`, or plain seconds (`30`). */
export const durationMs: Parser<number> = (raw, name) => {
  const s = raw.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const ms = parseDurationMs(s);
  if (ms !== undefined) return ms;
  throw new Error(`${name}: expected a duration like 24h, 90s or 1h30m (or seconds), got "${raw}"`);
};

export const bool: Parser<boolean> = (raw, name) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error(`${name}: expected "true" or "false", got "${raw}"`);
};

export const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, name) => {
    if ((values as string[]).includes(raw)) return raw as T;
    throw new Error(`${name}: expected ${values.map((v) => `"${v}"`).join(' | ')}, got "${raw}"`);
  };

export interface HostPort {
  host: string;
  port: number;
}
export const hostPort: Parser<HostPort> = (raw, name) => {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(raw.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`${name}: expected host:port (e.g. 127.0.0.1:8080), got "${raw}"`);
  return { host: m[1] === '' ? '0.0.0.0' : m[1]!.replace(/^\[|\]$/g, ''), port };
};

export const natsUrl: Parser<string> = (raw, name) => {
  for (const u of raw.split(',')) {
    const port = /:(\d+)$/.exec(u.trim())?.[1];
    if (
      (!/^(nats|tls|ws|wss):\/\/[^\s/]+$/.test(u.trim()) && !/^[^\s:/]+:\d+$/.test(u.trim())) ||
      (port !== undefined && Number(port) > 65535)
    )
      throw new Error(`${name}: expected nats://host:port (comma-separated for a cluster), got "${raw}"`);
  }
  return raw;
};

/** The bus every service connects to: one server or a cluster's URL list, and its replica count. */
export const natsSpec = {
  NATS_URL: {
    parse: natsUrl,
    default: 'nats://127.0.0.1:4222',
    doc: "NATS server URL, or a comma-separated list of a cluster's servers",
  },
  NATS_REPLICAS: {
    parse: (raw: string, name: string) => {
      if (!['1', '3', '5'].includes(raw.trim()))
        throw new Error(`${name}: expected 1, 3 or 5 (JetStream replicas), got "${raw}"`);
      return Number(raw);
    },
    default: 1,
    doc: 'replicas of the JetStream streams and buckets the services create (3 on a three-node cluster)',
  },
  NATS_NKEY_FILE: {
    parse: str,
    default: '',
    doc: "this service's NATS nkey seed file (SU…); its public key and permissions are in the server's config",
  },
  NATS_CREDS_DIR: {
    parse: str,
    default: '',
    doc: 'a directory of <service>.nk seeds, one per service (npm start makes ./data/nats-auth); NATS_NKEY_FILE wins',
  },
  NATS_CA_FILE: { parse: str, default: '', doc: "the CA of the NATS servers' TLS certificates (TLS on when set)" },
};

export const logLevel = oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent');

/** This cluster's name in the licence fleet: in every usage subject and the JetStream domain it joins with. */
export const clusterSpec = {
  CLUSTER_NAME: {
    parse: (raw: string, name: string) => {
      const v = raw.trim();
      if (!/^[A-Za-z0-9_-]{1,63}$/.test(v))
        throw new Error(`${name}: "${v}" is not a cluster name; use 1-63 letters, digits, "-" or "_"`);
      return v;
    },
    default: 'default',
    doc: "this cluster's name in the licence fleet (usage subjects; the nats-server's JetStream domain when joined to a hub)",
  },
};
