/**
 * One native client: a WebTransport session on `/main` mapped onto the core (docs/protocol.md).
 *
 *   first bidirectional stream   the main RPC stream → `sfu.connect(connection)`
 *   later bidirectional streams  room streams: first message = the `stream_id` JoinRoom returned
 *                                (MessagePack uint) → `sfu.attachRoomStream(stream_id, connection)`,
 *                                only for a peer of this session's own client (roomStreams.ts)
 *   datagrams                    voice packets, byte for byte those of the web data channel
 *
 * Messages on streams are length-prefixed (messageFraming.ts). Closes reach the core later
 * (queueMicrotask), never from inside a call the core made.
 */
import type { Client } from '../../core/client.ts';
import type { Connection, RpcEndpoint } from '../../core/connection.ts';
import type { Sfu } from '../../core/sfu.ts';
import { decodeMsgpack } from '../../protocol/msgpackRpc.ts';
import { streamIdFromValue } from '../../protocol/streamId.ts';
import { frameMessage, MessageReader, MessageTooLargeError } from './messageFraming.ts';
import {
  hasWaitingPeer,
  MAX_FAILED_ROOM_STREAMS,
  type RoomStreamStats,
  waitingPeerWith,
} from './roomStreams.ts';
import type { WtSession, WtStream } from './webTransportSurface.ts';

/** CLOSE_WEBTRANSPORT_SESSION codes and stream reset codes we use (docs/protocol.md, "Closing"). */
export const OdinCloseCode = {
  /** Closed by the server; the reason says why (kick, shutdown, no_peers_timeout, ...). */
  closed: 0,
  /** The client broke the framing or the stream rules. */
  protocolError: 1,
  /** The client does not read what we send (send buffer over the limit). */
  slowReader: 2,
  /**
   * A room stream named an unknown, taken or expired stream id (stream reset code); as a
   * session close code: too many such streams (guessing).
   */
  unknownRoomStream: 3,
} as const;

export type OdinSessionParams = {
  id: string;
  session: WtSession;
  sfu: Sfu;
  noPeersTimeoutMs: number;
  /** Disconnect a client whose unsent stream data exceeds this. */
  maxBufferedBytes: number;
  /** Counters shared by the listener's sessions. */
  stats: RoomStreamStats;
  /** Voice packets sent to this transport's clients (metrics per transport), shared by the listener's sessions. */
  voice?: { forwarded: number };
  /** The core's client exists (the main stream opened). */
  onClient?: (client: Client) => void;
  onClosed: () => void;
};

/** A stream (main or room) as the core's Connection. */
class StreamConnection implements Connection {
  readonly id: string;
  readonly remoteAddress: string;
  readonly #owner: OdinSession;
  readonly #stream: WtStream;
  readonly #voice: boolean;
  #closed = false;

  constructor(owner: OdinSession, id: string, stream: WtStream, voice: boolean) {
    this.#owner = owner;
    this.id = id;
    this.remoteAddress = owner.session.remoteAddress;
    this.#stream = stream;
    this.#voice = voice;
  }

  get closed(): boolean {
    return this.#closed;
  }

  sendRpc(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#owner.session.unsentBytes > this.#owner.maxBufferedBytes) {
      this.#owner.close(OdinCloseCode.slowReader, 'the client does not read its messages (send buffer full)');
      return;
    }
    this.#stream.write(frameMessage(bytes));
  }

  /** HOT PATH: voice goes out as a datagram of the session (main connection only). */
  sendVoice(bytes: Uint8Array): boolean {
    if (!this.#voice || this.#closed || !this.#owner.session.sendDatagram(bytes)) return false;
    this.#owner.voiceSent();
    return true;
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#voice) this.#owner.close(OdinCloseCode.closed, reason);
    else this.#stream.write(new Uint8Array(0), true);
  }

  /** The stream ended from the client side. */
  markClosed(): void {
    this.#closed = true;
  }
}

export class OdinSession {
  readonly session: WtSession;
  readonly maxBufferedBytes: number;
  readonly #params: OdinSessionParams;
  #client: Client | undefined;
  #main: StreamConnection | undefined;
  #nextRoom = 1;
  #failedRoomStreams = 0;
  #roomAttached = false;
  #closed = false;

  constructor(params: OdinSessionParams) {
    this.#params = params;
    this.session = params.session;
    this.maxBufferedBytes = params.maxBufferedBytes;
    const sfu = params.sfu;
    params.session.handler = {
      onStream: (stream) => this.#onStream(stream),
      // HOT PATH: a voice packet, unchanged, to the core's router.
      onDatagram: (payload) => {
        const client = this.#client;
        if (client !== undefined) sfu.handleVoice(client, payload);
      },
      onClose: () => this.#onSessionEnd(),
    };
  }

  get client(): Client | undefined {
    return this.#client;
  }

  /** The client presented a valid token (Authenticate, or a JoinRoom that joined). */
  get authenticated(): boolean {
    const client = this.#client;
    return (
      client !== undefined && (client.grant !== undefined || client.peers.size > 0 || this.#roomAttached)
    );
  }

  /** HOT PATH: counts one voice packet sent (a plain increment, read at scrape time). */
  voiceSent(): void {
    const voice = this.#params.voice;
    if (voice !== undefined) voice.forwarded++;
  }

  /** Ends the session with CLOSE_WEBTRANSPORT_SESSION, then the QUIC connection shortly after. */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.session.close(code, reason);
  }

  #onStream(stream: WtStream): void {
    if (!stream.bidirectional) {
      // Unidirectional client streams have no role in the protocol.
      stream.stopSending(OdinCloseCode.protocolError);
      return;
    }
    if (this.#main === undefined) this.#acceptMain(stream);
    else this.#acceptRoom(stream);
  }

  #acceptMain(stream: WtStream): void {
    const { sfu } = this.#params;
    const connection = new StreamConnection(this, this.#params.id, stream, true);
    this.#main = connection;
    const client = sfu.connect(connection, { noPeersTimeoutMs: this.#params.noPeersTimeoutMs });
    this.#client = client;
    this.#params.onClient?.(client);
    this.#pipe(stream, client, connection, () => this.close(OdinCloseCode.closed, 'main stream ended'));
  }

  #acceptRoom(stream: WtStream): void {
    const { sfu } = this.#params;
    // A room stream is only for a peer of this client that waits for it: none waits (before
    // authentication, say) → refused before it can buffer anything.
    if (this.#client === undefined || !hasWaitingPeer(this.#client)) {
      this.#refuseRoomStream(stream);
      return;
    }
    const connection = new StreamConnection(
      this,
      `${this.#params.id}/room-${this.#nextRoom++}`,
      stream,
      false,
    );
    let endpoint: RpcEndpoint | undefined;
    const reader = new MessageReader(sfu.maxRpcFrameSize);
    stream.setHandler({
      onData: (bytes, fin) => {
        let messages: Uint8Array[];
        try {
          messages = reader.push(bytes);
        } catch (error) {
          this.#protocolError(error);
          return;
        }
        for (const message of messages) {
          if (endpoint === undefined) {
            const streamId = decodeStreamId(message);
            // Bound to this session: a stream id of another client's peer is as unknown as a guess.
            const own = this.#client === undefined ? undefined : waitingPeerWith(this.#client, streamId);
            endpoint = own === undefined ? undefined : sfu.attachRoomStream(own.streamId, connection);
            if (endpoint === undefined) {
              connection.markClosed();
              this.#refuseRoomStream(stream);
              return;
            }
            this.#roomAttached = true;
          } else {
            endpoint.handleRpc(message);
          }
        }
        if (fin) {
          connection.markClosed();
          // Finish our side too: only a stream ended both ways is freed by QUIC (and its stream
          // credit returned), so a client that joins and leaves again and again on one
          // connection would otherwise run out of streams.
          stream.write(new Uint8Array(0), true);
          const ended = endpoint;
          if (ended !== undefined) queueMicrotask(() => ended.handleClose());
        }
      },
      onAbort: (_code, direction) => {
        connection.markClosed();
        // The peer reset its side: reset ours, for the same reason. (A STOP_SENDING already
        // makes the QUIC stack reset our side.)
        if (direction === 'read') stream.reset(0);
        const ended = endpoint;
        if (ended !== undefined) queueMicrotask(() => ended.handleClose());
      },
    });
  }

  /**
   * Resets a room stream that attaches to nothing and counts it; a session that keeps doing
   * so is guessing stream ids and is closed.
   */
  #refuseRoomStream(stream: WtStream): void {
    const stats = this.#params.stats;
    stats.roomStreamsRefused++;
    // Drops what arrived before the refusal (quiche discards the rest after STOP_SENDING).
    stream.setHandler({ onData() {}, onAbort() {} });
    stream.reset(OdinCloseCode.unknownRoomStream);
    stream.stopSending(OdinCloseCode.unknownRoomStream);
    if (++this.#failedRoomStreams < MAX_FAILED_ROOM_STREAMS) return;
    stats.sessionsClosedForGuessing++;
    this.close(
      OdinCloseCode.unknownRoomStream,
      `${this.#failedRoomStreams} room streams named no stream id of this session`,
    );
  }

  #pipe(stream: WtStream, endpoint: RpcEndpoint, connection: StreamConnection, onEnd: () => void): void {
    const reader = new MessageReader(this.#params.sfu.maxRpcFrameSize);
    stream.setHandler({
      onData: (bytes, fin) => {
        let messages: Uint8Array[];
        try {
          messages = reader.push(bytes);
        } catch (error) {
          this.#protocolError(error);
          return;
        }
        for (const message of messages) endpoint.handleRpc(message);
        if (fin) {
          connection.markClosed();
          onEnd();
        }
      },
      onAbort: () => {
        connection.markClosed();
        onEnd();
      },
    });
  }

  #protocolError(error: unknown): void {
    const message = error instanceof MessageTooLargeError ? error.message : String(error);
    this.close(OdinCloseCode.protocolError, `protocol error: ${message}`);
  }

  #onSessionEnd(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#main?.markClosed();
    const client = this.#client;
    queueMicrotask(() => {
      client?.handleClose();
      this.#params.onClosed();
    });
  }
}

/**
 * A room stream's first message: the stream id as a MessagePack unsigned integer (streamId.ts).
 * Decoded by the bounded decoder like every client frame: this message arrives before any
 * check of who sends it.
 */
function decodeStreamId(message: Uint8Array): number | undefined {
  try {
    return streamIdFromValue(decodeMsgpack(message));
  } catch {
    return undefined;
  }
}
