import { pino, type Logger } from 'pino';

/** A logger that writes nowhere, for tests and benches that measure other things. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
