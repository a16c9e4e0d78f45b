/**
 * Rooms over the real web transport (ODIN-PROTOCOL.md section 2): joins, the Joined shape,
 * user data, messages, leaving, and the token's room ids. OdinClient over TLS WebSockets;
 * voice is off (see voice.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OdinClient, OdinRoom } from '../../client/odinClient.ts';
import { barrier, bytes, record, text, updates } from '../helpers/rooms.ts';
import { eventually, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';

describe('rooms', () => {
  let grid: TestGrid;
  let roomCount = 0;
  /** A fresh room id per test, so tests do not see each other's peers. */
  const freshRoom = () => `room-${++roomCount}`;

  before(async () => {
    grid = await startTestGrid();
  });
  after(() => grid.close());

  async function joinAs(
    user: string,
    roomId: string,
    userData = '',
  ): Promise<{ client: OdinClient; room: OdinRoom }> {
    const client = await grid.connect(user, roomId);
    const room = await client.joinRoom(roomId, { userData: bytes(userData) });
    return { client, room };
  }

  test('peers who join the same room see each other', async () => {
    const roomId = freshRoom();
    const alice = await joinAs('alice', roomId, 'alice-data');
    const aliceSeen = record(alice.room);
    const bob = await joinAs('bob', roomId, 'bob-data');

    const joined = bob.room.joined;
    assert.equal(joined.room.id, roomId);
    assert.equal(joined.room.customer, '');
    assert.equal(joined.room.user_data.byteLength, 0);
    assert.ok(joined.own_peer_id > 0, 'own_peer_id is non-zero');
    assert.notEqual(joined.own_peer_id, alice.room.ownPeerId);
    assert.equal(joined.media_ids.length, 8, 'a pool of [limit.peer] medias ids');
    assert.ok(joined.media_ids.every((id) => Number.isInteger(id) && id > 0 && id <= 0xffff));
    assert.deepEqual(
      joined.media_ids.filter((id) => alice.room.joined.media_ids.includes(id)),
      [],
      'media ids are unique in the room',
    );
    assert.equal(joined.room.peers.length, 1);
    const seenAlice = joined.room.peers[0]!;
    assert.equal(seenAlice.id, alice.room.ownPeerId);
    assert.equal(seenAlice.user_id, 'alice');
    assert.equal(text(seenAlice.user_data), 'alice-data');
    assert.deepEqual(seenAlice.medias, []);

    await barrier(bob.room, alice.room, aliceSeen);
    const peerJoined = updates(aliceSeen, 'PeerJoined');
    assert.equal(peerJoined.length, 1);
    const peer = peerJoined[0]!.peer as { id: number; user_id: string; user_data: Uint8Array };
    assert.equal(peer.id, bob.room.ownPeerId);
    assert.equal(peer.user_id, 'bob');
    assert.equal(text(peer.user_data), 'bob-data');
    assert.equal(grid.sfu.getRoom('', roomId)?.peers.size, 2);
  });

  test('the first peer of a room gets Joined with no peers and the room exists on the server', async () => {
    const roomId = freshRoom();
    const { room } = await joinAs('alice', roomId);
    assert.deepEqual(room.joined.room.peers, []);
    assert.ok(grid.sfu.getRoom('', roomId));
  });

  test('UpdatePeer: the others get PeerUpdated UserDataChanged', async () => {
    const roomId = freshRoom();
    const alice = await joinAs('alice', roomId);
    const bob = await joinAs('bob', roomId);
    const changed = bob.room.next('peerUpdated', (update) => update.kind === 'UserDataChanged');
    assert.equal(await alice.room.updatePeer(bytes('ready')), null);
    const [update] = await changed;
    assert.equal(update.peer_id, alice.room.ownPeerId);
    assert.equal(text(update.user_data as Uint8Array), 'ready');
    const carol = await joinAs('carol', roomId);
    const seenAlice = carol.room.joined.room.peers.find((p) => p.id === alice.room.ownPeerId);
    assert.equal(text(seenAlice!.user_data), 'ready', 'a later joiner sees the new user data');
  });

  test('UpdateRoom: the others get RoomUpdated UserDataChanged, a later joiner gets it in Joined', async () => {
    const roomId = freshRoom();
    const alice = await joinAs('alice', roomId);
    const bob = await joinAs('bob', roomId);
    const aliceSeen = record(alice.room);
    const changed = bob.room.next('update', (update) => update.kind === 'UserDataChanged');
    assert.equal(await alice.room.updateRoom(bytes('map: harbour')), null);
    const [update] = await changed;
    assert.equal(text((update as { user_data: Uint8Array }).user_data), 'map: harbour');
    const carol = await joinAs('carol', roomId);
    assert.equal(text(carol.room.joined.room.user_data), 'map: harbour');
    await barrier(bob.room, alice.room, aliceSeen);
    assert.deepEqual(updates(aliceSeen, 'UserDataChanged'), [], 'the sender does not get its own change');
  });

  test('messages reach every other peer, in order, and not the sender', async () => {
    const roomId = freshRoom();
    const alice = await joinAs('alice', roomId);
    const bob = await joinAs('bob', roomId);
    const carol = await joinAs('carol', roomId);
    const aliceSeen = record(alice.room);
    const bobSeen = record(bob.room);
    const carolSeen = record(carol.room);
    const count = 30;
    await Promise.all(Array.from({ length: count }, (_, i) => alice.room.sendMessage(bytes(`m${i}`))));
    await barrier(alice.room, bob.room, bobSeen);
    await barrier(alice.room, carol.room, carolSeen);
    const expected = Array.from({ length: count }, (_, i) => `m${i}`);
    for (const seen of [bobSeen, carolSeen]) {
      assert.deepEqual(
        seen.map((n) => n.method),
        Array(count).fill('MessageReceived'),
      );
      assert.deepEqual(
        seen.map((n) => text(n.params.message as Uint8Array)),
        expected,
      );
      assert.ok(seen.every((n) => n.params.sender_peer_id === alice.room.ownPeerId));
    }
    await barrier(bob.room, alice.room, aliceSeen);
    assert.deepEqual(aliceSeen, []);
  });

  test('a targeted message reaches only its targets; unknown target ids are skipped', async () => {
    const roomId = freshRoom();
    const alice = await joinAs('alice', roomId);
    const bob = await joinAs('bob', roomId);
    const carol = await joinAs('carol', roomId);
    const carolSeen = record(carol.room);
    const toBob = bob.room.next('message');
    await alice.room.sendMessage(bytes('psst'), [bob.room.ownPeerId, 0xfff_fff0]);
    const [message] = await toBob;
    assert.equal(text(message.message), 'psst');
    assert.equal(message.sender_peer_id, alice.room.ownPeerId);
    await barrier(alice.room, carol.room, carolSeen);
    assert.deepEqual(carolSeen, [], 'carol was not a target');
  });

  test('a peer that leaves: the others get PeerLeft; the room is removed when the last one leaves', async () => {
    const roomId = freshRoom();
    const alice = await joinAs('alice', roomId);
    const bob = await joinAs('bob', roomId);
    const left = alice.room.next('update', (update) => update.kind === 'PeerLeft');
    await bob.room.leave();
    const [update] = await left;
    assert.equal((update as { peer_id: number }).peer_id, bob.room.ownPeerId);
    assert.equal(alice.room.peers.size, 0);
    assert.equal(grid.sfu.getRoom('', roomId)?.peers.size, 1);
    await alice.room.leave();
    await eventually(() => grid.sfu.getRoom('', roomId) === undefined, 'the empty room to be removed');
  });

  test('closing the main connection makes its peers leave too', async () => {
    const roomId = freshRoom();
    const alice = await joinAs('alice', roomId);
    const bob = await joinAs('bob', roomId);
    const left = alice.room.next('update', (update) => update.kind === 'PeerLeft');
    const bobStreamClosed = bob.room.next('closed');
    await bob.client.close();
    await left;
    const [code, reason] = await bobStreamClosed;
    assert.equal(code, 4000);
    assert.match(reason, /connection closed/);
  });

  test('a client with a token for several rooms joins each, with distinct media ids', async () => {
    const client = await grid.connect('alice', ['north', 'south']);
    assert.deepEqual(client.roomIds, ['north', 'south']);
    const north = await client.joinRoom('north');
    const south = await client.joinRoom('south');
    assert.notEqual(north.ownPeerId, south.ownPeerId);
    assert.deepEqual(
      north.joined.media_ids.filter((id) => south.joined.media_ids.includes(id)),
      [],
      'a voice packet names one media of the client',
    );
    await client.close();
  });

  test('JoinRoom for a room not in the token is refused, naming the room', async () => {
    const client = await grid.connect('alice', 'allowed');
    await assert.rejects(client.joinRoom('forbidden'), (error: Error) => {
      assert.match(error.message, /room "forbidden" is not in the token's room ids/);
      assert.match(error.message, /allowed/);
      return true;
    });
    const room = await client.joinRoom('allowed');
    assert.equal(room.joined.room.id, 'allowed', 'the client can still join what it may');
  });

  test('joining the same room twice from one client is refused', async () => {
    const roomId = freshRoom();
    const client = await grid.connect('alice', roomId);
    await client.joinRoom(roomId);
    await assert.rejects(client.joinRoom(roomId), /already joined room/);
  });

  test('JoinRoom before Authenticate is refused', async () => {
    const socket = await grid.socket('/main');
    await assert.rejects(
      socket.request('JoinRoom', { room_id: 'x', user_data: new Uint8Array(), position: [0, 0] }),
      /call Authenticate first/,
    );
  });

  test('Authenticate with a bad token is refused with the reason; the socket stays usable', async () => {
    const socket = await grid.socket('/main');
    await assert.rejects(socket.request('Authenticate', { token: 'a.b.c' }), /Authenticate: token rejected/);
    const answer = await socket.request('Authenticate', { token: await grid.token('lobby', 'alice') });
    assert.deepEqual(answer, { room_ids: ['lobby'] });
  });

  test('room methods on the main connection are refused, pointing at the room stream', async () => {
    const client = await grid.connect('alice', 'lobby');
    await assert.rejects(
      client.main.request('SendMessage', { message: bytes('hi') }),
      /room-stream method; send it on the room stream/,
    );
  });

  test('no error was logged', async () => {
    assert.deepEqual(grid.logs.errors, []);
  });
});
