/**
 * HTTP/3 frames (RFC 9114 section 7): the incremental FrameReader over randomly chunked
 * stream bytes, and SETTINGS payloads. Findings: an exception other than H3ConnectionError,
 * chunking that changes the frames read, a frame over the payload limit that is returned.
 */
import { H3ConnectionError } from '../../server/transports/quic/errors.ts';
import { FrameReader, FrameType, parseSettings } from '../../server/transports/quic/h3Frame.ts';
import { Cursor, invariant } from './cursor.ts';

type Read = { frames: string[]; error?: string };

function readAll(chunks: Uint8Array[], maxPayload: number): Read {
  const reader = new FrameReader(maxPayload);
  const frames: string[] = [];
  try {
    for (const chunk of chunks) {
      reader.push(chunk);
      for (let frame = reader.next(); frame !== undefined; frame = reader.next()) {
        invariant(frame.payload.length <= maxPayload, 'a frame over the limit was returned');
        frames.push(`${frame.type}:${Buffer.from(frame.payload).toString('hex')}`);
        if (frame.type === FrameType.SETTINGS) parseSettings(frame.payload);
      }
    }
  } catch (error) {
    if (!(error instanceof H3ConnectionError)) throw error;
    return { frames, error: String(error.code) };
  }
  return { frames };
}

export function fuzz(data: Buffer): void {
  const input = new Cursor(data);
  const maxPayload = input.u16();
  const body = input.rest();
  const whole = readAll([body], maxPayload);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < body.length; ) {
    const size = 1 + (body[at]! % 5);
    chunks.push(body.subarray(at, at + size));
    at += size;
  }
  const chunked = readAll(chunks, maxPayload);
  invariant(whole.error === chunked.error, `errors differ: ${whole.error} vs ${chunked.error}`);
  invariant(whole.frames.join() === chunked.frames.join(), 'chunking changed the frames');
}
