/**
 * A token bucket: `rate` tokens a second, holding at most `rate` (one second of burst). Time
 * comes from the caller, so the rule is testable without clocks.
 */
export class TokenBucket {
  readonly #rate: number;
  #tokens: number;
  #at: number;

  constructor(rate: number, now: number) {
    this.#rate = rate;
    this.#tokens = rate;
    this.#at = now;
  }

  /** Takes one token; false when the bucket is empty (the caller refuses the request). */
  take(now: number): boolean {
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
