/**
 * What a client can do on the [quic] listener before it has presented a valid token, and how
 * room streams are bound to the session that joined: against a real grid on loopback, each case
 * followed by a check that a bystander pair (two native clients in one room) still exchanges
 * voice and messages.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { OdinQuicClient, RpcStream } from '../../../client/quic/odinQuicClient.ts';
import { MAX_UNAUTHENTICATED_PER_ADDRESS } from '../../../server/transports/quic/preAuthBudget.ts';
import type { QuicConnection } from '../../../server/transports/quic/quicConnection.ts';
import type { QuicListenerStats } from '../../../server/transports/quic/quicListener.ts';
import { MAX_FAILED_ROOM_STREAMS } from '../../../server/transports/quic/roomStreams.ts';
import { needsNativeAddon } from '../../helpers/nativeAddon.ts';
import { eventually, startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { voicePackets } from '../../helpers/voice.ts';
import type { QuicEndpoint } from './helpers.ts';
import { clientEndpoint, freeUdpPort } from './helpers.ts';

/** Bystanders connect from another loopback address, so a per-address budget of 127.0.0.1 spares them. */
const BYSTANDER_HOST = '127.0.0.2';

type Room = Awaited<ReturnType<OdinQuicClient['joinRoom']>>;
type Bystanders = { alice: OdinQuicClient; bob: OdinQuicClient; aliceRoom: Room; bobRoom: Room };

async function bystanderPair(grid: TestGrid, port: number, room: string): Promise<Bystanders> {
  const connect = () =>
    OdinQuicClient.connect({ host: '127.0.0.1', port, insecure: true, localHost: BYSTANDER_HOST });
  const alice = await connect();
  const bob = await connect();
  grid.track(() => alice.close());
  grid.track(() => bob.close());
  const aliceRoom = await alice.joinRoom(await grid.token(room, 'alice'), room);
  const bobRoom = await bob.joinRoom(await grid.token(room, 'bob'), room);
  await aliceRoom.startMedia();
  return { alice, bob, aliceRoom, bobRoom };
}

/** Alice's voice and a message reach Bob; neither session was closed. */
async function stillTalking(pair: Bystanders): Promise<void> {
  assert.equal(pair.alice.closeInfo, undefined, 'alice is still connected');
  assert.equal(pair.bob.closeInfo, undefined, 'bob is still connected');
  const heard: Uint8Array[] = [];
  pair.bob.onVoice = (bytes) => heard.push(bytes);
  const packets = voicePackets(pair.aliceRoom.mediaId, 5);
  // Datagrams are unreliable: resend until one arrives (loopback loses none in practice).
  await eventually(() => {
    if (heard.length === 0) for (const packet of packets) pair.alice.sendVoice(packet);
    return heard.length > 0;
  }, 'bob to hear alice');
  const message = randomBytes(16);
  const received = new Promise<void>((resolve) => {
    const listener = (method: string, params: unknown) => {
      if (method !== 'MessageReceived') return;
      if (!Buffer.from((params as { message: Uint8Array }).message).equals(message)) return;
      pair.bobRoom.stream.off('notification', listener);
      resolve();
    };
    pair.bobRoom.stream.on('notification', listener);
  });
  await pair.aliceRoom.request('SendMessage', { message });
  await received;
}

function stats(grid: TestGrid): QuicListenerStats {
  return grid.quicListener!.stats;
}

describe('[quic] before authentication and room stream binding', needsNativeAddon, () => {
  let grid: TestGrid;
  let port: number;
  let pair: Bystanders;

  before(async () => {
    port = await freeUdpPort();
    grid = await startTestGrid({
      toml: `[quic]\nbinding = "127.0.0.1:${port}"\nconnect_timeout = 4000\n`,
    });
    pair = await bystanderPair(grid, port, 'steady');
  });
  after(() => grid.close());

  async function unauthenticated(): Promise<OdinQuicClient> {
    const client = await OdinQuicClient.connect({
      host: '127.0.0.1',
      port,
      insecure: true,
      requestTimeoutMs: 2_000,
    });
    grid.track(() => client.close().catch(() => {}));
    return client;
  }

  test('a session that presents no token is closed after connect_timeout, with the reason', async () => {
    const before = stats(grid).authTimeouts;
    const client = await unauthenticated();
    assert.equal(await client.main.request('Ping', {}), null, 'it may talk before authenticating');
    await eventually(() => client.closeInfo !== undefined, 'the session close');
    assert.match(client.closeInfo!.reason, /not authenticated within 4000 ms \(connect_timeout\)/);
    assert.equal(stats(grid).authTimeouts, before + 1);
    await eventually(() => stats(grid).unauthenticated === 0, 'the budget to be free again');
    await stillTalking(pair);
  });

  test('a client that joined outlives connect_timeout', async () => {
    const carol = await unauthenticated();
    await carol.joinRoom(await grid.token('other', 'carol'), 'other');
    assert.equal(stats(grid).unauthenticated, 0, 'the join took it out of the pre-authentication budget');
    // The bystanders connected before this test: far longer ago than connect_timeout.
    await stillTalking(pair);
    assert.equal(carol.closeInfo, undefined);
  });

  test(`room streams before authentication are refused at once; ${MAX_FAILED_ROOM_STREAMS} of them close the session`, async () => {
    const before = stats(grid);
    const client = await unauthenticated();
    const streams = Array.from({ length: MAX_FAILED_ROOM_STREAMS }, () => {
      const stream = new RpcStream(client.transport.session.openBidiStream(), 2_000);
      stream.sendRaw(encode(12345));
      return stream;
    });
    await eventually(() => client.closeInfo !== undefined, 'the session close');
    assert.equal(client.closeInfo!.code, 3);
    assert.match(client.closeInfo!.reason, /room streams named no stream id of this session/);
    assert.ok(streams.every((stream) => stream.ended));
    const after = stats(grid);
    assert.equal(after.roomStreamsRefused, before.roomStreamsRefused + MAX_FAILED_ROOM_STREAMS);
    assert.equal(after.sessionsClosedForGuessing, before.sessionsClosedForGuessing + 1);
    await stillTalking(pair);
  });

  test('a room stream binds only a peer of its own session: another session’s stream_id attaches nothing', async () => {
    // The victim joined (its token checked) and has its stream_id; its room stream is not open yet.
    const victim = await unauthenticated();
    const joined = (await victim.main.request('JoinRoom', {
      token: await grid.token('private', 'victim'),
      room_id: 'private',
      user_data: new Uint8Array(),
      position: [0, 0],
    })) as { stream_id: number };
    // The attacker is authenticated too, and has a peer of its own waiting for its stream.
    const attacker = await unauthenticated();
    const own = (await attacker.main.request('JoinRoom', {
      token: await grid.token('elsewhere', 'attacker'),
      room_id: 'elsewhere',
      user_data: new Uint8Array(),
      position: [0, 0],
    })) as { stream_id: number };
    const stolen = new RpcStream(attacker.transport.session.openBidiStream(), 2_000);
    stolen.sendRaw(encode(joined.stream_id));
    await eventually(() => stolen.ended, 'the stolen stream to be reset');
    // The victim's stream_id still works for the victim, and the attacker's own for the attacker.
    const mine = new RpcStream(victim.transport.session.openBidiStream(), 2_000);
    const joinedNote = new Promise<void>((resolve) => mine.on('notification', () => resolve()));
    mine.sendRaw(encode(joined.stream_id));
    await joinedNote;
    assert.equal(grid.sfu.getRoom('', 'private')?.peers.size, 1);
    const attackerOwn = new RpcStream(attacker.transport.session.openBidiStream(), 2_000);
    const ownNote = new Promise<void>((resolve) => attackerOwn.on('notification', () => resolve()));
    attackerOwn.sendRaw(encode(own.stream_id));
    await ownNote;
    assert.equal(attacker.closeInfo, undefined, 'one failed attach is not yet guessing');
    await stillTalking(pair);
  });

  test('garbage short-header packets get stateless resets smaller than themselves, and none at 21 bytes', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const answers: Buffer[] = [];
    socket.on('message', (message) => answers.push(message));
    const before = stats(grid).statelessResetsSent;
    const sizes = [21, 22, 60, 300];
    for (const size of sizes) {
      const packet = randomBytes(size);
      packet[0] = 0x40 | (packet[0]! & 0x3f);
      socket.send(packet, port, '127.0.0.1');
    }
    await eventually(() => answers.length === 3, 'three resets (none for 21 bytes)');
    socket.close();
    assert.equal(stats(grid).statelessResetsSent, before + 3);
    assert.deepEqual(
      answers.map((answer) => answer.length < 300),
      [true, true, true],
    );
    await stillTalking(pair);
  });
});

describe('[quic] pre-authentication connection budget', needsNativeAddon, () => {
  let grid: TestGrid;
  let port: number;
  let pair: Bystanders;
  const endpoints: QuicEndpoint[] = [];

  before(async () => {
    port = await freeUdpPort();
    grid = await startTestGrid({
      toml: `[quic]\nbinding = "127.0.0.1:${port}"\nconnect_timeout = 20000\n`,
    });
    pair = await bystanderPair(grid, port, 'steady');
  });
  after(async () => {
    for (const endpoint of endpoints) await endpoint.close();
    await grid.close();
  });

  /** A QUIC connection that completes its handshake and then says nothing. */
  async function idleConnection(): Promise<{ connection: QuicConnection; established: () => boolean }> {
    const endpoint = await clientEndpoint();
    endpoints.push(endpoint);
    const connection = endpoint.connect('127.0.0.1', port, 'localhost');
    let established = false;
    connection.handler = {
      onEstablished: () => (established = true),
      onStreamData() {},
      onStreamAborted() {},
      onDatagram() {},
      onClosed() {},
    };
    return { connection, established: () => established };
  }

  test(`one address holds at most ${MAX_UNAUTHENTICATED_PER_ADDRESS} unauthenticated connections; others still get in`, async () => {
    const held = await Promise.all(Array.from({ length: MAX_UNAUTHENTICATED_PER_ADDRESS }, idleConnection));
    await eventually(() => held.every((h) => h.established()), 'the held connections');
    assert.equal(stats(grid).unauthenticated, MAX_UNAUTHENTICATED_PER_ADDRESS);
    const refusedBefore = stats(grid).connectionsRefused;
    const extra = await idleConnection();
    await eventually(() => stats(grid).connectionsRefused > refusedBefore, 'the extra connection refused');
    assert.equal(extra.established(), false);
    // Another address is not affected, and neither are authenticated clients.
    const dave = await OdinQuicClient.connect({
      host: '127.0.0.1',
      port,
      insecure: true,
      localHost: BYSTANDER_HOST,
    });
    grid.track(() => dave.close());
    await dave.joinRoom(await grid.token('steady', 'dave'), 'steady');
    await stillTalking(pair);
    // Freeing budget lets the address in again (the client's Initial is retransmitted).
    for (const h of held.slice(0, 4)) h.connection.close(true, 0, 'done');
    await eventually(() => extra.established(), 'the extra connection, once there is room');
    await stillTalking(pair);
  });
});
