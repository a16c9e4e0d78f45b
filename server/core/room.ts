/**
 * A Room: the peers that joined (namespace, room id), created on the first join and removed
 * when its last peer leaves. It owns the room-level operations (membership, user data,
 * medias, pauses, positions, messages) and sends their notifications; proximity.ts keeps
 * who sees and hears whom.
 */
import type { Position } from '../protocol/methods.ts';
import type { RoomWire } from '../protocol/notifications.ts';
import * as note from '../protocol/notifications.ts';
import type { Peer, PeerRoom } from './client.ts';
import { RpcError } from './errors.ts';
import { Media } from './media.ts';
import { detach, dropMedia, selectHearing, updateVisibility } from './proximity.ts';
import type { TokenBucketParams } from './tokenBucket.ts';

/** Media ids are uint16; 0 is never handed out. */
const MAX_MEDIA_ID = 0xffff;

/** What a room needs from the server it lives on. */
export type RoomContext = {
  concurrentStreams: number;
  incomingMediaPackets: TokenBucketParams | undefined;
  now(): number;
  /** A peer's notification queue overflowed (its room stream never attached): make it leave. */
  onQueueOverflow(peer: Peer): void;
  onMediaStarted(peer: Peer, media: Media): void;
  onMediaStopped(peer: Peer, media: Media): void;
  /** A media's receivers or pauses changed (Media.invalidate). */
  onRoutingChange?(media: Media): void;
};

/** The key of (namespace, room id) in maps: unambiguous for any strings. */
export function roomKey(namespace: string, roomId: string): string {
  return `${namespace.length}:${namespace}${roomId}`;
}

export class Room implements PeerRoom {
  readonly key: string;
  readonly id: string;
  readonly namespace: string;
  readonly customer: string;
  /** Clock time (RoomContext.now) of creation, for the report's room age. */
  readonly createdAt: number;
  userData: Uint8Array = new Uint8Array(0);
  readonly peers = new Map<number, Peer>();
  /** Started medias of every peer, by media id. */
  readonly mediaById = new Map<number, Media>();
  readonly #context: RoomContext;
  readonly #usedMediaIds = new Set<number>();
  #nextMediaId = 1;

  constructor(namespace: string, id: string, customer: string, context: RoomContext) {
    this.key = roomKey(namespace, id);
    this.namespace = namespace;
    this.id = id;
    this.customer = customer;
    this.#context = context;
    this.createdAt = context.now();
  }

  /**
   * `count` free media ids: unique in this room and not in `avoid` (the ids the client uses
   * in its other rooms, so that a voice packet's media id names one media of the client).
   * Undefined when the id space is exhausted.
   */
  allocateMediaIds(count: number, avoid: ReadonlySet<number>): number[] | undefined {
    const ids: number[] = [];
    for (let tried = 0; ids.length < count && tried < MAX_MEDIA_ID; tried++) {
      const id = this.#nextMediaId;
      this.#nextMediaId = id === MAX_MEDIA_ID ? 1 : id + 1;
      if (!this.#usedMediaIds.has(id) && !avoid.has(id)) ids.push(id);
    }
    if (ids.length < count) return undefined;
    for (const id of ids) this.#usedMediaIds.add(id);
    return ids;
  }

  /** The room as `receiver` sees it: the peers in its range, their medias. */
  toWire(receiver: Peer): RoomWire {
    const peers = [];
    for (const other of receiver.visible) peers.push(other.toWire(receiver));
    return { id: this.id, customer: this.customer, user_data: this.userData, peers };
  }

  #send(peer: Peer, bytes: Uint8Array): void {
    if (!peer.send(bytes)) this.#context.onQueueOverflow(peer);
  }

  #reselect(receivers: Iterable<Peer>): void {
    const cap = this.#context.concurrentStreams;
    for (const receiver of receivers) selectHearing(receiver, cap);
  }

  /**
   * Adds a peer: PeerJoined to the peers in its range; Joined queued for the peer itself.
   * Every notification is built before any is sent: should one fail to encode, the room is
   * left as it was (no half-joined peer, nobody told) and the error goes to the caller.
   */
  add(peer: Peer): void {
    this.peers.set(peer.id, peer);
    const { entered } = updateVisibility(peer, this.peers.values());
    let joined: Uint8Array;
    let announcements: [Peer, Uint8Array][];
    try {
      joined = note.joined(this.toWire(peer), [...peer.mediaPool], peer.id);
      announcements = entered.map((other) => [other, note.peerJoined(peer.toWire(other))]);
    } catch (error) {
      detach(peer);
      this.peers.delete(peer.id);
      for (const id of peer.mediaPool) this.#usedMediaIds.delete(id);
      throw error;
    }
    // Joined is queued first, so it precedes every later event on the room stream.
    this.#send(peer, joined);
    for (const [other, bytes] of announcements) this.#send(other, bytes);
    selectHearing(peer, this.#context.concurrentStreams);
  }

  /** Removes a peer: PeerLeft to the peers that saw it, its medias and media ids released. */
  remove(peer: Peer): void {
    if (!this.peers.delete(peer.id)) return;
    for (const media of peer.medias.values()) {
      this.mediaById.delete(media.id);
      this.#context.onMediaStopped(peer, media);
    }
    const saw = detach(peer);
    for (const other of saw) this.#send(other, note.peerLeft(peer.id));
    if (this.#context.concurrentStreams > 0) this.#reselect(saw);
    for (const id of peer.mediaPool) {
      this.#usedMediaIds.delete(id);
      for (const other of this.peers.values()) other.paused.delete(id);
    }
    peer.medias.clear();
  }

  setPeerUserData(peer: Peer, userData: Uint8Array): void {
    peer.userData = userData;
    const bytes = note.peerUserDataChanged(peer.id, userData);
    for (const other of peer.visible) this.#send(other, bytes);
  }

  /** Room user data: every other peer learns it, in range or not. */
  setUserData(from: Peer | undefined, userData: Uint8Array): void {
    this.userData = userData;
    const bytes = note.roomUserDataChanged(userData);
    for (const other of this.peers.values()) if (other !== from) this.#send(other, bytes);
  }

  startMedia(peer: Peer, mediaId: number, properties: Record<string, unknown>): Media {
    if (!peer.mediaPool.includes(mediaId)) {
      throw new RpcError(
        'bad_media',
        `StartMedia: media id ${mediaId} is not in this peer's pool (Joined.media_ids)`,
      );
    }
    if (peer.medias.has(mediaId)) {
      throw new RpcError('bad_media', `StartMedia: media ${mediaId} is already started`);
    }
    // Build what every receiver (and every later joiner) will be sent before changing any state:
    // properties that cannot be encoded must be refused, not recorded (issue 14, defect 3).
    // The params schema (methods.ts) bounds them already; this is the last line.
    try {
      note.mediaStarted(peer.id, { id: mediaId, properties, paused: false });
    } catch (error) {
      throw new RpcError(
        'bad_request',
        `StartMedia.properties: cannot be sent to other peers (${(error as Error)?.message ?? error})`,
      );
    }
    const media = new Media(
      peer,
      mediaId,
      properties,
      this.#context.incomingMediaPackets,
      this.#context.now(),
      this.#context.onRoutingChange,
    );
    peer.medias.set(mediaId, media);
    this.mediaById.set(mediaId, media);
    this.#context.onMediaStarted(peer, media);
    for (const other of peer.visible) this.#send(other, note.mediaStarted(peer.id, media.toWire(other)));
    this.#reselect(peer.visible);
    return media;
  }

  stopMedia(peer: Peer, mediaId: number): void {
    const media = peer.medias.get(mediaId);
    if (media === undefined) throw new RpcError('bad_media', `StopMedia: media ${mediaId} is not started`);
    peer.medias.delete(mediaId);
    this.mediaById.delete(mediaId);
    dropMedia(media);
    this.#context.onMediaStopped(peer, media);
    // A pause applies to one media's life; a restarted media with the same id plays again.
    for (const other of this.peers.values()) other.paused.delete(mediaId);
    for (const other of peer.visible) this.#send(other, note.mediaStopped(peer.id, mediaId));
    if (this.#context.concurrentStreams > 0) this.#reselect(peer.visible);
  }

  /** Pause (or resume) forwarding of another peer's media to `receiver` only. */
  setPaused(receiver: Peer, mediaId: number, paused: boolean): void {
    const media = this.mediaById.get(mediaId);
    const method = paused ? 'PauseMedia' : 'ResumeMedia';
    if (media === undefined) throw new RpcError('bad_media', `${method}: no media ${mediaId} in this room`);
    if (media.peer === receiver)
      throw new RpcError('bad_media', `${method}: media ${mediaId} is this peer's own`);
    if (paused) receiver.paused.add(mediaId);
    else receiver.paused.delete(mediaId);
    media.invalidate();
  }

  /** Moves a peer; a no-op move is ignored. PeerJoined/PeerLeft to both sides of each change. */
  movePeer(peer: Peer, position: Position): void {
    if (peer.samePosition(position)) return;
    const before = this.#context.concurrentStreams > 0 ? [...peer.visible] : [];
    peer.setPosition(position);
    const { entered, left } = updateVisibility(peer, this.peers.values());
    for (const other of left) {
      this.#send(other, note.peerLeft(peer.id));
      this.#send(peer, note.peerLeft(other.id));
    }
    for (const other of entered) {
      this.#send(other, note.peerJoined(peer.toWire(other)));
      this.#send(peer, note.peerJoined(other.toWire(peer)));
    }
    selectHearing(peer, this.#context.concurrentStreams);
    // With a cap, distances decide who hears whom: everyone near before or after re-selects.
    this.#reselect(
      this.#context.concurrentStreams > 0 ? new Set([...before, ...peer.visible]) : [...entered, ...left],
    );
  }

  /** A message from the server itself (sender peer id 0: peer ids start at 1) to `targets`. */
  sendServerMessage(message: Uint8Array, targets: Iterable<Peer>): void {
    const bytes = note.messageReceived(0, message);
    for (const target of targets) this.#send(target, bytes);
  }

  /**
   * A message to `targets` (peer ids in this room; unknown ids are skipped), or to every
   * other peer. Messages ignore proximity.
   */
  sendMessage(from: Peer, message: Uint8Array, targets: readonly number[] | undefined): void {
    const bytes = note.messageReceived(from.id, message);
    if (targets === undefined) {
      for (const other of this.peers.values()) if (other !== from) this.#send(other, bytes);
      return;
    }
    const seen = new Set<number>();
    for (const id of targets) {
      if (seen.has(id)) continue;
      seen.add(id);
      const target = this.peers.get(id);
      if (target !== undefined) this.#send(target, bytes);
    }
  }
}
