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
import type { Position } from '../server/protocol/methods.ts';
import { OdinRoom } from './room.ts';
import { RpcSocket, type RpcSocketOptions } from './rpcSocket.ts';
import { WebRtcVoice } from './webrtc/webRtcVoice.ts';

export { type JoinedInfo, OdinRoom, type PeerInfo } from './room.ts';

export type OdinClientOptions = RpcSocketOptions & {
  /** Open the WebRTC voice channel (SetupWebRtc). Default true. */
  voice?: boolean;
  /** Local IP for WebRTC gathering (tests: '127.0.0.1'). */
  localAddress?: string;
  /** 'tcp': voice only over ICE-TCP, as behind a network that blocks UDP. Default 'udp'. */
  voiceTransport?: 'udp' | 'tcp';
};

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
        voice = new WebRtcVoice({
          ...(options.localAddress ? { localAddress: options.localAddress } : {}),
          ...(options.voiceTransport ? { transport: options.voiceTransport } : {}),
        });
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
  ): Promise<OdinRoom<RpcSocket>> {
    const { stream_id: streamId } = (await this.main.request('JoinRoom', {
      room_id: roomId,
      user_data: options.userData ?? new Uint8Array(),
      position: options.position ?? [0, 0],
    })) as { stream_id: number };
    const stream = await RpcSocket.open(`wss://${this.address}/room?${streamId}`, this.#options);
    const room = new OdinRoom(stream);
    try {
      await room.waitJoined();
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
