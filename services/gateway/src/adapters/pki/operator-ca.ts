import { createHash, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { unauthorized } from '#shared/errors/index.js';
import { signCsr, verifyIssued, type CertificateAuthority, type SignedCsr } from '#shared/pki/index.js';
import { openCaDir } from '#shared/pki/ca-dir.js';

export const CLIENT_CERT_DAYS = 30;

/**
 * The operator's CA: signs the plugin's client certificates (and, later, per-agent ones). Kept
 * in a directory (`ca.crt`, `ca.key`; in a cluster, a mounted Secret) and created there on
 * first start, so certificates stay valid across restarts.
 */
export class OperatorCa {
  /** Hex SHA-256 of the CA certificate: the licence fingerprint the mirrord CLI keys its credentials by. */
  readonly fingerprint: string;
  private constructor(readonly ca: CertificateAuthority) {
    this.fingerprint = createHash('sha256').update(new X509Certificate(ca.certPem).raw).digest('hex');
  }

  static async open(dir: string, log: Logger): Promise<OperatorCa> {
    return new OperatorCa(await openCaDir(dir, () => log.info({ dir }, 'created the operator CA')));
  }

  /** Signs a plugin's CSR for a user; the certificate names the user as CN. */
  sign(csrPem: string, user: string): Promise<SignedCsr> {
    return signCsr(this.ca, csrPem, { commonName: user, usage: 'client', days: CLIENT_CERT_DAYS });
  }

  /** `x-client-der` → user_id (public key) and client_id (fingerprint); 401 when not ours or expired. */
  identify(der: string): { user_id: string; client_id: string } {
    const v = verifyIssued(this.ca.certPem, der);
    if (!v.ok) throw unauthorized(`x-client-der: ${v.reason}; the plugin then requests a new certificate`);
    return { user_id: v.publicKey, client_id: v.fingerprint };
  }
}
