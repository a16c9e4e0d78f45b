/**
 * A Client and its Peers.
 *
 * A Client: one main connection, the grant its token gave it, and its peers (one per room it
 * joined). The transport feeds it RPC frames (`handleRpc`) and reports the close
 * (`handleClose`); voice goes to `sfu.handleVoice(client, bytes)`.
 *
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
 *
 * Why one file: a client holds its peers and each peer its client, and the code above (sfu.ts,
 * rpc.ts, the QUIC transport) walks that link both ways and needs the whole entity at either
 * end (a peer's client gets the peer's room-stream channel and its no-peers timer; a client's
 * peers leave with it, and its room streams are found among them). A narrow interface on
 * either side would leave that code casting or looking the other up; the two are one idea, so
 * they share a module. The core's entities layer as room.ts → proximity.ts → client.ts →
 * media.ts: a peer reaches its room through {@link PeerRoom}, a media its peers through the
 * interfaces of media.ts (docs/architecture.md).
 */
import type { Position } from '../protocol/methods.ts';
import type { PeerWire } from '../protocol/notifications.ts';
import type { TimerHandle } from './clock.ts';
import type { Connection, RpcEndpoint } from './connection.ts';
import type { Media } from './media.ts';

/**
 * What a verified token allows, as the core needs it. The wiring maps the auth module's
 * VerifiedToken onto it: `userId` ← uid, `roomIds` ← rid as a list, `namespace` ← nsp, else
 * cid, else '', `customerId` ← cid.
 */
export type Grant = {
  userId: string;
  roomIds: readonly string[];
  namespace: string;
  customerId?: string;
};

/** Verifies a token (generation A `Authenticate`, generation B `JoinRoom {token}`); throws with a reason to refuse. */
export type Authenticator = (token: string) => Grant | Promise<Grant>;

export type ConnectOptions = {
  /**
   * Room notifications and room methods travel on the main connection instead of a separate
   * room stream (one room per client). Default false: generation A's `/room?<stream_id>`.
   */
  roomStreamOnMain?: boolean;
  /**
   * `no_peers_timeout` of the client's listener, ms: a client in no room for this long (from
   * its connect, or since its last peer left) is disconnected. 0 or absent: never.
   */
  noPeersTimeoutMs?: number;
};

export type ClientInit = {
  id: number;
  connection: Connection;
  roomStreamOnMain: boolean;
  noPeersTimeoutMs?: number;
};

export class Client implements RpcEndpoint {
  readonly id: number;
  readonly connection: Connection;
  readonly roomStreamOnMain: boolean;
  readonly noPeersTimeoutMs: number;
  /** Internal (sfu.ts): runs out while the client has no peers. */
  noPeersTimer: TimerHandle | undefined;
  grant: Grant | undefined;
  /** One peer per room. */
  readonly peers = new Set<Peer>();
  /** Started medias of all its peers by id (ids are unique within a client): voice routing. */
  readonly mediaById = new Map<number, Media>();
  /** Media-pool ids of all its peers. */
  readonly mediaPoolIds = new Set<number>();
  /** Voice routing scratch: de-duplicates sends of one packet. Internal. */
  voiceStamp = 0;
  closed = false;
  #endpoint: RpcEndpoint | undefined;
  #onAuthenticated: (() => void) | undefined;

  constructor(init: ClientInit) {
    this.id = init.id;
    this.connection = init.connection;
    this.roomStreamOnMain = init.roomStreamOnMain;
    this.noPeersTimeoutMs = init.noPeersTimeoutMs ?? 0;
  }

  /** Internal: the Sfu binds the RPC channel of the main connection. */
  bindEndpoint(endpoint: RpcEndpoint): void {
    this.#endpoint = endpoint;
  }

  /** Internal: the Sfu's admission of an authenticated client (it may throw `server_full`). */
  bindAuthenticated(onAuthenticated: () => void): void {
    this.#onAuthenticated = onAuthenticated;
  }

  /**
   * The client authenticated with `grant` (the `Authenticate` RPC, or the transport itself).
   * Throws an RpcError `server_full` when `[limit] max_clients` authenticated clients exist.
   */
  setGrant(grant: Grant): void {
    this.#onAuthenticated?.();
    this.grant = grant;
  }

  handleRpc(bytes: Uint8Array): void {
    this.#endpoint?.handleRpc(bytes);
  }

  handleClose(): void {
    this.#endpoint?.handleClose();
  }

  /** The client's peer in (namespace, room id), if any. */
  peerIn(namespace: string, roomId: string): Peer | undefined {
    for (const peer of this.peers)
      if (peer.room.namespace === namespace && peer.room.id === roomId) return peer;
    return undefined;
  }
}

/**
 * A peer's room, as the code holding a peer reaches it through `peer.room`: the room's identity
 * and medias (reports, reconnect tokens, voice routing) and what a peer may ask of its room
 * (its RPCs, leaving). Room (room.ts) implements it. It exists because a room holds its peers:
 * naming the Room class here would make this file and room.ts import each other; how a room
 * admits a peer and keeps its peers in step (proximity, notifications) stays out of it.
 */
export interface PeerRoom {
  /** The room's key in the server's map of rooms: `roomKey(namespace, id)`. */
  readonly key: string;
  readonly id: string;
  readonly namespace: string;
  readonly customer: string;
  readonly peers: ReadonlyMap<number, Peer>;
  /** Started medias of every peer, by media id. */
  readonly mediaById: ReadonlyMap<number, Media>;
  remove(peer: Peer): void;
  setPeerUserData(peer: Peer, userData: Uint8Array): void;
  setUserData(from: Peer | undefined, userData: Uint8Array): void;
  startMedia(peer: Peer, mediaId: number, properties: Record<string, unknown>): Media;
  stopMedia(peer: Peer, mediaId: number): void;
  setPaused(receiver: Peer, mediaId: number, paused: boolean): void;
  movePeer(peer: Peer, position: Position): void;
  sendMessage(from: Peer, message: Uint8Array, targets: readonly number[] | undefined): void;
}

/** Most notifications queued for a room stream that has not attached yet. */
export const MAX_PENDING_NOTIFICATIONS = 1024;

export type PeerInit = {
  id: number;
  streamId: number;
  userId: string;
  client: Client;
  room: PeerRoom;
  userData: Uint8Array;
  position: Position;
  mediaPool: readonly number[];
};

export class Peer {
  readonly id: number;
  readonly streamId: number;
  readonly userId: string;
  readonly client: Client;
  readonly room: PeerRoom;
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
