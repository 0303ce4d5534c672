import type { HttpRequestLike } from '../../domain/interfaces.js';

/** The token of an `Authorization: Bearer …` header, if the request carries one. */
export function bearerToken(req: HttpRequestLike): string | undefined {
  const h = req.headers.authorization;
  const v = Array.isArray(h) ? h[0] : h;
  return v ? /^Bearer\s+(\S+)\s*$/i.exec(v)?.[1] : undefined;
}
