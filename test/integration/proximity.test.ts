/**
 * Proximity over the real web transport (ODIN-PROTOCOL.md section 7): peers see each other
 * only within a distance of 1.0; moving into range is PeerJoined, out of range PeerLeft, to
 * both sides; messages ignore proximity; a no-op move changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OdinRoom, PeerInfo } from '../../client/odinClient.ts';
import type { Position } from '../../server/protocol/methods.ts';
import { barrier, bytes, record, text, updates } from '../helpers/rooms.ts';
import { startTestGrid, type TestGrid } from '../helpers/testGrid.ts';

describe('proximity', () => {
  let grid: TestGrid;
  let roomCount = 0;
  const freshRoom = () => `proximity-${++roomCount}`;

  before(async () => {
    grid = await startTestGrid();
  });
  after(() => grid.close());

  async function joinAt(user: string, roomId: string, position: Position): Promise<OdinRoom> {
    const client = await grid.connect(user, roomId);
    return client.joinRoom(roomId, { position });
  }

  test('peers farther apart than 1.0 do not see each other', async () => {
    const roomId = freshRoom();
    const alice = await joinAt('alice', roomId, [0, 0]);
    const aliceSeen = record(alice);
    const bob = await joinAt('bob', roomId, [3, 4]);
    assert.deepEqual(bob.joined.room.peers, []);
    await barrier(bob, alice, aliceSeen);
    assert.deepEqual(aliceSeen, [], 'no PeerJoined for a peer out of range');
  });

  test('a distance of exactly 1.0 is in range (2D and 3D positions mix, z = 0)', async () => {
    const roomId = freshRoom();
    await joinAt('alice', roomId, [0, 0]);
    const bob = await joinAt('bob', roomId, [0, 0, 1]);
    assert.equal(bob.joined.room.peers.length, 1);
    const carol = await joinAt('carol', roomId, [0.6, 0.8]);
    assert.equal(carol.joined.room.peers.length, 1, 'carol sees alice (1.0) but not bob (sqrt 2)');
  });

  test('moving into range: both get PeerJoined, with the medias already started', async () => {
    const roomId = freshRoom();
    const alice = await joinAt('alice', roomId, [0, 0]);
    const bob = await joinAt('bob', roomId, [10, 0]);
    await bob.startMedia(bob.mediaId, { kind: 'audio', uid: 'mic' });
    const aliceSees = alice.next('update', (u) => u.kind === 'PeerJoined');
    const bobSees = bob.next('update', (u) => u.kind === 'PeerJoined');
    assert.equal(await bob.setPosition([0.5, 0]), null);
    const [a] = await aliceSees;
    const [b] = await bobSees;
    const seenBob = (a as { peer: PeerInfo }).peer;
    assert.equal(seenBob.id, bob.ownPeerId);
    assert.equal(seenBob.user_id, 'bob');
    assert.deepEqual(seenBob.medias, [
      { id: bob.mediaId, properties: { kind: 'audio', uid: 'mic' }, paused: false },
    ]);
    assert.equal((b as { peer: PeerInfo }).peer.id, alice.ownPeerId);
    assert.ok(alice.peers.has(bob.ownPeerId));
  });

  test('moving out of range: both get PeerLeft; moving back: PeerJoined again', async () => {
    const roomId = freshRoom();
    const alice = await joinAt('alice', roomId, [0, 0]);
    const bob = await joinAt('bob', roomId, [0.5, 0.5]);
    const aliceLeft = alice.next('update', (u) => u.kind === 'PeerLeft');
    const bobLeft = bob.next('update', (u) => u.kind === 'PeerLeft');
    await bob.setPosition([2, 0]);
    assert.equal(((await aliceLeft)[0] as { peer_id: number }).peer_id, bob.ownPeerId);
    assert.equal(((await bobLeft)[0] as { peer_id: number }).peer_id, alice.ownPeerId);
    assert.equal(alice.peers.size, 0);
    const aliceJoined = alice.next('update', (u) => u.kind === 'PeerJoined');
    await alice.setPosition([1.5, 0]);
    assert.equal(((await aliceJoined)[0] as { peer: PeerInfo }).peer.id, bob.ownPeerId, 'the mover sees bob');
  });

  test('a media started out of range is not announced (it comes with PeerJoined later)', async () => {
    const roomId = freshRoom();
    const alice = await joinAt('alice', roomId, [0, 0]);
    const aliceSeen = record(alice);
    const bob = await joinAt('bob', roomId, [5, 5]);
    await bob.startMedia();
    await barrier(bob, alice, aliceSeen);
    assert.deepEqual(aliceSeen, [], 'no MediaStarted for a peer out of range');
  });

  test('messages are delivered out of range', async () => {
    const roomId = freshRoom();
    const alice = await joinAt('alice', roomId, [0, 0]);
    const bob = await joinAt('bob', roomId, [100, 100, 100]);
    const got = alice.next('message');
    await bob.sendMessage(bytes('far away'));
    assert.equal(text((await got)[0].message), 'far away');
  });

  test('user data changes reach only peers in range; room user data reaches everyone', async () => {
    const roomId = freshRoom();
    const alice = await joinAt('alice', roomId, [0, 0]);
    const aliceSeen = record(alice);
    const bob = await joinAt('bob', roomId, [9, 9]);
    await bob.updatePeer(bytes('away'));
    await bob.updateRoom(bytes('room data'));
    await barrier(bob, alice, aliceSeen);
    assert.deepEqual(
      aliceSeen.map((n) => n.method),
      ['RoomUpdated'],
    );
    assert.equal(text(updates(aliceSeen, 'UserDataChanged')[0]!.user_data as Uint8Array), 'room data');
  });

  test('a no-op move sends nothing', async () => {
    const roomId = freshRoom();
    const alice = await joinAt('alice', roomId, [0, 0]);
    const bob = await joinAt('bob', roomId, [0.25, 0]);
    const aliceSeen = record(alice);
    const bobSeen = record(bob);
    await bob.setPosition([0.25, 0]);
    await bob.setPosition([0.25, 0, 0]);
    await barrier(bob, alice, aliceSeen);
    await barrier(alice, bob, bobSeen);
    assert.deepEqual(aliceSeen, []);
    assert.deepEqual(bobSeen, []);
  });

  test('a move within range sends nothing either', async () => {
    const roomId = freshRoom();
    const alice = await joinAt('alice', roomId, [0, 0]);
    const bob = await joinAt('bob', roomId, [0.25, 0]);
    const aliceSeen = record(alice);
    await bob.setPosition([0, 0.75]);
    await barrier(bob, alice, aliceSeen);
    assert.deepEqual(aliceSeen, []);
  });

  test('positions must be 2 or 3 finite numbers', async () => {
    const roomId = freshRoom();
    const alice = await joinAt('alice', roomId, [0, 0]);
    await assert.rejects(alice.request('SetPeerPosition', { position: [1] }), /SetPeerPosition\.position/);
    await assert.rejects(
      alice.request('SetPeerPosition', { position: [0, Number.NaN] }),
      /SetPeerPosition\.position\[1\]: expected a finite number/,
    );
  });
});
