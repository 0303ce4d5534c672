export * from './types.js';
export { validateEvent } from './validate.js';
