/**
 * Supervisor-style actions on the core (kick, close a room, ban a user) as a web client sees
 * them: `RoomUpdated {Left {reason}}` on its room stream, then the stream closes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OdinRoom } from '../../client/odinClient.ts';
import { updates } from '../helpers/rooms.ts';
import { eventually, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';

describe('kick, close, ban', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid();
  });
  after(() => grid.close());

  async function join(user: string, roomId: string): Promise<OdinRoom> {
    const client = await grid.connect(user, roomId);
    return client.joinRoom(roomId);
  }

  test('kickPeer: the peer gets RoomUpdated Left PeerKicked, its room stream closes, the others get PeerLeft', async () => {
    const alice = await join('alice', 'kick');
    const bob = await join('bob', 'kick');
    const notified = alice.next('notification', (method) => method === 'RoomUpdated');
    const closed = alice.next('closed');
    const bobSees = bob.next('update', (u) => u.kind === 'PeerLeft');
    assert.equal(grid.sfu.kickPeer(alice.ownPeerId), true);
    const [method, params] = await notified;
    assert.equal(method, 'RoomUpdated');
    assert.deepEqual(params, { updates: [{ kind: 'Left', reason: 'PeerKicked' }] });
    const [code, reason] = await closed;
    assert.equal(code, 4000);
    assert.match(reason, /PeerKicked/);
    assert.equal(((await bobSees)[0] as { peer_id: number }).peer_id, alice.ownPeerId);
    assert.equal(grid.sfu.kickPeer(alice.ownPeerId), false, 'a peer is kicked once');
  });

  test('a kicked client keeps its main connection and may join again', async () => {
    const client = await grid.connect('carol', 'rejoin');
    const room = await client.joinRoom('rejoin');
    const closed = room.next('closed');
    grid.sfu.kickPeer(room.ownPeerId);
    await closed;
    assert.ok(client.main.isOpen);
    const again = await client.joinRoom('rejoin');
    assert.notEqual(again.ownPeerId, room.ownPeerId);
  });

  test('closeRoom with a ban: every peer gets Left RoomClosing (no PeerLeft of the others first); rejoining is refused while banned', async () => {
    const alice = await join('alice', 'closing');
    const bob = await join('bob', 'closing');
    const seen = [alice, bob].map((room) => {
      const list: unknown[] = [];
      room.on('update', (update) => list.push(update));
      return list;
    });
    const closed = Promise.all([alice.next('closed'), bob.next('closed')]);
    assert.equal(grid.sfu.closeRoom('', 'closing', 'RoomClosing', 60_000), true);
    await closed;
    for (const list of seen) assert.deepEqual(list, [{ kind: 'Left', reason: 'RoomClosing' }]);
    await eventually(() => grid.sfu.getRoom('', 'closing') === undefined, 'the room to be gone');
    const client = await grid.connect('alice', 'closing');
    await assert.rejects(client.joinRoom('closing'), /JoinRoom: room "closing" is closed for now/);
  });

  test("banUser: that user's peers are kicked and refused; others may still join", async () => {
    const mallory = await join('mallory', 'banned');
    const alice = await join('alice', 'banned');
    const kicked = mallory.next('update', (u) => u.kind === 'Left');
    const aliceSeen: unknown[] = [];
    alice.on('update', (update) => aliceSeen.push(update));
    grid.sfu.banUser('', 'banned', 'mallory', 60_000);
    assert.deepEqual((await kicked)[0], { kind: 'Left', reason: 'PeerKicked' });
    const again = await grid.connect('mallory', 'banned');
    await assert.rejects(again.joinRoom('banned'), /user "mallory" is banned from room "banned"/);
    const bob = await join('bob', 'banned');
    assert.deepEqual(
      bob.joined.room.peers.map((peer) => peer.user_id),
      ['alice'],
    );
    assert.deepEqual(updates([{ method: 'RoomUpdated', params: { updates: aliceSeen } }], 'Left'), []);
  });

  test('updateRoomUserData (RoomUpdate task): every peer gets UserDataChanged', async () => {
    const alice = await join('alice', 'task');
    const changed = alice.next('update', (u) => u.kind === 'UserDataChanged');
    assert.equal(grid.sfu.updateRoomUserData('', 'task', new Uint8Array([1, 2, 3])), true);
    assert.deepEqual((await changed)[0], { kind: 'UserDataChanged', user_data: new Uint8Array([1, 2, 3]) });
  });
});
