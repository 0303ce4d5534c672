import { webcrypto, createHash, createPublicKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { childrenOf, readTlv, withoutNullParams, type Tlv } from './der.js';
import * as x509 from '@peculiar/x509';
import { invalid } from '../errors/index.js';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends KeyPairPem {
  cert: x509.X509Certificate;
  key: CryptoKey;
}

async function exportKey(k: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', k);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

const serial = () =>
  Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString('hex')
    .replace(/^[89a-f]/, '1');
const escapeDn = (s: string) => s.replace(/([,+"\\<>;=])/g, '\\$1');

/** A fresh ECDSA P-256 key and a self-signed certificate for it, with these extensions. */
async function selfSigned(
  commonName: string,
  days: number,
  extensions: x509.Extension[],
): Promise<CertificateAuthority> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${escapeDn(commonName)}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + days * 86_400_000),
    keys,
    signingAlgorithm: ALG,
    extensions,
  });
  return { cert, key: keys.privateKey, certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

/** A self-signed CA (ECDSA P-256), e.g. the operator's. */
export function createCa(commonName: string, days = 3650): Promise<CertificateAuthority> {
  return selfSigned(commonName, days, [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ]);
}

/** Loads a CA from PEM (certificate and PKCS#8 ECDSA key). */
export async function loadCa(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const key = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), ALG, true, ['sign']);
  return { cert, key, certPem, keyPem };
}

export interface IssueOptions {
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ips?: string[];
  days?: number;
  usage: 'server' | 'client' | 'both';
}

async function sign(
  ca: CertificateAuthority,
  publicKey: x509.PublicKey | CryptoKey,
  o: IssueOptions,
  notAfter?: Date,
): Promise<x509.X509Certificate> {
  const sans = [
    ...(o.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const eku =
    o.usage === 'server'
      ? [x509.ExtendedKeyUsage.serverAuth]
      : o.usage === 'client'
        ? [x509.ExtendedKeyUsage.clientAuth]
        : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const name = [`CN=${escapeDn(o.commonName)}`, ...(o.organizations ?? []).map((g) => `O=${escapeDn(g)}`)].join(', ');
  return x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: name,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: notAfter ?? new Date(Date.now() + (o.days ?? 365) * 86_400_000),
    signingKey: ca.key,
    publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(eku),
      ...(sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
    ],
  });
}

/**
 * The operator's agent-connection certificate: self-signed, not a CA, exactly one SAN. The
 * real agent trusts exactly this certificate (`--operator-tls-cert-pem`) and verifies the
 * server name from its SAN while the operator does the TLS *server* side on the socket it
 * opened (mirrord's inverted TLS, `agent/src/client_connection.rs`); rustls accepts a leaf as
 * its own trust anchor only when it is self-signed.
 */
export async function createAgentConnectionCert(serverName: string, days = 3650): Promise<KeyPairPem> {
  const { certPem, keyPem } = await selfSigned(serverName, days, [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: serverName }]),
  ]);
  return { certPem, keyPem };
}

/** A new key pair and a certificate for it, signed by the CA. */
export async function issue(ca: CertificateAuthority, o: IssueOptions): Promise<KeyPairPem> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await sign(ca, keys.publicKey, o);
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

export interface SignedCsr {
  certPem: string;
  /** The certificate's public key (SubjectPublicKeyInfo DER), base64 without padding: the `user_id`. */
  publicKey: string;
  /** SHA-256 of the certificate's DER, hex: the `client_id`. */
  fingerprint: string;
  notAfter: Date;
}

const X25519_OID = Buffer.from('2b656e', 'hex');
const ED25519_OID = Buffer.from('2b6570', 'hex');
/** An Ed25519 SubjectPublicKeyInfo up to the 32 key bytes (RFC 8410). */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Does this AlgorithmIdentifier name `oid`, with no parameters or a NULL (RFC 8410 says absent; the CLI sends NULL)? */
function algorithmIs(der: Uint8Array, alg: Tlv | undefined, oid: Buffer): boolean {
  if (!alg || alg.tag !== 0x30) return false;
  const [id, params, ...rest] = childrenOf(der, alg);
  if (!id || id.tag !== 0x06 || rest.length || !Buffer.from(der.subarray(id.body, id.end)).equals(oid)) return false;
  return !params || (params.tag === 0x05 && params.end === params.body);
}

/**
 * The mirrord CLI's CSR (Rust `x509-certificate` 0.24, captured from mirrord 3.250.0 in
 * test/fixtures/mirrord-cli/csr.pem) labels its Ed25519 key with X25519's OID (1.3.101.110)
 * and a NULL parameter while signing with Ed25519 (also with a NULL). Read the 32 key bytes as
 * the Ed25519 key they are, check the signature with it, and return that key; undefined for
 * any other CSR.
 */
function ed25519LabelledX25519(der: Uint8Array): x509.PublicKey | undefined {
  let tbs: Tlv | undefined, sig: Tlv | undefined, key: Tlv | undefined;
  try {
    const parts = childrenOf(der, readTlv(der, 0));
    const alg = parts[1];
    [tbs, , sig] = parts;
    if (!tbs || !sig || sig.tag !== 0x03 || !algorithmIs(der, alg, ED25519_OID)) return undefined;
    const spki = childrenOf(der, tbs)[2];
    if (!spki || spki.tag !== 0x30) return undefined;
    const [spkiAlg, bits] = childrenOf(der, spki);
    if (!algorithmIs(der, spkiAlg, X25519_OID) || !bits || bits.tag !== 0x03 || bits.end - bits.body !== 33)
      return undefined;
    key = bits;
  } catch {
    return undefined;
  }
  const fixed = Buffer.concat([ED25519_SPKI_PREFIX, der.subarray(key.body + 1, key.end)]);
  const pub = createPublicKey({ key: fixed, format: 'der', type: 'spki' });
  if (!verify(null, der.subarray(tbs.start, tbs.end), pub, der.subarray(sig.body + 1, sig.end)))
    throw invalid(
      'certificate request',
      'the request signature does not verify',
      'sign the CSR with the key whose public half it carries',
    );
  return new x509.PublicKey(fixed);
}

/** The DER inside a PEM: a body that is not base64 is the sender's error (400), not ours (it was a 500). */
function pemBody(pem: string): Uint8Array {
  try {
    return new Uint8Array(x509.PemConverter.decodeFirst(pem));
  } catch (e) {
    throw invalid(
      'certificate request',
      `its PEM body is not base64 (${(e as Error).message})`,
      'send the PEM of a CSR as openssl writes it (base64 between the BEGIN and END lines)',
    );
  }
}

/** Signs a PEM PKCS#10 request after checking its self-signature; the subject is replaced. */
export async function signCsr(ca: CertificateAuthority, csrPem: string, o: IssueOptions): Promise<SignedCsr> {
  const quirk = csrPem.includes('-----BEGIN') ? ed25519LabelledX25519(pemBody(csrPem)) : undefined;
  if (quirk) {
    const cert = await sign(ca, quirk, o);
    return { certPem: cert.toString('pem'), ...identityOf(cert.toString('pem')), notAfter: cert.notAfter };
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (e) {
    throw invalid(
      'certificate request',
      `not a PEM PKCS#10 certificate signing request (${(e as Error).message})`,
      'send the PEM of a CSR (-----BEGIN CERTIFICATE REQUEST-----)',
    );
  }
  checkClientKey(csr.publicKey.rawData);
  let verified = false;
  try {
    verified = await csr.verify();
  } catch (e) {
    throw invalid(
      'certificate request',
      `the request signature cannot be checked (${(e as Error).message})`,
      'sign the CSR with an Ed25519, ECDSA or RSA key',
    );
  }
  if (!verified)
    throw invalid(
      'certificate request',
      'the request signature does not verify',
      'sign the CSR with the key whose public half it carries',
    );
  const cert = await sign(ca, csr.publicKey, o);
  return { certPem: cert.toString('pem'), ...identityOf(cert.toString('pem')), notAfter: cert.notAfter };
}

const ACCEPTED_KEYS = 'Ed25519 (what the mirrord CLI uses), ECDSA P-256/P-384 or RSA of at least 2048 bits';

/**
 * A client key is the sessions' `user_id` for as long as the certificate lives, so only keys
 * that cannot be forged today are signed.
 */
function checkClientKey(spki: ArrayBuffer): void {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (e) {
    throw invalid(
      'certificate request',
      `its public key cannot be read (${(e as Error).message})`,
      `use ${ACCEPTED_KEYS}`,
    );
  }
  const type = key.asymmetricKeyType ?? 'unknown';
  const d = key.asymmetricKeyDetails ?? {};
  if (type === 'ed25519') return;
  if (type === 'ec') {
    if (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1') return;
    throw invalid(
      'certificate request',
      `an ECDSA key on curve ${d.namedCurve ?? 'unknown'} is not accepted`,
      `use ${ACCEPTED_KEYS}`,
    );
  }
  if (type === 'rsa' || type === 'rsa-pss') {
    if ((d.modulusLength ?? 0) >= 2048) return;
    throw invalid(
      'certificate request',
      `an RSA key of ${d.modulusLength ?? 0} bits is too weak`,
      `use ${ACCEPTED_KEYS}`,
    );
  }
  throw invalid('certificate request', `a ${type.toUpperCase()} key is not accepted`, `use ${ACCEPTED_KEYS}`);
}

/** user_id and client_id of a client certificate (PEM or base64 DER, as `x-client-der` carries it). */
export function identityOf(cert: string): { publicKey: string; fingerprint: string } {
  const der = cert.includes('-----BEGIN')
    ? Buffer.from(x509.PemConverter.decodeFirst(cert))
    : Buffer.from(cert, 'base64');
  const c = new X509Certificate(der);
  const spki = c.publicKey.export({ type: 'spki', format: 'der' });
  // The mirrord CLI's user_id: the raw public-key bits (the SPKI's BIT STRING without its
  // unused-bits byte), base64 without padding — 43 characters for an Ed25519 key.
  const [, bits] = childrenOf(spki, readTlv(spki, 0));
  return {
    publicKey: Buffer.from(spki.subarray(bits!.body + 1, bits!.end))
      .toString('base64')
      .replace(/=+$/, ''),
    fingerprint: createHash('sha256').update(Buffer.from(der)).digest('hex'),
  };
}

/** A CSR for a fresh key (the plugin's side). */
export async function createCsr(commonName: string, keyPem?: string): Promise<{ csrPem: string; keyPem: string }> {
  const keys = keyPem
    ? await keyPairOf(keyPem)
    : ((await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${escapeDn(commonName)}`,
    keys,
    signingAlgorithm: ALG,
  });
  return { csrPem: csr.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

/** A PKCS#8 P-256 private key and its public half (the JWK without `d`). */
async function keyPairOf(keyPem: string): Promise<CryptoKeyPair> {
  const privateKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), ALG, true, [
    'sign',
  ]);
  const { d: _d, ...jwk } = await webcrypto.subtle.exportKey('jwk', privateKey);
  const publicKey = await webcrypto.subtle.importKey('jwk', { ...jwk, key_ops: ['verify'] }, ALG, true, ['verify']);
  return { privateKey, publicKey };
}

/**
 * Checks that a client certificate (base64 DER or PEM) was issued by the CA and is valid now;
 * returns its identity or a reason it is not acceptable.
 */
export function verifyIssued(
  caPem: string,
  cert: string,
  now = new Date(),
): { ok: true; publicKey: string; fingerprint: string; subject: string } | { ok: false; reason: string } {
  let c: X509Certificate;
  try {
    c = new X509Certificate(cert.includes('-----BEGIN') ? cert : Buffer.from(cert, 'base64'));
  } catch {
    return { ok: false, reason: 'not a DER or PEM X.509 certificate' };
  }
  const ca = new X509Certificate(caPem);
  // The real CLI sends its certificate re-encoded with NULL algorithm parameters: check (and
  // identify by) the certificate as issued.
  if (!c.verify(ca.publicKey)) {
    try {
      c = new X509Certificate(withoutNullParams(new Uint8Array(c.raw)));
    } catch {
      return { ok: false, reason: 'not issued by this operator' };
    }
  }
  if (!c.checkIssued(ca) || !c.verify(ca.publicKey)) return { ok: false, reason: 'not issued by this operator' };
  if (now < new Date(c.validFrom) || now > new Date(c.validTo))
    return { ok: false, reason: `expired or not yet valid (valid ${c.validFrom} to ${c.validTo})` };
  return { ok: true, ...identityOf(c.toString()), subject: c.subject };
}
