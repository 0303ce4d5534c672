export * from './subjects.js';
export * from './codec.js';
export * from './connect.js';
export * from './rpc.js';
export { consumeEventType, ensureEventsStream, ensureStream } from './stream.js';
export { destinationTemplate, inConsumerSpan, messagingSpan } from './messaging.js';
export { FLEET_LEAF_DENY, fleetLeafnodeConf } from './leafnode.js';
