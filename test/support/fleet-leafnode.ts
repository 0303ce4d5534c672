import { FLEET_LEAF_DENY, type FleetCluster } from '#shared/nats/leafnode.js';

/**
 * The nats.conf block of a cluster joined to the hub at `hubUrl` (nats-leaf://host:7422) with
 * its leafnode credentials; its JetStream needs `domain: <cluster name>`.
 */
export function fleetLeafnodeConf(hubUrl: string, cluster?: FleetCluster): string {
  const deny = FLEET_LEAF_DENY.map((s) => `"${s}"`).join(', ');
  const url = cluster ? withCredentials(hubUrl, cluster) : hubUrl;
  return `leafnodes { reconnect: 1, remotes: [{ url: ${JSON.stringify(url)}, deny_imports: [${deny}], deny_exports: [${deny}] }] }`;
}

function withCredentials(hubUrl: string, c: FleetCluster): string {
  const u = new URL(hubUrl);
  u.username = encodeURIComponent(c.name);
  u.password = encodeURIComponent(c.password);
  return u.toString().replace(/\/$/, '');
}
