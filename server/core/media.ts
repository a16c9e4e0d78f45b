/**
 * A Media: one outgoing audio stream of a peer, identified by a uint16 id from the peer's
 * pool (unique in the room and within the sending client). It keeps the set of peers that
 * currently receive it (maintained by proximity.ts) and, for the voice hot path, a lazily
 * rebuilt array of the clients to forward to (receivers that have not paused it).
 */
import type { MediaWire } from '../protocol/notifications.ts';
import type { Client } from './client.ts';
import type { Peer } from './peer.ts';
import { TokenBucket, type TokenBucketParams } from './tokenBucket.ts';

export class Media {
  readonly id: number;
  readonly peer: Peer;
  readonly properties: Record<string, unknown>;
  /** `[limit.network] incoming_media_packets` bucket; undefined: unlimited. */
  readonly bucket: TokenBucket | undefined;
  /** Peers that receive this media now (in range, chosen by concurrent_streams). Internal. */
  readonly receivers = new Set<Peer>();
  #forward: Client[] | null = null;

  constructor(
    peer: Peer,
    id: number,
    properties: Record<string, unknown>,
    rate: TokenBucketParams | undefined,
    now: number,
  ) {
    this.peer = peer;
    this.id = id;
    this.properties = properties;
    this.bucket = rate === undefined ? undefined : new TokenBucket(rate, now);
  }

  /** HOT PATH: the clients a packet of this media goes to. Rebuilt only after a change. */
  forwardList(): Client[] {
    let list = this.#forward;
    if (list === null) {
      list = [];
      for (const receiver of this.receivers) {
        if (!receiver.paused.has(this.id)) list.push(receiver.client);
      }
      this.#forward = list;
    }
    return list;
  }

  /** Receivers or pauses changed: rebuild the forward list on the next packet. */
  invalidate(): void {
    this.#forward = null;
  }

  toWire(receiver: Peer | undefined): MediaWire {
    return { id: this.id, properties: this.properties, paused: receiver?.paused.has(this.id) ?? false };
  }
}
