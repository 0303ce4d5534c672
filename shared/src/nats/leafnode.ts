/**
 * How a cluster's nats-server joins the license hub: a leafnode dialled out to the hub, its own
 * JetStream domain (the cluster name), and deny lists so only the licence wires cross. Without
 * them the hub would relay one cluster's session events, KV updates and service pings into the
 * other clusters' streams (measured: a second cluster's MIRRORD_EVENTS captured the first's).
 * Request-reply on `mirrord-license.*`, the `_INBOX` replies and the hub's sourcing through
 * `$JS.<domain>.API` still cross.
 */
export const FLEET_LEAF_DENY = ['mirrord.>', '$KV.>', '$SRV.>'] as const;

/** The nats.conf block of a cluster joined to the hub at `hubUrl` (nats-leaf://host:7422); its JetStream needs `domain: <cluster name>`. */
export function fleetLeafnodeConf(hubUrl: string): string {
  const deny = FLEET_LEAF_DENY.map((s) => `"${s}"`).join(', ');
  return `leafnodes { reconnect: 1, remotes: [{ url: "${hubUrl}", deny_imports: [${deny}], deny_exports: [${deny}] }] }`;
}
