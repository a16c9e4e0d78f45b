/**
 * A keyed work queue in controller-runtime's style: a key waiting is never queued twice, a key
 * being processed is not handed to a second worker (it is re-queued once it is done if it was
 * added meanwhile), failures retry with per-key exponential backoff, `addAfter` delays.
 */
export type WorkQueueParams = {
  baseDelayMs?: number;
  maxDelayMs?: number;
};

export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #base: number;
  readonly #max: number;
  #shutdown = false;

  constructor(params: WorkQueueParams = {}) {
    this.#base = params.baseDelayMs ?? 500;
    this.#max = params.maxDelayMs ?? 300_000;
  }

  get length(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#shutdown) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queued.add(key);
    this.#queue.push(key);
  }

  /** Adds the key after `ms`, unless a delayed add at least as early is already pending. */
  addAfter(key: string, ms: number): void {
    if (this.#shutdown) return;
    const due = Date.now() + ms;
    const pending = this.#timers.get(key);
    if (pending) {
      if (pending.due <= due) return;
      clearTimeout(pending.timer);
      this.#timers.delete(key);
    }
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms).unref();
    this.#timers.set(key, { timer, due });
  }

  /** After a failure: retry with this key's backoff (base × 2^failures, capped). */
  addRateLimited(key: string): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    const delay = Math.min(this.#max, this.#base * 2 ** n);
    const pending = this.#timers.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      this.#timers.delete(key);
    }
    this.addAfter(key, delay);
    return delay;
  }

  /** After a success: reset the key's backoff. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** The next key; undefined once shut down. Call done(key) after processing. */
  get(): Promise<string | undefined> {
    if (this.#shutdown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#queued.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
  }

  shutdown(): void {
    this.#shutdown = true;
    for (const t of this.#timers.values()) clearTimeout(t.timer);
    this.#timers.clear();
    for (const w of this.#waiters.splice(0)) w(undefined);
  }
}
