/**
 * ICE-TCP framing: RFC 6544 §3 carries STUN and DTLS over TCP with RFC 4571 §2 framing, each
 * datagram preceded by its length as a 16-bit big-endian integer.
 *
 * `IceTcpFrameReader` turns the byte stream of one connection into whole frames. It bounds
 * memory before it allocates: a declared length over `maxFrameLength` is refused as soon as the
 * two length bytes are in, and only a frame split across reads is copied (into a buffer of the
 * declared, already checked, length). Frames that arrive whole are handed out as views of the
 * read chunk, without copying (Node gives each socket read a buffer of its own, so a view stays
 * valid; nobody may write into it).
 *
 * Before the connection is authenticated the reader can also check that the frame starts like a
 * STUN message (RFC 8489 §5: top bits zero, the magic cookie, a length that fits the frame),
 * after the first 10 bytes: a TLS ClientHello or an HTTP request sent to this port is refused as
 * garbage without waiting for (or allocating) the length it seems to declare.
 */
import { STUN_HEADER_LENGTH, STUN_MAGIC_COOKIE } from './stunHeader.ts';

/** RFC 4571 §2: the 16-bit LENGTH field. */
export const ICE_TCP_LENGTH_BYTES = 2;
/** The largest frame RFC 4571 can express. */
export const ICE_TCP_MAX_FRAME = 0xffff;

/** Why a reader refused its stream; the connection is closed for it. */
export type IceTcpFramingFault = 'oversized_frame' | 'garbage';

export class IceTcpFramingError extends Error {
  readonly code: IceTcpFramingFault;
  constructor(code: IceTcpFramingFault, message: string) {
    super(message);
    this.name = 'IceTcpFramingError';
    this.code = code;
  }
}

/** Bytes needed to judge a frame's STUN header: the length prefix + type, length, cookie. */
const STUN_PROBE_BYTES = ICE_TCP_LENGTH_BYTES + 8;

/**
 * Whether a frame that begins with `head` (length prefix included, at least
 * `STUN_PROBE_BYTES` long) is a STUN message filling exactly its frame.
 */
function looksLikeStunFrame(head: Uint8Array, offset: number, frameLength: number): boolean {
  const type0 = head[offset + 2]!;
  if ((type0 & 0xc0) !== 0) return false;
  const stunLength = (head[offset + 4]! << 8) | head[offset + 5]!;
  if ((stunLength & 3) !== 0 || STUN_HEADER_LENGTH + stunLength !== frameLength) return false;
  const cookie =
    ((head[offset + 6]! << 24) | (head[offset + 7]! << 16) | (head[offset + 8]! << 8) | head[offset + 9]!) >>>
    0;
  return cookie === STUN_MAGIC_COOKIE;
}

export interface IceTcpFrameReaderParams {
  /** Frames declaring more than this are refused (`oversized_frame`). At most 65 535. */
  maxFrameLength: number;
  /** Each whole frame, often a view into the read chunk (see the module comment). */
  onFrame: (frame: Buffer) => void;
}

export class IceTcpFrameReader {
  readonly #maxFrameLength: number;
  readonly #onFrame: (frame: Buffer) => void;
  /** Partial length prefix / STUN probe bytes carried over between reads. */
  readonly #head = Buffer.alloc(STUN_PROBE_BYTES);
  #headLength = 0;
  /** The frame being reassembled (allocated once its length passed the checks). */
  #partial: Buffer | undefined;
  #partialFilled = 0;
  #failed: IceTcpFramingError | undefined;
  /** While true, every frame must look like a STUN message (see the module comment). */
  requireStun = false;

  constructor(params: IceTcpFrameReaderParams) {
    if (params.maxFrameLength < 1 || params.maxFrameLength > ICE_TCP_MAX_FRAME) {
      throw new RangeError(`maxFrameLength must be 1..${ICE_TCP_MAX_FRAME}, got ${params.maxFrameLength}`);
    }
    this.#maxFrameLength = params.maxFrameLength;
    this.#onFrame = params.onFrame;
  }

  /** Bytes held for an unfinished frame (for tests and leak checks). */
  get bufferedBytes(): number {
    return this.#headLength + this.#partialFilled;
  }

  /**
   * Consumes one read. Throws `IceTcpFramingError` on the first bad frame; the reader stays
   * failed afterwards (the caller closes the connection). Errors thrown by `onFrame` pass through.
   */
  push(chunk: Buffer): void {
    if (this.#failed) throw this.#failed;
    let offset = 0;
    const end = chunk.length;
    while (offset < end) {
      if (this.#partial !== undefined) {
        const take = Math.min(this.#partial.length - this.#partialFilled, end - offset);
        chunk.copy(this.#partial, this.#partialFilled, offset, offset + take);
        this.#partialFilled += take;
        offset += take;
        if (this.#partialFilled < this.#partial.length) return;
        const frame = this.#partial;
        this.#partial = undefined;
        this.#partialFilled = 0;
        this.#onFrame(frame);
        continue;
      }
      // Fast path: the whole header (and maybe the whole frame) is inside this chunk.
      if (this.#headLength === 0 && end - offset >= this.#probeBytes()) {
        const length = this.#checkHeader(chunk, offset);
        const start = offset + ICE_TCP_LENGTH_BYTES;
        if (end - start >= length) {
          offset = start + length;
          if (length > 0) this.#onFrame(chunk.subarray(start, offset));
          continue;
        }
        this.#startPartial(length, chunk, start, end);
        return;
      }
      // Slow path: gather the header across reads.
      const need = this.#probeBytes() - this.#headLength;
      const take = Math.min(need, end - offset);
      chunk.copy(this.#head, this.#headLength, offset, offset + take);
      this.#headLength += take;
      offset += take;
      if (this.#headLength < this.#probeBytes()) return;
      const length = this.#checkHeader(this.#head, 0);
      this.#headLength = 0;
      const carried = this.#head.subarray(ICE_TCP_LENGTH_BYTES, this.#probeBytes());
      if (length === 0) continue;
      const partial = Buffer.allocUnsafe(length);
      // A STUN probe may have carried bytes of the frame already (never more than the frame: a
      // STUN frame is at least 20 bytes, the probe holds 8 of them).
      carried.copy(partial, 0);
      this.#partial = partial;
      this.#partialFilled = carried.length;
      if (this.#partialFilled === length) {
        this.#partial = undefined;
        this.#partialFilled = 0;
        this.#onFrame(partial);
      }
    }
  }

  /** Bytes of header needed before a frame can be judged. */
  #probeBytes(): number {
    return this.requireStun ? STUN_PROBE_BYTES : ICE_TCP_LENGTH_BYTES;
  }

  /** The frame length at `offset`, after the size and (pre-auth) STUN checks. */
  #checkHeader(bytes: Uint8Array, offset: number): number {
    const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
    if (this.requireStun && !looksLikeStunFrame(bytes, offset, length)) {
      this.#fail('garbage', 'expected a STUN binding request in an RFC 6544 frame');
    }
    if (length > this.#maxFrameLength) {
      this.#fail('oversized_frame', `frame of ${length} bytes exceeds the limit of ${this.#maxFrameLength}`);
    }
    return length;
  }

  #startPartial(length: number, chunk: Buffer, start: number, end: number): void {
    const partial = Buffer.allocUnsafe(length);
    chunk.copy(partial, 0, start, end);
    this.#partial = partial;
    this.#partialFilled = end - start;
  }

  #fail(code: IceTcpFramingFault, message: string): never {
    this.#failed = new IceTcpFramingError(code, `ICE-TCP: ${message}`);
    throw this.#failed;
  }
}

/**
 * The RFC 4571 length prefix of a frame of `length` bytes; the caller writes it before the data
 * (two writes under `cork()`, no concatenation).
 */
export function iceTcpLengthPrefix(length: number): Buffer {
  if (length > ICE_TCP_MAX_FRAME) throw new RangeError(`ICE-TCP frame of ${length} bytes exceeds 65535`);
  const prefix = Buffer.allocUnsafe(ICE_TCP_LENGTH_BYTES);
  prefix.writeUInt16BE(length, 0);
  return prefix;
}

/** One framed datagram (for clients and tests; the server writes prefix and data separately). */
export function encodeIceTcpFrame(data: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(ICE_TCP_LENGTH_BYTES + data.length);
  frame.writeUInt16BE(data.length, 0);
  frame.set(data, ICE_TCP_LENGTH_BYTES);
  return frame;
}
