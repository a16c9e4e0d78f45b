/**
 * One joined room, as both clients see it: its room stream (an RpcSession over a WebSocket or
 * a WebTransport stream), the `Joined` info, the peers in range, the room methods, and the
 * notifications as typed events. The web client (odinClient.ts, generation A) and the native
 * client (quic/odinQuicClient.ts, generation B) join differently and share this class.
 */
import { EventEmitter } from 'node:events';
import type { Position } from '../server/protocol/methods.ts';
import type { RpcSession } from './rpcSession.ts';

/** A peer as the server describes it (`Peer` in the protocol), user data as bytes. */
export type PeerInfo = {
  id: number;
  user_id: string;
  user_data: Uint8Array;
  medias: { id: number; properties: Record<string, unknown>; paused: boolean }[];
};

export type JoinedInfo = {
  room: { id: string; customer: string; user_data: Uint8Array; peers: PeerInfo[] };
  media_ids: number[];
  own_peer_id: number;
};

type RoomUpdate =
  | ({ kind: 'Joined' } & JoinedInfo)
  | { kind: 'Left'; reason: string }
  | { kind: 'UserDataChanged'; user_data: Uint8Array }
  | { kind: 'PeerJoined'; peer: PeerInfo }
  | { kind: 'PeerLeft'; peer_id: number };

type RoomEvents = {
  /** Every notification on the room stream, in order. */
  notification: [method: string, params: unknown];
  update: [update: RoomUpdate];
  peerUpdated: [params: Record<string, unknown> & { kind: string; peer_id: number }];
  message: [params: { sender_peer_id: number; message: Uint8Array }];
  closed: [code: number, reason: string];
};

/** `S`: the room stream's own type (the web client's is an RpcSocket). */
export class OdinRoom<S extends RpcSession = RpcSession> extends EventEmitter<RoomEvents> {
  readonly stream: S;
  /** The peer id the JoinRoom answer named (generation B); generation A learns it from `Joined`. */
  readonly peerId: number | undefined;
  /** Peers currently visible (in range), by id. */
  readonly peers = new Map<number, PeerInfo>();
  #joined: JoinedInfo | undefined;

  /**
   * Takes the room stream as soon as it is open, so no notification that follows `Joined` in
   * the same read can be missed (ws emits them synchronously, one after another).
   */
  constructor(stream: S, peerId?: number) {
    super();
    this.stream = stream;
    this.peerId = peerId;
    stream.on('notification', (method, params) => this.#onNotification(method, params));
    stream.on('close', (code, reason) => this.emit('closed', code, reason));
  }

  get joined(): JoinedInfo {
    if (!this.#joined) throw new Error('the room has not been joined yet');
    return this.#joined;
  }

  get ownPeerId(): number {
    return this.joined.own_peer_id;
  }

  /** The media id the web SDK would use: the last of the pool. */
  get mediaId(): number {
    return this.joined.media_ids[this.joined.media_ids.length - 1]!;
  }

  request(method: string, params: unknown): Promise<unknown> {
    return this.stream.request(method, params);
  }

  startMedia(
    mediaId = this.mediaId,
    properties: Record<string, unknown> = { kind: 'audio' },
  ): Promise<unknown> {
    return this.request('StartMedia', { media_id: mediaId, properties });
  }

  stopMedia(mediaId = this.mediaId): Promise<unknown> {
    return this.request('StopMedia', { media_id: mediaId });
  }

  pauseMedia(mediaId: number): Promise<unknown> {
    return this.request('PauseMedia', { media_id: mediaId });
  }

  resumeMedia(mediaId: number): Promise<unknown> {
    return this.request('ResumeMedia', { media_id: mediaId });
  }

  setPosition(position: Position): Promise<unknown> {
    return this.request('SetPeerPosition', { position });
  }

  updatePeer(userData: Uint8Array): Promise<unknown> {
    return this.request('UpdatePeer', { user_data: userData });
  }

  updateRoom(userData: Uint8Array): Promise<unknown> {
    return this.request('UpdateRoom', { user_data: userData });
  }

  sendMessage(message: Uint8Array, targetPeerIds?: number[]): Promise<unknown> {
    return this.request(
      'SendMessage',
      targetPeerIds ? { message, target_peer_ids: targetPeerIds } : { message },
    );
  }

  /** Resolves with the first event for which `predicate` holds. */
  next<E extends keyof RoomEvents>(
    event: E,
    predicate: (...args: RoomEvents[E]) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<RoomEvents[E]> {
    return new Promise((resolve, reject) => {
      const listener = (...args: RoomEvents[E]) => {
        if (!predicate(...args)) return;
        clearTimeout(timer);
        this.off(event, listener as never);
        resolve(args);
      };
      const timer = setTimeout(() => {
        this.off(event, listener as never);
        reject(new Error(`no ${String(event)} event within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on(event, listener as never);
    });
  }

  /** Resolves once `Joined` arrived; rejects when the room stream closes before it. */
  async waitJoined(): Promise<void> {
    if (this.#joined !== undefined) return;
    await Promise.race([
      this.next('update', (update) => update.kind === 'Joined'),
      new Promise((_, reject) =>
        this.stream.once('close', (code, reason) =>
          reject(new Error(`room stream closed before Joined: ${code} ${reason}`)),
        ),
      ),
    ]);
  }

  leave(): Promise<void> {
    return this.stream.close();
  }

  #onNotification(method: string, params: unknown): void {
    this.emit('notification', method, params);
    const p = params as Record<string, unknown>;
    if (method === 'RoomUpdated') {
      for (const update of (p.updates as RoomUpdate[]) ?? []) {
        if (update.kind === 'Joined') {
          this.#joined = update;
          for (const peer of update.room.peers) this.peers.set(peer.id, peer);
        }
        if (update.kind === 'PeerJoined') this.peers.set(update.peer.id, update.peer);
        if (update.kind === 'PeerLeft') this.peers.delete(update.peer_id);
        this.emit('update', update);
      }
    } else if (method === 'PeerUpdated') {
      this.emit('peerUpdated', p as Record<string, unknown> & { kind: string; peer_id: number });
    } else if (method === 'MessageReceived') {
      this.emit('message', p as { sender_peer_id: number; message: Uint8Array });
    }
  }
}
