/**
 * The licence hub's side of the fleet (issue 25; deploy/license-server/). With `--fleet-namespace`
 * the hub's bootstrap Job also keeps, for every cluster in FLEET_CLUSTERS (the hub's settings):
 *   mirrord-fleet-leaf-<cluster>  in the fleet namespace: `password` (that cluster's leafnode
 *       password at the hub, made once and kept), `url` (nats-leaf://<cluster>:<password>@<hub's
 *       leaf address>, what the cluster's NATS dials) and `ca.crt` (the hub NATS' CA, which the
 *       cluster verifies the hub with). Copied to the cluster as mirrord-license-leaf.
 * and its `auth.conf` is the hub's accounts and leafnodes (hubAuthConf) instead of a plain
 * authorization block; the hub's certificate also names the leaf address's host.
 * The leaf Secrets live in a namespace of their own because their names follow a setting, and
 * RBAC can only name Secrets in advance: there the Job may read every Secret, and there are no others.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { hubFleetConf, type FleetCluster } from '#shared/nats/leafnode.js';
import { busUsers, type BusIdentity } from '#shared/nats/permissions.js';
import type { Plan, SecretSpec } from './plan.js';

export interface FleetOptions {
  /** The clusters that may join (`--fleet-clusters`, else FLEET_CLUSTERS): each one's leafnode user and account. */
  clusters: string[];
  /** host:port the clusters dial (`--hub-leaf-address`, else HUB_LEAF_ADDRESS); its host is in the hub's certificate. */
  leafAddress: string;
  /** Where the leaf Secrets are kept (`--fleet-namespace`). */
  namespace: string;
  /** The hub's leafnode listener (`--leaf-listen`). */
  listen: string;
  /** Where the hub's NATS mounts its TLS Secret (`--leaf-tls-dir`): the leafnode TLS files. */
  tlsDir: string;
}

/** Command-line options of the fleet mode (parseArgs). */
export const FLEET_ARGS = {
  'fleet-namespace': { type: 'string' },
  'fleet-clusters': { type: 'string' },
  'hub-leaf-address': { type: 'string' },
  'leaf-listen': { type: 'string', default: '0.0.0.0:7422' },
  'leaf-tls-dir': { type: 'string', default: '/etc/nats/tls' },
} as const;

export const leafSecretName = (cluster: string): string => `mirrord-fleet-leaf-${cluster}`;

/** A new leafnode password: URL-safe as it is, so the URL carries it unencoded. */
export const newLeafPassword = (): string => randomBytes(24).toString('hex');
const PASSWORD = /^[A-Za-z0-9._~-]{16,}$/;

/**
 * A cluster's name is its leafnode user, account (`CLUSTER_<name>`), subject token
 * (`mirrord-license.from.<name>.…`), Secret name suffix and JetStream domain: a DNS label.
 */
const CLUSTER = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function parseClusters(list: string): string[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !CLUSTER.test(n));
  if (bad.length) throw new Error(`fleetClusters: not a cluster name (a DNS label): ${bad.join(', ')}`);
  if (names.includes('hub')) throw new Error("fleetClusters: 'hub' is the hub's own JetStream domain");
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length) throw new Error(`fleetClusters: listed twice: ${twice.join(', ')}`);
  return names;
}

/** The host of a leaf address (`host:port`, `host`, `[v6]:port`), which the hub's certificate must name. */
function leafHost(address: string): string {
  let u: URL | undefined;
  try {
    u = /[/@?#\s]/.test(address) ? undefined : new URL(`nats-leaf://${address}`);
  } catch {
    u = undefined;
  }
  if (!u?.hostname) throw new Error(`hubLeafAddress: not host:port: ${JSON.stringify(address)}`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) ? host : host.toLowerCase();
}

/** The fleet part of the command line, or undefined when it is not the hub's Job. */
export function fleetOptions(
  a: Partial<Record<keyof typeof FLEET_ARGS, string>>,
  env: NodeJS.ProcessEnv,
): FleetOptions | undefined {
  if (!a['fleet-namespace']) return undefined;
  const clusters = parseClusters(a['fleet-clusters'] ?? env.FLEET_CLUSTERS ?? '');
  const leafAddress = (a['hub-leaf-address'] ?? env.HUB_LEAF_ADDRESS ?? '').trim();
  if (clusters.length && !leafAddress) throw new Error('fleetClusters is set but hubLeafAddress is not');
  if (leafAddress) leafHost(leafAddress);
  return {
    clusters,
    leafAddress,
    namespace: a['fleet-namespace'],
    listen: a['leaf-listen'] ?? FLEET_ARGS['leaf-listen'].default,
    tlsDir: a['leaf-tls-dir'] ?? FLEET_ARGS['leaf-tls-dir'].default,
  };
}

/** The names the hub's certificate needs for its leafnodes: the host the clusters dial. */
export const leafNames = (f: FleetOptions | undefined): string[] => (f?.leafAddress ? [leafHost(f.leafAddress)] : []);

/**
 * Adds the leaf Secrets to the plan: a cluster without one gets a new password; one that has
 * it keeps its password, and its `url` and `ca.crt` follow the leaf address and the hub's CA.
 * Returns every listed cluster with its password, for auth.conf.
 */
export function planFleet(
  f: FleetOptions,
  existing: ReadonlyMap<string, Record<string, string>>,
  caPem: string,
  password: () => string,
  plan: Plan,
): FleetCluster[] {
  return f.clusters.map((name) => {
    const secret = leafSecretName(name);
    const have = existing.get(secret);
    if (have && !PASSWORD.test(have.password ?? ''))
      throw new Error(
        `Secret ${f.namespace}/${secret} has no usable "password" (16 or more of A-Z a-z 0-9 . _ ~ -): delete it to have one made`,
      );
    const pw = have?.password ?? password();
    const url = `nats-leaf://${name}:${pw}@${f.leafAddress}`;
    const spec: SecretSpec = {
      name: secret,
      namespace: f.namespace,
      type: 'Opaque',
      data: { password: pw, url, 'ca.crt': caPem },
    };
    const changed = Object.keys(spec.data).filter((k) => have?.[k] !== spec.data[k]);
    if (!have) plan.create.push(spec);
    else if (changed.length) {
      plan.update.push(spec);
      plan.reasons[secret] = `its ${changed.join(' and ')} changed: copy it to cluster ${name} again`;
    } else plan.keep.push(secret);
    return { name, password: pw };
  });
}

/**
 * The hub's auth.conf: hubFleetConf's accounts (the hub's users, here the license server, in
 * HUB; an account per cluster) and its leafnodes block, given TLS with the hub's certificate.
 * No cluster: no leafnodes block, so no leafnode port at all (a listener without users would
 * let any leafnode in). nats-server reads one `leafnodes` block, so the whole of it is here.
 */
export function hubAuthConf(keys: Partial<Record<BusIdentity, string>>, clusters: FleetCluster[], f: FleetOptions) {
  const leafTls = { cert_file: `${f.tlsDir}/tls.crt`, key_file: `${f.tlsDir}/tls.key`, timeout: 2 };
  const conf = hubFleetConf({ clusters, hubUsers: busUsers(keys), leafListen: f.listen, leafTls });
  return `# The hub's accounts and leafnodes, made by scripts/bootstrap-secrets.ts (bootstrap/fleet.ts)\n${conf}`;
}
