/**
 * A Peer: one client's presence in one room. Its id is unique on the server, non-zero and
 * below 2^32 (the SDK decodes uint64 as BigInt and breaks). It owns a media-id pool, its
 * started medias, the media ids it has paused (as a receiver), its position, and its room
 * stream: the connection its notifications go to.
 *
 * Room stream: in generation A the client binds it with a second WebSocket after `JoinRoom`
 * answered `{stream_id}`. Until it attaches, notifications queue (Joined first, built at join
 * time, then every later event in order), so the client sees a consistent history; attaching
 * flushes the queue. A transport that multiplexes rooms on the main connection attaches it
 * right after the JoinRoom response.
 */
import type { Position } from '../protocol/methods.ts';
import type { PeerWire } from '../protocol/notifications.ts';
import type { Client } from './client.ts';
import type { Connection } from './connection.ts';
import type { Media } from './media.ts';
import type { Room } from './room.ts';

/** Most notifications queued for a room stream that has not attached yet. */
export const MAX_PENDING_NOTIFICATIONS = 1024;

export type PeerInit = {
  id: number;
  streamId: number;
  userId: string;
  client: Client;
  room: Room;
  userData: Uint8Array;
  position: Position;
  mediaPool: readonly number[];
};

export class Peer {
  readonly id: number;
  readonly streamId: number;
  readonly userId: string;
  readonly client: Client;
  readonly room: Room;
  readonly mediaPool: readonly number[];
  userData: Uint8Array;
  /** Position; a 2D position has z = 0. */
  x = 0;
  y = 0;
  z = 0;
  /** Started medias by id. */
  readonly medias = new Map<number, Media>();
  /** Media ids (of other peers in the room) this peer does not want forwarded. */
  readonly paused = new Set<number>();
  /** Peers in range (symmetric). Maintained by proximity.ts. */
  readonly visible = new Set<Peer>();
  /** Medias this peer receives. Maintained by proximity.ts. */
  readonly hearing = new Set<Media>();
  /** Set once the peer has left its room. */
  left = false;
  /** Set once the peer was told it leaves (`Left {reason}`): it gets no further notification. */
  #told = false;
  #stream: Connection | undefined;
  #pending: Uint8Array[] | undefined = [];

  constructor(init: PeerInit) {
    this.id = init.id;
    this.streamId = init.streamId;
    this.userId = init.userId;
    this.client = init.client;
    this.room = init.room;
    this.userData = init.userData;
    this.mediaPool = init.mediaPool;
    this.setPosition(init.position);
  }

  setPosition(position: Position): void {
    this.x = position[0];
    this.y = position[1];
    this.z = position[2] ?? 0;
  }

  samePosition(position: Position): boolean {
    return this.x === position[0] && this.y === position[1] && this.z === (position[2] ?? 0);
  }

  get stream(): Connection | undefined {
    return this.#stream;
  }

  /** Notifications waiting for the room stream (0 once attached). */
  get pendingCount(): number {
    return this.#pending?.length ?? 0;
  }

  /**
   * Sends a notification on the room stream, or queues it until the stream attaches.
   * Returns false when the queue is full (the caller makes the peer leave).
   */
  send(bytes: Uint8Array): boolean {
    if (this.left || this.#told) return true;
    if (this.#stream !== undefined) {
      this.#stream.sendRpc(bytes);
      return true;
    }
    const pending = this.#pending!;
    if (pending.length >= MAX_PENDING_NOTIFICATIONS) return false;
    pending.push(bytes);
    return true;
  }

  /**
   * Sends `Left {reason}` (already encoded) as the peer's last notification. Idempotent: a
   * peer told once is not told again, and later events (other peers leaving the same closing
   * room) are not sent after it.
   */
  sendLast(bytes: Uint8Array): void {
    if (this.#told) return;
    this.send(bytes);
    this.#told = true;
  }

  /** Binds the room stream and flushes the queued notifications (Joined first). */
  attachStream(connection: Connection): void {
    this.#stream = connection;
    const pending = this.#pending ?? [];
    this.#pending = undefined;
    for (const bytes of pending) connection.sendRpc(bytes);
  }

  toWire(receiver: Peer | undefined): PeerWire {
    const medias = [];
    for (const media of this.medias.values()) medias.push(media.toWire(receiver));
    return { id: this.id, user_id: this.userId, user_data: this.userData, medias };
  }
}
