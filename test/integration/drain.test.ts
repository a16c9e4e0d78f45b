/**
 * Draining on shutdown (docs/architecture.md, "The server's life"; grid.ts): new joins are refused
 * with a clear error, existing rooms keep working until they are empty, then the grid stops;
 * peers still there when `[shutdown] grace_period` ends get `Left {ServerClosing}`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RpcSocket } from '../../client/rpcSocket.ts';
import { ExitCode } from '../../server/cli/exitCodes.ts';
import { openWebRtcPeerConnections } from '../../server/transports/web/webrtc/webRtcSession.ts';
import { jsonRpc } from '../helpers/http.ts';
import { barrier, bytes, text } from '../helpers/rooms.ts';
import { eventually, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';
import { sameBytes, VoiceInbox, voicePackets } from '../helpers/voice.ts';

describe('draining until the rooms are empty', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[shutdown]\ngrace_period = 20000' });
  });
  after(() => grid.close());

  test('joins are refused, the existing pair keeps talking, and the grid stops when they leave', async () => {
    const alice = await grid.connect('alice', 'pair', { voice: true });
    const bob = await grid.connect('bob', 'pair', { voice: true });
    const latecomer = await grid.connect('carol', 'pair');
    const bobInbox = new VoiceInbox(bob);
    const aliceRoom = await alice.joinRoom('pair');
    const bobRoom = await bob.joinRoom('pair');
    await aliceRoom.startMedia();

    const stopped = grid.grid.shutdown('signal');
    assert.equal(grid.grid.state, 'draining');
    assert.equal(grid.grid.ready, false);

    await assert.rejects(
      latecomer.joinRoom('pair'),
      /JoinRoom: the server is shutting down; join room "pair" elsewhere/,
    );
    await assert.rejects(RpcSocket.open(`wss://${grid.address}/main`, { ca: grid.ca }), /HTTP 503/);
    const connect = await jsonRpc(grid.gatewayUrl, { ca: grid.ca, token: await grid.token('pair', 'dave') });
    assert.equal(connect.status, 503);
    assert.match((connect.json.error as { message: string }).message, /shutting down/);

    const message = bobRoom.next('message');
    await aliceRoom.sendMessage(bytes('still here'));
    assert.equal(text((await message)[0].message), 'still here');
    const packets = voicePackets(aliceRoom.mediaId, 10);
    for (const packet of packets) assert.ok(alice.sendVoice(packet));
    await bobInbox.waitFor(packets.length);
    assert.ok(sameBytes(bobInbox.packets, packets));

    assert.equal(grid.grid.state, 'draining', 'rooms with peers keep the grid up');
    await aliceRoom.leave();
    await bobRoom.leave();
    assert.equal(await stopped, ExitCode.ok);
    assert.equal(grid.grid.state, 'stopped');
    await eventually(() => openWebRtcPeerConnections() === 0, 'the WebRTC sessions to close');
  });
});

describe('draining past the grace period', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[shutdown]\ngrace_period = 200' });
  });
  after(() => grid.close());

  test('peers left at the end of the grace period get Left ServerClosing (and nothing else) and every socket closes', async () => {
    const alice = await grid.connect('alice', 'stay');
    const room = await alice.joinRoom('stay');
    const bob = await grid.connect('bob', 'stay');
    const bobRoom = await bob.joinRoom('stay');
    await barrier(bobRoom, room);
    const updates: unknown[] = [];
    for (const r of [room, bobRoom]) r.on('update', (update) => updates.push(update));
    const left = room.next('update', (u) => u.kind === 'Left', 5_000);
    const roomClosed = room.next('closed', () => true, 5_000);
    const bobClosed = bobRoom.next('closed', () => true, 5_000);
    const mainClosed = new Promise<[number, string]>((resolve) =>
      alice.main.once('close', (...args) => resolve(args)),
    );
    const started = performance.now();
    const code = await grid.grid.shutdown('signal');
    assert.equal(code, ExitCode.ok);
    assert.ok(performance.now() - started >= 190, 'the grid waited for the grace period');
    assert.deepEqual((await left)[0], { kind: 'Left', reason: 'ServerClosing' });
    assert.match((await roomClosed)[1], /ServerClosing/);
    await bobClosed;
    const serverClosing = { kind: 'Left', reason: 'ServerClosing' };
    assert.deepEqual(
      updates,
      [serverClosing, serverClosing],
      'Left only: no PeerLeft of each other before it',
    );
    const [mainCode, mainReason] = await mainClosed;
    assert.equal(mainCode, 4000);
    assert.equal(mainReason, 'the server is shutting down');
    assert.equal(grid.sfu.clientCount, 0);
    assert.equal(grid.sfu.peerCount, 0);
  });
});

describe('a second shutdown with immediate', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[shutdown]\ngrace_period = 60000' });
  });
  after(() => grid.close());

  test('cuts the grace period short (the second SIGTERM)', async () => {
    const alice = await grid.connect('alice', 'stay');
    const room = await alice.joinRoom('stay');
    const left = room.next('update', (u) => u.kind === 'Left');
    const first = grid.grid.shutdown('signal');
    await eventually(() => grid.grid.state === 'draining', 'draining');
    const second = grid.grid.shutdown('signal', { immediate: true });
    assert.equal(await second, ExitCode.ok);
    assert.equal(await first, ExitCode.ok);
    assert.deepEqual((await left)[0], { kind: 'Left', reason: 'ServerClosing' });
  });
});
