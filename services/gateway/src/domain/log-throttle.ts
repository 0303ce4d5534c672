/**
 * At most one log line per interval for an event a client can repeat as fast as it sends (a
 * refusal): the others are counted, and the next line says how many it stands for. Without
 * it one client flooding refused requests wrote 863,000 warnings in 45 s. Time comes from the
 * caller, so the rule is testable without clocks.
 */
export class LogThrottle {
  readonly #intervalMs: number;
  #next = -Infinity;
  #suppressed = 0;

  constructor(intervalMs = 1000) {
    this.#intervalMs = intervalMs;
  }

  /**
   * One occurrence at `now`: undefined when it is only counted, else the line is due and the
   * number is how many occurrences were left out since the previous line.
   */
  take(now: number): number | undefined {
    if (now < this.#next) {
      this.#suppressed++;
      return undefined;
    }
    this.#next = now + this.#intervalMs;
    return this.flush();
  }

  /** Occurrences left out since the last line (told when the socket closes), now reset. */
  flush(): number {
    const n = this.#suppressed;
    this.#suppressed = 0;
    return n;
  }
}
