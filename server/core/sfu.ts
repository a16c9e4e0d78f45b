/**
 * The Sfu: the server's core. It holds the clients, the rooms keyed by (namespace, room id),
 * peer and stream id allocation, the limits, bans and draining, and the voice router.
 * Transports talk to it through connection.ts; the supervisor tasks (kick, close, ban) call
 * its methods; metrics read `counters`, `voiceStats` and listen on `observer` (never on the
 * hot path).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { MethodName, MethodParams } from '../protocol/methods.ts';
import { DEFAULT_MAX_RPC_FRAME_SIZE } from '../protocol/msgpackRpc.ts';
import type { LeftReason } from '../protocol/notifications.ts';
import * as note from '../protocol/notifications.ts';
import { newStreamId } from '../protocol/streamId.ts';
import { Admission } from './admission.ts';
import { Bans } from './bans.ts';
import { type Authenticator, Client, type ConnectOptions, type Grant, Peer } from './client.ts';
import { type Clock, systemClock, type TimerHandle } from './clock.ts';
import type { Connection, RpcEndpoint } from './connection.ts';
import { RpcError, type RpcErrorCode } from './errors.ts';
import type { LimitParams } from './limits.ts';
import { type CoreLogger, silentLogger } from './logger.ts';
import type { Media } from './media.ts';
import { Room, type RoomContext, roomKey } from './room.ts';
import { RpcChannel } from './rpc.ts';
import { VoiceRouter, type VoiceStats } from './voiceRouter.ts';

export type SfuParams = {
  limits: LimitParams;
  /** Verifies tokens for `Authenticate` and generation B `JoinRoom`; absent: only transport-set grants. */
  authenticate?: Authenticator;
  /** `RequestReconnectToken`'s answer for a peer; absent: the call is refused (see docs/protocol.md). */
  reconnectToken?: (peer: Peer) => string | Promise<string>;
  clock: Clock;
  logger: CoreLogger;
  /** Largest RPC frame a client may send. */
  maxRpcFrameSize: number;
  /** `[internal] log_hanging_api_calls`: warn about RPC calls unanswered after this many ms. Absent: off. */
  hangingCallMs?: number;
  /** `[internal] log_rejected_api_calls`: log refused calls at info. */
  logRejectedCalls: boolean;
  /** A joined peer whose room stream has not attached after this long leaves. */
  roomStreamTimeoutMs: number;
};

/** A joined peer whose room stream has not attached yet. */
type AwaitedStream = { peer: Peer; timer: TimerHandle; token?: string };

/**
 * Defaults of everything but `limits`, which the caller passes: their defaults are the config
 * schema's (`[limit]`), which the core does not read; assembly.ts translates them.
 */
export const defaultSfuParams: Omit<SfuParams, 'limits'> = {
  clock: systemClock,
  logger: silentLogger,
  maxRpcFrameSize: DEFAULT_MAX_RPC_FRAME_SIZE,
  logRejectedCalls: false,
  roomStreamTimeoutMs: 10_000,
};

/** Plain counters read by metrics. */
export type SfuCounters = {
  /** Joins (or clients) refused, by RpcErrorCode. */
  refused: Record<RpcErrorCode, number>;
  /** Calls answered with an error. */
  rpc_rejected: number;
  /** Calls that waited in the overflow queue. */
  rpc_queued: number;
  /** Clients disconnected because the overflow queue was full. */
  rpc_overflow_disconnects: number;
  /** Clients disconnected for a malformed RPC frame. */
  protocol_errors: number;
  /** Peers dropped because their room stream never attached or its queue overflowed. */
  room_stream_failures: number;
  /** Tokens refused, by the authenticator's error code (`expired`, `bad_signature`, ...; `other` without one). */
  auth_failures: Record<string, number>;
};

export type SfuObserverEvents = {
  clientconnected: [client: Client];
  clientclosed: [client: Client, reason: string];
  roomcreated: [room: Room];
  roomclosed: [room: Room];
  peerjoined: [peer: Peer];
  peerleft: [peer: Peer];
  mediastarted: [media: Media];
  mediastopped: [media: Media];
  /** A media's forward list changed (receivers, proximity, pause, concurrent_streams). */
  routingchanged: [media: Media];
  joinrefused: [code: RpcErrorCode, message: string];
  rpcrejected: [method: string, code: RpcErrorCode];
  /** A validated call was answered (`code` undefined: success); `durationMs` on the Sfu clock. */
  rpccompleted: [method: MethodName, durationMs: number, code: RpcErrorCode | undefined];
};

type JoinParams = Pick<MethodParams['JoinRoom'], 'room_id' | 'user_data' | 'position'>;

const MAX_PEER_ID = 0xffff_ffff;

export class Sfu {
  readonly limits: LimitParams;
  readonly authenticator: Authenticator | undefined;
  readonly maxRpcFrameSize: number;
  readonly hangingCallMs: number | undefined;
  readonly logRejectedCalls: boolean;
  readonly observer = new EventEmitter<SfuObserverEvents>();
  readonly counters: SfuCounters;
  readonly #params: SfuParams;
  readonly #clock: Clock;
  readonly #logger: CoreLogger;
  readonly #router: VoiceRouter;
  readonly #clients = new Set<Client>();
  readonly #channels = new Map<Client, RpcChannel>();
  readonly #rooms = new Map<string, Room>();
  readonly #peers = new Map<number, Peer>();
  readonly #awaitingStream = new Map<number, AwaitedStream>();
  /** Generation B room-stream tokens (`/room?token=`), by token: see {@link roomStreamToken}. */
  readonly #streamTokens = new Map<string, number>();
  readonly #streams = new Map<Peer, RpcChannel>();
  readonly #bans = new Bans();
  readonly #admission: Admission;
  readonly #roomContext: RoomContext;
  #nextClientId = 1;
  #nextPeerId = 1;
  #draining = false;

  constructor(params: Partial<SfuParams> & Pick<SfuParams, 'limits'>) {
    const full: SfuParams = { ...defaultSfuParams, ...params };
    this.#params = full;
    this.limits = full.limits;
    this.authenticator = full.authenticate;
    this.maxRpcFrameSize = full.maxRpcFrameSize;
    this.hangingCallMs = full.hangingCallMs;
    this.logRejectedCalls = full.logRejectedCalls;
    this.#clock = full.clock;
    this.#logger = full.logger;
    this.#router = new VoiceRouter(full.clock);
    this.#admission = new Admission(full.limits.unauthenticated, full.clock, (client, refusal) => {
      this.#logger.debug({ client: client.id, reason: refusal.reason }, 'closing unauthenticated client');
      this.disconnect(client, refusal.reason);
    });
    this.counters = {
      refused: {
        bad_request: 0,
        not_authenticated: 0,
        auth_failed: 0,
        room_not_allowed: 0,
        already_joined: 0,
        server_full: 0,
        too_many_rooms: 0,
        too_many_peers: 0,
        media_ids_exhausted: 0,
        banned: 0,
        draining: 0,
        bad_media: 0,
        not_supported: 0,
        internal: 0,
      },
      rpc_rejected: 0,
      rpc_queued: 0,
      rpc_overflow_disconnects: 0,
      protocol_errors: 0,
      room_stream_failures: 0,
      auth_failures: {},
    };
    this.#roomContext = {
      concurrentStreams: full.limits.concurrentStreams,
      incomingMediaPackets: full.limits.incomingMediaPackets,
      now: () => this.#clock.now(),
      onQueueOverflow: (peer) => {
        this.counters.room_stream_failures++;
        queueMicrotask(() => this.leave(peer));
      },
      onMediaStarted: (peer, media) => {
        peer.client.mediaById.set(media.id, media);
        this.observer.emit('mediastarted', media);
      },
      onMediaStopped: (peer, media) => {
        peer.client.mediaById.delete(media.id);
        this.observer.emit('mediastopped', media);
      },
      onRoutingChange: (media) => {
        this.observer.emit('routingchanged', media);
      },
    };
  }

  /** Counters of the voice path (plain numbers, updated in place). */
  get voiceStats(): VoiceStats {
    return this.#router.stats;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Authenticated clients: what `[limit] max_clients` counts. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** Main connections waiting to authenticate (admission.ts). */
  get unauthenticatedCount(): number {
    return this.#admission.size;
  }

  /** Unauthenticated connections closed, by why (a source over its share, evicted, timed out). */
  get admissionClosures(): Readonly<Admission['closed']> {
    return this.#admission.closed;
  }

  get peerCount(): number {
    return this.#peers.size;
  }

  rooms(): IterableIterator<Room> {
    return this.#rooms.values();
  }

  getRoom(namespace: string, roomId: string): Room | undefined {
    return this.#rooms.get(roomKey(namespace, roomId));
  }

  getPeer(peerId: number): Peer | undefined {
    return this.#peers.get(peerId);
  }

  // ---- transport seam ----

  /**
   * A new main connection. It waits for its authentication within the admission budget and
   * deadline (admission.ts: `[limit] max_unauthenticated`, `max_unauthenticated_per_address`,
   * `authentication_timeout`); a source over its share is closed at once, with the reason.
   * `[limit] max_clients` is checked when the client authenticates ({@link admit}).
   */
  connect(connection: Connection, options: ConnectOptions = {}): Client {
    const client = new Client({
      id: this.#nextClientId++,
      connection,
      roomStreamOnMain: options.roomStreamOnMain ?? false,
      noPeersTimeoutMs: options.noPeersTimeoutMs ?? 0,
    });
    const channel = new RpcChannel(
      { sfu: this, clock: this.#clock, logger: this.#logger },
      client,
      connection,
      undefined,
    );
    client.bindEndpoint(channel);
    client.bindAuthenticated(() => this.admit(client));
    this.#channels.set(client, channel);
    this.#armNoPeersTimer(client);
    const refusal = this.#admission.enter(client);
    // Closed after the transport has the client (it wires the socket's close to it first).
    if (refusal !== undefined) queueMicrotask(() => this.disconnect(client, refusal.reason));
    return client;
  }

  /** Whether `client` has authenticated (and was admitted). */
  isAuthenticated(client: Client): boolean {
    return this.#clients.has(client);
  }

  /**
   * `client` authenticated (generation A `Authenticate`, the first generation B `JoinRoom`, or
   * the transport): it stops waiting and counts towards `[limit] max_clients`. Throws an
   * RpcError `server_full` when the server has that many; the caller closes the client.
   * Idempotent.
   */
  admit(client: Client): void {
    if (this.#clients.has(client)) return;
    if (client.closed) throw new RpcError('bad_request', 'the client has disconnected');
    this.#admission.leave(client);
    const max = this.limits.maxClients;
    if (max !== undefined && this.#clients.size >= max) {
      throw this.#refuse(
        'server_full',
        `server full: the server accepts at most ${max} clients ([limit] max_clients)`,
      );
    }
    this.#clients.add(client);
    this.observer.emit('clientconnected', client);
  }

  /**
   * Binds a peer's room stream (generation A `/room?<stream_id>`, the first message of a QUIC
   * room stream). Returns the endpoint for that socket's frames and close, or undefined when the
   * stream id is unknown, already attached or timed out: the transport then closes the socket
   * with a reason (and counts the failure against the source, see attachGuard.ts).
   * `tokenPeers: false` (web `/room?<stream_id>`): a peer that joined with a token (generation B)
   * opens its stream with the token JoinRoom answered, never by its id alone.
   */
  attachRoomStream(
    streamId: number,
    connection: Connection,
    options: { tokenPeers?: boolean } = {},
  ): RpcEndpoint | undefined {
    const candidate = this.#awaitingStream.get(streamId);
    if (candidate === undefined) return undefined;
    if (options.tokenPeers === false && candidate.token !== undefined) return undefined;
    const waiting = this.#stopAwaiting(streamId);
    if (waiting === undefined) return undefined;
    const peer = waiting.peer;
    const channel = new RpcChannel(
      { sfu: this, clock: this.#clock, logger: this.#logger },
      peer.client,
      connection,
      peer,
    );
    this.#streams.set(peer, channel);
    peer.attachStream(connection);
    return channel;
  }

  /**
   * Binds a peer's room stream by the token its generation B `JoinRoom` answered
   * (`/room?token=<token>`). Same results as {@link attachRoomStream}.
   */
  attachRoomStreamByToken(token: string, connection: Connection): RpcEndpoint | undefined {
    const streamId = this.#streamTokens.get(token);
    return streamId === undefined ? undefined : this.attachRoomStream(streamId, connection);
  }

  /**
   * The token a generation B client presents on `/room?token=<token>` to open `peer`'s room
   * stream: 256 random bits, issued by this server for this server only, usable once and only
   * while the peer waits for its stream (then it is forgotten, like the stream id).
   */
  roomStreamToken(peer: Peer): string {
    const waiting = this.#awaitingStream.get(peer.streamId);
    if (waiting === undefined || waiting.peer !== peer) {
      throw new RpcError('bad_request', 'JoinRoom: the peer is no longer waiting for its room stream');
    }
    if (waiting.token === undefined) {
      waiting.token = randomBytes(32).toString('base64url');
      this.#streamTokens.set(waiting.token, peer.streamId);
    }
    return waiting.token;
  }

  /** Internal (rpc.ts): the room stream is the main connection; attach it after the JoinRoom response. */
  attachMainStream(peer: Peer): void {
    if (peer.left || this.#awaitingStream.get(peer.streamId)?.peer !== peer) return;
    this.#stopAwaiting(peer.streamId);
    peer.attachStream(peer.client.connection);
  }

  /** Ends the wait for a room stream (attached, timed out or left): timer and token go. */
  #stopAwaiting(streamId: number): AwaitedStream | undefined {
    const waiting = this.#awaitingStream.get(streamId);
    if (waiting === undefined) return undefined;
    this.#awaitingStream.delete(streamId);
    this.#clock.clearTimeout(waiting.timer);
    if (waiting.token !== undefined) this.#streamTokens.delete(waiting.token);
    return waiting;
  }

  /** HOT PATH: a voice packet from `client`. Never throws. */
  handleVoice(client: Client, bytes: Uint8Array): void {
    this.#router.route(client, bytes);
  }

  // ---- joining and leaving ----

  #refuse(code: RpcErrorCode, message: string): RpcError {
    this.counters.refused[code]++;
    this.observer.emit('joinrefused', code, message);
    return new RpcError(code, message);
  }

  /** Joins `client` to a room under `grant`; throws an RpcError naming why it is refused. */
  join(client: Client, grant: Grant, params: JoinParams): Peer {
    const roomId = params.room_id;
    const { namespace } = grant;
    const where = `room ${JSON.stringify(roomId)}`;
    // A generation B join verifies its token asynchronously: the client may be gone by now.
    if (client.closed) throw new RpcError('bad_request', 'JoinRoom: the client has disconnected');
    if (this.#draining)
      throw this.#refuse('draining', `JoinRoom: the server is shutting down; join ${where} elsewhere`);
    if (!grant.roomIds.includes(roomId)) {
      throw this.#refuse(
        'room_not_allowed',
        `JoinRoom: ${where} is not in the token's room ids (rid: ${JSON.stringify(grant.roomIds)})`,
      );
    }
    const key = roomKey(namespace, roomId);
    const now = this.#clock.now();
    if (this.#bans.roomBanned(key, now)) throw this.#refuse('banned', `JoinRoom: ${where} is closed for now`);
    if (this.#bans.userBanned(key, grant.userId, now)) {
      throw this.#refuse(
        'banned',
        `JoinRoom: user ${JSON.stringify(grant.userId)} is banned from ${where} for now`,
      );
    }
    if (client.peerIn(namespace, roomId) !== undefined) {
      throw this.#refuse('already_joined', `JoinRoom: this client has already joined ${where}`);
    }
    const { maxPeers, maxRooms, mediasPerPeer } = this.limits;
    if (maxPeers !== undefined && this.#peers.size >= maxPeers) {
      throw this.#refuse(
        'too_many_peers',
        `JoinRoom: server full: at most ${maxPeers} peers ([limit] max_peers)`,
      );
    }
    let room = this.#rooms.get(key);
    if (room === undefined) {
      if (maxRooms !== undefined && this.#rooms.size >= maxRooms) {
        throw this.#refuse(
          'too_many_rooms',
          `JoinRoom: server full: at most ${maxRooms} rooms ([limit] max_rooms)`,
        );
      }
      room = new Room(namespace, roomId, grant.customerId ?? '', this.#roomContext);
    }
    const pool = room.allocateMediaIds(mediasPerPeer, client.mediaPoolIds);
    if (pool === undefined)
      throw this.#refuse('media_ids_exhausted', `JoinRoom: ${where} has no free media ids left`);
    if (!this.#rooms.has(key)) {
      this.#rooms.set(key, room);
      this.observer.emit('roomcreated', room);
    }
    const peer = new Peer({
      id: this.#allocatePeerId(),
      streamId: this.#allocateStreamId(),
      userId: grant.userId,
      client,
      room,
      userData: params.user_data,
      position: params.position,
      mediaPool: pool,
    });
    for (const id of pool) client.mediaPoolIds.add(id);
    client.peers.add(peer);
    this.#disarmNoPeersTimer(client);
    this.#peers.set(peer.id, peer);
    const timer = this.#clock.setTimeout(() => this.#streamTimedOut(peer), this.#params.roomStreamTimeoutMs);
    this.#awaitingStream.set(peer.streamId, { peer, timer });
    try {
      room.add(peer);
    } catch (error) {
      // The room is unchanged (Room#add); undo the server's side of the join too.
      this.leave(peer);
      throw error;
    }
    this.observer.emit('peerjoined', peer);
    this.#logger.debug({ client: client.id, peer: peer.id, room: roomId, namespace }, 'peer joined');
    return peer;
  }

  #streamTimedOut(peer: Peer): void {
    if (peer.left || !this.#awaitingStream.has(peer.streamId)) return;
    this.counters.room_stream_failures++;
    this.#logger.info({ client: peer.client.id, peer: peer.id }, 'room stream never attached; peer leaves');
    this.leave(peer);
  }

  #allocatePeerId(): number {
    for (;;) {
      const id = this.#nextPeerId;
      this.#nextPeerId = id >= MAX_PEER_ID ? 1 : id + 1;
      if (!this.#peers.has(id)) return id;
    }
  }

  /** 53 random bits, never one in use: `/room?<stream_id>` carries no other credential (streamId.ts). */
  #allocateStreamId(): number {
    return newStreamId((id) => this.#awaitingStream.has(id));
  }

  /**
   * `peer` leaves its room: PeerLeft to those who saw it, medias stopped, the room removed
   * when empty. With a `reason` (kick, room closing, server closing) the peer first gets
   * `RoomUpdated {Left {reason}}` and its separate room stream is closed.
   */
  leave(peer: Peer, reason?: LeftReason): void {
    if (peer.left) return;
    if (reason !== undefined) peer.sendLast(note.left(reason));
    peer.left = true;
    const { room, client } = peer;
    room.remove(peer);
    this.#peers.delete(peer.id);
    client.peers.delete(peer);
    for (const id of peer.mediaPool) client.mediaPoolIds.delete(id);
    if (this.#awaitingStream.get(peer.streamId)?.peer === peer) this.#stopAwaiting(peer.streamId);
    const stream = this.#streams.get(peer);
    if (stream !== undefined) {
      this.#streams.delete(peer);
      stream.close();
      if (reason !== undefined) stream.connection.close(`left the room: ${reason}`);
    }
    this.observer.emit('peerleft', peer);
    if (client.peers.size === 0) this.#armNoPeersTimer(client);
    if (room.peers.size === 0) {
      // `peer.room` names only what a peer needs of its room (client.ts); the event carries
      // the server's Room, the same object.
      const open = this.#rooms.get(room.key);
      if (open === room) {
        this.#rooms.delete(room.key);
        this.observer.emit('roomclosed', open);
      }
    }
  }

  /** Closes a client: every peer leaves (with `leftReason`, if given), its sockets close. Idempotent. */
  disconnect(client: Client, reason: string, leftReason?: LeftReason): void {
    if (client.closed) return;
    for (const peer of [...client.peers]) {
      const stream = this.#streams.get(peer);
      this.leave(peer, leftReason);
      if (stream !== undefined && leftReason === undefined) stream.connection.close(reason);
    }
    client.closed = true;
    this.#admission.leave(client);
    this.#disarmNoPeersTimer(client);
    this.#channels.get(client)?.close();
    this.#channels.delete(client);
    const counted = this.#clients.delete(client);
    client.connection.close(reason);
    if (counted) this.observer.emit('clientclosed', client, reason);
  }

  /** `no_peers_timeout`: (re)starts the countdown of a client that has no peer now. */
  #armNoPeersTimer(client: Client): void {
    const ms = client.noPeersTimeoutMs;
    if (ms <= 0 || client.closed) return;
    this.#disarmNoPeersTimer(client);
    client.noPeersTimer = this.#clock.setTimeout(() => {
      client.noPeersTimer = undefined;
      if (client.closed || client.peers.size > 0) return;
      this.#logger.info({ client: client.id, ms }, 'closing client: in no room for no_peers_timeout');
      this.disconnect(client, `in no room for ${ms} ms (no_peers_timeout): join a room after connecting`);
    }, ms);
  }

  #disarmNoPeersTimer(client: Client): void {
    if (client.noPeersTimer === undefined) return;
    this.#clock.clearTimeout(client.noPeersTimer);
    client.noPeersTimer = undefined;
  }

  // ---- supervisor tasks and shutdown ----

  /** Kicks one peer: `Left {reason}`, then it leaves. False when there is no such peer. */
  kickPeer(peerId: number, reason: LeftReason = 'PeerKicked'): boolean {
    const peer = this.#peers.get(peerId);
    if (peer === undefined) return false;
    this.leave(peer, reason);
    return true;
  }

  /** Closes a room: every peer gets `Left {reason}` and leaves. `banMs` refuses rejoins for that long. */
  closeRoom(namespace: string, roomId: string, reason: LeftReason = 'RoomClosing', banMs = 0): boolean {
    if (banMs > 0) this.#bans.banRoom(roomKey(namespace, roomId), this.#clock.now() + banMs);
    const room = this.getRoom(namespace, roomId);
    if (room === undefined) return false;
    const peers = [...room.peers.values()];
    // Everyone learns the room closes before anyone leaves: no PeerLeft ahead of one's own Left.
    const left = note.left(reason);
    for (const peer of peers) peer.sendLast(left);
    for (const peer of peers) this.leave(peer, reason);
    return true;
  }

  /** `RoomClose` with a ban time: closes the room and refuses joins to it for `durationMs`. */
  banRoom(namespace: string, roomId: string, durationMs: number): void {
    this.closeRoom(namespace, roomId, 'RoomClosing', durationMs);
  }

  /** `RoomBanClient`: kicks every peer of `userId` in the room and refuses the user for `durationMs`. */
  banUser(namespace: string, roomId: string, userId: string, durationMs: number): void {
    const key = roomKey(namespace, roomId);
    this.#bans.banUser(key, userId, this.#clock.now() + durationMs);
    const room = this.#rooms.get(key);
    if (room === undefined) return;
    for (const peer of [...room.peers.values()]) if (peer.userId === userId) this.leave(peer, 'PeerKicked');
  }

  /** `RoomUpdate`: sets the room's user data; every peer gets `UserDataChanged`. */
  updateRoomUserData(namespace: string, roomId: string, userData: Uint8Array): boolean {
    const room = this.getRoom(namespace, roomId);
    if (room === undefined) return false;
    room.setUserData(undefined, userData);
    return true;
  }

  /**
   * `RoomSendMessage`: a message from the server (sender peer id 0, which no peer has) to every
   * peer of `userId` in the room, or to every peer when `userId` is empty. Returns how many got it.
   */
  sendRoomMessage(namespace: string, roomId: string, userId: string, message: Uint8Array): number {
    const room = this.getRoom(namespace, roomId);
    if (room === undefined) return 0;
    const targets = [...room.peers.values()].filter((peer) => userId === '' || peer.userId === userId);
    room.sendServerMessage(message, targets);
    return targets.length;
  }

  /** Draining refuses new joins (existing peers stay). */
  setDraining(draining: boolean): void {
    this.#draining = draining;
  }

  /** Shutdown: every peer gets `Left {ServerClosing}`, every client is closed with `reason`. */
  closeAll(reason: string): void {
    this.#draining = true;
    // Every peer learns the server closes before any leaves (no PeerLeft ahead of its own Left).
    const left = note.left('ServerClosing');
    for (const peer of this.#peers.values()) peer.sendLast(left);
    // Every client, authenticated or still waiting (#channels holds both).
    for (const client of [...this.#channels.keys()]) this.disconnect(client, reason, 'ServerClosing');
  }

  /** Forgets bans that have ended (call now and then; bans are also checked lazily on join). */
  pruneBans(): void {
    this.#bans.prune(this.#clock.now());
  }

  /** Internal (rpc.ts): `RequestReconnectToken`, answered by the configured hook. */
  async reconnectTokenFor(peer: Peer): Promise<string> {
    const issue = this.#params.reconnectToken;
    if (issue !== undefined) return await issue(peer);
    throw new RpcError(
      'not_supported',
      'RequestReconnectToken: reconnect tokens are not configured on this server',
    );
  }
}
