/**
 * At most one log line per interval for an event a client can cause at will (a refused token,
 * an aborted request): one line per request would let anyone with a socket fill the disk or
 * drown the lines that matter. The line that is written carries how many were suppressed
 * since the previous one, so nothing is hidden, only summarised.
 */
export type LogThrottleParams = {
  /** Least time between two lines, ms. */
  intervalMs: number;
  /** Clock in ms; `Date.now` by default. */
  now?: () => number;
};

export class LogThrottle {
  readonly #intervalMs: number;
  readonly #now: () => number;
  #last = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  constructor(params: LogThrottleParams) {
    this.#intervalMs = params.intervalMs;
    this.#now = params.now ?? Date.now;
  }

  /**
   * Whether to write this line: the number of lines suppressed since the last one written
   * (0 for the first) when it may, undefined when it must be suppressed.
   */
  take(): number | undefined {
    const now = this.#now();
    if (now - this.#last < this.#intervalMs) {
      this.#suppressed++;
      return undefined;
    }
    this.#last = now;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}
