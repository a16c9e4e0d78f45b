/**
 * QUIC variable-length integers (RFC 9000 section 16) and the length-prefixed message framing
 * of our QUIC streams (messageFraming.ts). Findings: an exception other than the documented
 * MessageTooLargeError, a read that does not round-trip, chunking that changes the messages.
 */
import {
  frameMessage,
  MessageReader,
  MessageTooLargeError,
} from '../../server/transports/quic/messageFraming.ts';
import { encodeVarint, MAX_VARINT, readVarint } from '../../server/transports/quic/varint.ts';
import { Cursor, invariant } from './cursor.ts';

export function fuzz(data: Buffer): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let offset = 0; offset < Math.min(bytes.length, 16); offset++) {
    const read = readVarint(bytes, offset);
    if (read === undefined) continue;
    invariant(read.next > offset && read.next <= bytes.length, 'next inside the bytes');
    // Above 2^53 - 1 a value reads as the nearest double, by design (GREASE types, varint.ts).
    if (read.value > MAX_VARINT) invariant(read.next - offset === 8, 'only 8-byte varints exceed 2^53');
    else invariant(readVarint(encodeVarint(read.value), 0)?.value === read.value, 'round trip');
  }
  // Stream framing: random chunking of the same bytes yields the same messages.
  const input = new Cursor(bytes);
  const max = 1 + input.u16();
  const whole = new MessageReader(max);
  const chunked = new MessageReader(max);
  let expected: Uint8Array[] = [];
  let tooLarge = false;
  const body = input.rest();
  try {
    expected = whole.push(body);
  } catch (error) {
    invariant(error instanceof MessageTooLargeError, `MessageReader threw ${String(error)}`);
    tooLarge = true;
  }
  const got: Uint8Array[] = [];
  try {
    for (let at = 0; at < body.length; at += 1 + (body[at]! % 7)) {
      got.push(...chunked.push(body.subarray(at, at + 1 + (body[at]! % 7))));
    }
  } catch (error) {
    invariant(
      error instanceof MessageTooLargeError && tooLarge,
      `chunked MessageReader threw ${String(error)}`,
    );
    return;
  }
  if (tooLarge) return;
  invariant(got.length === expected.length, 'chunking does not change the message count');
  for (let i = 0; i < got.length; i++) {
    invariant(Buffer.compare(frameMessage(got[i]!), frameMessage(expected[i]!)) === 0, 'same messages');
  }
}
