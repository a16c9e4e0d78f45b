/**
 * The addon's voice header check (native/quic/src/voice.rs) against the TypeScript one
 * (server/protocol/voicePacket.ts): the addon forwards a native peer's datagram only when its
 * port accepts it, so both must agree on every input. Inputs: the fuzz corpus and regressions
 * of the voicePacket target, encoded packets of every flag combination, and seeded mutations
 * of all of them (bytes flipped, truncated, extended): deterministic, so a failure repeats.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createVoiceHeader, encodeVoicePacket, readVoiceHeader } from '../../server/protocol/voicePacket.ts';
import { loadNativeAddon } from '../../server/transports/quic/nativeAddon.ts';
import { needsNativeAddon } from '../helpers/nativeAddon.ts';
import { wideIntegerVectors } from '../helpers/voiceIntegerVectors.ts';

const fuzzDir = fileURLToPath(new URL('../../fuzz/', import.meta.url));

function corpus(): Uint8Array[] {
  const inputs: Uint8Array[] = [];
  for (const dir of ['corpus/voicePacket', 'regressions/voicePacket']) {
    for (const name of readdirSync(join(fuzzDir, dir))) inputs.push(readFileSync(join(fuzzDir, dir, name)));
  }
  return inputs;
}

function encoded(): Uint8Array[] {
  const opus = Uint8Array.from({ length: 40 }, (_, i) => i);
  return [
    encodeVoicePacket({ mediaIds: [1], seq: 1, ts: 960, opus }),
    encodeVoicePacket({ mediaIds: [1, 300, 65535], seq: 2 ** 32 - 1, ts: 2 ** 31, opus }),
    encodeVoicePacket({ mediaIds: [5], seq: 3, ts: 4, flags: 2, extraU32: 77, opus }),
    encodeVoicePacket({ mediaIds: [5], seq: 3, ts: 4, flags: 4, extraArray: [1, 'a', { k: [2] }], opus }),
    encodeVoicePacket({ mediaIds: [5], seq: 3, ts: 4, flags: 6, extraU32: 9, extraArray: [[[]]], opus }),
    encodeVoicePacket({ mediaIds: [9], seq: 0, ts: 0, opus: new Uint8Array(300) }),
    // Every integer encoding of in- and out-of-range values in every integer field.
    ...wideIntegerVectors().map((vector) => vector.packet),
  ];
}

/** xorshift32: the same sequence on every run. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function mutate(input: Uint8Array, random: () => number): Uint8Array {
  const out = Uint8Array.from(input);
  const kind = random() % 4;
  if (kind === 0 && out.length > 0) {
    for (let i = 0, n = 1 + (random() % 3); i < n; i++) out[random() % out.length] = random() & 0xff;
    return out;
  }
  if (kind === 1) return out.subarray(0, random() % (out.length + 1));
  if (kind === 2) {
    const extra = Uint8Array.from({ length: 1 + (random() % 8) }, () => random() & 0xff);
    const joined = new Uint8Array(out.length + extra.length);
    joined.set(out);
    joined.set(extra, out.length);
    return joined;
  }
  // A type byte from the MessagePack table at a random place.
  const types = [
    0x90, 0x80, 0xdc, 0xdd, 0xde, 0xdf, 0xc1, 0xc4, 0xc7, 0xd4, 0xd8, 0xcc, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3,
    0xff, 0xa1,
  ];
  if (out.length > 0) out[random() % out.length] = types[random() % types.length]!;
  return out;
}

function describeTs(packet: Uint8Array) {
  const header = createVoiceHeader();
  const count = readVoiceHeader(packet, header);
  if (count < 0) return null;
  return {
    mediaIds: Array.from(header.mediaIds.subarray(0, count)),
    mediaIdsStart: header.mediaIdsStart,
    mediaIdsEnd: header.mediaIdsEnd,
    seq: header.seq,
    ts: header.ts,
    flags: header.flags,
    opusStart: header.opusStart,
    opusLength: header.opusLength,
  };
}

describe('voice header: Rust port against TypeScript', needsNativeAddon, () => {
  test('the same verdict and fields on the fuzz corpus, encoded packets and 50,000 seeded mutations', () => {
    const addon = loadNativeAddon() as ReturnType<typeof loadNativeAddon> & {
      readVoiceHeader(packet: Uint8Array): ReturnType<typeof describeTs>;
    };
    const seeds = [...corpus(), ...encoded()];
    const random = prng(17);
    let accepted = 0;
    let checked = 0;
    const check = (packet: Uint8Array) => {
      const expected = describeTs(packet);
      const actual = addon.readVoiceHeader(packet) ?? null;
      if (expected !== null) accepted++;
      checked++;
      assert.deepEqual(actual, expected, `input ${Buffer.from(packet).toString('hex')}`);
    };
    for (const seed of seeds) check(seed);
    for (let i = 0; i < 50_000; i++) {
      let packet = seeds[random() % seeds.length]!;
      for (let j = 0, n = 1 + (random() % 3); j < n; j++) packet = mutate(packet, random);
      check(packet);
    }
    // Both verdicts occur often enough for the comparison to mean something.
    assert.ok(accepted > 1000, `accepted ${accepted} of ${checked}`);
    assert.ok(checked - accepted > 1000, `refused ${checked - accepted} of ${checked}`);
  });
});
