/**
 * Our framing of RPC messages on WebTransport streams (docs/protocol.md, "Framing"): each
 * MessagePack-RPC message is preceded by its length as a QUIC variable-length integer
 * (RFC 9000 section 16). A stream is a byte stream, so a message may arrive in pieces and
 * several in one read.
 */
import { concatBytes, readVarint, varintLength, writeVarint } from './varint.ts';

/** One message with its length prefix. */
export function frameMessage(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintLength(message.length) + message.length);
  out.set(message, writeVarint(out, 0, message.length));
  return out;
}

export class MessageTooLargeError extends Error {
  readonly length: number;
  constructor(length: number, max: number) {
    super(`message of ${length} bytes exceeds the limit of ${max}`);
    this.name = 'MessageTooLargeError';
    this.length = length;
  }
}

/** The empty buffer of a reader with nothing held back (shared: it pins no chunk). */
const NOTHING = new Uint8Array(0);

/** Splits a stream's bytes into messages. Refuses a length over `maxMessage` as soon as it is read. */
export class MessageReader {
  readonly #maxMessage: number;
  #buffer: Uint8Array = NOTHING;

  constructor(maxMessage: number) {
    this.#maxMessage = maxMessage;
  }

  /** Bytes of an unfinished message held back. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Appends bytes and returns every message now complete (throws MessageTooLargeError). */
  push(bytes: Uint8Array): Uint8Array[] {
    let buffer = this.#buffer.length === 0 ? bytes : concatBytes([this.#buffer, bytes]);
    const messages: Uint8Array[] = [];
    for (;;) {
      let length: ReturnType<typeof readVarint>;
      try {
        length = readVarint(buffer, 0);
      } catch {
        throw new MessageTooLargeError(Number.POSITIVE_INFINITY, this.#maxMessage);
      }
      if (length === undefined) break;
      if (length.value > this.#maxMessage) throw new MessageTooLargeError(length.value, this.#maxMessage);
      const end = length.next + length.value;
      if (end > buffer.length) break;
      messages.push(buffer.subarray(length.next, end));
      buffer = buffer.subarray(end);
    }
    // An empty rest is a view of the last chunk all the same, and would pin it while the
    // stream idles: hold a fresh empty array instead.
    this.#buffer = buffer.length === 0 ? NOTHING : buffer;
    return messages;
  }
}
