import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Media } from '../../server/core/media.ts';
import { encodeVoicePacket } from '../../server/protocol/voicePacket.ts';
import { bytes, defaultLimits, Harness } from './helpers.ts';

describe('medias', () => {
  test('StartMedia sends MediaStarted to the peers in range; StopMedia sends MediaStopped', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const far = h.join('far', 'lobby', [9, 9]);
    const id = alice.mediaIds[0]!;
    assert.deepEqual(alice.call('StartMedia', { media_id: id, properties: { kind: 'audio', uid: 'mic' } }), {
      error: null,
      result: null,
    });
    assert.deepEqual(bob.stream.notifications('PeerUpdated').at(-1)?.[1], {
      kind: 'MediaStarted',
      peer_id: alice.peerId,
      media: { id, properties: { kind: 'audio', uid: 'mic' }, paused: false },
    });
    assert.deepEqual(far.stream.notifications('PeerUpdated'), []);
    assert.deepEqual(alice.call('StopMedia', { media_id: id }), { error: null, result: null });
    assert.deepEqual(bob.stream.notifications('PeerUpdated').at(-1)?.[1], {
      kind: 'MediaStopped',
      peer_id: alice.peerId,
      media_id: id,
    });
  });

  test('a joiner sees the medias already started in Joined', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const id = alice.startMedia();
    const bob = h.join('bob');
    const peers = (bob.joined.room as { peers: { medias: unknown[] }[] }).peers;
    assert.deepEqual(peers[0]!.medias, [{ id, properties: { kind: 'audio' }, paused: false }]);
  });

  test('media ids must come from the peer pool, and start once', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    assert.match(
      String(alice.call('StartMedia', { media_id: bob.mediaIds[0], properties: {} }).error),
      /StartMedia: media id \d+ is not in this peer's pool/,
    );
    alice.startMedia();
    assert.match(
      String(alice.call('StartMedia', { media_id: alice.mediaIds[0], properties: {} }).error),
      /already started/,
    );
    assert.match(String(alice.call('StopMedia', { media_id: alice.mediaIds[1] }).error), /is not started/);
  });

  test('[limit.peer] medias sizes the pool', () => {
    const h = new Harness({
      limits: {
        ...defaultLimits,
        incomingMessages: { rate: 10, capacity: 50, overflow: 20 },
        mediasPerPeer: 2,
        concurrentStreams: 0,
      },
    });
    const alice = h.join('alice');
    assert.equal(alice.mediaIds.length, 2);
    alice.startMedia(0);
    alice.startMedia(1);
  });

  test('a client in two rooms gets disjoint media ids, so a voice packet names one media', () => {
    const h = new Harness();
    const c = h.client({ userId: 'alice', roomIds: ['a', 'b'], namespace: '' });
    const inA = h.joinWith(c, 'a');
    const inB = h.joinWith(c, 'b');
    assert.equal(new Set([...inA.mediaIds, ...inB.mediaIds]).size, 16);
  });

  test('media ids of a peer that left are reused; pauses of them are forgotten', () => {
    const h = new Harness({
      limits: {
        ...defaultLimits,
        incomingMessages: { rate: 10, capacity: 50, overflow: 20 },
        mediasPerPeer: 65535,
        concurrentStreams: 0,
      },
    });
    const alice = h.join('alice');
    const c = h.client({ userId: 'bob', roomIds: ['lobby'], namespace: '' });
    assert.match(
      String(c.call('JoinRoom', { room_id: 'lobby', user_data: new Uint8Array(), position: [0, 0] }).error),
      /no free media ids/,
    );
    alice.endpoint.handleClose();
    assert.equal(h.join('carol').mediaIds.length, 65535);
  });
});

describe('pause and resume', () => {
  test('PauseMedia stops forwarding of that media to this receiver only; ResumeMedia restarts it', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const carol = h.join('carol');
    const id = alice.startMedia();
    const send = () =>
      h.sfu.handleVoice(
        alice.owner.client,
        encodeVoicePacket({ mediaIds: [id], seq: 0, ts: 0, opus: new Uint8Array(3) }),
      );
    assert.deepEqual(bob.call('PauseMedia', { media_id: id }), { error: null, result: null });
    send();
    assert.equal(bob.owner.main.voice.length, 0);
    assert.equal(carol.owner.main.voice.length, 1);
    assert.deepEqual(bob.call('ResumeMedia', { media_id: id }), { error: null, result: null });
    send();
    assert.equal(bob.owner.main.voice.length, 1);
    assert.equal(carol.owner.main.voice.length, 2);
  });

  test('a paused media shows paused: true to that receiver when it comes into range', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const id = alice.startMedia();
    bob.call('PauseMedia', { media_id: id });
    bob.move(5, 5);
    bob.move(0, 0);
    const update = bob.stream.roomUpdates().at(-1) as { peer: { medias: { paused: boolean }[] } };
    assert.equal(update.peer.medias[0]!.paused, true);
  });

  test('pausing an unknown media or your own is refused', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const own = alice.startMedia();
    assert.match(String(alice.call('PauseMedia', { media_id: own }).error), /this peer's own/);
    assert.match(
      String(alice.call('PauseMedia', { media_id: 4242 }).error),
      /PauseMedia: no media 4242 in this room/,
    );
  });

  test('properties that cannot be encoded change nothing: the media is not started and later joins work', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    // Past the boundary check (a caller inside the server): deeper than the encoder allows.
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 150; i++) deep = { a: deep };
    const room = h.sfu.getRoom('', 'lobby')!;
    const peer = room.peers.get(alice.peerId)!;
    bob.stream.clear();
    assert.throws(
      () => room.startMedia(peer, alice.mediaIds[0]!, deep),
      /StartMedia\.properties: cannot be sent to other peers/,
    );
    assert.equal(peer.medias.size, 0);
    assert.equal(room.mediaById.size, 0);
    assert.deepEqual(bob.stream.notifications(), [], 'nobody was told');
    const carol = h.join('carol');
    assert.equal((carol.joined.room as { peers: unknown[] }).peers.length, 2);
    assert.equal(alice.startMedia(), alice.mediaIds[0]);
  });

  test('a Joined that cannot be encoded leaves the room as it was: no half-joined peer', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    // A media whose properties bypassed every check (a bug elsewhere): Joined cannot be built.
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 150; i++) deep = { a: deep };
    const room = h.sfu.getRoom('', 'lobby')!;
    const peer = room.peers.get(alice.peerId)!;
    peer.medias.set(alice.mediaIds[0]!, new Media(peer, alice.mediaIds[0]!, deep, undefined, 0));
    bob.stream.clear();
    const carol = h.client({ userId: 'carol', roomIds: ['lobby'], namespace: '', customerId: 'c' });
    assert.match(
      String(carol.call('JoinRoom', { room_id: 'lobby', user_data: bytes('c'), position: [0, 0] }).error),
      /internal server error/,
    );
    assert.deepEqual([...room.peers.keys()], [alice.peerId, bob.peerId]);
    assert.equal(h.sfu.peerCount, 2);
    assert.equal(carol.client.peers.size, 0);
    assert.deepEqual(bob.stream.notifications(), [], 'nobody was told of a peer that never joined');
    peer.medias.clear();
    assert.equal((h.joinWith(carol, 'lobby').joined.room as { peers: unknown[] }).peers.length, 2);
  });
});
