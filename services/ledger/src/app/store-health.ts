import type { Logger } from 'pino';

/**
 * Whether the ledger's store answers, as its callers last found out. An outage is logged once
 * when it starts and once when it ends: every command, report and timer tick fails while the
 * database is down, and a line for each would bury the one that says what is wrong.
 */
export class StoreHealth {
  readonly #log: Logger;
  readonly #now: () => number;
  #downSince: number | undefined;
  #failures = 0;

  constructor(log: Logger, now: () => number) {
    this.#log = log;
    this.#now = now;
  }

  get down(): boolean {
    return this.#downSince !== undefined;
  }

  failed(err: unknown, during: string): void {
    this.#failures++;
    if (this.#downSince !== undefined) {
      this.#log.debug({ err, during }, 'ledger store still unavailable');
      return;
    }
    this.#downSince = this.#now();
    this.#log.error(
      { err, during },
      'ledger store unavailable: commands are answered Unavailable, background work is retried until it is back',
    );
  }

  ok(): void {
    if (this.#downSince === undefined) return;
    this.#log.info(
      { down_ms: this.#now() - this.#downSince, failures: this.#failures },
      'ledger store available again: serving',
    );
    this.#downSince = undefined;
    this.#failures = 0;
  }
}
