import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createCsr } from '#shared/pki/index.js';
import { call, type GatewayTarget } from './gateway.js';
import { operatorApi } from '#shared/contracts/http.js';

interface Cached {
  certPem: string;
  keyPem: string;
}

const dir = (env: NodeJS.ProcessEnv) => env.MIRRORD_CERT_DIR ?? join(homedir(), '.mirrord', 'certificates');

/**
 * This user account's key on this machine: made once, reused for every gateway, token and
 * renewal. Its public key is the session's `user_id`, and in seat mode `machine` the seat, so
 * one machine is one seat however the gateway is addressed. Created exclusively, so two plugin
 * calls racing on a first use still end with one key.
 */
function machineKey(env: NodeJS.ProcessEnv): string | undefined {
  const file = join(dir(env), 'machine-key.pem');
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function keepMachineKey(env: NodeJS.ProcessEnv, keyPem: string): string {
  const file = join(dir(env), 'machine-key.pem');
  mkdirSync(dir(env), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, keyPem, { flag: 'wx', mode: 0o600 });
    return keyPem;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return readFileSync(file, 'utf8');
  }
}
/** One certificate per gateway and credential (a kubeconfig context is both). */
const fileFor = (gw: GatewayTarget, env: NodeJS.ProcessEnv) =>
  join(
    dir(env),
    `${createHash('sha256')
      .update(`${gw.url}|${gw.token ?? ''}|${gw.tls?.cert ?? ''}`)
      .digest('hex')
      .slice(0, 24)}.json`,
  );

function usable(c: Cached, now = Date.now()): boolean {
  const x = new X509Certificate(c.certPem);
  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  // Renewed once four fifths of its life are gone, so it never expires mid-session.
  return now < to - (to - from) / 5;
}

/**
 * The client certificate for this gateway and credential, as base64 DER for `x-client-der`:
 * from the cache when it has life left, else a new CSR signed by the operator (and cached).
 */
export async function clientCertificate(gw: GatewayTarget, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = fileFor(gw, env);
  let c: Cached | undefined;
  try {
    c = JSON.parse(readFileSync(file, 'utf8')) as Cached;
    if (!usable(c)) c = undefined;
  } catch {
    c = undefined;
  }
  if (!c) {
    let key = machineKey(env);
    if (!key) key = keepMachineKey(env, (await createCsr(userInfo().username)).keyPem);
    const { csrPem, keyPem } = await createCsr(userInfo().username, key);
    const r = await call(gw, operatorApi.certificate, {
      params: { name: 'operator' },
      headers: { 'content-type': 'application/x-pem-file' },
      body: csrPem,
    });
    c = { certPem: r.certificate, keyPem };
    mkdirSync(dir(env), { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(c), { mode: 0o600 });
  }
  return new X509Certificate(c.certPem).raw.toString('base64');
}

/** Drops the cached certificate (the gateway refused it: another CA, or revoked). */
export function forgetCertificate(gw: GatewayTarget, env: NodeJS.ProcessEnv = process.env): void {
  rmSync(fileFor(gw, env), { force: true });
}
