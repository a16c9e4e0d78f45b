/**
 * A token bucket: `capacity` tokens at most, refilled continuously at `rate` tokens per
 * second; each event takes one token. Starts full (a burst of `capacity` is allowed at once).
 * Time is passed in (milliseconds) so the bucket has no clock of its own: cheap on the voice
 * path and exact in tests.
 */
export type TokenBucketParams = {
  /** Tokens added per second (sustained rate). */
  rate: number;
  /** Most tokens held (burst size). */
  capacity: number;
};

export class TokenBucket {
  readonly #perMs: number;
  readonly #capacity: number;
  #tokens: number;
  #last: number;

  constructor(params: TokenBucketParams, now: number) {
    this.#perMs = params.rate / 1000;
    this.#capacity = params.capacity;
    this.#tokens = params.capacity;
    this.#last = now;
  }

  #refill(now: number): void {
    const elapsed = now - this.#last;
    if (elapsed > 0) {
      const tokens = this.#tokens + elapsed * this.#perMs;
      this.#tokens = Math.min(tokens, this.#capacity);
    }
    this.#last = now;
  }

  /** Takes one token if there is one. */
  tryTake(now: number): boolean {
    this.#refill(now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return false;
  }

  /** Whole tokens available now. */
  available(now: number): number {
    this.#refill(now);
    return Math.floor(this.#tokens);
  }

  /** Milliseconds until a token is available (0 when one is). */
  msUntilToken(now: number): number {
    this.#refill(now);
    if (this.#tokens >= 1) return 0;
    return Math.ceil((1 - this.#tokens) / this.#perMs);
  }
}
