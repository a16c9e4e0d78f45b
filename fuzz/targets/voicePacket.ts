/**
 * The voice packet parser (HOT PATH, server/protocol/voicePacket.ts) on datagrams and data
 * channel messages. Findings: an exception; a packet accepted with offsets outside it; a
 * rewrite of its media ids that does not parse back to the same ids and opus payload; a
 * packet accepted here that is not one well-formed MessagePack array.
 */

import { decode } from '@msgpack/msgpack';
import { createVoiceHeader, readVoiceHeader, rewriteMediaIds } from '../../server/protocol/voicePacket.ts';
import { invariant } from './cursor.ts';

const header = createVoiceHeader();
const again = createVoiceHeader();

export function fuzz(data: Buffer): void {
  const packet = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const count = readVoiceHeader(packet, header);
  if (count < 0) return;
  invariant(count === header.mediaIdCount && count >= 1 && count <= 16, `media id count ${count}`);
  invariant(header.mediaIdsEnd <= packet.length, 'media ids end inside the packet');
  invariant(header.opusStart + header.opusLength <= packet.length, 'opus inside the packet');
  // Well-formed MessagePack as the web SDK decodes it (the library; ext values in the fields
  // the parser skips are legal there). Safe: the parser walked every element, so no declared
  // count exceeds the bytes.
  try {
    decode(packet);
  } catch (error) {
    invariant(false, `an accepted packet is not valid MessagePack: ${(error as Error).message}`);
  }
  const ids = Array.from(header.mediaIds.subarray(0, count), (id) => (id * 7919) & 0xffff);
  const rewritten = rewriteMediaIds(packet, header, ids);
  invariant(readVoiceHeader(rewritten, again) === count, 'a rewritten packet parses');
  invariant(
    ids.every((id, i) => again.mediaIds[i] === id),
    'a rewritten packet names the new ids',
  );
  const opus = packet.subarray(header.opusStart, header.opusStart + header.opusLength);
  const opusAgain = rewritten.subarray(again.opusStart, again.opusStart + again.opusLength);
  invariant(Buffer.compare(opus, opusAgain) === 0, 'a rewrite keeps the opus payload');
}
