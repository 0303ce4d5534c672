export * from './subjects.js';
export * from './codec.js';
export * from './connect.js';
export * from './rpc.js';
export { awaitEventsStream, consumeEventType, ensureEventsStream, ensureStream } from './stream.js';
export { destinationTemplate, inConsumerSpan, messagingSpan } from './messaging.js';
export { FLEET_LEAF_DENY, hubFleetConf } from './leafnode.js';
export type { FleetCluster } from './leafnode.js';
export {
  authorizationConf,
  BUS_IDENTITIES,
  busUsers,
  permissionsFor,
  SERVICE_IDENTITIES,
  WIRES,
} from './permissions.js';
export type { BusIdentity, BusUser, Permissions } from './permissions.js';
export { ensureBusCredentials, publicKeyOfSeed, seedFileName } from './credentials.js';
