import type { Logger } from 'pino';
import { ConfigError } from '../config/index.js';
import { createLogger } from '../log/index.js';

/**
 * The life cycle every service shares: start, log ready, and on SIGTERM/SIGINT drain (the
 * returned stop function) then exit. A config error is one line naming the variables.
 */
export async function runService(name: string, start: (log: Logger) => Promise<() => Promise<void>>): Promise<void> {
  const log = createLogger(name, (process.env.LOG_LEVEL as 'info' | undefined) ?? 'info');
  let stop: (() => Promise<void>) | undefined;
  try {
    stop = await start(log);
  } catch (e) {
    if (e instanceof ConfigError) {
      log.fatal({ problems: e.problems }, `invalid configuration: ${e.message}`);
      process.stderr.write(`${name}: invalid configuration: ${e.message}\n`);
    } else {
      log.fatal({ err: e }, `${name} failed to start: ${e instanceof Error ? e.message : String(e)}`);
      process.stderr.write(`${name}: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    log.flush(() => process.exit(1));
    return;
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${name} draining`);
    const force = setTimeout(() => {
      log.error(`${name} did not drain within 10 s; exiting`);
      process.exit(1);
    }, 10_000);
    force.unref();
    try {
      await stop!();
      log.info(`${name} stopped`);
      log.flush(() => process.exit(0));
    } catch (e) {
      log.error({ err: e }, `${name} failed while draining`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
