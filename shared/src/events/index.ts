export * from './types.js';
export { validateEvent, bodySpecs } from './validate.js';
