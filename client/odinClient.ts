/**
 * A Node client for ODIN Grid's web transport, speaking generation A exactly as the
 * `@4players/odin` 0.16 web SDK does (ODIN-PROTOCOL.md section 2):
 *
 *   wss://<address>/main    Authenticate {token} -> {room_ids}
 *                           SetupWebRtc {sdp: offer} -> {sdp: answer}   (when voice is on)
 *                           JoinRoom {room_id, user_data, position} -> {stream_id}
 *   wss://<address>/room?<stream_id>   RoomUpdated{Joined} arrives; room methods go here
 *
 * Voice packets ride the WebRTC data channel "audio" of the client (one per client, shared by
 * its rooms). Used by the tests, bots and the load generator.
 */
import { EventEmitter } from 'node:events';
import type { Position } from '../server/protocol/methods.ts';
import { RpcSocket, type RpcSocketOptions } from './rpcSocket.ts';
import { WebRtcVoice } from './webrtc/webRtcVoice.ts';

export type OdinClientOptions = RpcSocketOptions & {
  /** Open the WebRTC voice channel (SetupWebRtc). Default true. */
  voice?: boolean;
  /** Local IP for WebRTC gathering (tests: '127.0.0.1'). */
  localAddress?: string;
};

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

export class OdinRoom extends EventEmitter<RoomEvents> {
  readonly stream: RpcSocket;
  /** Peers currently visible (in range), by id. */
  readonly peers = new Map<number, PeerInfo>();
  #joined: JoinedInfo | undefined;

  /**
   * Takes the room stream as soon as it is open, so no notification that follows `Joined` in
   * the same read can be missed (ws emits them synchronously, one after another).
   */
  constructor(stream: RpcSocket) {
    super();
    this.stream = stream;
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

export class OdinClient {
  readonly address: string;
  readonly main: RpcSocket;
  readonly roomIds: string[];
  readonly voice: WebRtcVoice | undefined;
  readonly #options: OdinClientOptions;

  private constructor(
    address: string,
    main: RpcSocket,
    roomIds: string[],
    voice: WebRtcVoice | undefined,
    options: OdinClientOptions,
  ) {
    this.address = address;
    this.main = main;
    this.roomIds = roomIds;
    this.voice = voice;
    this.#options = options;
  }

  /** Opens `/main`, authenticates, and (unless `voice: false`) sets up WebRTC voice. */
  static async connect(address: string, token: string, options: OdinClientOptions = {}): Promise<OdinClient> {
    const main = await RpcSocket.open(`wss://${address}/main`, options);
    let voice: WebRtcVoice | undefined;
    try {
      const auth = (await main.request('Authenticate', { token })) as { room_ids?: string[] } | null;
      if (options.voice !== false) {
        voice = new WebRtcVoice(options.localAddress ? { localAddress: options.localAddress } : {});
        const offer = await voice.createOffer();
        const answer = (await main.request('SetupWebRtc', { sdp: offer })) as { sdp: string };
        await voice.acceptAnswer(answer.sdp);
        // The server may close the connection while the channel opens: fail with its reason.
        await Promise.race([voice.waitOpen(), rejectOnClose(main, 'during WebRTC setup')]);
      }
      return new OdinClient(address, main, auth?.room_ids ?? [], voice, options);
    } catch (error) {
      await main.close();
      await voice?.close();
      throw error;
    }
  }

  /** JoinRoom, then the room stream; resolves once `Joined` arrived. */
  async joinRoom(
    roomId: string,
    options: { userData?: Uint8Array; position?: Position } = {},
  ): Promise<OdinRoom> {
    const { stream_id: streamId } = (await this.main.request('JoinRoom', {
      room_id: roomId,
      user_data: options.userData ?? new Uint8Array(),
      position: options.position ?? [0, 0],
    })) as { stream_id: number };
    const stream = await RpcSocket.open(`wss://${this.address}/room?${streamId}`, this.#options);
    const room = new OdinRoom(stream);
    try {
      await Promise.race([
        room.next('update', (update) => update.kind === 'Joined'),
        new Promise((_, reject) =>
          stream.once('close', (code, reason) =>
            reject(new Error(`room stream closed before Joined: ${code} ${reason}`)),
          ),
        ),
      ]);
    } catch (error) {
      await stream.close();
      throw error;
    }
    return room;
  }

  sendVoice(bytes: Uint8Array): boolean {
    return this.voice?.sendVoice(bytes) ?? false;
  }

  onVoice(listener: ((bytes: Uint8Array) => void) | undefined): void {
    if (this.voice) this.voice.onVoice = listener;
  }

  async close(): Promise<void> {
    await this.main.close();
    await this.voice?.close();
  }
}

/** Rejects once `socket` closes (never resolves): a race partner for waits that need it open. */
function rejectOnClose(socket: RpcSocket, when: string): Promise<never> {
  return new Promise((_, reject) => {
    const fail = (code: number, reason: string) =>
      reject(new Error(`the server closed the connection ${when}: ${code} ${reason}`));
    const info = socket.closeInfo;
    if (info !== undefined) fail(info.code, info.reason);
    else socket.once('close', fail);
  });
}
