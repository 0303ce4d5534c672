/** What a secret field is replaced by in a log line. */
export const REDACTED = '[redacted]';
/** What a secret inside a URL is replaced by (left unencoded by the URL serialiser). */
const URL_MASK = '***';

/** Query parameters that carry credentials in connection URLs (libpq's `password`, tokens, keys). */
const SECRET_PARAMS = /^(password|passwd|pwd|sslpassword|token|access_token|secret|key|api_key|apikey)$/i;

function redactOne(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    // Not a URL to the WHATWG parser (`host:4222`, a typo): mask anything shaped like userinfo.
    return raw.replace(/\/\/([^/@:\s]*):[^/@\s]*@/, `//$1:${URL_MASK}@`);
  }
  let changed = false;
  if (u.password) {
    u.password = URL_MASK;
    changed = true;
  }
  for (const k of [...u.searchParams.keys()])
    if (SECRET_PARAMS.test(k)) {
      u.searchParams.set(k, URL_MASK);
      changed = true;
    }
  // Untouched URLs are returned as given (the parser would normalise them: a trailing slash).
  return changed ? u.toString() : raw;
}

/**
 * A URL (or a comma-separated list of them, as NATS_URL) fit for a log line: the password of
 * its userinfo and credential-like query parameters replaced, everything else kept, so the line
 * still says where the service connects (`postgres://ledger:***@db:5432/ledger`).
 */
export function redactUrl(url: string): string {
  return url.includes(',')
    ? url
        .split(',')
        .map((p) => redactOne(p.trim()))
        .join(',')
    : redactOne(url);
}

/**
 * Log fields that are secrets by name, whatever their value: pino replaces them before a line
 * is written (the safety net under `redactUrl` at each call site). Top level and one level down,
 * and the request headers a web framework might log.
 */
const SECRET_KEYS = ['password', 'token', 'secret', 'license_key', 'licenseKey', 'LICENSE_KEY', 'authorization'];
export const REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-license-key"]',
  'headers.authorization',
  'headers["x-license-key"]',
];
