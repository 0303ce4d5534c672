import type { HttpFilterValue } from '#shared/protocol/index.js';

export interface TestHttpRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** The agent's filter semantics: header filters match `name: value` lines, path the request path. */
export function matchesFilter(f: HttpFilterValue, req: TestHttpRequest): boolean {
  switch (f.$) {
    case 'Header':
      return Object.entries(req.headers ?? {}).some(([k, v]) => new RegExp(f.v).test(`${k}: ${v}`));
    case 'Path':
      return new RegExp(f.v).test(req.path);
    case 'Method':
      return (f.v.$ === 'Other' ? f.v.v : f.v.$).toUpperCase() === req.method.toUpperCase();
    case 'Composite':
      return f.v.all ? f.v.filters.every((x) => matchesFilter(x, req)) : f.v.filters.some((x) => matchesFilter(x, req));
    case 'Body':
    case 'HeaderJq':
      return false;
  }
}
