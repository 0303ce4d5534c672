import type { Authenticator, HttpRequestLike, Identity } from '../../domain/ports.js';

const header = (req: HttpRequestLike, name: string): string[] => {
  const v = req.headers[name];
  return v === undefined ? [] : (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(',').map((s) => s.trim())).filter(Boolean);
};

/**
 * Aggregated-API mode: kube-apiserver has authenticated the caller and forwards the identity in
 * X-Remote-User / X-Remote-Group. Those headers are believed only on a connection whose client
 * certificate the request-header CA verified (and whose CN is allowed, when names are given);
 * anything else goes to the next authenticator, so direct clients keep working.
 */
export class FrontProxyAuthenticator implements Authenticator {
  constructor(
    private readonly next: Authenticator,
    private readonly allowedNames: string[] = [],
  ) {}

  async authenticate(req: HttpRequestLike): Promise<Identity | undefined> {
    const cn = req.tlsClient?.commonName;
    const trusted = cn !== undefined && (this.allowedNames.length === 0 || this.allowedNames.includes(cn));
    const user = header(req, 'x-remote-user')[0];
    if (trusted && user) return { user, uid: '', groups: header(req, 'x-remote-group') };
    // Headers from anyone else are not an identity; they must not reach the next authenticator as one.
    return this.next.authenticate(req);
  }
}
