/**
 * RPC dispatch for one socket (a client's main connection or a peer's room stream):
 * decode the frame → rate limit (every request costs a token, so floods of bad calls are
 * bounded too) → check the method and validate its params → execute → respond
 * `[1, msgid, error, result]`.
 *
 * - Results are `nil` or a map (the 0.16 SDK rejects a bare number or string as a result);
 *   only generation B's `RequestReconnectToken` answers a bare token string, as specified.
 * - Errors are a plain string naming the method and the fix (see errors.ts); the SDKs show a
 *   string error as-is.
 * - A frame that is not a valid MessagePack-RPC message (garbage, wrong arity, bad msgid,
 *   too large) closes the client at once with the reason `protocol error: ...`: it has no
 *   msgid to answer, and a client that sends one is broken or hostile. Responses and
 *   notifications from the client are ignored (the protocol has none for the server).
 * - `hangingCallMs` (`[internal] log_hanging_api_calls`): a call still unanswered after that
 *   long is logged at warn. `logRejectedCalls` (`[internal] log_rejected_api_calls`): every
 *   refused call is logged at info.
 */

import { ProtocolError } from '../protocol/errors.ts';
import {
  isMethodName,
  isRoomMethod,
  type MethodName,
  type MethodParams,
  validateParams,
} from '../protocol/methods.ts';
import { decodeRpcFrame, encodeResponse, type RpcRequest } from '../protocol/msgpackRpc.ts';
import type { Authenticator, Client, Grant, Peer } from './client.ts';
import type { Clock } from './clock.ts';
import type { Connection, RpcEndpoint, SignalingRequest } from './connection.ts';
import { RpcError, type RpcErrorCode } from './errors.ts';
import { type LimitParams, RpcRateLimiter } from './limits.ts';
import type { CoreLogger } from './logger.ts';

/**
 * What a channel needs of the server it serves (sfu.ts's `Sfu` fits): a narrow host, so that
 * this module does not import sfu.ts, which creates the channels.
 */
export interface RpcHost {
  readonly limits: Pick<LimitParams, 'incomingMessages'>;
  readonly authenticator: Authenticator | undefined;
  readonly maxRpcFrameSize: number;
  readonly hangingCallMs: number | undefined;
  readonly logRejectedCalls: boolean;
  /** The counters of RPC outcomes (part of the server's, read by metrics). */
  readonly counters: {
    rpc_rejected: number;
    rpc_queued: number;
    rpc_overflow_disconnects: number;
    protocol_errors: number;
    auth_failures: Record<string, number>;
  };
  readonly observer: {
    emit(event: 'rpcrejected', method: string, code: RpcErrorCode): boolean;
    emit(
      event: 'rpccompleted',
      method: MethodName,
      durationMs: number,
      code: RpcErrorCode | undefined,
    ): boolean;
  };
  join(
    client: Client,
    grant: Grant,
    params: Pick<MethodParams['JoinRoom'], 'room_id' | 'user_data' | 'position'>,
  ): Peer;
  attachMainStream(peer: Peer): void;
  roomStreamToken(peer: Peer): string;
  reconnectTokenFor(peer: Peer): Promise<string>;
  leave(peer: Peer): void;
  disconnect(client: Client, reason: string): void;
  /** The client authenticated: it counts towards `max_clients` (throws `server_full`). */
  admit(client: Client): void;
  isAuthenticated(client: Client): boolean;
}

/** What a channel needs from its server. */
export type RpcChannelContext = {
  sfu: RpcHost;
  clock: Clock;
  logger: CoreLogger;
};

/** One call being executed. `after` runs once the response is sent. */
type Call = {
  sfu: RpcHost;
  channel: RpcChannel;
  client: Client;
  peer: Peer | undefined;
  after: (() => void)[];
};

type Handler<M extends MethodName> = (call: Call, params: MethodParams[M]) => unknown;

/** One socket's RPC endpoint. `peer` is set for a room stream. */
export class RpcChannel implements RpcEndpoint {
  readonly client: Client;
  readonly peer: Peer | undefined;
  readonly connection: Connection;
  readonly #context: RpcChannelContext;
  readonly #limiter: RpcRateLimiter;
  #closed = false;

  constructor(context: RpcChannelContext, client: Client, connection: Connection, peer: Peer | undefined) {
    this.#context = context;
    this.client = client;
    this.connection = connection;
    this.peer = peer;
    this.#limiter = new RpcRateLimiter({ limits: context.sfu.limits.incomingMessages, clock: context.clock });
  }

  get closed(): boolean {
    return this.#closed;
  }

  handleRpc(bytes: Uint8Array): void {
    if (this.#closed || this.client.closed) return;
    const sfu = this.#context.sfu;
    const frame = decodeRpcFrame(bytes, sfu.maxRpcFrameSize);
    if (frame instanceof ProtocolError) {
      sfu.counters.protocol_errors++;
      this.#context.logger.info(
        { client: this.client.id, connection: this.connection.id, code: frame.code, reason: frame.message },
        'closing client after a malformed RPC frame',
      );
      sfu.disconnect(this.client, `protocol error: ${frame.message}`);
      return;
    }
    if (frame.type !== 'request') return;
    const decision = this.#limiter.submit(() => this.#execute(frame));
    if (decision === 'queued') sfu.counters.rpc_queued++;
    else if (decision === 'overflow') {
      sfu.counters.rpc_overflow_disconnects++;
      this.#context.logger.info(
        { client: this.client.id, method: frame.method },
        'closing client: RPC rate limit exceeded and overflow queue full',
      );
      sfu.disconnect(this.client, 'rate limit exceeded: too many requests');
    }
  }

  handleClose(): void {
    if (this.#closed) return;
    this.close();
    const sfu = this.#context.sfu;
    if (this.peer === undefined) sfu.disconnect(this.client, 'connection closed');
    else sfu.leave(this.peer);
  }

  /** Stops handling frames (no close of the socket: the caller decides). */
  close(): void {
    this.#closed = true;
    this.#limiter.dispose();
  }

  #respond(msgid: number, error: string | null, result: unknown): void {
    if (this.#closed || this.client.closed) return;
    this.connection.sendRpc(encodeResponse(msgid, error, result));
  }

  #reject(request: RpcRequest, error: RpcError): void {
    const { sfu, logger } = this.#context;
    sfu.counters.rpc_rejected++;
    sfu.observer.emit('rpcrejected', request.method, error.code);
    if (sfu.logRejectedCalls) {
      logger.info(
        {
          client: this.client.id,
          peer: this.peer?.id,
          method: request.method,
          code: error.code,
          reason: error.message,
        },
        'RPC call rejected',
      );
    }
    this.#respond(request.msgid, error.message, null);
  }

  #execute(request: RpcRequest): void {
    if (this.#closed || this.client.closed) return;
    const { sfu, logger, clock } = this.#context;
    const method = request.method;
    if (!isMethodName(method)) {
      this.#reject(
        request,
        new RpcError('bad_request', `unknown method ${JSON.stringify(method.slice(0, 64))}`),
      );
      return;
    }
    const room = isRoomMethod(method);
    if (this.peer !== undefined && !room) {
      this.#reject(
        request,
        new RpcError(
          'bad_request',
          `${method} is not allowed on a room stream; send it on the main connection`,
        ),
      );
      return;
    }
    let peer = this.peer;
    if (this.peer === undefined && room) {
      peer = this.client.roomStreamOnMain ? [...this.client.peers][0] : undefined;
      if (peer === undefined) {
        const message = this.client.roomStreamOnMain
          ? `${method}: join a room first`
          : `${method} is a room-stream method; send it on the room stream (/room?<stream_id>)`;
        this.#reject(request, new RpcError('bad_request', message));
        return;
      }
    }
    const validated = validateParams(method, request.params);
    if (!validated.ok) {
      this.#reject(request, new RpcError('bad_request', validated.error.message));
      return;
    }
    const call: Call = { sfu, channel: this, client: this.client, peer, after: [] };
    const started = clock.now();
    const threshold = sfu.hangingCallMs;
    const finish = (error: unknown, result: unknown) => {
      if (threshold !== undefined && clock.now() - started >= threshold) {
        logger.warn(
          { client: this.client.id, method, ms: clock.now() - started },
          'RPC call took long to answer',
        );
      }
      let code: RpcError['code'] | undefined;
      if (error === undefined) this.#respond(request.msgid, null, result);
      else if (error instanceof RpcError) {
        code = error.code;
        this.#reject(request, error);
      } else {
        logger.error({ client: this.client.id, method, err: error }, 'RPC call failed');
        code = 'internal';
        this.#reject(request, new RpcError('internal', `${method}: internal server error`));
      }
      sfu.observer.emit('rpccompleted', method, clock.now() - started, code);
      for (const after of call.after) after();
    };
    let outcome: unknown;
    try {
      outcome = (handlers[method] as Handler<typeof method>)(call, validated.params as never);
    } catch (error) {
      finish(error ?? new Error('thrown nothing'), null);
      return;
    }
    if (!(outcome instanceof Promise)) {
      finish(undefined, outcome ?? null);
      return;
    }
    let settled = false;
    const timer =
      threshold === undefined
        ? undefined
        : clock.setTimeout(() => {
            if (!settled)
              logger.warn({ client: this.client.id, method, ms: threshold }, 'RPC call is hanging');
          }, threshold);
    outcome.then(
      (result: unknown) => {
        settled = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        finish(undefined, result ?? null);
      },
      (error: unknown) => {
        settled = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        finish(error ?? new Error('rejected with nothing'), null);
      },
    );
  }
}

async function authenticate(call: Call, method: string, token: string): Promise<Grant> {
  const authenticator = call.sfu.authenticator;
  if (authenticator === undefined) {
    throw new RpcError('not_supported', `${method}: token authentication is not configured on this server`);
  }
  try {
    return await authenticator(token);
  } catch (error) {
    const reason = (error as { code?: unknown } | undefined)?.code;
    const failures = call.sfu.counters.auth_failures;
    const key = typeof reason === 'string' ? reason : 'other';
    failures[key] = (failures[key] ?? 0) + 1;
    throw new RpcError(
      'auth_failed',
      `${method}: token rejected: ${(error as Error)?.message ?? String(error)}`,
    );
  }
}

/**
 * Runs `admit` (the client authenticated: it counts towards `[limit] max_clients` from now);
 * when the server is full the call is answered with that refusal and then the client is closed.
 */
function admitted(call: Call, admit: () => void): void {
  try {
    admit();
  } catch (error) {
    call.after.push(() => call.sfu.disconnect(call.client, (error as Error).message));
    throw error;
  }
}

/**
 * WebRTC set-up builds a whole ICE/DTLS/SCTP session: only for a client that authenticated
 * (the 0.16 SDK sends `SetupWebRtc` after `Authenticate`; generation B after its `JoinRoom`).
 */
async function signal(call: Call, request: SignalingRequest): Promise<unknown> {
  if (!call.sfu.isAuthenticated(call.client)) {
    throw new RpcError(
      'not_authenticated',
      `${request.method}: authenticate first (Authenticate, or JoinRoom with a token)`,
    );
  }
  const connection = call.client.connection;
  if (connection.signal === undefined) {
    throw new RpcError('not_supported', `${request.method} is not supported on this transport`);
  }
  return await connection.signal(request);
}

/** The peer a room method acts on (the dispatcher made sure there is one). */
function peerOf(call: Call): Peer {
  return call.peer!;
}

const handlers: { [M in MethodName]: Handler<M> } = {
  Authenticate: async (call, { token }) => {
    const grant = await authenticate(call, 'Authenticate', token);
    admitted(call, () => call.client.setGrant(grant));
    return { room_ids: [...grant.roomIds] };
  },
  SetupWebRtc: (call, params) => signal(call, { method: 'SetupWebRtc', params }),
  WebRtcUpdate: async (call, params) => {
    await signal(call, { method: 'WebRtcUpdate', params });
    return null;
  },
  JoinRoom: (call, params) => {
    const join = (grant: Grant) => {
      const peer = call.sfu.join(call.client, grant, params);
      if (call.client.roomStreamOnMain) call.after.push(() => call.sfu.attachMainStream(peer));
      return peer;
    };
    if (params.token === undefined) {
      // Generation A: the grant came from Authenticate (or the transport).
      const grant = call.client.grant;
      if (grant === undefined) throw new RpcError('not_authenticated', 'JoinRoom: call Authenticate first');
      return { stream_id: join(grant).streamId };
    }
    // Generation B: the token comes with the join.
    const token = params.token;
    return authenticate(call, 'JoinRoom', token).then(async (grant) => {
      admitted(call, () => call.sfu.admit(call.client));
      const peer = join(grant);
      // `token` opens the room stream (`/room?token=<token>`); `stream_id` does too
      // (`/room?<stream_id>`, or the first message of a QUIC room stream).
      return { peer_id: peer.id, stream_id: peer.streamId, token: call.sfu.roomStreamToken(peer) };
    });
  },
  RequestReconnectToken: async (call, params) => {
    const peers = [...call.client.peers];
    const peer = params.peer_id === undefined ? peers[0] : peers.find((p) => p.id === params.peer_id);
    if (peer === undefined) {
      throw new RpcError(
        'bad_request',
        `RequestReconnectToken: this client has no peer ${params.peer_id ?? ''}`.trim(),
      );
    }
    return await call.sfu.reconnectTokenFor(peer);
  },
  Ping: () => null,
  UpdatePeer: (call, { user_data }) => {
    const peer = peerOf(call);
    peer.room.setPeerUserData(peer, user_data);
    return null;
  },
  UpdateRoom: (call, { user_data }) => {
    const peer = peerOf(call);
    peer.room.setUserData(peer, user_data);
    return null;
  },
  StartMedia: (call, { media_id, properties }) => {
    const peer = peerOf(call);
    peer.room.startMedia(peer, media_id, properties);
    return null;
  },
  StopMedia: (call, { media_id }) => {
    const peer = peerOf(call);
    peer.room.stopMedia(peer, media_id);
    return null;
  },
  PauseMedia: (call, { media_id }) => {
    const peer = peerOf(call);
    peer.room.setPaused(peer, media_id, true);
    return null;
  },
  ResumeMedia: (call, { media_id }) => {
    const peer = peerOf(call);
    peer.room.setPaused(peer, media_id, false);
    return null;
  },
  SetPeerPosition: (call, { position }) => {
    const peer = peerOf(call);
    peer.room.movePeer(peer, position);
    return null;
  },
  SendMessage: (call, { message, target_peer_ids }) => {
    const peer = peerOf(call);
    peer.room.sendMessage(peer, message, target_peer_ids);
    return null;
  },
};
