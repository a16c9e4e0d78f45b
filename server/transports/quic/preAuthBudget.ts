/**
 * The budget of QUIC connections that have not authenticated yet (docs/security-quic.md).
 * Everything such a connection holds (quiche state, receive windows, HTTP/3 stream state) is
 * spent on a client that has proved nothing but its address (the Retry did that), so there is
 * a cap on how many may exist at once, overall and per client address, on top of the deadline
 * (`[quic] connect_timeout`) each one has to authenticate in. A connection leaves the budget
 * when it authenticates or closes; a new connection beyond a cap is not accepted (its Initial
 * is dropped, the client retries).
 */
import type { Client, Peer } from '../../core/client.ts';
import type { Sfu } from '../../core/sfu.ts';

/** Unauthenticated connections at once, all addresses together. */
export const MAX_UNAUTHENTICATED_CONNECTIONS = 512;
/**
 * Unauthenticated connections at once from one IP address, so one address cannot take the
 * whole budget. A legitimate client is unauthenticated for a few round trips only, so even many
 * clients behind one NAT (or a load generator joining 100 peers per second into a busy server)
 * stay well under it.
 */
export const MAX_UNAUTHENTICATED_PER_ADDRESS = 64;

export type PreAuthLimits = { total: number; perAddress: number };

export class PreAuthBudget<K> {
  readonly #limits: PreAuthLimits;
  readonly #open = new Map<K, string>();
  readonly #perAddress = new Map<string, number>();
  /** New connections refused because a cap was reached. */
  refused = 0;

  constructor(
    limits: PreAuthLimits = {
      total: MAX_UNAUTHENTICATED_CONNECTIONS,
      perAddress: MAX_UNAUTHENTICATED_PER_ADDRESS,
    },
  ) {
    this.#limits = limits;
  }

  /** Unauthenticated connections now. */
  get size(): number {
    return this.#open.size;
  }

  /** Whether a new connection from `address` fits (counts a refusal when not). */
  admit(address: string): boolean {
    const fits =
      this.#open.size < this.#limits.total && (this.#perAddress.get(address) ?? 0) < this.#limits.perAddress;
    if (!fits) this.refused++;
    return fits;
  }

  /** A connection from `address` starts unauthenticated. */
  add(key: K, address: string): void {
    if (this.#open.has(key)) return;
    this.#open.set(key, address);
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
  }

  /** The connection authenticated or closed. Idempotent. */
  end(key: K): void {
    const address = this.#open.get(key);
    if (address === undefined) return;
    this.#open.delete(key);
    const count = (this.#perAddress.get(address) ?? 1) - 1;
    if (count <= 0) this.#perAddress.delete(address);
    else this.#perAddress.set(address, count);
  }

  /** Whether `key` is still unauthenticated. */
  has(key: K): boolean {
    return this.#open.has(key);
  }
}

/**
 * Tells when a client authenticates by joining (a JoinRoom whose token was checked): the core's
 * `peerjoined` event, for the clients being watched. (Generation A's `Authenticate` sets
 * `client.grant`, which the deadline looks at itself.)
 */
export class JoinWatch<K> {
  readonly #sfu: Sfu;
  readonly #onJoined: (key: K, client: Client) => void;
  readonly #watched = new Map<Client, K>();

  constructor(sfu: Sfu, onJoined: (key: K, client: Client) => void) {
    this.#sfu = sfu;
    this.#onJoined = onJoined;
  }

  start(): void {
    this.#sfu.observer.on('peerjoined', this.#peerJoined);
  }

  stop(): void {
    this.#sfu.observer.off('peerjoined', this.#peerJoined);
    this.#watched.clear();
  }

  /** Reports `client`'s first join as `key`. */
  watch(client: Client, key: K): void {
    this.#watched.set(client, key);
  }

  forget(client: Client | undefined): void {
    if (client !== undefined) this.#watched.delete(client);
  }

  readonly #peerJoined = (peer: Peer): void => {
    const key = this.#watched.get(peer.client);
    if (key === undefined) return;
    this.#watched.delete(peer.client);
    this.#onJoined(key, peer.client);
  };
}
