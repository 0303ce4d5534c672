import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export type KeySpec =
  | { type: 'rsa'; bits: number }
  | { type: 'dsa'; bits: number }
  | { type: 'ec'; curve: string }
  | { type: 'ed25519' }
  | { type: 'ed448' };

/** A PEM CSR for a fresh key of the given kind, made by openssl as any client could. */
export function csrFor(spec: KeySpec, cn = 'alice'): string {
  const dir = tempDir('mirrord-csr');
  const key = join(dir, 'key.pem');
  const kp =
    spec.type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: spec.bits })
      : spec.type === 'dsa'
        ? generateKeyPairSync('dsa', { modulusLength: spec.bits, divisorLength: 224 })
        : spec.type === 'ec'
          ? generateKeyPairSync('ec', { namedCurve: spec.curve })
          : spec.type === 'ed25519'
            ? generateKeyPairSync('ed25519')
            : generateKeyPairSync('ed448');
  writeFileSync(key, kp.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return execFileSync('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${cn}`], { encoding: 'utf8' });
}

/** A DER TLV. */
const tlv = (tag: number, content: Buffer): Buffer => {
  const n = content.length;
  const len = n < 128 ? Buffer.of(n) : n < 256 ? Buffer.of(0x81, n) : Buffer.of(0x82, n >> 8, n & 255);
  return Buffer.concat([Buffer.of(tag), len, content]);
};

/**
 * A CSR as the mirrord CLI makes it (Rust `x509-certificate` 0.24): an Ed25519 key pair, the
 * SubjectPublicKeyInfo labelled with X25519's OID (1.3.101.110), both algorithm identifiers
 * with a NULL parameter, signed with Ed25519 — the shape of test/fixtures/mirrord-cli/csr.pem.
 */
export function mirrordCliCsr(cn = 'laptop'): { pem: string; rawKey: Buffer } {
  const kp = generateKeyPairSync('ed25519');
  const rawKey = kp.publicKey.export({ type: 'spki', format: 'der' }).subarray(12);
  const spki = tlv(
    0x30,
    Buffer.concat([
      tlv(0x30, Buffer.concat([tlv(0x06, Buffer.of(0x2b, 0x65, 0x6e)), Buffer.of(0x05, 0)])),
      tlv(0x03, Buffer.concat([Buffer.of(0), rawKey])),
    ]),
  );
  const name = tlv(
    0x30,
    tlv(0x31, tlv(0x30, Buffer.concat([tlv(0x06, Buffer.of(0x55, 0x04, 0x03)), tlv(0x0c, Buffer.from(cn))]))),
  );
  const tbs = tlv(0x30, Buffer.concat([tlv(0x02, Buffer.of(0)), name, spki, Buffer.of(0xa0, 0)]));
  const sig = sign(null, tbs, kp.privateKey);
  const der = tlv(
    0x30,
    Buffer.concat([
      tbs,
      tlv(0x30, Buffer.concat([tlv(0x06, Buffer.of(0x2b, 0x65, 0x70)), Buffer.of(0x05, 0)])),
      tlv(0x03, Buffer.concat([Buffer.of(0), sig])),
    ]),
  );
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return { pem: `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`, rawKey };
}
