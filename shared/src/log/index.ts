import { pino, type Logger, type LevelWithSilent, type LoggerOptions } from 'pino';
import { REDACT_PATHS, REDACTED } from './redact.js';

export type { Logger } from 'pino';
export { redactUrl, REDACTED } from './redact.js';

/**
 * The options of every service's logger: JSON lines with `service` and `pid`, ISO times, level
 * labels, and fields that are secrets by name redacted before a line is written.
 */
export function loggerOptions(service: string, level: LevelWithSilent = 'info'): LoggerOptions {
  return {
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
  };
}

/**
 * JSON lines on stdout, one object per line with a `service` field, so the supervisor can pass
 * them through unchanged and any log shipper can parse them.
 */
export function createLogger(service: string, level: LevelWithSilent = 'info'): Logger {
  return pino(
    loggerOptions(service, level),
    // Asynchronous stdout: lines written while a write is in flight are coalesced into one
    // syscall. runService flushes it before exit.
    pino.destination({ dest: 1, sync: false }),
  );
}
