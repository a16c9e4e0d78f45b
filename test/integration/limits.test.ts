/**
 * `[limit]` over the real web transport: capacity limits refuse with a reason naming the key,
 * the media-id pool bounds StartMedia, the RPC token bucket delays then disconnects, and the
 * voice token bucket drops excess packets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OdinClient } from '../../client/odinClient.ts';
import type { RpcSocket } from '../../client/rpcSocket.ts';
import { eventually, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';
import { VoiceInbox, voicePackets } from '../helpers/voice.ts';

describe('[limit] max_clients', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[limit]\nmax_clients = 2' });
  });
  after(() => grid.close());

  test('a client over max_clients gets the reason as the answer to its first call, then is closed', async () => {
    const first = await grid.connect('alice', 'lobby');
    await grid.connect('bob', 'lobby');
    const refused = await grid.socket('/main');
    const closed = new Promise<[number, string]>((resolve) =>
      refused.once('close', (...args) => resolve(args)),
    );
    await assert.rejects(
      refused.request('Authenticate', { token: await grid.token('lobby', 'carol') }),
      /server full: the server accepts at most 2 clients \(\[limit\] max_clients\)/,
    );
    const [code, reason] = await closed;
    assert.equal(code, 4000);
    assert.match(reason, /max_clients/);
    assert.equal(grid.sfu.clientCount, 2);
    assert.equal(grid.sfu.counters.refused.server_full, 1);

    await first.close();
    await eventually(() => grid.sfu.clientCount === 1, 'alice to be gone');
    const carol = await grid.connect('carol', 'lobby');
    assert.equal((await carol.joinRoom('lobby')).joined.room.id, 'lobby', 'a freed slot is usable');
  });
});

describe('[limit] max_rooms, max_peers and [limit.peer] medias', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[limit]\nmax_rooms = 1\nmax_peers = 2\n[limit.peer]\nmedias = 2' });
  });
  after(() => grid.close());

  test('a join that would open a room over max_rooms is refused; the open room still takes peers', async () => {
    const alice = await grid.connect('alice', ['one', 'two']);
    const aliceInOne = await alice.joinRoom('one');
    await assert.rejects(alice.joinRoom('two'), /at most 1 rooms \(\[limit\] max_rooms\)/);
    const bob = await grid.connect('bob', 'one');
    await bob.joinRoom('one');
    const carol = await grid.connect('carol', 'one');
    await assert.rejects(carol.joinRoom('one'), /at most 2 peers \(\[limit\] max_peers\)/);
    await aliceInOne.leave();
    await eventually(() => grid.sfu.peerCount === 1, 'alice to leave');
    assert.equal((await carol.joinRoom('one')).joined.room.peers.length, 1, 'a freed peer slot is usable');
    assert.equal(grid.sfu.counters.refused.too_many_rooms, 1);
    assert.equal(grid.sfu.counters.refused.too_many_peers, 1);
    await Promise.all([bob.close(), carol.close(), alice.close()]);
    await eventually(() => grid.sfu.peerCount === 0, 'everyone to leave');
  });

  test('the media-id pool has [limit.peer] medias ids, and StartMedia takes only those, once', async () => {
    const alice = await grid.connect('alice', 'media');
    const room = await alice.joinRoom('media');
    const pool = room.joined.media_ids;
    assert.equal(pool.length, 2);
    const outside = Math.max(...pool) + 100;
    await assert.rejects(
      room.startMedia(outside),
      new RegExp(`media id ${outside} is not in this peer's pool`),
    );
    await room.startMedia(pool[0]);
    await assert.rejects(room.startMedia(pool[0]), /already started/);
    await room.startMedia(pool[1]);
    await assert.rejects(room.stopMedia(outside), /StopMedia: media \d+ is not started/);
    await room.stopMedia(pool[0]);
    await room.startMedia(pool[0]);
    assert.equal(grid.sfu.getRoom('', 'media')?.mediaById.size, 2);
    await alice.close();
  });
});

describe('[limit.peer] incoming_messages (rate 10, capacity 3, overflow 4)', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({
      toml: '[limit.peer.incoming_messages]\nrate = 10\ncapacity = 3\noverflow = 4',
    });
  });
  after(() => grid.close());

  async function authenticated(user: string): Promise<RpcSocket> {
    const socket = await grid.socket('/main');
    await socket.request('Authenticate', { token: await grid.token('lobby', user) });
    return socket;
  }

  test('calls beyond the bucket but within overflow are delayed, then all answered in order', async () => {
    const socket = await authenticated('alice');
    // Authenticate took one token: 2 left, so of 6 calls 2 run and 4 wait (the whole overflow).
    const queuedBefore = grid.sfu.counters.rpc_queued;
    const answered: number[] = [];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 6 }, (_, i) => socket.request('Ping', {}).then(() => answered.push(i))),
    );
    const elapsed = performance.now() - started;
    assert.deepEqual(answered, [0, 1, 2, 3, 4, 5]);
    assert.equal(grid.sfu.counters.rpc_queued - queuedBefore, 4);
    assert.ok(elapsed >= 300, `4 calls waited for tokens at 10/s (took ${elapsed.toFixed(0)} ms)`);
    assert.ok(socket.isOpen);
  });

  test('a flood beyond capacity + overflow disconnects the client with the reason', async () => {
    const socket = await authenticated('bob');
    const closed = new Promise<[number, string]>((resolve) =>
      socket.once('close', (...args) => resolve(args)),
    );
    const calls = Array.from({ length: 10 }, () =>
      socket.request('Ping', {}).then(
        () => 'answered',
        () => 'failed',
      ),
    );
    const [code, reason] = await closed;
    assert.equal(code, 4000);
    assert.equal(reason, 'rate limit exceeded: too many requests');
    const outcomes = await Promise.all(calls);
    assert.deepEqual(
      outcomes.slice(0, 2),
      ['answered', 'answered'],
      'the calls within the bucket were answered',
    );
    assert.ok(
      outcomes.slice(2).every((outcome) => outcome === 'failed'),
      'the queued ones were dropped',
    );
    await eventually(() => grid.sfu.clientCount === 1, 'bob to be gone');
    assert.ok(grid.sfu.counters.rpc_overflow_disconnects >= 1);
  });

  test('a flood on a room stream disconnects the whole client: its main socket and room stream', async () => {
    const client = await grid.connect('carol', 'lobby');
    const room = await client.joinRoom('lobby');
    const mainClosed = new Promise<[number, string]>((resolve) =>
      client.main.once('close', (...args) => resolve(args)),
    );
    const roomClosed = room.next('closed');
    for (let i = 0; i < 12; i++) room.request('SetPeerPosition', { position: [i, 0] }).catch(() => {});
    const [code, reason] = await roomClosed;
    assert.equal(code, 4000);
    assert.match(reason, /rate limit exceeded/);
    assert.match((await mainClosed)[1], /rate limit exceeded/);
    await eventually(() => grid.sfu.peerCount === 0, "carol's peer to leave");
  });
});

describe('[limit.network] incoming_media_packets (rate 1, capacity 5)', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[limit.network.incoming_media_packets]\nrate = 1\ncapacity = 5' });
  });
  after(() => grid.close());

  test('voice packets over the bucket are dropped and counted as rate_limited', async () => {
    const alice = await grid.connect('alice', 'voice', { voice: true });
    const bob = await grid.connect('bob', 'voice', { voice: true });
    const inbox = new VoiceInbox(bob);
    const aliceRoom = await alice.joinRoom('voice');
    await bob.joinRoom('voice');
    await aliceRoom.startMedia();
    const stats = grid.sfu.voiceStats;
    const before = { received: stats.received, forwarded: stats.forwarded, limited: stats.rate_limited };
    for (const packet of voicePackets(aliceRoom.mediaId, 20)) assert.ok(alice.sendVoice(packet));
    await eventually(() => stats.received - before.received === 20, 'the server to receive all 20 packets');
    const forwarded = stats.forwarded - before.forwarded;
    const limited = stats.rate_limited - before.limited;
    assert.ok(
      forwarded >= 5 && forwarded <= 6,
      `the burst of 5 (and at most one refill) passed: ${forwarded}`,
    );
    assert.equal(forwarded + limited, 20);
    await inbox.waitFor(forwarded);
    assert.equal(inbox.packets.length, forwarded);
  });
});

describe('OdinClient.connect under max_clients', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[limit]\nmax_clients = 0' });
  });
  after(() => grid.close());

  test("rejects with the server's reason (what an SDK user sees)", async () => {
    await assert.rejects(
      OdinClient.connect(grid.address, await grid.token('lobby', 'alice'), { ca: grid.ca, voice: false }),
      /Authenticate failed: server full/,
    );
    assert.equal(grid.sfu.clientCount, 0);
  });
});
