import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_PENDING_NOTIFICATIONS } from '../../server/core/client.ts';
import { encodeRequest } from '../../server/protocol/msgpackRpc.ts';
import { bytes, defaultLimits, FakeConnection, flush, Harness } from './helpers.ts';

describe('joining and leaving', () => {
  test('the joiner gets Joined with the room, its media ids and its peer id; others get PeerJoined', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob', 'lobby', [0.5, 0]);
    assert.deepEqual(alice.joined, {
      kind: 'Joined',
      room: { id: 'lobby', customer: 'customer-1', user_data: new Uint8Array(0), peers: [] },
      media_ids: alice.mediaIds,
      own_peer_id: alice.peerId,
    });
    assert.equal(alice.mediaIds.length, 8);
    assert.ok(alice.peerId > 0 && alice.peerId < 2 ** 32);
    const bobRoom = bob.joined.room as { peers: unknown[] };
    assert.deepEqual(bobRoom.peers, [
      { id: alice.peerId, user_id: 'alice', user_data: bytes('alice'), medias: [] },
    ]);
    assert.deepEqual(alice.stream.roomUpdates()[1], {
      kind: 'PeerJoined',
      peer: { id: bob.peerId, user_id: 'bob', user_data: bytes('bob'), medias: [] },
    });
    // Media ids are unique in the room.
    assert.equal(new Set([...alice.mediaIds, ...bob.mediaIds]).size, 16);
  });

  test('JoinRoom answers {stream_id}; Joined waits until the room stream attaches, then comes first', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const c = h.client({ userId: 'bob', roomIds: ['lobby'], namespace: '' });
    const r = c.call('JoinRoom', { room_id: 'lobby', user_data: bytes('b'), position: [0, 0] });
    assert.equal(r.error, null);
    const streamId = (r.result as { stream_id: number }).stream_id;
    assert.ok(Number.isInteger(streamId) && streamId > 0);
    alice.call('SendMessage', { message: bytes('hi') }); // queued for bob
    const stream = new FakeConnection();
    assert.ok(h.sfu.attachRoomStream(streamId, stream));
    const kinds = stream
      .notifications()
      .map(([m, p]) => (m === 'RoomUpdated' ? (p.updates as { kind: string }[])[0]!.kind : m));
    assert.deepEqual(kinds, ['Joined', 'MessageReceived']);
    assert.equal(h.sfu.attachRoomStream(streamId, new FakeConnection()), undefined, 'a stream id binds once');
  });

  test('a room stream that never attaches makes the peer leave', () => {
    const h = new Harness({ roomStreamTimeoutMs: 5000 });
    const alice = h.join('alice');
    const c = h.client({ userId: 'bob', roomIds: ['lobby'], namespace: '' });
    c.call('JoinRoom', { room_id: 'lobby', user_data: bytes('b'), position: [0, 0] });
    h.clock.advance(5000);
    assert.deepEqual(alice.events().slice(-2), [
      `PeerJoined ${alice.peerId + 1}`,
      `PeerLeft ${alice.peerId + 1}`,
    ]);
    assert.equal(h.sfu.counters.room_stream_failures, 1);
  });

  test('closing the room stream makes the peer leave: others get PeerLeft, the room goes when empty', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    assert.equal(h.sfu.getRoom('', 'lobby')?.peers.size, 2);
    bob.endpoint.handleClose();
    assert.deepEqual(alice.events(), [`PeerJoined ${bob.peerId}`, `PeerLeft ${bob.peerId}`]);
    assert.equal(h.sfu.peerCount, 1);
    alice.endpoint.handleClose();
    assert.equal(h.sfu.getRoom('', 'lobby'), undefined);
    assert.equal([...h.sfu.rooms()].length, 0);
    assert.equal(h.sfu.clientCount, 2, 'the main connections stay');
  });

  test('closing the main connection removes all its peers and closes their streams', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const c = h.client({ userId: 'bob', roomIds: ['lobby', 'other'], namespace: '' });
    const bob1 = h.joinWith(c, 'lobby');
    const bob2 = h.joinWith(c, 'other');
    c.client.handleClose();
    assert.deepEqual(alice.events(), [`PeerJoined ${bob1.peerId}`, `PeerLeft ${bob1.peerId}`]);
    assert.equal(h.sfu.getRoom('', 'other'), undefined);
    assert.ok(bob2.stream.closedWith);
    assert.equal(h.sfu.clientCount, 1);
  });

  test('a room is identified by (namespace, room id)', () => {
    const h = new Harness();
    const a = h.client({ userId: 'a', roomIds: ['lobby'], namespace: 'ns1' });
    const b = h.client({ userId: 'b', roomIds: ['lobby'], namespace: 'ns2' });
    const pa = h.joinWith(a, 'lobby');
    const pb = h.joinWith(b, 'lobby');
    assert.deepEqual((pb.joined.room as { peers: unknown[] }).peers, []);
    assert.deepEqual(pa.events(), []);
    assert.equal([...h.sfu.rooms()].length, 2);
  });

  test('a room not in the token rid is refused with an error naming it', () => {
    const h = new Harness();
    const c = h.client({ userId: 'alice', roomIds: ['lobby', 'arena'], namespace: '' });
    const r = c.call('JoinRoom', { room_id: 'secret', user_data: bytes(''), position: [0, 0] });
    assert.match(
      String(r.error),
      /room "secret" is not in the token's room ids \(rid: \["lobby","arena"\]\)/,
    );
    assert.equal(r.result, null);
    assert.equal(h.sfu.counters.refused.room_not_allowed, 1);
  });

  test('joining the same room twice from one client is refused', () => {
    const h = new Harness();
    const c = h.client({ userId: 'alice', roomIds: ['lobby'], namespace: '' });
    h.joinWith(c, 'lobby');
    const r = c.call('JoinRoom', { room_id: 'lobby', user_data: bytes(''), position: [0, 0] });
    assert.match(String(r.error), /already joined room "lobby"/);
  });

  test('Authenticate answers the token rooms; JoinRoom before it is refused', async () => {
    const h = new Harness();
    const c = h.client();
    assert.match(
      String(c.call('JoinRoom', { room_id: 'a', user_data: bytes(''), position: [0, 0] }).error),
      /Authenticate first/,
    );
    c.client.handleRpc(encodeRequest(7, 'Authenticate', { token: 'alice@a,b' }));
    await flush();
    assert.deepEqual(c.main.responses().at(-1), { msgid: 7, error: null, result: { room_ids: ['a', 'b'] } });
    assert.equal(c.call('JoinRoom', { room_id: 'a', user_data: bytes(''), position: [0, 0] }).error, null);
  });

  test('a rejected token gives a clear error', async () => {
    const h = new Harness();
    const c = h.client();
    c.call('Authenticate', { token: 'garbage' });
    await flush();
    assert.match(String(c.main.responses()[0]!.error), /^Authenticate: token rejected: bad token$/);
  });
});

describe('user data and messages', () => {
  test('UpdatePeer sends PeerUpdated UserDataChanged to the peers in range; later joiners see the new data', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const far = h.join('far', 'lobby', [10, 10]);
    assert.deepEqual(alice.call('UpdatePeer', { user_data: bytes('new') }), { error: null, result: null });
    assert.deepEqual(bob.stream.notifications('PeerUpdated').at(-1)?.[1], {
      kind: 'UserDataChanged',
      peer_id: alice.peerId,
      user_data: bytes('new'),
    });
    assert.deepEqual(far.stream.notifications('PeerUpdated'), []);
    assert.deepEqual(alice.stream.notifications('PeerUpdated'), [], 'not echoed to the sender');
    const carol = h.join('carol');
    const seen = (carol.joined.room as { peers: { id: number; user_data: Uint8Array }[] }).peers.find(
      (p) => p.id === alice.peerId,
    );
    assert.deepEqual(seen?.user_data, bytes('new'));
  });

  test('UpdateRoom sends RoomUpdated UserDataChanged to every other peer, in range or not', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const far = h.join('far', 'lobby', [10, 10]);
    alice.call('UpdateRoom', { user_data: bytes('room') });
    assert.deepEqual(far.stream.roomUpdates().at(-1), { kind: 'UserDataChanged', user_data: bytes('room') });
    assert.deepEqual((h.join('late').joined.room as { user_data: Uint8Array }).user_data, bytes('room'));
  });

  test('SendMessage without targets reaches every other peer, in order, regardless of proximity', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const far = h.join('far', 'lobby', [100, 0]);
    alice.call('SendMessage', { message: bytes('1') });
    alice.call('SendMessage', { message: bytes('2') });
    for (const receiver of [bob, far]) {
      assert.deepEqual(
        receiver.stream.notifications('MessageReceived').map(([, p]) => p),
        [
          { sender_peer_id: alice.peerId, message: bytes('1') },
          { sender_peer_id: alice.peerId, message: bytes('2') },
        ],
      );
    }
    assert.deepEqual(alice.stream.notifications('MessageReceived'), []);
  });

  test('SendMessage with target_peer_ids reaches only those peers; unknown ids are skipped', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const carol = h.join('carol', 'lobby', [50, 50]);
    const r = alice.call('SendMessage', {
      message: bytes('psst'),
      target_peer_ids: [carol.peerId, 999_999, carol.peerId],
    });
    assert.equal(r.error, null);
    assert.equal(carol.stream.notifications('MessageReceived').length, 1);
    assert.equal(bob.stream.notifications('MessageReceived').length, 0);
  });
});

describe('kick, ban, close, drain', () => {
  test('kickPeer sends Left {PeerKicked}, then the peer leaves and its stream closes', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    assert.equal(h.sfu.kickPeer(bob.peerId), true);
    assert.deepEqual(bob.stream.roomUpdates().at(-1), { kind: 'Left', reason: 'PeerKicked' });
    assert.ok(bob.stream.closedWith);
    assert.deepEqual(alice.events().at(-1), `PeerLeft ${bob.peerId}`);
    assert.equal(h.sfu.kickPeer(bob.peerId), false);
  });

  test('closeRoom sends Left {RoomClosing} to everyone and removes the room; a ban refuses rejoins until it ends', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    assert.equal(h.sfu.closeRoom('', 'lobby', 'RoomClosing', 60_000), true);
    for (const p of [alice, bob])
      assert.deepEqual(p.stream.roomUpdates().at(-1), { kind: 'Left', reason: 'RoomClosing' });
    assert.equal(h.sfu.getRoom('', 'lobby'), undefined);
    const c = h.client({ userId: 'carol', roomIds: ['lobby'], namespace: '' });
    assert.match(
      String(c.call('JoinRoom', { room_id: 'lobby', user_data: bytes(''), position: [0, 0] }).error),
      /closed/,
    );
    h.clock.advance(60_000);
    assert.equal(
      c.call('JoinRoom', { room_id: 'lobby', user_data: bytes(''), position: [0, 0] }).error,
      null,
    );
  });

  test('banUser kicks every peer of the user and refuses the user, not others', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const mallory = h.join('mallory');
    h.sfu.banUser('', 'lobby', 'mallory', 30_000);
    assert.deepEqual(mallory.stream.roomUpdates().at(-1), { kind: 'Left', reason: 'PeerKicked' });
    assert.deepEqual(alice.events().at(-1), `PeerLeft ${mallory.peerId}`);
    const again = h.client({ userId: 'mallory', roomIds: ['lobby'], namespace: '' });
    assert.match(
      String(again.call('JoinRoom', { room_id: 'lobby', user_data: bytes(''), position: [0, 0] }).error),
      /user "mallory" is banned from room "lobby"/,
    );
    h.join('bob');
    assert.equal(h.sfu.counters.refused.banned, 1);
  });

  test('draining refuses new joins with a clear error; existing peers stay', () => {
    const h = new Harness();
    const alice = h.join('alice');
    h.sfu.setDraining(true);
    const c = h.client({ userId: 'bob', roomIds: ['lobby'], namespace: '' });
    assert.match(
      String(c.call('JoinRoom', { room_id: 'lobby', user_data: bytes(''), position: [0, 0] }).error),
      /shutting down/,
    );
    assert.equal(h.sfu.getRoom('', 'lobby')?.peers.has(alice.peerId), true);
  });

  test('closeAll sends Left {ServerClosing} and closes every client', () => {
    const h = new Harness();
    const alice = h.join('alice');
    h.sfu.closeAll('server shutting down');
    assert.deepEqual(alice.stream.roomUpdates().at(-1), { kind: 'Left', reason: 'ServerClosing' });
    assert.equal(alice.owner.main.closedWith, 'server shutting down');
    assert.equal(h.sfu.clientCount, 0);
  });

  test('updateRoomUserData (supervisor RoomUpdate) reaches every peer', () => {
    const h = new Harness();
    const alice = h.join('alice');
    assert.equal(h.sfu.updateRoomUserData('', 'lobby', bytes('x')), true);
    assert.deepEqual(alice.stream.roomUpdates().at(-1), { kind: 'UserDataChanged', user_data: bytes('x') });
  });
});

describe('robustness', () => {
  test('a generation B join whose token check finishes after the client closed creates no peer', async () => {
    let release: (g: { userId: string; roomIds: string[]; namespace: string }) => void = () => {};
    const h = new Harness({ authenticate: () => new Promise((resolve) => (release = resolve)) });
    const c = h.client();
    c.client.handleRpc(
      encodeRequest(0, 'JoinRoom', { token: 't', room_id: 'lobby', user_data: bytes(''), position: [0, 0] }),
    );
    c.client.handleClose();
    release({ userId: 'u', roomIds: ['lobby'], namespace: '' });
    await flush();
    assert.equal(h.sfu.peerCount, 0);
    assert.equal([...h.sfu.rooms()].length, 0);
  });

  test('a peer whose room stream never attaches and whose queue overflows leaves', async () => {
    const h = new Harness({
      limits: {
        ...defaultLimits,
        incomingMessages: { rate: 1e6, capacity: 1e6, overflow: 0 },
        mediasPerPeer: 1,
        concurrentStreams: 0,
      },
    });
    const alice = h.join('alice');
    const c = h.client({ userId: 'bob', roomIds: ['lobby'], namespace: '' });
    c.call('JoinRoom', { room_id: 'lobby', user_data: bytes(''), position: [0, 0] });
    for (let i = 0; i < MAX_PENDING_NOTIFICATIONS; i++) alice.call('SendMessage', { message: bytes('x') });
    await flush();
    assert.equal(h.sfu.peerCount, 1);
    assert.equal(h.sfu.counters.room_stream_failures, 1);
  });

  test('the observer reports lifecycle events for metrics', () => {
    const h = new Harness();
    const events: string[] = [];
    for (const name of [
      'roomcreated',
      'roomclosed',
      'peerjoined',
      'peerleft',
      'mediastarted',
      'mediastopped',
    ] as const) {
      h.sfu.observer.on(name, () => events.push(name));
    }
    const alice = h.join('alice');
    alice.startMedia();
    alice.endpoint.handleClose();
    assert.deepEqual(events, [
      'roomcreated',
      'peerjoined',
      'mediastarted',
      'mediastopped',
      'peerleft',
      'roomclosed',
    ]);
  });
});
