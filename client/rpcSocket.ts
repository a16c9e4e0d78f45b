/**
 * MessagePack-RPC over one WebSocket, client side: requests with msgids and a timeout,
 * responses matched back, notifications as events. What the ODIN web SDK's stream does.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { SERVER_MSGPACK_LIMITS } from '../server/protocol/boundedMsgpack.ts';
import { decodeRpcFrame, encodeRequest } from '../server/protocol/msgpackRpc.ts';

export type RpcSocketOptions = {
  /** PEM certificate(s) to trust (the server's self-signed certificate in tests and dev). */
  ca?: string | Buffer;
  /** Accept any certificate. For development only. */
  insecure?: boolean;
  /** Per-request timeout, ms (the web SDK uses 5 s). */
  requestTimeoutMs?: number;
};

export class RpcError extends Error {
  readonly method: string;
  readonly detail: unknown;
  constructor(method: string, detail: unknown) {
    super(`${method} failed: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
    this.name = 'RpcError';
    this.method = method;
    this.detail = detail;
  }
}

type Pending = {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
};

type RpcSocketEvents = {
  notification: [method: string, params: unknown];
  close: [code: number, reason: string];
  newListener: [event: string | symbol];
};

export class RpcSocket extends EventEmitter<RpcSocketEvents> {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  #nextId = 0;
  #closeInfo: { code: number; reason: string } | undefined;
  /**
   * Notifications that arrived before anyone listened. ws hands over bytes that came with the
   * 101 response synchronously right after 'open', before `await RpcSocket.open()` resumes, so
   * a room stream's `Joined` could otherwise be emitted to nobody. Flushed to the first
   * 'notification' listener.
   */
  #early: [method: string, params: unknown][] | undefined = [];

  private constructor(socket: WebSocket, timeoutMs: number) {
    super();
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    this.on('newListener', (event) => {
      if (event !== 'notification' || this.#early === undefined) return;
      const early = this.#early;
      this.#early = undefined;
      // After the listener is registered (newListener fires before that).
      queueMicrotask(() => {
        for (const [method, params] of early) this.emit('notification', method, params);
      });
    });
    socket.on('message', (data: Buffer) => this.#onMessage(data));
    socket.on('close', (code, reason) => {
      this.#closeInfo = { code, reason: reason.toString('utf8') };
      for (const [, pending] of this.#pending) {
        clearTimeout(pending.timer);
        pending.reject(new Error(`${pending.method}: socket closed (${code} ${reason.toString('utf8')})`));
      }
      this.#pending.clear();
      this.emit('close', code, reason.toString('utf8'));
    });
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

  get closeInfo(): { code: number; reason: string } | undefined {
    return this.#closeInfo;
  }

  get isOpen(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  request(method: string, params: unknown): Promise<unknown> {
    const msgid = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(msgid);
        reject(new Error(`${method}: no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(msgid, { method, resolve, reject, timer });
      this.#socket.send(encodeRequest(msgid, method, params));
    });
  }

  /** Sends raw bytes (tests of malformed input). */
  sendRaw(bytes: Uint8Array | string): void {
    this.#socket.send(bytes);
  }

  close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.close(1000);
    });
  }

  #notify(method: string, params: unknown): void {
    if (this.#early !== undefined) this.#early.push([method, params]);
    else this.emit('notification', method, params);
  }

  #onMessage(data: Buffer): void {
    const frame = decodeRpcFrame(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      16 * 1024 * 1024,
      SERVER_MSGPACK_LIMITS,
    );
    if (frame instanceof Error) {
      this.#notify('ProtocolError', frame.message);
      return;
    }
    if (frame.type === 'notification') {
      this.#notify(frame.method, frame.params);
    } else if (frame.type === 'response') {
      const pending = this.#pending.get(frame.msgid);
      if (!pending) return;
      this.#pending.delete(frame.msgid);
      clearTimeout(pending.timer);
      if (frame.error !== null && frame.error !== undefined)
        pending.reject(new RpcError(pending.method, frame.error));
      else pending.resolve(frame.result);
    }
  }
}
