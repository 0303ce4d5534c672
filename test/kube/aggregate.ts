import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
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

/**
 * A WebSocket (or any) upgrade through the aggregator, as kube-apiserver's proxy does it: the
 * caller's identity in X-Remote-*, `Connection: Upgrade` kept (it is a hop header everywhere
 * else), the upstream's 101 passed back and the two sockets joined; a refusal passes as it is.
 */
export function proxyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  t: AggregateTarget,
  u: UserInfo,
): void {
  const target = new URL(req.url ?? '/', t.url);
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (v !== undefined && (!HOP.has(k) || k === 'connection')) headers[k] = v;
  headers['x-remote-user'] = u.username;
  headers['x-remote-group'] = effectiveGroups(u);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const up = request(target, {
    method: req.method,
    headers,
    ...(t.ca ? { ca: t.ca } : {}),
    ...(t.cert ? { cert: t.cert, key: t.key } : {}),
  });
  const head101 = (status: string, h: IncomingMessage['rawHeaders']) => {
    let out = `HTTP/1.1 ${status}\r\n`;
    for (let i = 0; i < h.length; i += 2) out += `${h[i]}: ${h[i + 1]}\r\n`;
    return `${out}\r\n`;
  };
  up.on('upgrade', (res, upstream, upHead) => {
    socket.write(head101(`${res.statusCode} ${res.statusMessage}`, res.rawHeaders));
    if (upHead.length) socket.write(upHead);
    if (head.length) upstream.write(head);
    upstream.pipe(socket).pipe(upstream);
    const end = () => (upstream.destroy(), socket.destroy());
    upstream.on('error', end);
    socket.on('error', end);
    upstream.on('close', end);
    socket.on('close', end);
  });
  up.on('response', (res) => {
    socket.write(head101(`${res.statusCode} ${res.statusMessage}`, res.rawHeaders));
    res.pipe(socket);
  });
  up.on('error', (e) => {
    socket.end(
      `HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\r\nerror trying to reach service: ${e.message}`,
    );
  });
  up.end();
}
