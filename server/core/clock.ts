/**
 * Time as the core sees it: a millisecond clock and one-shot timers. Injected so that tests
 * drive rate limits and queues with a fake clock instead of waiting.
 */
export type TimerHandle = unknown;

export interface Clock {
  /** Monotonic milliseconds (any origin). */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Wall-clock milliseconds since the epoch, for bans given as absolute times. */
export type WallClock = () => number;
