import type { Logger } from 'pino';
import { LogThrottle } from '../domain/log-throttle.js';

/** Where refusals are logged: two levels of a pino logger, or the rate-limited front below. */
export interface RefusalLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

/**
 * One socket's refusal log: a client can repeat a refused request as fast as it sends, so at
 * most one line a second is written and the next one says how many were left out.
 */
export class RefusalLog implements RefusalLogger {
  readonly #throttle = new LogThrottle(1000);

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  info(fields: object, msg: string): void {
    this.#write('info', fields, msg);
  }

  warn(fields: object, msg: string): void {
    this.#write('warn', fields, msg);
  }

  #write(level: 'info' | 'warn', fields: object, msg: string): void {
    const left = this.#throttle.take(this.now());
    if (left === undefined) return;
    if (left === 0) return this.log[level](fields, msg);
    this.log[level](
      { ...fields, suppressed: left },
      `${msg} (${left} more refusals on this socket since the last line, not logged)`,
    );
  }

  /** The refusals left out since the last line, told once as the socket goes. */
  flush(): void {
    const left = this.#throttle.flush();
    if (left > 0) this.log.warn({ suppressed: left }, `${left} more refusals on this socket, not logged one by one`);
  }
}
