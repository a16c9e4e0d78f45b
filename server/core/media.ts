/**
 * A Media: one outgoing audio stream of a peer, identified by a uint16 id from the peer's
 * pool (unique in the room and within the sending client). It keeps the set of peers that
 * currently receive it (maintained by proximity.ts) and, for the voice hot path, a lazily
 * rebuilt array of the clients to forward to (receivers that have not paused it).
 */
import type { MediaWire } from '../protocol/notifications.ts';
import type { Connection } from './connection.ts';
import { TokenBucket, type TokenBucketParams } from './tokenBucket.ts';

// A media links back to the peer that holds it, and its forward list to clients: naming
// client.ts's Peer and Client here would make the two files import each other. So media.ts, at
// the bottom of the core's entities, names only what a media (and the voice router, walking
// from it) needs of them; Peer and Client fit these shapes.

/** The peer that sends a media: its id (proximity's tie-break) and its room's medias. */
export interface MediaSender {
  readonly id: number;
  /** Voice routing finds the other medias of the room that one packet names here. */
  readonly room: { readonly mediaById: ReadonlyMap<number, Media> };
}

/** A peer that receives a media: what the forward list is built from. */
export interface MediaReceiver {
  /** Media ids this receiver does not want forwarded. */
  readonly paused: ReadonlySet<number>;
  readonly client: VoiceDestination;
  /** The medias it receives, kept in step with `Media.receivers` by proximity.ts. */
  readonly hearing: Set<Media>;
}

/** A receiver's client, as the voice router sends to it. */
export interface VoiceDestination {
  readonly connection: Connection;
  /** Voice routing scratch: de-duplicates sends of one packet (voiceRouter.ts). */
  voiceStamp: number;
}

export class Media {
  readonly id: number;
  readonly peer: MediaSender;
  readonly properties: Record<string, unknown>;
  /** `[limit.network] incoming_media_packets` bucket; undefined: unlimited. */
  readonly bucket: TokenBucket | undefined;
  /** Peers that receive this media now (in range, chosen by concurrent_streams). Internal. */
  readonly receivers = new Set<MediaReceiver>();
  /** `[limit.network] incoming_media_packets` (a data plane outside JavaScript applies it too). */
  readonly rate: TokenBucketParams | undefined;
  #forward: VoiceDestination[] | null = null;
  readonly #onRoutingChange: ((media: Media) => void) | undefined;

  constructor(
    peer: MediaSender,
    id: number,
    properties: Record<string, unknown>,
    rate: TokenBucketParams | undefined,
    now: number,
    onRoutingChange?: (media: Media) => void,
  ) {
    this.peer = peer;
    this.id = id;
    this.properties = properties;
    this.rate = rate;
    this.bucket = rate === undefined ? undefined : new TokenBucket(rate, now);
    this.#onRoutingChange = onRoutingChange;
  }

  /** HOT PATH: the clients a packet of this media goes to. Rebuilt only after a change. */
  forwardList(): VoiceDestination[] {
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

  /**
   * Receivers or pauses changed: rebuild the forward list on the next packet, and tell the
   * observer (the native QUIC engine pushes the new list into its forwarding table at once,
   * docs/native-quic.md). Every routing change of a media comes through here.
   */
  invalidate(): void {
    this.#forward = null;
    this.#onRoutingChange?.(this);
  }

  toWire(receiver: MediaReceiver | undefined): MediaWire {
    return { id: this.id, properties: this.properties, paused: receiver?.paused.has(this.id) ?? false };
  }
}
