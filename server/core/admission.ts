/**
 * Main connections that have not authenticated yet: their own small budget and a deadline,
 * so that sockets that never send a token cannot take the capacity of clients that do
 * (`[limit] max_clients` counts authenticated clients only, see sfu.ts).
 *
 * - `timeoutMs` (`[limit] authentication_timeout`): a connection that has not authenticated
 *   this long after it opened is closed. The SDKs authenticate as their first request.
 * - `maxPending` (`[limit] max_unauthenticated`): when one more would exceed it, the *oldest*
 *   waiting connection is closed. A real client authenticates within a round trip, so it is
 *   rarely the oldest; an attacker must keep opening connections faster than that to hold the
 *   budget, and even then cannot grow the server's memory.
 * - `maxPendingPerSource` (`[limit] max_unauthenticated_per_address`): a source address (IPv6:
 *   its /64) with that many waiting is refused one more, so one host cannot take the budget.
 *
 * Pure bookkeeping on the Sfu's clock; the Sfu closes the clients this module names.
 */
import type { Client } from './client.ts';
import type { Clock, TimerHandle } from './clock.ts';
import { sourceOf } from './sourceAddress.ts';

export type AdmissionParams = {
  /** `[limit] max_unauthenticated`. */
  maxPending: number;
  /** `[limit] max_unauthenticated_per_address`. */
  maxPendingPerSource: number;
  /** `[limit] authentication_timeout`, ms. */
  timeoutMs: number;
};

/** Why a waiting connection was closed (the reason the client reads, and a metrics label). */
export type AdmissionRefusal = { kind: 'per_source' | 'evicted' | 'timeout'; reason: string };

type Waiting = { source: string; timer: TimerHandle };

export class Admission {
  readonly #params: AdmissionParams;
  readonly #clock: Clock;
  readonly #close: (client: Client, refusal: AdmissionRefusal) => void;
  /** In order of arrival: the first is the oldest. */
  readonly #waiting = new Map<Client, Waiting>();
  readonly #perSource = new Map<string, number>();
  /** Connections closed before authenticating, by why. */
  readonly closed = { per_source: 0, evicted: 0, timeout: 0 };

  constructor(
    params: AdmissionParams,
    clock: Clock,
    close: (client: Client, refusal: AdmissionRefusal) => void,
  ) {
    this.#params = params;
    this.#clock = clock;
    this.#close = close;
  }

  /** Connections waiting to authenticate now. */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * A new main connection waits for its authentication. Returns the refusal when its source
   * already has `maxPendingPerSource` waiting (the caller closes it); may close the oldest
   * waiting connection to make room.
   */
  enter(client: Client): AdmissionRefusal | undefined {
    const source = sourceOf(client.connection.remoteAddress);
    const fromSource = this.#perSource.get(source) ?? 0;
    if (fromSource >= this.#params.maxPendingPerSource) {
      this.closed.per_source++;
      return {
        kind: 'per_source',
        reason:
          `too many connections from your address waiting to authenticate ` +
          `(${this.#params.maxPendingPerSource}, [limit] max_unauthenticated_per_address)`,
      };
    }
    while (this.#waiting.size >= this.#params.maxPending) {
      const oldest = this.#waiting.keys().next().value!;
      this.leave(oldest);
      this.closed.evicted++;
      this.#close(oldest, {
        kind: 'evicted',
        reason: `too many connections waiting to authenticate ([limit] max_unauthenticated): authenticate first`,
      });
    }
    const timer = this.#clock.setTimeout(() => {
      if (!this.#waiting.has(client)) return;
      this.leave(client);
      this.closed.timeout++;
      this.#close(client, {
        kind: 'timeout',
        reason: `not authenticated within ${this.#params.timeoutMs} ms ([limit] authentication_timeout)`,
      });
    }, this.#params.timeoutMs);
    this.#waiting.set(client, { source, timer });
    this.#perSource.set(source, fromSource + 1);
    return undefined;
  }

  /** The client authenticated or closed: it no longer waits. Idempotent. */
  leave(client: Client): void {
    const waiting = this.#waiting.get(client);
    if (waiting === undefined) return;
    this.#waiting.delete(client);
    this.#clock.clearTimeout(waiting.timer);
    const left = (this.#perSource.get(waiting.source) ?? 1) - 1;
    if (left <= 0) this.#perSource.delete(waiting.source);
    else this.#perSource.set(waiting.source, left);
  }

  waiting(client: Client): boolean {
    return this.#waiting.has(client);
  }
}
