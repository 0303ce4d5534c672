export * from './types.js';
export { sessionCiInfo, validateEvent } from './validate.js';
