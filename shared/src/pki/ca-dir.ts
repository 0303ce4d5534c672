import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAgentConnectionCert, createCa, loadCa, type CertificateAuthority, type KeyPairPem } from './index.js';

/**
 * The operator CA kept in a directory (`ca.crt`, `ca.key`; in a cluster a mounted Secret),
 * created there on first use. Gateway and agent-manager share it; if both create it at once,
 * the first rename wins and the other loads the winner's.
 */
export async function openCaDir(dir: string, onCreate?: () => void): Promise<CertificateAuthority> {
  const crt = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  if (existsSync(crt) && existsSync(key)) return loadCa(readFileSync(crt, 'utf8'), readFileSync(key, 'utf8'));
  const ca = await createCa('mirrord-operator-ca');
  mkdirSync(dir, { recursive: true });
  const tmp = `.${process.pid}`;
  writeFileSync(key + tmp, ca.keyPem, { mode: 0o600 });
  writeFileSync(crt + tmp, ca.certPem);
  if (existsSync(crt) && existsSync(key)) return loadCa(readFileSync(crt, 'utf8'), readFileSync(key, 'utf8'));
  renameSync(key + tmp, key);
  renameSync(crt + tmp, crt);
  onCreate?.();
  return ca;
}

/** The name in the agent-connection certificate's SAN (what agents verify). */
export const AGENT_CONNECTION_SERVER_NAME = 'operator.mirrord-teams';

/**
 * The agent-connection certificate (`agent-connection.crt`, `.key`) kept beside the CA:
 * agent-manager hands the certificate to every agent, the gateway serves TLS with both.
 */
export async function openAgentConnectionCert(dir: string, onCreate?: () => void): Promise<KeyPairPem> {
  const crt = join(dir, 'agent-connection.crt');
  const key = join(dir, 'agent-connection.key');
  const load = () => ({ certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') });
  if (existsSync(crt) && existsSync(key)) return load();
  const pem = await createAgentConnectionCert(AGENT_CONNECTION_SERVER_NAME);
  mkdirSync(dir, { recursive: true });
  const tmp = `.${process.pid}`;
  writeFileSync(key + tmp, pem.keyPem, { mode: 0o600 });
  writeFileSync(crt + tmp, pem.certPem);
  if (existsSync(crt) && existsSync(key)) return load();
  renameSync(key + tmp, key);
  renameSync(crt + tmp, crt);
  onCreate?.();
  return pem;
}
