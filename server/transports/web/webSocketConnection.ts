/**
 * One WebSocket (`/main` or `/room`) as the core's `Connection`.
 *
 * - RPC frames are binary WebSocket messages, one MessagePack-RPC frame each; a text frame is
 *   a protocol error and closes the socket (1003, RFC 6455 section 7.4.1).
 * - Liveness: a WebSocket ping every `[http] ping_interval`; a socket that sends nothing (no
 *   message, no pong) for `[http] timeout` is dropped.
 * - Backpressure: a client that stops reading while we keep notifying it would grow our send
 *   buffer without bound; past `maxBufferedBytes` it is disconnected with a reason.
 * - Voice does not travel here: `sendVoice` goes to the WebRTC session attached to the client
 *   (`attachVoice`), or reports a drop while there is none.
 */
import type { WebSocket } from 'ws';
import type { Connection, SignalingRequest } from '../../core/connection.ts';

export type WebSocketConnectionParams = {
  id: string;
  remoteAddress: string;
  /** `[http] ping_interval`, ms; 0 disables pings. */
  pingIntervalMs: number;
  /** `[http] timeout`, ms; 0 disables the idle check. */
  timeoutMs: number;
  /** Disconnect a client whose unsent data exceeds this. */
  maxBufferedBytes?: number;
  /** WebRTC signalling for this client (main sockets only). */
  signal?: (request: SignalingRequest) => Promise<unknown>;
};

/** Where voice for this client goes: its WebRTC session's data channel. */
export interface VoiceSink {
  sendVoice(bytes: Uint8Array): boolean;
}

export const defaultMaxBufferedBytes = 4 * 1024 * 1024;

/** WebSocket close codes we use (RFC 6455 section 7.4; 4000-4999 are the application's). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  tooBig: 1009,
  /** The server closed the client for a reason the text names (kick, timeout, limits). */
  closedByServer: 4000,
} as const;

/** A close reason is at most 123 bytes of UTF-8 (RFC 6455 section 5.5: 125 minus the code). */
export function closeReasonText(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  if (bytes.length <= 123) return reason;
  // Cut at a character boundary: decoding a cut sequence would yield U+FFFD (3 bytes).
  return new TextDecoder().decode(bytes.subarray(0, 120)).replace(/\uFFFD$/, '');
}

export class WebSocketConnection implements Connection {
  readonly id: string;
  readonly remoteAddress: string;
  readonly signal?: (request: SignalingRequest) => Promise<unknown>;
  #socket: WebSocket;
  #maxBufferedBytes: number;
  #voice: VoiceSink | undefined;
  #lastHeard = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(socket: WebSocket, params: WebSocketConnectionParams) {
    this.#socket = socket;
    this.id = params.id;
    this.remoteAddress = params.remoteAddress;
    this.#maxBufferedBytes = params.maxBufferedBytes ?? defaultMaxBufferedBytes;
    if (params.signal) this.signal = params.signal;
    socket.on('message', () => this.#heard());
    socket.on('pong', () => this.#heard());
    socket.on('close', () => this.#stopTimer());
    this.#startLiveness(params.pingIntervalMs, params.timeoutMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  attachVoice(sink: VoiceSink | undefined): void {
    this.#voice = sink;
  }

  sendRpc(bytes: Uint8Array): void {
    if (this.#closed || this.#socket.readyState !== this.#socket.OPEN) return;
    if (this.#socket.bufferedAmount > this.#maxBufferedBytes) {
      this.close('the client does not read its messages (send buffer full)');
      return;
    }
    this.#socket.send(bytes, { binary: true });
  }

  sendVoice(bytes: Uint8Array): boolean {
    return this.#voice?.sendVoice(bytes) ?? false;
  }

  close(reason: string, code: number = CloseCode.closedByServer): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimer();
    const socket = this.#socket;
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) {
      socket.close(code, closeReasonText(reason));
      // A client that never answers the close handshake must not hold the socket open.
      setTimeout(() => socket.terminate(), 5_000).unref();
    }
  }

  #heard(): void {
    this.#lastHeard = Date.now();
  }

  #startLiveness(pingIntervalMs: number, timeoutMs: number): void {
    if (pingIntervalMs <= 0 && timeoutMs <= 0) return;
    const tick = Math.min(...[pingIntervalMs, timeoutMs].filter((ms) => ms > 0));
    let sincePing = 0;
    this.#timer = setInterval(() => {
      if (timeoutMs > 0 && Date.now() - this.#lastHeard > timeoutMs) {
        this.close(`no message or pong for ${timeoutMs} ms ([http] timeout)`, CloseCode.goingAway);
        return;
      }
      sincePing += tick;
      if (
        pingIntervalMs > 0 &&
        sincePing >= pingIntervalMs &&
        this.#socket.readyState === this.#socket.OPEN
      ) {
        sincePing = 0;
        this.#socket.ping();
      }
    }, tick);
    this.#timer.unref();
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
