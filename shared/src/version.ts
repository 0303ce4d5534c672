import { createRequire } from 'node:module';

/** The package version: the operator_version every service and the plugin report. */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
