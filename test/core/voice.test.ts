import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { LimitParams } from '../../server/core/limits.ts';
import { createVoiceHeader, encodeVoicePacket, readVoiceHeader } from '../../server/protocol/voicePacket.ts';
import { defaultLimits, Harness } from './helpers.ts';

const opus = new Uint8Array([0xfc, 0xff, 0xfe]);
const packet = (mediaIds: number[], seq = 1) => encodeVoicePacket({ mediaIds, seq, ts: seq * 1800, opus });

describe('voice routing', () => {
  test('a packet is forwarded byte-identical (the same bytes) to every peer in range, not back to the sender', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const carol = h.join('carol', 'lobby', [0, 0.9]);
    const far = h.join('far', 'lobby', [3, 0]);
    const id = alice.startMedia();
    const bytes = packet([id]);
    h.sfu.handleVoice(alice.owner.client, bytes);
    assert.equal(bob.owner.main.voice[0], bytes);
    assert.equal(carol.owner.main.voice[0], bytes);
    assert.equal(far.owner.main.voice.length, 0);
    assert.equal(alice.owner.main.voice.length, 0);
    assert.equal(h.sfu.voiceStats.forwarded, 2);
  });

  test('packets of media not started by the sender are dropped and counted', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const bobs = bob.startMedia();
    h.sfu.handleVoice(alice.owner.client, packet([bobs])); // someone else's media
    h.sfu.handleVoice(alice.owner.client, packet([alice.mediaIds[0]!])); // in the pool but not started
    assert.equal(bob.owner.main.voice.length, 0);
    assert.equal(h.sfu.voiceStats.unknown_media, 2);
  });

  test('malformed packets never throw and are counted', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const id = alice.startMedia();
    const good = packet([id]);
    let malformed = 0;
    for (let i = 0; i < good.length; i++) {
      h.sfu.handleVoice(alice.owner.client, good.subarray(0, i));
      malformed++;
    }
    for (let i = 0; i < 500; i++) {
      const junk = randomBytes(i % 40);
      if (readVoiceHeader(junk, createVoiceHeader()) < 0) malformed++;
      h.sfu.handleVoice(alice.owner.client, junk);
    }
    assert.equal(h.sfu.voiceStats.malformed, malformed);
    assert.equal(h.sfu.voiceStats.received, good.length + 500);
  });

  test('a full send queue drops the packet for that receiver only, counted', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const carol = h.join('carol');
    const id = alice.startMedia();
    bob.owner.main.voiceFull = true;
    h.sfu.handleVoice(alice.owner.client, packet([id]));
    assert.equal(carol.owner.main.voice.length, 1);
    assert.equal(h.sfu.voiceStats.send_queue_full, 1);
    assert.equal(h.sfu.voiceStats.forwarded, 1);
  });

  test('incoming_media_packets limits each media; excess packets are dropped and counted', () => {
    const limits: LimitParams = {
      ...defaultLimits,
      incomingMessages: { rate: 10, capacity: 50, overflow: 20 },
      mediasPerPeer: 2,
      concurrentStreams: 0,
      incomingMediaPackets: { rate: 50, capacity: 5 },
    };
    const h = new Harness({ limits });
    const alice = h.join('alice');
    const bob = h.join('bob');
    const m1 = alice.startMedia(0);
    const m2 = alice.startMedia(1);
    for (let i = 0; i < 8; i++) h.sfu.handleVoice(alice.owner.client, packet([m1], i));
    assert.equal(bob.owner.main.voice.length, 5);
    assert.equal(h.sfu.voiceStats.rate_limited, 3);
    h.sfu.handleVoice(alice.owner.client, packet([m2])); // another media has its own bucket
    assert.equal(bob.owner.main.voice.length, 6);
    h.clock.advance(40); // 50/s: two tokens
    for (let i = 0; i < 3; i++) h.sfu.handleVoice(alice.owner.client, packet([m1], i));
    assert.equal(bob.owner.main.voice.length, 8);
    assert.equal(h.sfu.voiceStats.rate_limited, 4);
  });

  test('a packet naming medias in two rooms reaches each room with only its own media ids', () => {
    const h = new Harness();
    const c = h.client({ userId: 'alice', roomIds: ['a', 'b'], namespace: '' });
    const inA = h.joinWith(c, 'a');
    const inB = h.joinWith(c, 'b');
    const listenerA = h.join('la', 'a');
    const listenerB = h.join('lb', 'b');
    const ma = inA.startMedia();
    const mb = inB.startMedia();
    h.sfu.handleVoice(c.client, packet([ma, mb], 7));
    const header = createVoiceHeader();
    const gotA = listenerA.owner.main.voice[0]!;
    const gotB = listenerB.owner.main.voice[0]!;
    assert.equal(readVoiceHeader(gotA, header), 1);
    assert.equal(header.mediaIds[0], ma);
    assert.equal(header.seq, 7);
    assert.deepEqual(gotA.subarray(header.opusStart), opus);
    assert.equal(readVoiceHeader(gotB, header), 1);
    assert.equal(header.mediaIds[0], mb);
    assert.deepEqual(gotB, packet([mb], 7));
  });

  test('a packet naming two medias of one room reaches each receiver once, unchanged', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const m1 = alice.startMedia(0);
    const m2 = alice.startMedia(1);
    const bytes = packet([m1, m2]);
    h.sfu.handleVoice(alice.owner.client, bytes);
    assert.deepEqual(bob.owner.main.voice, [bytes]);
  });
});
