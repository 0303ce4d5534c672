import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON lines on stdout, one object per line with a `service` field, so the supervisor can pass
 * them through unchanged and any log shipper can parse them.
 */
export function createLogger(service: string, level: LevelWithSilent = 'info'): Logger {
  return pino(
    {
      level,
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous stdout: lines written while a write is in flight are coalesced into one
    // syscall. runService flushes it before exit.
    pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that writes nowhere, for tests and benches that measure other things. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
