/**
 * One MessagePack-RPC session, client side, over any transport that carries whole messages:
 * requests with msgids and a timeout, responses matched back, notifications as events. The web
 * client runs it over a WebSocket (rpcSocket.ts), the native client over a WebTransport stream
 * (quic/rpcStream.ts); `ClientTransport` is the seam between them, as
 * server/core/connection.ts is on the server.
 */
import { EventEmitter } from 'node:events';
import { SERVER_MSGPACK_LIMITS } from '../server/protocol/boundedMsgpack.ts';
import { decodeRpcFrame, encodeRequest } from '../server/protocol/msgpackRpc.ts';

/** Largest message a client accepts from the server. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** What a session needs of the bytes underneath. */
export interface ClientTransport {
  /** Sends one whole message (the transport frames it, if it must). */
  send(message: Uint8Array): void;
  /** Binds the session: each whole message that arrives, and the end of the transport. */
  listen(handlers: { onFrame(message: Uint8Array): void; onClose(code: number, reason: string): void }): void;
  /** Closes the transport; resolves once it is closed (at once where nothing is awaited). */
  close(): Promise<void>;
}

/** An error answer of the server to a request. */
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

export type RpcSessionEvents = {
  /** A notification; a message that is not MessagePack-RPC arrives as `ProtocolError`. */
  notification: [method: string, params: unknown];
  close: [code: number, reason: string];
  newListener: [event: string | symbol];
};

export class RpcSession extends EventEmitter<RpcSessionEvents> {
  readonly #transport: ClientTransport;
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  #nextId = 0;
  #closeInfo: { code: number; reason: string } | undefined;
  /**
   * Notifications that arrived before anyone listened, flushed to the first 'notification'
   * listener. A transport may hand over bytes that came with its handshake synchronously, before
   * the code that opened it has resumed (ws does with the 101 response), so a room stream's
   * `Joined` could otherwise be emitted to nobody.
   */
  #early: [method: string, params: unknown][] | undefined = [];

  constructor(transport: ClientTransport, timeoutMs: number) {
    super();
    this.#transport = transport;
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
    transport.listen({
      onFrame: (message) => this.#onMessage(message),
      onClose: (code, reason) => this.#onClose(code, reason),
    });
  }

  /** Why the transport closed, once it has. */
  get closeInfo(): { code: number; reason: string } | undefined {
    return this.#closeInfo;
  }

  /** Whether the transport has closed. */
  get ended(): boolean {
    return this.#closeInfo !== undefined;
  }

  /** Sends a request; resolves with its result, rejects with RpcError or when no answer comes. */
  request(method: string, params: unknown): Promise<unknown> {
    const msgid = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#closeInfo !== undefined) {
        reject(new Error(`${method}: ${describeClose(this.#closeInfo)}`));
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(msgid);
        reject(new Error(`${method}: no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(msgid, { method, resolve, reject, timer });
      this.#transport.send(encodeRequest(msgid, method, params));
    });
  }

  /** Sends one message as it is, not RPC-encoded (tests of malformed input, room stream binding). */
  sendRaw(message: Uint8Array): void {
    this.#transport.send(message);
  }

  close(): Promise<void> {
    return this.#transport.close();
  }

  #notify(method: string, params: unknown): void {
    if (this.#early !== undefined) this.#early.push([method, params]);
    else this.emit('notification', method, params);
  }

  #onMessage(message: Uint8Array): void {
    // The server's frames are bounded too, with the wider limits of what a server sends.
    const frame = decodeRpcFrame(message, MAX_MESSAGE_BYTES, SERVER_MSGPACK_LIMITS);
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

  #onClose(code: number, reason: string): void {
    if (this.#closeInfo !== undefined) return;
    this.#closeInfo = { code, reason };
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`${pending.method}: ${describeClose(this.#closeInfo)}`));
    }
    this.#pending.clear();
    this.emit('close', code, reason);
  }
}

function describeClose(info: { code: number; reason: string }): string {
  return `closed (${info.code} ${info.reason})`;
}
