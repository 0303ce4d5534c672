import type { KubeConfig as KubeConfigType } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type * as z from 'zod';
import { AppError, ErrorCode, isErrorCode } from '#shared/errors/index.js';
import { OPERATOR_API, apiPath, type HttpContract } from '#shared/contracts/http.js';
import { firstIssue } from '#shared/contracts/issue.js';

export interface GatewayTarget {
  url: string;
  token: string | undefined;
  /** Where the URL came from, for error messages. */
  source: string;
  /** The CA to trust for it (a kubeconfig cluster's `certificate-authority(-data)`). */
  ca?: string;
  /**
   * The rest of the kubeconfig's TLS: the user's client certificate and key (kind's default admin
   * has no token), the cluster's `tls-server-name` and `insecure-skip-tls-verify`.
   */
  tls?: GatewayTls;
  /** What to do about a 401 (the gateway's: a token; the license server's: its key). */
  unauthorizedHint?: string;
  /** What it is, for errors: "the gateway" unless said ("the license server"). */
  name?: string;
}

export interface GatewayTls {
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized?: false;
}

export interface GlobalOptions {
  gateway?: string;
  token?: string;
  /** The kubeconfig context (kubectl passes its own `--context` on to plugins). */
  context?: string;
}

/**
 * The gateway URL and credentials: flags, else MIRRORD_GATEWAY / MIRRORD_TOKEN, else the current
 * kubeconfig context, as kubectl reads it (the gateway runs behind kube-apiserver): the cluster's
 * server and CA, and the user's token, client certificate, exec plugin or auth provider (through
 * client-node, which runs the exec command and refreshes tokens as kubectl does).
 */
export async function resolveGateway(
  opts: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GatewayTarget> {
  const url = opts.gateway ?? env.MIRRORD_GATEWAY;
  const token = opts.token ?? env.MIRRORD_TOKEN;
  if (url) return { url: url.replace(/\/$/, ''), token, source: opts.gateway ? '--gateway' : 'MIRRORD_GATEWAY' };
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (e) {
    throw new AppError(
      ErrorCode.Invalid,
      `cannot read the kubeconfig: ${(e as Error).message}; pass --gateway or set MIRRORD_GATEWAY`,
    );
  }
  if (opts.context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === opts.context))
      throw new AppError(
        ErrorCode.Invalid,
        `--context: no context "${opts.context}" in the kubeconfig; pick one of ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || '(none)'
        }`,
      );
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server)
    throw new AppError(
      ErrorCode.Invalid,
      'no gateway: pass --gateway URL, set MIRRORD_GATEWAY, or select a kubeconfig context',
    );
  const source = `kubeconfig context "${kc.getCurrentContext()}"`;
  const o: {
    headers: Record<string, string>;
    ca?: Buffer | string;
    cert?: Buffer | string;
    key?: Buffer | string;
    servername?: string;
    rejectUnauthorized?: boolean;
    auth?: string;
  } = { headers: {} };
  // A plain-HTTP gateway (npm start without a cluster) has no TLS to verify; client-node refuses
  // http:// servers unless skipTLSVerify is set, so the credentials are read as if it were.
  const plain = cluster.server.startsWith('http:');
  const creds = plain ? withoutTls(kc, cluster.name, new KubeConfig()) : kc;
  try {
    await creds.applyToHTTPSOptions(o as never);
  } catch (e) {
    throw new AppError(
      ErrorCode.Invalid,
      `${source}: cannot use the kubeconfig's credentials: ${(e as Error).message}; ` +
        'fix the user (client-certificate, client-key, token or exec) or pass --token',
    );
  }
  const text = (v: Buffer | string | undefined): string | undefined => (v === undefined ? undefined : String(v));
  const bearer = /^Bearer (.+)$/.exec(o.headers.Authorization ?? '')?.[1];
  const tls: GatewayTls = {
    ...(o.cert && o.key ? { cert: text(o.cert), key: text(o.key) } : {}),
    ...(o.servername ? { servername: o.servername } : {}),
    ...(o.rejectUnauthorized === false && !plain ? { rejectUnauthorized: false as const } : {}),
  };
  const ca = text(o.ca);
  return {
    url: cluster.server.replace(/\/$/, ''),
    token: token ?? bearer,
    source,
    ...(ca ? { ca } : {}),
    ...(Object.keys(tls).length ? { tls } : {}),
  };
}

/**
 * The W3C trace this plugin invocation runs in (`TRACEPARENT` continues a caller's, as in CI
 * pipelines); every request of the invocation carries it, so gateway, ledger and consumers
 * join one trace.
 */
export const TRACEPARENT =
  process.env.TRACEPARENT && /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/.test(process.env.TRACEPARENT)
    ? process.env.TRACEPARENT
    : `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

/** What one call sent back: status and body text. */
interface Reply {
  status: number;
  text: string;
}

/**
 * One exchange over node:http(s): a plugin call is one or two requests, and the global fetch's
 * first use costs ~100 ms of loading (twice a bare `node -e 0`); the cluster's CA and the user's
 * client certificate are this gateway's only (never the process' defaults).
 */
function exchange(gw: GatewayTarget, method: string, url: URL, headers: Record<string, string>, body?: string) {
  const tls = url.protocol === 'https:' ? { ...(gw.ca ? { ca: gw.ca } : {}), ...gw.tls } : {};
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Reply>((resolve, reject) => {
    const req = send(url, { method, headers, ...tls, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in 15 s'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One HTTP call to the gateway (or the license server); a failure becomes an AppError with its
 * code (a Kubernetes Status' reason, or the status); a body that is not JSON (CSV) comes back as
 * text. The body is parsed with `reply`: one that does not match is one line naming the field.
 */
export async function request<S extends z.ZodType>(
  gw: GatewayTarget,
  reply: S,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<z.output<S>> {
  let res: Reply;
  try {
    res = await exchange(
      gw,
      method,
      new URL(`${gw.url}${path}`),
      {
        accept: 'application/json',
        traceparent: TRACEPARENT,
        ...(gw.token ? { authorization: `Bearer ${gw.token}` } : {}),
        ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
        ...headers,
      },
      body,
    );
  } catch (e) {
    const cause = (e as { code?: string }).code ?? (e as Error).message;
    throw new AppError(
      ErrorCode.Unavailable,
      `cannot reach ${gw.name ?? 'the gateway'} at ${gw.url} (${gw.source}): ${cause}`,
    );
  }
  const text = res.text;
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (res.status < 200 || res.status > 299) {
    const st = parsed as
      { reason?: string; code?: string; message?: string; details?: { error_code?: string } } | undefined;
    // Our code rides in details.error_code; the Status reason is Kubernetes' (ServiceUnavailable, Invalid).
    const code = isErrorCode(st?.details?.error_code)
      ? st.details.error_code
      : isErrorCode(st?.reason)
        ? st.reason
        : isErrorCode(st?.code)
          ? st.code
          : res.status === 401
            ? ErrorCode.Unauthorized
            : res.status === 404
              ? ErrorCode.NotFound
              : ErrorCode.Unavailable;
    const hint =
      res.status === 401
        ? ` (${gw.unauthorizedHint ?? 'pass --token, set MIRRORD_TOKEN, or use a kubeconfig user with a token or client certificate'})`
        : '';
    throw new AppError(code, `${st?.message ?? `HTTP ${res.status} from ${gw.url}${path}`}${hint}`);
  }
  const r = reply.safeParse(parsed === undefined && text ? text : parsed);
  if (r.success) return r.data;
  const { field, message } = firstIssue(r.error, 'body');
  throw new AppError(
    ErrorCode.Unavailable,
    `${gw.name ?? 'the gateway'} at ${gw.url} answered ${method} ${path.split('?')[0]!} with an unexpected body (${field}: ${message}); is it the version of this plugin (${gw.source})?`,
  );
}

export const API = OPERATOR_API;

/** What one call of an operator API route fills in: its path's params, the query, a body. */
interface CallOptions<Req> {
  params?: Record<string, string>;
  query?: URLSearchParams;
  /** A string is sent as it is (with its content-type in `headers`); anything else as JSON. */
  body?: Req;
  headers?: Record<string, string>;
}

/** Calls one route of the operator API as its contract declares it; the reply comes back parsed. */
export function call<Rep extends z.ZodType, Req extends z.ZodType | undefined>(
  gw: GatewayTarget,
  c: HttpContract<Rep, Req>,
  o: CallOptions<Req extends z.ZodType ? z.input<Req> : never> = {},
): Promise<z.output<Rep>> {
  const q = o.query?.toString();
  const path = `${apiPath(c, o.params)}${q ? `?${q}` : ''}`;
  if (o.body === undefined) return request(gw, c.reply, c.method, path, o.headers);
  const text = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  const type: Record<string, string> = typeof o.body === 'string' ? {} : { 'content-type': 'application/json' };
  return request(gw, c.reply, c.method, path, { ...type, ...o.headers }, text);
}

/** The same kubeconfig with this cluster's TLS verification off (for an http:// server: none to do). */
function withoutTls(kc: KubeConfigType, clusterName: string, copy: KubeConfigType): KubeConfigType {
  copy.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === clusterName ? { ...c, skipTLSVerify: true } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return copy;
}
