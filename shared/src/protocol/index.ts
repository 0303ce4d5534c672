/** The mirrord protocol (bincode 2) as the gateway, the plugin and the test agent speak it. */
export { MAX_NESTING, Malformed, NeedMore, Reader, TooDeep, UnknownTag, Writer } from './bincode.js';
export { decodeExact, encode } from './codec.js';
export type { Codec, CodecType, Shape } from './codec.js';
export { MessageFramer, TooLarge } from './framer.js';
export { clientMessage, daemonMessage } from './grammar/messages.js';
export type { ClientMessage, DaemonMessage } from './grammar/messages.js';
export type { HttpFilterValue, SocketAddressValue, StealTypeValue } from './grammar/base.js';
export { AGENT_LOST, closeMessage, connectRefused, pongMessage, refused, subscribed } from './replies.js';
export type { Refusal, RefusedSubscription } from './replies.js';
export { configFilterOf, intentOf, renderProtocolFilter } from './subscriptions.js';
export { tagOf, variantAt } from './tags.js';
export type { ClientIntent } from './subscriptions.js';
export { BASELINE_VERSION, Gate, PROTOCOL_VERSION, atLeast, negotiated } from './version.js';
