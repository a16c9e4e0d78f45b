/**
 * Counts failed room-stream attaches (an unknown, used or expired `stream_id` or token) per
 * source address and stops a source that guesses. A real client fails an attach only by
 * accident (its join timed out, a retry raced), a handful of times; a guesser fails thousands
 * of times. Each source has a token bucket of failures (`burst`, refilled at `perSecond`):
 * while it is empty the source's attaches are refused before they are looked up, so a guesser
 * gets `perSecond` guesses a second, against 2^53 ids that live 10 s (streamId.ts).
 *
 * The table is bounded (`maxSources`): when full, sources whose bucket has refilled (they
 * are as good as new) go first, then the oldest. Evicting a guesser only gives it back one
 * burst. Behind a reverse proxy all clients share the proxy's address: a guesser there blocks
 * attaches through that proxy for a while (docs/security.md).
 */
import { sourceOf } from './sourceAddress.ts';
import { TokenBucket } from './tokenBucket.ts';

export type AttachGuardParams = {
  /** Failures a source may have at once before it is blocked. */
  burst: number;
  /** Failures forgiven per second (the sustained guessing rate left to a blocked source). */
  perSecond: number;
  /** Most sources tracked. */
  maxSources: number;
  /** Clock in ms. */
  now: () => number;
};

export const defaultAttachGuardParams: AttachGuardParams = {
  burst: 20,
  perSecond: 1,
  maxSources: 8192,
  now: Date.now,
};

export class AttachGuard {
  readonly #params: AttachGuardParams;
  readonly #failures = new Map<string, TokenBucket>();
  /** Attaches refused because their source was blocked (metrics, tests). */
  refused = 0;
  /** Failed attaches counted. */
  failed = 0;

  constructor(params: Partial<AttachGuardParams> = {}) {
    this.#params = { ...defaultAttachGuardParams, ...params };
  }

  /** Sources tracked now (bounded by `maxSources`). */
  get size(): number {
    return this.#failures.size;
  }

  /** Whether `remoteAddress`'s source may try an attach now; counts a refusal when not. */
  allows(remoteAddress: string): boolean {
    const bucket = this.#failures.get(sourceOf(remoteAddress));
    if (bucket === undefined || bucket.available(this.#params.now()) >= 1) return true;
    this.refused++;
    return false;
  }

  /** An attach from `remoteAddress` named nothing that waits. */
  fail(remoteAddress: string): void {
    this.failed++;
    const source = sourceOf(remoteAddress);
    const now = this.#params.now();
    let bucket = this.#failures.get(source);
    if (bucket === undefined) {
      this.#makeRoom(now);
      bucket = new TokenBucket({ rate: this.#params.perSecond, capacity: this.#params.burst }, now);
      this.#failures.set(source, bucket);
    }
    bucket.tryTake(now);
  }

  #makeRoom(now: number): void {
    if (this.#failures.size < this.#params.maxSources) return;
    for (const [source, bucket] of this.#failures) {
      if (bucket.available(now) >= this.#params.burst) this.#failures.delete(source);
    }
    // Still near full: the oldest go (Map iterates in insertion order), down to 7/8 so that the
    // scan above runs once per maxSources/8 new sources, not once per failure.
    const target = Math.floor((this.#params.maxSources * 7) / 8);
    for (const source of this.#failures.keys()) {
      if (this.#failures.size <= target) break;
      this.#failures.delete(source);
    }
  }
}
