/**
 * QUIC variable-length integers (RFC 9000 section 16): the 2 high bits of the first byte give
 * the length (1, 2, 4 or 8 bytes), the rest is the value, big-endian. Used by HTTP/3 frames and
 * stream types, WebTransport stream headers, capsules and our own message framing.
 *
 * Values are JS numbers. An 8-byte varint above 2^53 - 1 reads as the nearest double: such
 * values are legitimate as GREASE frame, stream, setting and capsule types (RFC 9114 section
 * 7.2.8, RFC 9297 section 5.4: 0x1f * N + 0x21, up to 2^62), which are only ever compared
 * (and never match a known type); as a length they exceed every limit and are refused there.
 */

/** Largest value a varint can carry that is still exact as a JS number. */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER;

/** The result of reading a varint: its value and where the next byte is. */
export type VarintRead = { value: number; next: number };

/** How many bytes `value` takes as a varint. */
export function varintLength(value: number): 1 | 2 | 4 | 8 {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x4000_0000) return 4;
  return 8;
}

/**
 * Reads a varint at `offset`. Returns undefined when `bytes` ends before the varint does
 * (read again once more data arrived).
 */
export function readVarint(bytes: Uint8Array, offset: number): VarintRead | undefined {
  if (offset >= bytes.length) return undefined;
  const first = bytes[offset]!;
  const length = 1 << (first >> 6);
  if (offset + length > bytes.length) return undefined;
  let value = first & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + bytes[offset + i]!;
  return { value, next: offset + length };
}

/** Writes `value` at `offset` of `out` (which must have room); returns the offset after it. */
export function writeVarint(out: Uint8Array, offset: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a varint: ${value}`);
  const length = varintLength(value);
  let rest = value;
  for (let i = length - 1; i > 0; i--) {
    out[offset + i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  out[offset] = rest | ([0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0][length] ?? 0);
  return offset + length;
}

/** `value` as its own varint bytes. */
export function encodeVarint(value: number): Uint8Array {
  const out = new Uint8Array(varintLength(value));
  writeVarint(out, 0, value);
  return out;
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
