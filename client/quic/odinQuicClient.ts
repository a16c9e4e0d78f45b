/**
 * A Node client for ODIN Grid's native transport (docs/protocol.md): a WebTransport session on
 * `/main`, MessagePack-RPC in length-prefixed messages on the first bidirectional stream (the
 * main stream), one more bidirectional stream per room, voice packets as datagrams. Speaks
 * generation B (`JoinRoom {token, room_id, user_data, position}`). Used by the tests, the load
 * generator and bots.
 *
 * Transport (`transport` option, default `auto`): WebTransport over HTTP/3 (QUIC, UDP), and when
 * QUIC does not answer within `quicAnswerTimeoutMs` (default 1.5 s: no packet at all came back,
 * as on a network that blocks UDP) WebTransport over HTTP/2 on the server's `[http]` TCP port
 * (`http2Port`, default the same port number). The same session runs on either; `transportKind`
 * and one log line say which one is in use. Over HTTP/2 voice is reliable and in order, so a lost
 * TCP segment delays every packet behind it (head-of-line blocking): usable, not as good as QUIC.
 */
import { debuglog } from 'node:util';
import { encode } from '@msgpack/msgpack';
import type { Position } from '../../server/protocol/methods.ts';
import { OdinRoom } from '../room.ts';
import { connectWebTransportH2, type WebTransportH2Client } from './http2WebTransportClient.ts';
import { RpcStream } from './rpcStream.ts';
import {
  connectWebTransport,
  QuicUnansweredError,
  type WebTransportClient,
  type WebTransportClientOptions,
} from './webTransportClient.ts';

export { OdinRoom } from '../room.ts';
export { RpcStream } from './rpcStream.ts';

/** How long QUIC may stay silent before `auto` falls back to HTTP/2 (docs/protocol.md). */
export const DEFAULT_QUIC_ANSWER_TIMEOUT_MS = 1_500;

export type NativeTransportKind = 'quic' | 'http2';

export type OdinQuicClientOptions = Omit<WebTransportClientOptions, 'path' | 'answerTimeoutMs'> & {
  path?: string;
  requestTimeoutMs?: number;
  /** `auto` (default): QUIC, HTTP/2 when QUIC does not answer; `quic` or `http2`: that one only. */
  transport?: 'auto' | NativeTransportKind;
  /** `auto`: how long QUIC may stay silent before falling back, ms. Default 1500. */
  quicAnswerTimeoutMs?: number;
  /** TCP port of the server's `[http]` listener for HTTP/2. Default: `port`. */
  http2Port?: number;
  /** Where the line saying which transport is used goes. Default: NODE_DEBUG=odin for QUIC, console.warn for the fallback. */
  log?: (line: string) => void;
};

const debug = debuglog('odin');

export class OdinQuicClient {
  readonly transport: WebTransportClient | WebTransportH2Client;
  readonly main: RpcStream;
  readonly #timeoutMs: number;
  /** Called for every voice datagram. */
  onVoice: ((bytes: Uint8Array) => void) | undefined;
  closeInfo: { code: number; reason: string } | undefined;
  readonly #closed: Promise<void>;

  private constructor(transport: WebTransportClient | WebTransportH2Client, timeoutMs: number) {
    this.transport = transport;
    this.#timeoutMs = timeoutMs;
    this.main = new RpcStream(transport.session.openBidiStream(), timeoutMs);
    let closed!: () => void;
    this.#closed = new Promise((resolve) => {
      closed = resolve;
    });
    transport.session.handler = {
      onStream: (stream: { stopSending(code?: number): void }) => stream.stopSending(0),
      onDatagram: (payload) => this.onVoice?.(payload),
      onClose: (info) => {
        this.closeInfo = { code: info.code, reason: info.reason };
        closed();
      },
    };
  }

  /**
   * A request on the main stream. When the server ends the session, it resets the session's
   * streams along with the close capsule, and the reset may be read first: the request then
   * fails with the session's reason (e.g. `[limit] max_unauthenticated_per_address`), not
   * with a bare "stream aborted".
   */
  async #request(method: string, params: unknown): Promise<unknown> {
    try {
      return await this.main.request(method, params as never);
    } catch (error) {
      if (this.closeInfo === undefined && /stream aborted/.test((error as Error).message)) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.#closed,
          new Promise((resolve) => {
            timer = setTimeout(resolve, this.#timeoutMs);
          }),
        ]);
        clearTimeout(timer);
      }
      if (this.closeInfo === undefined) throw error;
      throw new Error(
        `${method}: session closed by the server (${this.closeInfo.code} ${this.closeInfo.reason})`,
        { cause: error },
      );
    }
  }

  /** Which transport carries the session: `quic` (HTTP/3) or `http2` (the TCP fallback). */
  get transportKind(): NativeTransportKind {
    return this.transport.kind;
  }

  /** The QUIC connection's parts (undefined over HTTP/2). */
  get quic(): WebTransportClient | undefined {
    return this.transport.kind === 'quic' ? this.transport : undefined;
  }

  static async connect(options: OdinQuicClientOptions): Promise<OdinQuicClient> {
    const path = options.path ?? '/main';
    const mode = options.transport ?? 'auto';
    const http2Port = options.http2Port ?? options.port;
    const where = `${options.host}:${options.port}`;
    const viaHttp2 = () =>
      connectWebTransportH2({
        host: options.host,
        port: http2Port,
        path,
        ...(options.serverName === undefined ? {} : { serverName: options.serverName }),
        ...(options.caPem === undefined ? {} : { caPem: options.caPem }),
        ...(options.insecure === undefined ? {} : { insecure: options.insecure }),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.keepAliveMs === undefined ? {} : { keepAliveMs: options.keepAliveMs }),
      });
    let transport: WebTransportClient | WebTransportH2Client;
    if (mode === 'http2') {
      transport = await viaHttp2();
      (options.log ?? debug)(
        `ODIN: connected to ${options.host}:${http2Port} over WebTransport over HTTP/2 (forced)`,
      );
    } else {
      const quicAnswerMs = options.quicAnswerTimeoutMs ?? DEFAULT_QUIC_ANSWER_TIMEOUT_MS;
      try {
        transport = await connectWebTransport({
          ...options,
          path,
          ...(mode === 'auto' ? { answerTimeoutMs: quicAnswerMs } : {}),
        });
        (options.log ?? debug)(`ODIN: connected to ${where} over QUIC (WebTransport over HTTP/3)`);
      } catch (error) {
        if (mode !== 'auto' || !(error instanceof QuicUnansweredError)) throw error;
        transport = await viaHttp2();
        (options.log ?? console.warn)(
          `ODIN: QUIC to ${where} did not answer within ${quicAnswerMs} ms; connected over WebTransport over HTTP/2 to ${options.host}:${http2Port} (TCP: voice may lag on a lossy network)`,
        );
      }
    }
    return new OdinQuicClient(transport, options.requestTimeoutMs ?? 5_000);
  }

  /** Generation B join: JoinRoom on the main stream, then the room stream bound by its stream id. */
  async joinRoom(
    token: string,
    roomId: string,
    options: { userData?: Uint8Array; position?: Position } = {},
  ): Promise<OdinRoom<RpcStream>> {
    const result = (await this.#request('JoinRoom', {
      token,
      room_id: roomId,
      user_data: options.userData ?? new Uint8Array(),
      position: options.position ?? [0, 0],
    })) as { peer_id: number; stream_id: number };
    const stream = new RpcStream(this.transport.session.openBidiStream(), this.#timeoutMs);
    const room = new OdinRoom(stream, result.peer_id);
    stream.sendRaw(encode(result.stream_id));
    await room.waitJoined();
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
