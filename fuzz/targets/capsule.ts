/**
 * Capsules (RFC 9297 section 3.2) on a WebTransport CONNECT stream and the
 * CLOSE_WEBTRANSPORT_SESSION payload. Findings: an exception other than H3ConnectionError, a
 * capsule over the limit that is returned, chunking that changes the capsules read.
 */
import { CapsuleReader, CapsuleType, parseCloseSession } from '../../server/transports/quic/capsule.ts';
import { H3ConnectionError } from '../../server/transports/quic/errors.ts';
import { Cursor, invariant } from './cursor.ts';

function readAll(chunks: Uint8Array[], maxValue: number): string {
  const reader = new CapsuleReader(maxValue);
  const seen: string[] = [];
  try {
    for (const chunk of chunks) {
      reader.push(chunk);
      for (let capsule = reader.next(); capsule !== undefined; capsule = reader.next()) {
        invariant(capsule.value.length <= maxValue, 'a capsule over the limit was returned');
        seen.push(`${capsule.type}:${Buffer.from(capsule.value).toString('hex')}`);
        if (capsule.type === CapsuleType.CLOSE_WEBTRANSPORT_SESSION) {
          const close = parseCloseSession(capsule.value);
          invariant(Number.isInteger(close.code) && close.code >= 0 && close.code < 2 ** 32, 'close code');
        }
      }
    }
  } catch (error) {
    if (!(error instanceof H3ConnectionError)) throw error;
    seen.push(`error ${error.code}`);
  }
  return seen.join();
}

export function fuzz(data: Buffer): void {
  const input = new Cursor(data);
  const maxValue = input.u16();
  const body = input.rest();
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < body.length; ) {
    const size = 1 + (body[at]! % 4);
    chunks.push(body.subarray(at, at + size));
    at += size;
  }
  invariant(readAll([body], maxValue) === readAll(chunks, maxValue), 'chunking changed the capsules');
}
