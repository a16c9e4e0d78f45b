/**
 * Capacity and rate limits of the core, and the RPC rate limiter with its overflow queue.
 * The wiring maps config.toml `[limit]`, `[limit.peer]` and `[limit.network]` onto
 * {@link LimitParams}; absent `max_*` keys mean unlimited.
 */
import type { AdmissionParams } from './admission.ts';
import type { Clock, TimerHandle } from './clock.ts';
import { TokenBucket, type TokenBucketParams } from './tokenBucket.ts';

export type IncomingMessagesParams = TokenBucketParams & {
  /** How many calls beyond the bucket wait in the queue; see {@link INCOMING_MESSAGES_OVERFLOW}. */
  overflow: number;
};

export type LimitParams = {
  /** `[limit] max_clients`: most connected clients. Absent: unlimited. */
  maxClients?: number;
  /** `[limit] max_rooms`: most open rooms. Absent: unlimited. */
  maxRooms?: number;
  /** `[limit] max_peers`: most peers over all rooms. Absent: unlimited. */
  maxPeers?: number;
  /** `[limit.peer] incoming_messages`: RPC calls per RPC endpoint (a main connection or a room stream). */
  incomingMessages: IncomingMessagesParams;
  /** `[limit.peer] medias`: size of each peer's media-id pool, i.e. the most medias it may start. */
  mediasPerPeer: number;
  /** `[limit.peer] concurrent_streams`: most medias a peer receives at once, nearest first. 0: unlimited. */
  concurrentStreams: number;
  /** `[limit.network] incoming_media_packets`: voice packets per second per media. Absent: unlimited. */
  incomingMediaPackets?: TokenBucketParams;
  /**
   * `[limit] max_unauthenticated`, `max_unauthenticated_per_address`, `authentication_timeout`:
   * the budget and deadline of main connections that have not authenticated (admission.ts).
   */
  unauthenticated: AdmissionParams;
};

/**
 * What `[limit.peer] incoming_messages.overflow` means in ODIN Grid.
 * (ODIN's own documentation does not define it; this is our decision.)
 */
export const INCOMING_MESSAGES_OVERFLOW =
  'Each RPC endpoint (a main connection or a room stream) has a token bucket of `capacity` ' +
  'tokens refilled at `rate` per second; each request takes one token. A request that finds the ' +
  'bucket empty is not refused: it waits in a FIFO queue of at most `overflow` requests and runs ' +
  'when a token refills (requests are always executed in the order they arrived). A request ' +
  'that finds the queue full disconnects the client with the reason "rate limit exceeded". ' +
  'overflow = 0 disconnects on the first request over the bucket.';

export type RateDecision = 'run' | 'queued' | 'overflow';

export type RpcRateLimiterParams = {
  limits: IncomingMessagesParams;
  clock: Clock;
};

/** The per-endpoint RPC rate limiter described by {@link INCOMING_MESSAGES_OVERFLOW}. */
export class RpcRateLimiter {
  readonly #bucket: TokenBucket;
  readonly #overflow: number;
  readonly #clock: Clock;
  readonly #queue: (() => void)[] = [];
  #timer: TimerHandle | undefined;
  #disposed = false;

  constructor(params: RpcRateLimiterParams) {
    this.#clock = params.clock;
    this.#overflow = params.limits.overflow;
    this.#bucket = new TokenBucket(params.limits, params.clock.now());
  }

  /** Calls waiting for a token. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs `call` now ('run'), queues it ('queued'), or refuses it because the queue is full
   * ('overflow': the caller disconnects the client; `call` never runs).
   */
  submit(call: () => void): RateDecision {
    if (this.#disposed) return 'overflow';
    if (this.#queue.length === 0 && this.#bucket.tryTake(this.#clock.now())) {
      call();
      return 'run';
    }
    if (this.#queue.length >= this.#overflow) return 'overflow';
    this.#queue.push(call);
    this.#schedule();
    return 'queued';
  }

  /** Drops queued calls and stops the timer (the endpoint closed). */
  dispose(): void {
    this.#disposed = true;
    this.#queue.length = 0;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#queue.length === 0) return;
    const wait = Math.max(1, this.#bucket.msUntilToken(this.#clock.now()));
    this.#timer = this.#clock.setTimeout(() => this.#drain(), wait);
  }

  #drain(): void {
    this.#timer = undefined;
    while (!this.#disposed && this.#queue.length > 0 && this.#bucket.tryTake(this.#clock.now())) {
      this.#queue.shift()!();
    }
    this.#schedule();
  }
}
