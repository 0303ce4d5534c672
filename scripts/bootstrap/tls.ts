/**
 * The NATS servers' TLS material the bootstrap Job makes and keeps (scripts/bootstrap-secrets.ts):
 * a CA and one certificate for every node, re-made only when it would stop working.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createCa, issue } from '#shared/pki/index.js';

/** The keys of the TLS Secret (`kubernetes.io/tls` plus the CA the clients verify with). */
export type TlsMaterial = Record<'ca.crt' | 'tls.crt' | 'tls.key', string>;

/** A CA lives ten years; the server certificate three, and is re-made by a run within RENEW_DAYS of its end. */
export const CA_DAYS = 3650;
const SERVER_DAYS = 1095;
export const RENEW_DAYS = 90;

/** What names the servers: the Service's and pods' names, and the hub's leaf address (bootstrap/fleet.ts). */
interface NameOptions {
  natsService: string;
  namespace: string;
  replicas: number;
  clusterDomain: string;
}

/** A Service's DNS names, from short to fully qualified. */
export const serviceNames = (svc: string, o: Pick<NameOptions, 'namespace' | 'clusterDomain'>) =>
  ['', `.${o.namespace}`, `.${o.namespace}.svc`, `.${o.namespace}.svc.${o.clusterDomain}`].map((x) => svc + x);

/**
 * The names a NATS server answers to: the Service (short to fully qualified), and each pod's short
 * name, which the routes and the services' NATS_URL use. Node refuses a wildcard over two labels
 * (`*.mirrord-nats`), so those are listed one by one; the longer forms are covered by wildcards.
 */
export function natsServerNames(o: NameOptions) {
  const svc = o.natsService;
  const forms = serviceNames(svc, o);
  const pods = Array.from({ length: o.replicas }, (_, i) => `${svc}-${i}.${svc}`);
  return [...forms, ...pods, ...forms.slice(1).map((n) => `*.${n}`)];
}

/**
 * A CA and a certificate for the NATS servers signed by it. One certificate for every node: a
 * client that learns a node's IP from another (gossip) verifies it by the name it first dialled.
 * Server and client use, since routes present it to each other (`cluster { tls { verify: true } }`).
 * A name that is an IP address (a hub's leaf address) is an IP SAN.
 */
export async function createNatsTls(names: string[]): Promise<TlsMaterial> {
  const ca = await createCa('mirrord-nats-ca', CA_DAYS);
  const dnsNames = names.filter((n) => !isIP(n));
  const ips = names.filter((n) => isIP(n));
  const server = await issue(ca, { commonName: names[0]!, dnsNames, ips, days: SERVER_DAYS, usage: 'both' });
  return { 'ca.crt': ca.certPem, 'tls.crt': server.certPem, 'tls.key': server.keyPem };
}

/** Why existing TLS material would not serve these names until `renewBy`, or undefined when it would. */
export function tlsProblem(tls: Record<string, string>, names: string[], renewBy: Date): string | undefined {
  const { 'ca.crt': caPem, 'tls.crt': certPem, 'tls.key': keyPem } = tls;
  if (!caPem || !certPem || !keyPem) return 'ca.crt, tls.crt or tls.key is missing';
  try {
    const ca = new X509Certificate(caPem);
    const cert = new X509Certificate(certPem);
    if (!cert.verify(ca.publicKey)) return 'tls.crt is not signed by ca.crt';
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return 'tls.key is not the key of tls.crt';
    // DNS names exactly as listed (a wildcard is a name of its own); an IP however OpenSSL writes it
    const sans = new Set((cert.subjectAltName ?? '').split(', ').map((s) => s.replace(/^DNS:/, '')));
    const missing = names.filter((n) => (isIP(n) ? !cert.checkIP(n) : !sans.has(n)));
    if (missing.length) return `tls.crt does not name ${missing.join(', ')}`;
    const end = new Date(Math.min(Date.parse(cert.validTo), Date.parse(ca.validTo)));
    if (end < renewBy) return `the certificate ends ${end.toISOString()}, within ${RENEW_DAYS} days`;
  } catch (e) {
    return `it cannot be read (${(e as Error).message})`;
  }
  return undefined;
}
