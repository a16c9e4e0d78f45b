import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { encodeMsgpack } from '../../server/protocol/msgpackRpc.ts';
import {
  createVoiceHeader,
  encodeVoicePacket,
  readVoiceHeader,
  rewriteMediaIds,
  VOICE_FLAG_ARRAY,
  VOICE_FLAG_U32,
} from '../../server/protocol/voicePacket.ts';
import { wideIntegerVectors } from '../helpers/voiceIntegerVectors.ts';

const opus = new Uint8Array([10, 20, 30, 40]);

describe('voice packets', () => {
  test('the header is read without touching the payload', () => {
    const header = createVoiceHeader();
    const bytes = encodeVoicePacket({ mediaIds: [300], seq: 0xffff_fff0, ts: 1800, opus });
    assert.equal(readVoiceHeader(bytes, header), 1);
    assert.equal(header.mediaIds[0], 300);
    assert.equal(header.seq, 0xffff_fff0);
    assert.equal(header.ts, 1800);
    assert.equal(header.flags, 0);
    assert.deepEqual(bytes.subarray(header.opusStart, header.opusStart + header.opusLength), opus);
  });

  test('optional fields selected by flags & 2 and flags & 4 are skipped', () => {
    const header = createVoiceHeader();
    const bytes = encodeVoicePacket({
      mediaIds: [1, 2],
      seq: 5,
      ts: 6,
      flags: VOICE_FLAG_U32 | VOICE_FLAG_ARRAY,
      extraU32: 123456,
      extraArray: [1, 'two', { three: [3] }, new Uint8Array(3), 1.5],
      opus,
    });
    assert.equal(readVoiceHeader(bytes, header), 2);
    assert.deepEqual([...header.mediaIds.subarray(0, 2)], [1, 2]);
    assert.equal(header.opusLength, 4);
  });

  test('a packet whose flags promise a field that is missing is malformed', () => {
    const bytes = encodeMsgpack([1, [1], 1, 1, VOICE_FLAG_U32, opus]);
    assert.equal(readVoiceHeader(bytes, createVoiceHeader()), -1);
  });

  test('fields after the known ones (before the opus bin) are tolerated', () => {
    const bytes = encodeMsgpack([1, [1], 1, 1, 0, 'future', opus]);
    assert.equal(readVoiceHeader(bytes, createVoiceHeader()), 1);
  });

  test('every integer encoding is accepted when its value fits the field, refused otherwise', () => {
    // A valid encoder may write a small value wide (0xd3 int64, 0xcf uint64): the header must
    // not depend on the sender's choice of encoding, only on the value.
    const header = createVoiceHeader();
    let accepted = 0;
    for (const { field, format, value, fits, packet } of wideIntegerVectors()) {
      const name = `${field} = ${value} as ${format === 'fixint' ? format : `0x${format.toString(16)}`}`;
      assert.equal(readVoiceHeader(packet, header), fits ? 1 : -1, name);
      if (!fits) continue;
      accepted++;
      const read = { mediaId: header.mediaIds[0], seq: header.seq, ts: header.ts, flags: header.flags }[
        field as 'seq'
      ];
      if (read !== undefined) assert.equal(BigInt(read), value, name);
      assert.deepEqual([...packet.subarray(header.opusStart)], [1, 2, 3], name);
    }
    assert.ok(accepted > 100, `accepted ${accepted}`);
  });

  test('rewriteMediaIds replaces only the media-id list', () => {
    const header = createVoiceHeader();
    const bytes = encodeVoicePacket({ mediaIds: [1, 200, 70], seq: 9, ts: 9, opus });
    readVoiceHeader(bytes, header);
    const rewritten = rewriteMediaIds(bytes, header, [60000]);
    assert.deepEqual(rewritten, encodeVoicePacket({ mediaIds: [60000], seq: 9, ts: 9, opus }));
  });

  test('every truncation and random garbage returns -1 or a valid parse, never throws', () => {
    const header = createVoiceHeader();
    const good = encodeVoicePacket({
      mediaIds: [1, 2],
      seq: 1,
      ts: 2,
      flags: 6,
      extraU32: 3,
      extraArray: [[1, 2], { a: 1 }],
      opus: randomBytes(200),
    });
    for (let i = 0; i < good.length; i++)
      assert.equal(readVoiceHeader(good.subarray(0, i), header), -1, `truncated at ${i}`);
    for (let i = 0; i < 20_000; i++) {
      const junk = randomBytes(1 + (i % 64));
      if (i % 3 === 0) junk[0] = 0x96 + (i % 3); // plausible array header
      if (i % 5 === 0) junk[1] = 1;
      const n = readVoiceHeader(junk, header);
      assert.ok(n === -1 || (n >= 1 && header.opusStart + header.opusLength === junk.length));
    }
    // Mutations of a good packet.
    for (let i = 0; i < 5000; i++) {
      const copy = Uint8Array.from(good);
      copy[i % copy.length] = Math.floor(Math.random() * 256);
      const n = readVoiceHeader(copy, header);
      assert.ok(n === -1 || (n >= 1 && header.opusStart + header.opusLength === copy.length));
    }
  });

  test('containers claiming huge lengths are refused without allocating', () => {
    const header = createVoiceHeader();
    const bytes = new Uint8Array([
      0x97, 0x01, 0x91, 0x01, 0x01, 0x01, 0x04, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x00,
    ]);
    assert.equal(readVoiceHeader(bytes, header), -1);
  });
});
