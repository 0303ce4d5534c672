import type { BusUser } from './permissions.js';
import { FLEET_WIRES, licenseFromSubject, licenseSubject } from './subjects.js';

/**
 * How a cluster's nats-server joins the license hub: a leafnode dialled out to the hub, its own
 * JetStream domain (the cluster name), and deny lists so only the licence wires cross. Without
 * them the hub would relay one cluster's session events, KV updates and service pings into the
 * other clusters' streams (measured: a second cluster's MIRRORD_EVENTS captured the first's).
 * No JetStream API crosses either way (`$JS.>`): the hub never reads a cluster's streams and no
 * cluster reaches the hub's or another cluster's; usage is relayed as requests (UsageRelay).
 * The charts' leafnode blocks (deploy/helm/…/nats.yaml, deploy/components/license-fleet) spell
 * this list in YAML; the fleet tests' clusters are configured from it.
 * @public
 */
export const FLEET_LEAF_DENY = ['mirrord.>', '$KV.>', '$SRV.>', '$JS.>'] as const;

/** A cluster the hub accepts: its leafnode user (the cluster name) and password, bound to its own account. */
export interface FleetCluster {
  name: string;
  password: string;
}

const accountOf = (cluster: string): string => `CLUSTER_${cluster}`;
export const HUB_ACCOUNT = 'HUB';

/**
 * The hub's accounts and leafnode authorization (nats.conf, JSON): the license server and the
 * hub's own users in `HUB`; one account per cluster, which its leafnode user is bound to, and
 * which imports only that cluster's licence request subjects (`mirrord-license.<wire>` →
 * `mirrord-license.from.<cluster>.<wire>`, so the license server learns the cluster from the
 * account, never from a message) and the seat set. Accounts see nothing of each other: no
 * cluster reaches another's subjects or any JetStream; a leafnode whose user is not listed
 * cannot connect, so an unknown cluster cannot join.
 */
export function hubFleetConf(opts: {
  clusters: FleetCluster[];
  hubUsers: BusUser[];
  leafListen: string;
  /** The hub's leafnode TLS (its certificate and key files). */
  leafTls?: { cert_file: string; key_file: string; timeout?: number };
}): string {
  const accounts: Record<string, unknown> = {
    [HUB_ACCOUNT]: {
      jetstream: 'enabled',
      users: opts.hubUsers,
      exports: [
        ...opts.clusters.map((c) => ({
          service: `${licenseFromSubject(c.name, 'join').replace(/\.join$/, '')}.>`,
          accounts: [accountOf(c.name)],
        })),
        { stream: licenseSubject('seats'), accounts: opts.clusters.map((c) => accountOf(c.name)) },
      ],
    },
  };
  for (const c of opts.clusters)
    accounts[accountOf(c.name)] = {
      imports: [
        ...FLEET_WIRES.map((w) => ({
          service: { account: HUB_ACCOUNT, subject: licenseFromSubject(c.name, w) },
          to: licenseSubject(w),
        })),
        { stream: { account: HUB_ACCOUNT, subject: licenseSubject('seats') } },
      ],
    };
  const leafnodes = {
    listen: opts.leafListen,
    authorization: {
      users: opts.clusters.map((c) => ({ user: c.name, password: c.password, account: accountOf(c.name) })),
    },
    ...(opts.leafTls ? { tls: opts.leafTls } : {}),
  };
  const accountsConf = `accounts: ${JSON.stringify(accounts, null, 2)}\n`;
  // No cluster, no leafnode port: a listener without users would let any leafnode in.
  if (opts.clusters.length === 0) return accountsConf;
  return `${accountsConf}leafnodes: ${JSON.stringify(leafnodes, null, 2)}\n`;
}
