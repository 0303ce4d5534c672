import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
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
