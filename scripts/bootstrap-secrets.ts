/**
 * `node --import tsx scripts/bootstrap-secrets.ts`: makes the NATS credentials and certificates an
 * install needs, where missing (issue 25: no hand-made Secrets; every service its own NATS user,
 * over TLS). In a cluster it runs as a Job (deploy/bootstrap.yaml) and writes, in its namespace:
 *   <prefix>-<identity>  `nkey`: that identity's seed; only that service's Deployment mounts it
 *   <prefix>-tls         `ca.crt`, `tls.crt`, `tls.key`: a CA and the NATS servers' certificate
 *                        (clients and routes). The CA key is thrown away: nothing can issue
 *                        another certificate this bus trusts.
 *   <prefix>-ca          `ca.crt` alone: what the services mount to verify the servers
 *   <prefix>-auth        `auth.conf`: the nats.conf `authorization` block, derived from the seeds'
 *                        public keys and permissions.ts (never written by hand)
 * and, with `--operator-secrets`, the operator CA and the gateway's certificate (OPERATOR_SECRETS);
 * with `--fleet-namespace` (the licence hub), each fleet cluster's leaf Secret, and auth.conf the
 * hub's accounts and leafnodes (bootstrap/fleet.ts).
 * Re-running is safe: seeds and fleet passwords are never replaced; auth.conf is rewritten when
 * the seeds, the fleet or this release's permissions changed; the TLS Secret is re-made only when it would stop working (a
 * name missing, or its end within RENEW_DAYS), the CA Secret following it. Deleting a Secret and
 * re-running rotates what it held (deploy/README.md).
 *
 * With `--dir <dir>` (docker-compose): `<identity>.nk` seeds and `auth.conf` in that directory,
 * as `npm start` makes them under data/nats-auth.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { nkeys } from '@nats-io/nats-core';
import { pino, type Logger } from 'pino';
import { loadKubeConfig } from '#shared/kube/config.js';
import { loggerOptions } from '#shared/log/index.js';
import { ensureBusCredentials, publicKeyOfSeed } from '#shared/nats/credentials.js';
import { authorizationConf, BUS_IDENTITIES, busUsers, type BusIdentity } from '#shared/nats/permissions.js';
import { AGENT_CONNECTION_SERVER_NAME } from '#shared/pki/ca-dir.js';
import { createAgentConnectionCert, createCa, issue } from '#shared/pki/index.js';
import {
  FLEET_ARGS,
  fleetOptions,
  hubAuthConf,
  leafNames,
  leafSecretName,
  newLeafPassword,
  planFleet,
  type FleetOptions,
} from './bootstrap/fleet.js';
import {
  CA_DAYS,
  createNatsTls,
  natsServerNames,
  RENEW_DAYS,
  serviceNames,
  tlsProblem,
  type TlsMaterial,
} from './bootstrap/tls.js';
import type { Plan, SecretSpec } from './bootstrap/plan.js';

export { createNatsTls, natsServerNames, RENEW_DAYS } from './bootstrap/tls.js';

export interface BootstrapOptions {
  namespace: string;
  /** Secret names start with it: `mirrord-nats` → mirrord-nats-auth, mirrord-nats-tls, mirrord-nats-gateway… */
  prefix: string;
  /** The (headless) Service in front of the NATS StatefulSet, whose pods are `<service>-<i>`. */
  natsService: string;
  /** NATS pods: each one's short name (`<service>-<i>.<service>`) is in the certificate. */
  replicas: number;
  clusterDomain: string;
  /** The identities that get a seed and a user; no other key may connect. */
  identities: readonly BusIdentity[];
  /** `--operator-secrets`: also the operator CA and the gateway's serving certificate (OPERATOR_SECRETS). */
  operatorSecrets?: boolean;
  /** `--fleet-namespace`: the licence hub's Job, which also keeps the fleet's leaf Secrets there. */
  fleet?: FleetOptions;
}

/** Fresh material, injected so the plan is deterministic where it must be and testable without a cluster. */
export interface Generators {
  seed(): string;
  tls(dnsNames: string[]): Promise<TlsMaterial>;
  operator(o: BootstrapOptions): Promise<OperatorMaterial>;
  /** A fleet cluster's leafnode password (default: newLeafPassword). */
  password?(): string;
}

const DAY_MS = 86_400_000;

export const secretNames = (prefix: string, identities: readonly BusIdentity[]) => ({
  auth: `${prefix}-auth`,
  tls: `${prefix}-tls`,
  ca: `${prefix}-ca`,
  seeds: Object.fromEntries(identities.map((id) => [id, `${prefix}-${id}`])) as Record<BusIdentity, string>,
});

/** A new nkey user seed (SU…). */
export const newSeed = (): string => new TextDecoder().decode(nkeys.createUser().getSeed());

/**
 * The operator's own Secrets, made when missing and never replaced (a platform may bring its own):
 * the operator CA (signs the CLI's certificates) with the agent-connection certificate the gateway
 * serves and agent-manager hands its agents, which must be the same one for both; and the gateway's
 * serving certificate (kube-apiserver does not verify it: apiservice.yaml).
 */
export const OPERATOR_SECRETS = { ca: 'mirrord-operator-ca', gatewayTls: 'mirrord-gateway-tls' };
type OperatorMaterial = Record<keyof typeof OPERATOR_SECRETS, Record<string, string>>;
const AGENT_KEYS = ['agent-connection.crt', 'agent-connection.key'];

export async function createOperatorMaterial(
  o: Pick<BootstrapOptions, 'namespace' | 'clusterDomain'>,
): Promise<OperatorMaterial> {
  const ca = await createCa('mirrord-operator-ca');
  const agent = await createAgentConnectionCert(AGENT_CONNECTION_SERVER_NAME);
  const dnsNames = serviceNames('mirrord-gateway', o);
  const gatewayCa = await createCa('mirrord-gateway-ca', CA_DAYS);
  const gw = await issue(gatewayCa, { commonName: dnsNames[2]!, dnsNames, days: CA_DAYS, usage: 'server' });
  return {
    ca: { 'ca.crt': ca.certPem, 'ca.key': ca.keyPem, [AGENT_KEYS[0]!]: agent.certPem, [AGENT_KEYS[1]!]: agent.keyPem },
    gatewayTls: { 'ca.crt': gatewayCa.certPem, 'tls.crt': gw.certPem, 'tls.key': gw.keyPem },
  };
}

/** Adds the operator's Secrets that are missing to the plan; a hand-made CA gets the agent-connection pair it lacks. */
async function planOperator(
  o: BootstrapOptions,
  existing: ReadonlyMap<string, Record<string, string>>,
  gen: Generators,
  plan: Plan,
) {
  const ca = existing.get(OPERATOR_SECRETS.ca);
  const gw = existing.get(OPERATOR_SECRETS.gatewayTls);
  if (ca && (!ca['ca.crt'] || !ca['ca.key']))
    throw new Error(`Secret ${OPERATOR_SECRETS.ca} has no ca.crt or ca.key: add them, or delete it to have one made`);
  const lacksAgent = ca && !AGENT_KEYS.every((k) => ca[k]);
  const made = !ca || lacksAgent || !gw ? await gen.operator(o) : undefined;
  if (!ca) plan.create.push({ name: OPERATOR_SECRETS.ca, type: 'Opaque', data: made!.ca });
  else if (lacksAgent) {
    const agent = Object.fromEntries(AGENT_KEYS.map((k) => [k, made!.ca[k]!]));
    plan.update.push({ name: OPERATOR_SECRETS.ca, type: 'Opaque', data: { ...ca, ...agent } });
    plan.reasons[OPERATOR_SECRETS.ca] =
      'it had no agent-connection certificate (the gateway and agent-manager share it)';
  } else plan.keep.push(OPERATOR_SECRETS.ca);
  if (!gw) plan.create.push({ name: OPERATOR_SECRETS.gatewayTls, type: 'kubernetes.io/tls', data: made!.gatewayTls });
  else plan.keep.push(OPERATOR_SECRETS.gatewayTls);
}

const publicKeys = (seeds: Partial<Record<BusIdentity, string>>): Partial<Record<BusIdentity, string>> =>
  Object.fromEntries(Object.entries(seeds).map(([id, seed]) => [id, publicKeyOfSeed(seed!, `seed of ${id}`)]));

/** The nats.conf authorization block for these seeds: each identity's public key with its derived permissions. */
export const authConfOf = (seeds: Partial<Record<BusIdentity, string>>): string =>
  authorizationConf(busUsers(publicKeys(seeds)));

/**
 * What to write, given the Secrets that exist (name → data as text). Seeds are created when
 * missing and otherwise never touched (a malformed one is an error: delete it to replace it);
 * the TLS Secret is made or re-made when it would not work; auth.conf always follows the seeds.
 */
export async function planSecrets(
  o: BootstrapOptions,
  existing: ReadonlyMap<string, Record<string, string>>,
  gen: Generators,
  now: Date,
): Promise<Plan> {
  const names = secretNames(o.prefix, o.identities);
  const plan: Plan = { create: [], update: [], keep: [], reasons: {} };
  const seeds: Partial<Record<BusIdentity, string>> = {};
  for (const id of o.identities) {
    const name = names.seeds[id];
    const have = existing.get(name);
    if (have) {
      if (!have.nkey) throw new Error(`Secret ${name} has no key "nkey": delete it to have a new seed made`);
      publicKeyOfSeed(have.nkey, `Secret ${name} (delete it to have a new seed made)`);
      seeds[id] = have.nkey.trim();
      plan.keep.push(name);
    } else {
      seeds[id] = gen.seed();
      plan.create.push({ name, type: 'Opaque', data: { nkey: `${seeds[id]}\n` } });
    }
  }
  const dns = [...natsServerNames(o), ...leafNames(o.fleet)];
  const tls = existing.get(names.tls);
  const problem = tls && tlsProblem(tls, dns, new Date(now.getTime() + RENEW_DAYS * DAY_MS));
  let tlsData = tls;
  if (!tls || problem) {
    tlsData = { ...(await gen.tls(dns)) };
    (tls ? plan.update : plan.create).push({ name: names.tls, type: 'kubernetes.io/tls', data: tlsData });
    if (problem) plan.reasons[names.tls] = problem;
  } else plan.keep.push(names.tls);
  // Derived Secrets follow what they are derived from. The CA alone is what the services mount,
  // so their pods never reference the Secret that holds the servers' key.
  const follow = (name: string, data: Record<string, string>, why: string) => {
    const current = existing.get(name);
    const spec: SecretSpec = { name, type: 'Opaque', data };
    if (!current) plan.create.push(spec);
    else if (Object.entries(data).some(([k, v]) => current[k] !== v)) {
      plan.update.push(spec);
      plan.reasons[name] = why;
    } else plan.keep.push(name);
  };
  follow(names.ca, { 'ca.crt': tlsData!['ca.crt']! }, `${names.tls} was re-made`);
  const fleet = o.fleet && planFleet(o.fleet, existing, tlsData!['ca.crt']!, gen.password ?? newLeafPassword, plan);
  // Last, so the users it names exist by the time NATS loads it.
  const auth = fleet ? hubAuthConf(publicKeys(seeds), fleet, o.fleet!) : authConfOf(seeds);
  const why = `the seeds${fleet ? ', the fleet' : ''} or the permissions of this release changed`;
  follow(names.auth, { 'auth.conf': auth }, why);
  if (o.operatorSecrets) await planOperator(o, existing, gen, plan);
  return plan;
}

/**
 * The Secret as the API takes it, labelled so a bus's Secrets can be selected together (audit,
 * or deleting them all to rotate everything): `app.kubernetes.io/instance` is the prefix, so a
 * hub's and a cluster's in one namespace stay apart.
 */
export function toV1Secret(
  s: SecretSpec,
  o: Pick<BootstrapOptions, 'namespace' | 'prefix'>,
  resourceVersion?: string,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: s.name,
      namespace: s.namespace ?? o.namespace,
      labels: {
        'app.kubernetes.io/part-of': 'mirrord-teams',
        'app.kubernetes.io/managed-by': 'mirrord-bootstrap',
        'app.kubernetes.io/instance': o.prefix,
      },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    type: s.type,
    data: Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

const statusOf = (e: unknown): number | undefined => (e as { code?: number }).code;

/** An API error as the operator needs to read it: what was refused and what to check. */
function apiError(e: unknown, what: string): Error {
  const status = statusOf(e);
  const why: Record<number, string> = {
    403: "forbidden; the Job's ServiceAccount needs its Role (deploy/rbac/bootstrap.yaml, the hub's deploy/license-server/bootstrap.yaml)",
    409: "changed by someone else meanwhile; the Job's retry reads it again",
  };
  return new Error(`${what}: ${why[status!] ?? (status ? `HTTP ${status}` : (e as Error).message)}`, { cause: e });
}

async function runInCluster(o: BootstrapOptions, core: CoreV1Api, log: Logger): Promise<void> {
  const names = secretNames(o.prefix, o.identities);
  const existing = new Map<string, Record<string, string>>();
  const versions = new Map<string, string | undefined>();
  const operator = o.operatorSecrets ? Object.values(OPERATOR_SECRETS) : [];
  const own = [...Object.values(names.seeds), names.tls, names.ca, names.auth, ...operator];
  const leaves = (o.fleet?.clusters ?? []).map((c) => [o.fleet!.namespace, leafSecretName(c)] as const);
  for (const [namespace, name] of [...own.map((n) => [o.namespace, n] as const), ...leaves]) {
    try {
      const s = await core.readNamespacedSecret({ name, namespace });
      const data = Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]);
      existing.set(name, Object.fromEntries(data));
      versions.set(name, s.metadata?.resourceVersion);
    } catch (e) {
      if (statusOf(e) !== 404) throw apiError(e, `reading Secret ${namespace}/${name}`);
    }
  }
  const gen = { seed: newSeed, tls: createNatsTls, operator: createOperatorMaterial };
  const plan = await planSecrets(o, existing, gen, new Date());
  // (a fleet's leaf Secret, in a namespace of its own, is named with it)
  const named = (s: SecretSpec) => (s.namespace ? `${s.namespace}/${s.name}` : s.name);
  for (const s of plan.create) {
    const namespace = s.namespace ?? o.namespace;
    const body = toV1Secret(s, o);
    await core.createNamespacedSecret({ namespace, body }).catch((e: unknown) => {
      throw apiError(e, `creating Secret ${namespace}/${s.name}`);
    });
    log.info({ secret: s.name, namespace }, `created Secret ${named(s)}`);
  }
  for (const s of plan.update) {
    const namespace = s.namespace ?? o.namespace;
    const body = toV1Secret(s, o, versions.get(s.name));
    await core.replaceNamespacedSecret({ name: s.name, namespace, body }).catch((e: unknown) => {
      throw apiError(e, `updating Secret ${namespace}/${s.name}`);
    });
    const why = plan.reasons[s.name];
    log.info({ secret: s.name, namespace, reason: why }, `updated Secret ${named(s)}: ${why}`);
  }
  log.info(
    { namespace: o.namespace, created: plan.create.length, updated: plan.update.length, kept: plan.keep },
    'NATS credentials and certificates are in place',
  );
}

/** docker-compose: the seeds (kept when present) and auth.conf in one directory, as npm start makes them. */
function runInDir(dir: string, identities: readonly BusIdentity[], log: Logger): void {
  const file = join(dir, 'auth.conf');
  const conf = authorizationConf(busUsers(ensureBusCredentials(dir, identities)));
  if (existsSync(file) && readFileSync(file, 'utf8') === conf) return void log.info({ dir }, 'auth.conf is current');
  // Public keys only, so readable by the server's user; written whole so NATS never reads half a file.
  writeFileSync(`${file}.tmp`, conf, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  log.info({ dir, identities }, 'wrote auth.conf');
}

function parseIdentities(list: string | undefined): BusIdentity[] {
  if (!list) return [...BUS_IDENTITIES];
  const ids = list.split(',').map((s) => s.trim());
  const unknown = ids.filter((id) => !(BUS_IDENTITIES as readonly string[]).includes(id));
  if (unknown.length)
    throw new Error(`--identities: unknown ${unknown.join(', ')}; known: ${BUS_IDENTITIES.join(', ')}`);
  return ids as BusIdentity[];
}

/** The pod's namespace: --namespace, else POD_NAMESPACE (the downward API), else the service account's. */
function namespaceOf(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const sa = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
  const ns = flag || env.POD_NAMESPACE || (existsSync(sa) ? readFileSync(sa, 'utf8').trim() : '');
  if (!ns) throw new Error('no namespace: pass --namespace or set POD_NAMESPACE');
  return ns;
}

export type Invocation =
  | { mode: 'dir'; dir: string; identities: BusIdentity[] }
  | { mode: 'cluster'; options: BootstrapOptions; context: string };

/** What a command line asks for (exported so tests read a manifest's args exactly as the Job does). */
export function parseInvocation(args: string[], env: NodeJS.ProcessEnv): Invocation {
  const { values: a } = parseArgs({
    args,
    options: {
      dir: { type: 'string' },
      namespace: { type: 'string' },
      prefix: { type: 'string', default: 'mirrord-nats' },
      'nats-service': { type: 'string' },
      replicas: { type: 'string', default: '3' },
      'cluster-domain': { type: 'string', default: 'cluster.local' },
      identities: { type: 'string' },
      'operator-secrets': { type: 'boolean', default: false },
      context: { type: 'string', default: '' },
      ...FLEET_ARGS,
    },
  });
  const identities = parseIdentities(a.identities);
  if (a.dir) return { mode: 'dir', dir: a.dir, identities };
  const replicas = Number(a.replicas);
  if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`--replicas: not a count: ${a.replicas}`);
  const options: BootstrapOptions = {
    namespace: namespaceOf(a.namespace, env),
    prefix: a.prefix!,
    natsService: a['nats-service'] ?? a.prefix!,
    replicas,
    clusterDomain: a['cluster-domain']!,
    identities,
    operatorSecrets: a['operator-secrets']!,
  };
  const fleet = fleetOptions(a, env);
  if (fleet) options.fleet = fleet;
  return { mode: 'cluster', options, context: a.context! };
}

async function main(): Promise<void> {
  // Synchronous: a Job's last lines must reach its log before the process exits.
  const log = pino(loggerOptions('bootstrap-secrets'), pino.destination({ dest: 1, sync: true }));
  const run = parseInvocation(process.argv.slice(2), process.env);
  if (run.mode === 'dir') return runInDir(run.dir, run.identities, log);
  const kc = loadKubeConfig(process.env.KUBECONFIG || 'in-cluster', run.context, '--context');
  await runInCluster(run.options, kc.makeApiClient(CoreV1Api), log);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  await main().catch((e: unknown) => {
    process.stderr.write(`bootstrap-secrets: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
