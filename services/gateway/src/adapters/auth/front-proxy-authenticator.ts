import type { Authenticator, HttpRequestLike, Identity } from '../../domain/interfaces.js';

const header = (req: HttpRequestLike, name: string): string[] => {
  const v = req.headers[name];
  return v === undefined
    ? []
    : (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(',').map((s) => s.trim())).filter(Boolean);
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
    /** SHA-256 fingerprint (Node's `fingerprint256` form) of the request-header CA. */
    private readonly caFingerprint: string,
    private readonly allowedNames: string[] = [],
  ) {}

  async authenticate(req: HttpRequestLike): Promise<Identity | undefined> {
    const t = req.tlsClient;
    const cn = t?.issuerFingerprint === this.caFingerprint ? t.commonName : undefined;
    const trusted = cn !== undefined && (this.allowedNames.length === 0 || this.allowedNames.includes(cn));
    const user = header(req, 'x-remote-user')[0];
    if (trusted && user) return { user, uid: '', groups: header(req, 'x-remote-group') };
    // Headers from anyone else are not an identity; they must not reach the next authenticator as one.
    return this.next.authenticate(req);
  }
}

/**
 * Users' client certificates signed by the cluster's client CA (kube-apiserver's
 * `--client-ca-file` semantics): CN is the user, O the groups.
 */
export class ClientCertificateAuthenticator implements Authenticator {
  constructor(
    private readonly next: Authenticator,
    private readonly caFingerprint: string,
  ) {}

  async authenticate(req: HttpRequestLike): Promise<Identity | undefined> {
    const t = req.tlsClient;
    if (t && t.issuerFingerprint === this.caFingerprint)
      return { user: t.commonName, uid: '', groups: t.organizations };
    return this.next.authenticate(req);
  }
}
