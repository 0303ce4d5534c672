import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import { BUS_IDENTITIES, type BusIdentity } from './identities.js';

/**
 * NATS credentials are one nkey per identity (security.md): the server holds only public keys;
 * each service holds its own seed (`NATS_NKEY_FILE`, mounted from its own Secret), or on one
 * machine (`npm start`, tests) picks `<identity>.nk` from a directory (`NATS_CREDS_DIR`).
 */
export const seedFileName = (identity: string): string => `${identity}.nk`;

/** The public key (U…) of a seed (SU…), or an error naming the file. */
export function publicKeyOfSeed(seed: string, where: string): string {
  try {
    return nkeys.fromSeed(new TextEncoder().encode(seed.trim())).getPublicKey();
  } catch (e) {
    throw new Error(`${where}: not an nkey user seed (SU…): ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Makes a seed for every identity that has none under `dir` (0600 files), and returns each
 * identity's public key. Existing seeds are kept, so restarting keeps the same credentials;
 * deleting a file rotates that identity on the next start.
 */
export function ensureBusCredentials(
  dir: string,
  identities: readonly string[] = BUS_IDENTITIES,
): Record<string, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys: Record<string, string> = {};
  for (const id of identities) {
    const file = join(dir, seedFileName(id));
    if (!existsSync(file)) {
      const kp = nkeys.createUser();
      writeFileSync(file, `${new TextDecoder().decode(kp.getSeed())}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
    }
    keys[id] = publicKeyOfSeed(readFileSync(file, 'utf8'), file);
  }
  return keys as Record<BusIdentity, string>;
}
