/**
 * QPACK field sections (RFC 9204) with a dynamic table of capacity 0: we announce
 * `SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0` and `SETTINGS_QPACK_BLOCKED_STREAMS = 0`, so a peer may
 * only use the static table (Appendix A) and literals (section 4.5). Any reference to the
 * dynamic table is QPACK_DECOMPRESSION_FAILED (section 2.2.3). Strings may be Huffman-coded
 * (section 4.1.2, RFC 7541 section 5.2).
 *
 * The encoder side (our responses, the client's CONNECT) uses the static table and
 * literals only, so our encoder stream stays silent.
 */
import { H3ConnectionError, H3Error } from './errors.ts';
import { HuffmanError, huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.ts';
import { QPACK_STATIC_TABLE } from './qpackStaticTable.ts';

export type HeaderField = readonly [name: string, value: string];

/** Largest prefixed integer we accept: more than any header needs, far below 2^53. */
const MAX_PREFIXED_INTEGER = 0xffff_ffff;

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

function decompressionFailed(message: string): H3ConnectionError {
  return new H3ConnectionError(H3Error.QPACK_DECOMPRESSION_FAILED, `QPACK: ${message}`);
}

type Read = { value: number; next: number };

/**
 * A prefixed integer (RFC 9204 section 4.1.1, which is RFC 7541 section 5.1): the low
 * `prefixBits` of the first byte, continued in 7-bit groups while it is all ones.
 */
export function readPrefixedInteger(bytes: Uint8Array, offset: number, prefixBits: number): Read {
  if (offset >= bytes.length) throw decompressionFailed('field section ends inside an integer');
  const max = (1 << prefixBits) - 1;
  let value = bytes[offset]! & max;
  let next = offset + 1;
  if (value < max) return { value, next };
  let shift = 0;
  for (;;) {
    if (next >= bytes.length) throw decompressionFailed('field section ends inside an integer');
    const byte = bytes[next++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (value > MAX_PREFIXED_INTEGER) throw decompressionFailed('integer too large');
    if ((byte & 0x80) === 0) return { value, next };
    shift += 7;
  }
}

/** Writes a prefixed integer; `flags` are the bits above the prefix in the first byte. */
export function writePrefixedInteger(out: number[], value: number, prefixBits: number, flags: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

/**
 * A string literal (RFC 9204 section 4.1.2): an H flag at bit `prefixBits`, then the length as
 * a prefixed integer, then the bytes (Huffman-coded when H is set).
 */
function readString(bytes: Uint8Array, offset: number, prefixBits: number): { value: string; next: number } {
  if (offset >= bytes.length) throw decompressionFailed('field section ends inside a string');
  const huffman = (bytes[offset]! >> prefixBits) & 1;
  const length = readPrefixedInteger(bytes, offset, prefixBits);
  const end = length.next + length.value;
  if (end > bytes.length) throw decompressionFailed('string longer than the field section');
  const raw = bytes.subarray(length.next, end);
  let decoded: Uint8Array;
  try {
    decoded = huffman === 1 ? huffmanDecode(raw) : raw;
  } catch (error) {
    if (error instanceof HuffmanError) throw decompressionFailed(error.message);
    throw error;
  }
  return { value: utf8.decode(decoded), next: end };
}

function writeString(out: number[], value: string, prefixBits: number, flags: number): void {
  const raw = utf8Encoder.encode(value);
  const huffmanLength = huffmanEncodedLength(raw);
  if (huffmanLength < raw.length) {
    writePrefixedInteger(out, huffmanLength, prefixBits, flags | (1 << prefixBits));
    for (const byte of huffmanEncode(raw)) out.push(byte);
  } else {
    writePrefixedInteger(out, raw.length, prefixBits, flags);
    for (const byte of raw) out.push(byte);
  }
}

function staticEntry(index: number): readonly [string, string] {
  const entry = QPACK_STATIC_TABLE[index];
  if (entry === undefined) throw decompressionFailed(`static table index ${index} out of range`);
  return entry;
}

/**
 * Decodes an encoded field section (RFC 9204 section 4.5) into its fields, in order.
 * Throws H3ConnectionError(QPACK_DECOMPRESSION_FAILED) for anything malformed or any use of the
 * dynamic table.
 */
export function decodeFieldSection(bytes: Uint8Array): HeaderField[] {
  // Section 4.5.1: Required Insert Count (8-bit prefix) and Base (sign bit + 7-bit prefix).
  const requiredInsertCount = readPrefixedInteger(bytes, 0, 8);
  if (requiredInsertCount.value !== 0) throw decompressionFailed('the dynamic table is not in use');
  const base = readPrefixedInteger(bytes, requiredInsertCount.next, 7);
  let offset = base.next;
  const fields: HeaderField[] = [];
  while (offset < bytes.length) {
    const first = bytes[offset]!;
    if ((first & 0x80) !== 0) {
      // 4.5.2 Indexed Field Line: 1 T index(6)
      if ((first & 0x40) === 0) throw decompressionFailed('dynamic table reference');
      const index = readPrefixedInteger(bytes, offset, 6);
      fields.push(staticEntry(index.value));
      offset = index.next;
    } else if ((first & 0x40) !== 0) {
      // 4.5.4 Literal Field Line with Name Reference: 0 1 N T index(4), value H + 7
      if ((first & 0x10) === 0) throw decompressionFailed('dynamic table reference');
      const index = readPrefixedInteger(bytes, offset, 4);
      const value = readString(bytes, index.next, 7);
      fields.push([staticEntry(index.value)[0], value.value]);
      offset = value.next;
    } else if ((first & 0x20) !== 0) {
      // 4.5.6 Literal Field Line with Literal Name: 0 0 1 N H nameLength(3), value H + 7
      const name = readString(bytes, offset, 3);
      const value = readString(bytes, name.next, 7);
      fields.push([name.value, value.value]);
      offset = value.next;
    } else {
      // 4.5.3 Indexed Field Line with Post-Base Index (0001) and 4.5.5 Literal Field Line with
      // Post-Base Name Reference (0000): both refer to the dynamic table.
      throw decompressionFailed('post-base (dynamic table) reference');
    }
  }
  return fields;
}

/** Encodes fields with the static table and literals only (Required Insert Count 0, Base 0). */
export function encodeFieldSection(fields: readonly HeaderField[]): Uint8Array {
  const out: number[] = [0x00, 0x00];
  for (const [name, value] of fields) {
    let exact = -1;
    let nameOnly = -1;
    for (let i = 0; i < QPACK_STATIC_TABLE.length; i++) {
      const entry = QPACK_STATIC_TABLE[i]!;
      if (entry[0] !== name) continue;
      if (entry[1] === value) {
        exact = i;
        break;
      }
      if (nameOnly === -1) nameOnly = i;
    }
    if (exact !== -1) {
      writePrefixedInteger(out, exact, 6, 0xc0);
    } else if (nameOnly !== -1) {
      writePrefixedInteger(out, nameOnly, 4, 0x50);
      writeString(out, value, 7, 0x00);
    } else {
      writeString(out, name, 3, 0x20);
      writeString(out, value, 7, 0x00);
    }
  }
  return Uint8Array.from(out);
}

/**
 * Checks what arrives on the peer's QPACK encoder stream (RFC 9204 section 4.3). With capacity
 * 0, only "Set Dynamic Table Capacity" to 0 is valid; anything else is
 * QPACK_ENCODER_STREAM_ERROR. Returns the number of bytes consumed (a partial instruction
 * stays for the next call).
 */
export function checkEncoderStream(bytes: Uint8Array): number {
  let offset = 0;
  while (offset < bytes.length) {
    const first = bytes[offset]!;
    if ((first & 0xe0) !== 0x20) {
      throw new H3ConnectionError(
        H3Error.QPACK_ENCODER_STREAM_ERROR,
        'QPACK: insert instruction on the encoder stream, but the dynamic table capacity is 0',
      );
    }
    let capacity: Read;
    try {
      capacity = readPrefixedInteger(bytes, offset, 5);
    } catch {
      return offset;
    }
    if (capacity.value !== 0) {
      throw new H3ConnectionError(
        H3Error.QPACK_ENCODER_STREAM_ERROR,
        `QPACK: dynamic table capacity ${capacity.value} exceeds our maximum of 0`,
      );
    }
    offset = capacity.next;
  }
  return offset;
}

/**
 * Checks the peer's QPACK decoder stream (RFC 9204 section 4.4). We never reference the dynamic
 * table, so only Stream Cancellation (01xxxxxx) is valid; Section Acknowledgment (1xxxxxxx) and
 * Insert Count Increment (00xxxxxx) are QPACK_DECODER_STREAM_ERROR. Returns bytes consumed.
 */
export function checkDecoderStream(bytes: Uint8Array): number {
  let offset = 0;
  while (offset < bytes.length) {
    const first = bytes[offset]!;
    if ((first & 0xc0) !== 0x40) {
      throw new H3ConnectionError(
        H3Error.QPACK_DECODER_STREAM_ERROR,
        'QPACK: acknowledgement on the decoder stream of a section that used no dynamic table',
      );
    }
    let streamId: Read;
    try {
      streamId = readPrefixedInteger(bytes, offset, 6);
    } catch {
      return offset;
    }
    offset = streamId.next;
  }
  return offset;
}
