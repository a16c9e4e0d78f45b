import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeVoicePacket } from '../../server/protocol/voicePacket.ts';
import { defaultLimits, Harness, type TestPeer } from './helpers.ts';

const packet = (mediaId: number) =>
  encodeVoicePacket({ mediaIds: [mediaId], seq: 1, ts: 1800, opus: new Uint8Array([1, 2, 3]) });

function speak(h: Harness, from: TestPeer, mediaId: number): void {
  h.sfu.handleVoice(from.owner.client, packet(mediaId));
}

describe('proximity', () => {
  test('peers out of range do not see each other on join', () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby', [0, 0]);
    const bob = h.join('bob', 'lobby', [1.5, 0]);
    assert.deepEqual((bob.joined.room as { peers: unknown[] }).peers, []);
    assert.deepEqual(alice.events(), []);
  });

  test('distance exactly 1.0 is in range', () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby', [0, 0]);
    const bob = h.join('bob', 'lobby', [0.6, 0.8]);
    assert.deepEqual(alice.events(), [`PeerJoined ${bob.peerId}`]);
  });

  test('moving into range gives PeerJoined (with medias) to both sides; out of range PeerLeft to both', () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby', [0, 0]);
    const bob = h.join('bob', 'lobby', [5, 0]);
    const media = alice.startMedia();
    bob.move(0.5, 0);
    assert.deepEqual(alice.events(), [`PeerJoined ${bob.peerId}`]);
    assert.deepEqual(bob.events(), [`PeerJoined ${alice.peerId}`]);
    const seen = bob.stream.roomUpdates().at(-1) as { peer: { medias: unknown[] } };
    assert.deepEqual(seen.peer.medias, [{ id: media, properties: { kind: 'audio' }, paused: false }]);
    bob.move(0, 3);
    assert.deepEqual(alice.events(), [`PeerJoined ${bob.peerId}`, `PeerLeft ${bob.peerId}`]);
    assert.deepEqual(bob.events(), [`PeerJoined ${alice.peerId}`, `PeerLeft ${alice.peerId}`]);
  });

  test('a no-op position update is ignored', () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby', [0, 0]);
    const bob = h.join('bob', 'lobby', [0.5, 0]);
    const before = alice.stream.frames.length;
    bob.move(0.5, 0);
    bob.move(0.5, 0, 0); // 2D [x, y] and 3D [x, y, 0] are the same place
    assert.equal(alice.stream.frames.length, before);
  });

  test('2D and 3D positions mix: a missing z is 0', () => {
    const h = new Harness();
    const flat = h.join('flat', 'lobby', [0, 0]);
    const high = h.join('high', 'lobby', [0, 0, 2]);
    assert.deepEqual(flat.events(), []);
    high.move(0, 0, 0.9);
    assert.deepEqual(flat.events(), [`PeerJoined ${high.peerId}`]);
  });

  test('voice follows proximity: a peer out of range hears nothing, in range hears again', () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby', [0, 0]);
    const bob = h.join('bob', 'lobby', [0.5, 0]);
    const media = alice.startMedia();
    speak(h, alice, media);
    assert.equal(bob.owner.main.voice.length, 1);
    bob.move(2, 0);
    speak(h, alice, media);
    assert.equal(bob.owner.main.voice.length, 1);
    bob.move(0.1, 0);
    speak(h, alice, media);
    assert.equal(bob.owner.main.voice.length, 2);
  });

  test('messages ignore proximity', () => {
    const h = new Harness();
    const alice = h.join('alice', 'lobby', [0, 0]);
    const far = h.join('far', 'lobby', [1000, 1000]);
    far.call('SendMessage', { message: new Uint8Array([1]) });
    assert.deepEqual(alice.events(), [`Message from ${far.peerId}`]);
  });
});

describe('concurrent_streams', () => {
  test('a receiver gets at most N streams, nearest first; moving changes the choice', () => {
    const h = new Harness({
      limits: {
        ...defaultLimits,
        incomingMessages: { rate: 100, capacity: 100, overflow: 10 },
        mediasPerPeer: 2,
        concurrentStreams: 2,
      },
    });
    const listener = h.join('listener', 'lobby', [0, 0]);
    const near = h.join('near', 'lobby', [0.1, 0]);
    const mid = h.join('mid', 'lobby', [0.5, 0]);
    const far = h.join('far', 'lobby', [0.9, 0]);
    const speakers = [near, mid, far].map((p) => ({ p, media: p.startMedia() }));
    const heard = () => {
      listener.owner.main.voice.length = 0;
      const who: string[] = [];
      for (const { p, media } of speakers) {
        speak(h, p, media);
        if (listener.owner.main.voice.length > who.length) who.push(p.owner.client.grant!.userId);
      }
      return who;
    };
    assert.deepEqual(heard(), ['near', 'mid']);
    far.move(0.05, 0);
    assert.deepEqual(heard(), ['near', 'far']);
    near.endpoint.handleClose();
    speakers.shift();
    assert.deepEqual(heard(), ['mid', 'far'], 'a freed slot goes to the next nearest');
    // Every peer still sees every other: the cap is on audio only.
    assert.equal(listener.events().filter((e) => e.startsWith('PeerJoined')).length, 3);
  });

  test('0 means unlimited', () => {
    const h = new Harness();
    const listener = h.join('listener');
    const speakers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => h.join(`s${i}`, 'lobby', [i / 20, 0]));
    for (const s of speakers) speak(h, s, s.startMedia());
    assert.equal(listener.owner.main.voice.length, 10);
  });
});
