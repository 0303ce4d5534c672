import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { UserInfo } from './rbac.js';
import { effectiveGroups } from './rbac.js';

export interface AggregateTarget {
  url: string;
  /** CA the aggregated server's serving certificate is checked against. */
  ca?: string;
  /** The front proxy's client certificate (kube-apiserver --proxy-client-cert-file). */
  cert?: string;
  key?: string;
}

const HOP = new Set([
  'authorization',
  'impersonate-user',
  'impersonate-group',
  'host',
  'connection',
  'x-remote-user',
  'x-remote-group',
]);

/**
 * Forwards a request for an APIService's group the way kube-apiserver's aggregator does: the
 * caller's credentials are dropped, the authenticated identity goes in X-Remote-User /
 * X-Remote-Group, and the connection is authenticated with the front proxy's certificate.
 */
export function proxyAggregated(
  req: IncomingMessage,
  res: ServerResponse,
  t: AggregateTarget,
  u: UserInfo,
): Promise<void> {
  const target = new URL(req.url ?? '/', t.url);
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
  headers['x-remote-user'] = u.username;
  headers['x-remote-group'] = effectiveGroups(u);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const up = request(
      target,
      { method: req.method, headers, ...(t.ca ? { ca: t.ca } : {}), ...(t.cert ? { cert: t.cert, key: t.key } : {}) },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
        r.on('end', resolve);
      },
    );
    up.on('error', (e) => {
      if (!res.headersSent) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            code: 503,
            reason: 'ServiceUnavailable',
            message: `error trying to reach service: ${e.message}`,
          }),
        );
      } else res.end();
      resolve();
    });
    req.pipe(up);
  });
}
