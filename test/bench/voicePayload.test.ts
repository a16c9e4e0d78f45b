import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastStamp, readStamp, StampedPacket } from '../../bench/voicePayload.ts';
import { createVoiceHeader, readVoiceHeader } from '../../server/protocol/voicePacket.ts';

test('a stamped packet is a valid voice packet of the requested opus size', () => {
  const packet = new StampedPacket(300, 60, 7);
  const header = createVoiceHeader();
  assert.equal(readVoiceHeader(packet.stamp(1, 1), header), 1);
  assert.equal(header.mediaIds[0], 300);
  assert.equal(header.opusLength, 60);
});

test('the receiver reads back send time, sender and sequence number', () => {
  const packet = new StampedPacket(1, 16, 4_000_000_000);
  const sentAt = 2 ** 40 + 123_456; // µs beyond 32 bits
  assert.equal(readStamp(packet.stamp(sentAt, 99)), true);
  assert.deepEqual({ ...lastStamp }, { sentAtMicros: sentAt, sender: 4_000_000_000, seq: 99 });
});

test('packets without a stamp are not counted', () => {
  assert.equal(readStamp(new Uint8Array([0x90])), false);
});

test('a payload too small for the stamp is refused', () => {
  assert.throws(() => new StampedPacket(1, 15, 0), RangeError);
});
