/**
 * A Node client for ODIN Grid's native transport (docs/protocol.md): a WebTransport session on
 * `/main`, MessagePack-RPC in length-prefixed messages on the first bidirectional stream (the
 * main stream), one more bidirectional stream per room, voice packets as datagrams. Speaks
 * generation B (`JoinRoom {token, room_id, user_data, position}`). Used by the tests and the
 * load generator.
 */
import { encode } from '@msgpack/msgpack';
import { SERVER_MSGPACK_LIMITS } from '../../server/protocol/boundedMsgpack.ts';
import type { Position } from '../../server/protocol/methods.ts';
import { OdinRoom } from '../room.ts';
import { RpcStream } from './rpcStream.ts';
import {
  connectWebTransport,
  type WebTransportClient,
  type WebTransportClientOptions,
} from './webTransportClient.ts';

export { OdinRoom } from '../room.ts';
export { RpcStream } from './rpcStream.ts';

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
  ): Promise<OdinRoom<RpcStream>> {
    const result = (await this.main.request('JoinRoom', {
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
