export interface ExpiryTimerOptions {
  intervalMs: number;
  /** A gap between ticks longer than this is the process having been paused, not a slow tick. */
  pauseMs: number;
  now: () => number;
  /** One expiry pass; it must not reject (its failures are the caller's to log). */
  tick: () => Promise<void>;
  /** The process did not run for `gapMs`: what it should have heard meanwhile was not heard. */
  paused: (gapMs: number) => void;
}

/**
 * The ledger's expiry clock. Ticks never overlap (a tick slowed by a failing store would
 * otherwise pile up behind itself), and a wall-clock jump between ticks — SIGSTOP, a frozen
 * VM, a long GC — is reported as a pause instead of running expiry on activity that could
 * not be heard while the process was stopped.
 */
export class ExpiryTimer {
  readonly #o: ExpiryTimerOptions;
  readonly #timer: NodeJS.Timeout;
  #lastTick: number;
  #ticking = false;

  constructor(o: ExpiryTimerOptions) {
    this.#o = o;
    this.#lastTick = o.now();
    this.#timer = setInterval(() => this.#fire(), o.intervalMs);
    this.#timer.unref();
  }

  #fire(): void {
    const now = this.#o.now();
    const gap = now - this.#lastTick;
    // Taken at every firing, running a pass or not: it measures whether the process ran.
    this.#lastTick = now;
    if (gap > this.#o.pauseMs) return this.#o.paused(gap);
    if (this.#ticking) return;
    this.#ticking = true;
    void this.#o.tick().finally(() => (this.#ticking = false));
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
