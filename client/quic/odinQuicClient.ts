/**
 * A Node client for ODIN Grid's native transport (docs/protocol.md): a WebTransport session on
 * `/main`, MessagePack-RPC in length-prefixed messages on the first bidirectional stream (the
 * main stream), one more bidirectional stream per room, voice packets as datagrams. Speaks
 * generation B (`JoinRoom {token, room_id, user_data, position}`). Used by the tests and the
 * load generator.
 */
import { EventEmitter } from 'node:events';
import { encode } from '@msgpack/msgpack';
import { SERVER_MSGPACK_LIMITS } from '../../server/protocol/boundedMsgpack.ts';
import type { Position } from '../../server/protocol/methods.ts';
import { decodeRpcFrame, encodeRequest } from '../../server/protocol/msgpackRpc.ts';
import { frameMessage, MessageReader, type WebTransportStream } from '../../server/transports/quic/index.ts';
import {
  connectWebTransport,
  type WebTransportClient,
  type WebTransportClientOptions,
} from './webTransportClient.ts';

export class QuicRpcError extends Error {
  readonly method: string;
  readonly detail: unknown;
  constructor(method: string, detail: unknown) {
    super(`${method} failed: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
    this.name = 'QuicRpcError';
    this.method = method;
    this.detail = detail;
  }
}

type StreamEvents = {
  notification: [method: string, params: unknown];
  end: [reason: string];
};

/** MessagePack-RPC over one WebTransport bidirectional stream. */
export class RpcStream extends EventEmitter<StreamEvents> {
  readonly stream: WebTransportStream;
  readonly #pending = new Map<
    number,
    { method: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  readonly #timeoutMs: number;
  #nextId = 0;
  ended = false;

  constructor(stream: WebTransportStream, timeoutMs: number) {
    super();
    this.stream = stream;
    this.#timeoutMs = timeoutMs;
    const reader = new MessageReader(16 * 1024 * 1024);
    stream.setHandler({
      onData: (bytes, fin) => {
        for (const message of reader.push(bytes)) this.#onMessage(message);
        if (fin) this.#end('stream ended');
      },
      onAbort: (code) => this.#end(`stream aborted (code ${code})`),
    });
  }

  /** Sends one message (already MessagePack-encoded), framed. */
  sendRaw(message: Uint8Array): void {
    this.stream.write(frameMessage(message));
  }

  request(method: string, params: unknown): Promise<unknown> {
    const msgid = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.ended) {
        reject(new Error(`${method}: the stream has ended`));
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(msgid);
        reject(new Error(`${method}: no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(msgid, { method, resolve, reject, timer });
      this.sendRaw(encodeRequest(msgid, method, params));
    });
  }

  close(): void {
    this.stream.write(new Uint8Array(0), true);
  }

  #onMessage(message: Uint8Array): void {
    const frame = decodeRpcFrame(message, 16 * 1024 * 1024, SERVER_MSGPACK_LIMITS);
    if (frame instanceof Error) return;
    if (frame.type === 'notification') this.emit('notification', frame.method, frame.params);
    else if (frame.type === 'response') {
      const pending = this.#pending.get(frame.msgid);
      if (pending === undefined) return;
      this.#pending.delete(frame.msgid);
      clearTimeout(pending.timer);
      if (frame.error !== null && frame.error !== undefined)
        pending.reject(new QuicRpcError(pending.method, frame.error));
      else pending.resolve(frame.result);
    }
  }

  #end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`${pending.method}: ${reason}`));
    }
    this.#pending.clear();
    this.emit('end', reason);
  }
}

export type QuicJoined = {
  room: { id: string; peers: { id: number; user_id: string; medias: { id: number }[] }[] };
  media_ids: number[];
  own_peer_id: number;
};

/** One joined room: its stream, notifications, and the Joined info. */
export class QuicRoom extends EventEmitter<{ notification: [method: string, params: unknown] }> {
  readonly stream: RpcStream;
  readonly peerId: number;
  joined: QuicJoined | undefined;
  readonly notifications: { method: string; params: unknown }[] = [];

  constructor(stream: RpcStream, peerId: number) {
    super();
    this.stream = stream;
    this.peerId = peerId;
    stream.on('notification', (method, params) => {
      this.notifications.push({ method, params });
      const updates = (params as { updates?: { kind: string }[] })?.updates;
      for (const update of updates ?? [])
        if (update.kind === 'Joined') this.joined = update as unknown as QuicJoined;
      this.emit('notification', method, params);
    });
  }

  /** The media id the web SDK would use: the last of the pool. */
  get mediaId(): number {
    const ids = this.joined?.media_ids ?? [];
    return ids[ids.length - 1]!;
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

  /** Resolves with the first notification for which `predicate` holds. */
  next(
    predicate: (method: string, params: unknown) => boolean,
    timeoutMs = 5_000,
  ): Promise<[string, unknown]> {
    return new Promise((resolve, reject) => {
      const listener = (method: string, params: unknown) => {
        if (!predicate(method, params)) return;
        clearTimeout(timer);
        this.off('notification', listener);
        resolve([method, params]);
      };
      const timer = setTimeout(() => {
        this.off('notification', listener);
        reject(new Error(`no matching notification within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('notification', listener);
    });
  }

  leave(): void {
    this.stream.close();
  }
}

export type OdinQuicClientOptions = Omit<WebTransportClientOptions, 'path'> & {
  path?: string;
  requestTimeoutMs?: number;
};

export class OdinQuicClient {
  readonly transport: WebTransportClient;
  readonly main: RpcStream;
  readonly #timeoutMs: number;
  /** Called for every voice datagram. */
  onVoice: ((bytes: Uint8Array) => void) | undefined;
  closeInfo: { code: number; reason: string } | undefined;

  private constructor(transport: WebTransportClient, timeoutMs: number) {
    this.transport = transport;
    this.#timeoutMs = timeoutMs;
    this.main = new RpcStream(transport.session.openBidiStream(), timeoutMs);
    transport.session.handler = {
      onStream: (stream) => stream.stopSending(0),
      onDatagram: (payload) => this.onVoice?.(payload),
      onClose: (info) => {
        this.closeInfo = { code: info.code, reason: info.reason };
      },
    };
  }

  static async connect(options: OdinQuicClientOptions): Promise<OdinQuicClient> {
    const transport = await connectWebTransport({ ...options, path: options.path ?? '/main' });
    return new OdinQuicClient(transport, options.requestTimeoutMs ?? 5_000);
  }

  /** Generation B join: JoinRoom on the main stream, then the room stream bound by its stream id. */
  async joinRoom(
    token: string,
    roomId: string,
    options: { userData?: Uint8Array; position?: Position } = {},
  ): Promise<QuicRoom> {
    const result = (await this.main.request('JoinRoom', {
      token,
      room_id: roomId,
      user_data: options.userData ?? new Uint8Array(),
      position: options.position ?? [0, 0],
    })) as { peer_id: number; stream_id: number };
    const stream = new RpcStream(this.transport.session.openBidiStream(), this.#timeoutMs);
    const room = new QuicRoom(stream, result.peer_id);
    stream.sendRaw(encode(result.stream_id));
    if (room.joined === undefined) {
      await Promise.race([
        room.next(
          (method, params) =>
            method === 'RoomUpdated' &&
            ((params as { updates?: { kind: string }[] }).updates ?? []).some((u) => u.kind === 'Joined'),
        ),
        new Promise((_, reject) =>
          stream.once('end', (reason) => reject(new Error(`room stream ${reason} before Joined`))),
        ),
      ]);
    }
    return room;
  }

  /** HOT PATH: one voice packet as a datagram. */
  sendVoice(bytes: Uint8Array): boolean {
    return this.transport.session.sendDatagram(bytes);
  }

  close(code = 0, reason = ''): Promise<void> {
    return this.transport.close(code, reason);
  }
}
