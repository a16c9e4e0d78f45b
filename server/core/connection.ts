/**
 * The seam between a transport (web: WebSocket + WebRTC data channel; QUIC: WebTransport
 * streams + datagrams) and the transport-agnostic core. The core never imports a transport.
 *
 * What a transport does:
 * 1. For every new main connection (`/main` WebSocket, a WebTransport session) it wraps the
 *    socket in a {@link Connection} and calls `sfu.connect(connection)`, getting a `Client`.
 *    If the transport authenticated the client itself, it calls `client.setGrant(grant)`;
 *    otherwise the core handles the `Authenticate` RPC with the `authenticate` function the
 *    Sfu was given.
 * 2. Every binary RPC frame from that socket goes to `client.handleRpc(bytes)`; every voice
 *    packet (data channel `"audio"` message, datagram) to `sfu.handleVoice(client, bytes)`.
 *    When the socket closes, for whatever reason, it calls `client.handleClose()`.
 * 3. Room streams: `JoinRoom` answers `{stream_id}`; the client then opens a second socket
 *    (`/room?<stream_id>`), which the transport wraps in a Connection and hands to
 *    `sfu.attachRoomStream(streamId, connection)`. The returned endpoint gets that socket's
 *    RPC frames (`handleRpc`) and its close (`handleClose`, which makes the peer leave).
 *    A transport that carries room traffic on the main connection instead creates the client
 *    with `sfu.connect(connection, { roomStreamOnMain: true })` (one room per connection).
 * 4. `SetupWebRtc` and `WebRtcUpdate` are transport business: the core validates them and
 *    calls the connection's optional `signal` method, answering with what it returns.
 *
 * Calls from the core into a Connection are synchronous and must not throw; the transport
 * buffers and reports failures by closing. `close` must be idempotent and must not call back
 * into the core synchronously before returning (report the close later with handleClose, or
 * the core ignores the re-entrant call: handleClose is idempotent too).
 */
import type { MethodParams } from '../protocol/methods.ts';

export interface Connection {
  /** Unique per transport, for logs (e.g. `web-17`). */
  readonly id: string;
  /** `host:port` of the peer, for logs and bans by address later. */
  readonly remoteAddress: string;
  /** Sends one encoded RPC frame (response or notification), reliably and in order. */
  sendRpc(bytes: Uint8Array): void;
  /**
   * Sends one voice packet unreliably. Returns false when the packet was dropped because
   * the connection's send queue is full (or the voice channel is not open yet): the core counts
   * it. The bytes may be shared by many connections: never modify them.
   */
  sendVoice(bytes: Uint8Array): boolean;
  /** Closes the connection with a human-readable reason (sent to the client where possible). */
  close(reason: string): void;
  /** WebRTC signaling (`SetupWebRtc`, `WebRtcUpdate`); absent: the transport has none. */
  signal?(request: SignalingRequest): Promise<unknown> | unknown;
}

export type SignalingRequest =
  | { method: 'SetupWebRtc'; params: MethodParams['SetupWebRtc'] }
  | { method: 'WebRtcUpdate'; params: MethodParams['WebRtcUpdate'] };

/** Where a transport delivers one socket's RPC frames and its close. */
export interface RpcEndpoint {
  handleRpc(bytes: Uint8Array): void;
  /** The socket closed; idempotent. */
  handleClose(): void;
}
