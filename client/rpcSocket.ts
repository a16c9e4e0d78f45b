/**
 * MessagePack-RPC over one WebSocket, client side: an RpcSession (rpcSession.ts) over a
 * WebSocket transport, one RPC message per WebSocket message. What the ODIN web SDK's stream does.
 */
import WebSocket from 'ws';
import { type ClientTransport, RpcSession } from './rpcSession.ts';

export { RpcError } from './rpcSession.ts';

export type RpcSocketOptions = {
  /** PEM certificate(s) to trust (the server's self-signed certificate in tests and dev). */
  ca?: string | Buffer;
  /** Accept any certificate. For development only. */
  insecure?: boolean;
  /** Per-request timeout, ms (the web SDK uses 5 s). */
  requestTimeoutMs?: number;
};

function webSocketTransport(socket: WebSocket): ClientTransport {
  return {
    send: (message) => socket.send(message),
    listen: ({ onFrame, onClose }) => {
      socket.on('message', (data: Buffer) =>
        onFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
      );
      socket.on('close', (code, reason) => onClose(code, reason.toString('utf8')));
    },
    close: () => {
      if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
      return new Promise((resolve) => {
        socket.once('close', () => resolve());
        socket.close(1000);
      });
    },
  };
}

export class RpcSocket extends RpcSession {
  readonly #socket: WebSocket;

  private constructor(socket: WebSocket, timeoutMs: number) {
    super(webSocketTransport(socket), timeoutMs);
    this.#socket = socket;
  }

  static open(url: string, options: RpcSocketOptions = {}): Promise<RpcSocket> {
    const socket = new WebSocket(url, {
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      rejectUnauthorized: !options.insecure,
      perMessageDeflate: false,
    });
    socket.binaryType = 'nodebuffer';
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new RpcSocket(socket, options.requestTimeoutMs ?? 5_000)));
      socket.once('error', reject);
      socket.once('unexpected-response', (_request, response) =>
        reject(new Error(`${url}: HTTP ${response.statusCode} instead of a WebSocket`)),
      );
    });
  }

  get isOpen(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  /** Sends raw bytes, or a text message (tests of malformed input). */
  override sendRaw(message: Uint8Array | string): void {
    this.#socket.send(message);
  }
}
