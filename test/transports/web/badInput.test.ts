/**
 * Bad input on the [http] listener never crashes the server or disturbs other clients.
 * A bystander pair (voice on) shares the server with every attack; after each one the pair
 * still exchanges messages and voice, and the server's counts are back to the baseline:
 * clients, peers, server WebRTC peer connections and UDP mux endpoints.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import WebSocket from 'ws';
import type { OdinClient, OdinRoom } from '../../../client/odinClient.ts';
import { WebRtcVoice } from '../../../client/webrtc/webRtcVoice.ts';
import { decodeMsgpack, encodeMsgpack, encodeRequest } from '../../../server/protocol/msgpackRpc.ts';
import { openWebRtcPeerConnections } from '../../../server/transports/web/webrtc/webRtcSession.ts';
import { httpsRequest } from '../../helpers/http.ts';
import { bytes, text } from '../../helpers/rooms.ts';
import { eventually, LOOPBACK, startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { sameBytes, VoiceInbox, voicePackets } from '../../helpers/voice.ts';

type Closed = { code: number; reason: string };

describe('bad input on the web transport', () => {
  let grid: TestGrid;
  let alice: { client: OdinClient; room: OdinRoom };
  let bob: { client: OdinClient; room: OdinRoom; inbox: VoiceInbox };
  const baseline = { clients: 2, peers: 2, peerConnections: 2, muxEndpoints: 2 };

  before(async () => {
    grid = await startTestGrid();
    const aliceClient = await grid.connect('alice', 'bystanders', { voice: true });
    const bobClient = await grid.connect('bob', 'bystanders', { voice: true });
    const inbox = new VoiceInbox(bobClient);
    alice = { client: aliceClient, room: await aliceClient.joinRoom('bystanders') };
    bob = { client: bobClient, room: await bobClient.joinRoom('bystanders'), inbox };
    await alice.room.startMedia();
  });
  after(() => grid.close());

  /** The bystanders still talk, and nothing the attack made is left on the server. */
  afterEach(async () => {
    const message = bob.room.next('message');
    await alice.room.sendMessage(bytes('still fine'));
    assert.equal(text((await message)[0].message), 'still fine');
    bob.inbox.clear();
    const packets = voicePackets(alice.room.mediaId, 3);
    for (const packet of packets) assert.ok(alice.client.sendVoice(packet));
    await bob.inbox.waitFor(packets.length);
    assert.ok(sameBytes(bob.inbox.packets, packets));
    const counts = () => ({
      clients: grid.sfu.clientCount,
      peers: grid.sfu.peerCount,
      peerConnections: openWebRtcPeerConnections(),
      muxEndpoints: grid.webListener.mux?.sizes.endpoints,
    });
    await eventually(
      () => JSON.stringify(counts()) === JSON.stringify(baseline),
      `counts back to ${JSON.stringify(baseline)}`,
    ).catch((error: Error) => {
      throw new Error(`${error.message}, have ${JSON.stringify(counts())}`);
    });
    assert.deepEqual(grid.logs.errors, [], 'nothing was logged as an error');
  });

  async function raw(path: string): Promise<WebSocket> {
    const socket = new WebSocket(`wss://${grid.address}${path}`, { ca: grid.ca, perMessageDeflate: false });
    grid.track(() => socket.terminate());
    await once(socket, 'open');
    return socket;
  }

  function closed(socket: WebSocket): Promise<Closed> {
    return new Promise((resolve) =>
      socket.once('close', (code: number, reason: Buffer) =>
        resolve({ code, reason: reason.toString('utf8') }),
      ),
    );
  }

  /** The next frame on a raw socket, decoded. */
  function response(socket: WebSocket): Promise<unknown[]> {
    return new Promise((resolve) => socket.once('message', (data: Buffer) => resolve(decode(data))));
  }

  function decode(data: Buffer): unknown[] {
    return decodeMsgpack(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) as unknown[];
  }

  test('malformed MessagePack: the client is closed with a protocol error', async () => {
    const socket = await raw('/main');
    const done = closed(socket);
    socket.send(Buffer.from([0xc1, 0xff, 0x00]));
    const { code, reason } = await done;
    assert.equal(code, 4000);
    assert.match(reason, /^protocol error: malformed MessagePack/);
  });

  test('MessagePack that is not an RPC frame: closed with a protocol error', async () => {
    const socket = await raw('/main');
    const done = closed(socket);
    socket.send(encodeMsgpack({ method: 'Authenticate' }));
    assert.match((await done).reason, /protocol error: RPC frame is not a MessagePack array/);
  });

  test('a bad msgid: closed with a protocol error naming it', async () => {
    const socket = await raw('/main');
    const done = closed(socket);
    socket.send(encodeMsgpack([0, -1, 'Ping', {}]));
    assert.match((await done).reason, /msgid must be an unsigned 32-bit integer/);
  });

  test('a text frame: closed with 1003', async () => {
    const socket = await raw('/main');
    const done = closed(socket);
    socket.send('{"method":"Authenticate"}');
    assert.deepEqual(await done, { code: 1003, reason: 'text frames are not part of the protocol' });
  });

  test('a text frame on a room stream: closed with 1003, the peer leaves', async () => {
    const client = await grid.connect('carol', 'bystanders');
    const room = await client.joinRoom('bystanders');
    const done = room.next('closed');
    room.stream.sendRaw('hello');
    assert.equal((await done)[0], 1003);
    await client.close();
  });

  test('an unknown method: an error naming it, and the socket stays usable', async () => {
    const socket = await grid.socket('/main');
    await assert.rejects(socket.request('Frobnicate', {}), /unknown method "Frobnicate"/);
    assert.equal(await socket.request('Ping', {}), null);
    await socket.close();
  });

  test('wrong param types: an error with the field path', async () => {
    const client = await grid.connect('carol', 'bystanders');
    await assert.rejects(
      client.main.request('JoinRoom', { room_id: 5, user_data: new Uint8Array(), position: [0, 0] }),
      /JoinRoom\.room_id: expected a string, got the integer 5/,
    );
    await assert.rejects(
      client.main.request('JoinRoom', { room_id: 'bystanders', user_data: 'text', position: [0, 0] }),
      /JoinRoom\.user_data: expected bin, got a string/,
    );
    await assert.rejects(
      client.main.request('Authenticate', []),
      /Authenticate: expected a map, got an array/,
    );
    const room = await client.joinRoom('bystanders');
    await assert.rejects(
      room.request('SendMessage', { message: bytes('x'), target_peer_ids: [1, 'two'] }),
      /SendMessage\.target_peer_ids\[1\]: expected an unsigned integer/,
    );
    await assert.rejects(
      room.request('StartMedia', { media_id: 70_000 }),
      /StartMedia\.media_id: expected an unsigned integer <= 65535/,
    );
    await client.close();
  });

  test('a frame over 64 KiB: the socket is closed with 1009', async () => {
    const socket = await raw('/main');
    const done = closed(socket);
    socket.send(encodeRequest(0, 'Authenticate', { token: 'x'.repeat(70 * 1024) }));
    assert.equal((await done).code, 1009);
  });

  test('an RPC flood: the client is disconnected with a reason', async () => {
    const socket = await raw('/main');
    const done = closed(socket);
    for (let i = 0; i < 2_000; i++) socket.send(encodeRequest(i, 'Ping', {}));
    const { code, reason } = await done;
    assert.equal(code, 4000);
    assert.equal(reason, 'rate limit exceeded: too many requests');
  });

  test('a client that vanishes while Authenticate is in flight', async () => {
    const socket = await raw('/main');
    socket.send(encodeRequest(0, 'Authenticate', { token: await grid.token('bystanders', 'ghost') }));
    socket.terminate();
  });

  test('a client that vanishes while a JoinRoom with a token (generation B) is in flight', async () => {
    const socket = await raw('/main');
    const token = await grid.token('bystanders', 'ghost');
    // Either the join is refused (the client was gone when the token was verified) or the
    // ghost joined and leaves with its socket: both end with no ghost peer.
    const observer = grid.sfu.observer;
    let onSettled!: () => void;
    const settled = new Promise<void>((resolve) => {
      onSettled = resolve;
    });
    observer.on('rpcrejected', onSettled);
    observer.on('peerleft', onSettled);
    socket.send(
      encodeRequest(0, 'JoinRoom', {
        token,
        room_id: 'bystanders',
        user_data: new Uint8Array(),
        position: [0, 0],
      }),
    );
    socket.terminate();
    await settled;
    observer.off('rpcrejected', onSettled);
    observer.off('peerleft', onSettled);
  });

  test('a client that vanishes after JoinRoom, before opening its room stream', async () => {
    const socket = await raw('/main');
    socket.send(encodeRequest(0, 'Authenticate', { token: await grid.token('bystanders', 'ghost') }));
    await response(socket);
    const joined = response(socket);
    socket.send(
      encodeRequest(1, 'JoinRoom', { room_id: 'bystanders', user_data: new Uint8Array(), position: [0, 0] }),
    );
    const [, , error, result] = await joined;
    assert.equal(error, null);
    assert.ok((result as { stream_id: number }).stream_id > 0);
    const ghostLeft = alice.room.next('update', (u) => u.kind === 'PeerLeft');
    socket.terminate();
    await ghostLeft;
  });

  test('a client that vanishes while SetupWebRtc is being answered: its session is freed', async () => {
    const voice = new WebRtcVoice({ localAddress: LOOPBACK });
    grid.track(() => voice.close());
    const offer = await voice.createOffer();
    const socket = await raw('/main');
    socket.send(encodeRequest(0, 'Authenticate', { token: await grid.token('bystanders', 'ghost') }));
    await response(socket);
    socket.send(encodeRequest(1, 'SetupWebRtc', { sdp: offer }));
    socket.terminate();
    await voice.close();
  });

  test('SetupWebRtc with a garbage SDP is refused with the reason; a corrected offer then works once', async () => {
    const socket = await grid.socket('/main');
    const voice = new WebRtcVoice({ localAddress: LOOPBACK });
    try {
      await socket.request('Authenticate', { token: await grid.token('bystanders', 'carol') });
      await assert.rejects(
        socket.request('SetupWebRtc', { sdp: 'v=0 garbage' }),
        /SetupWebRtc: cannot answer the offer/,
      );
      const answer = (await socket.request('SetupWebRtc', { sdp: await voice.createOffer() })) as {
        sdp: string;
      };
      assert.match(answer.sdp, /a=candidate:/);
      await assert.rejects(
        socket.request('SetupWebRtc', { sdp: await voice.createOffer() }),
        /SetupWebRtc was already called on this connection/,
      );
      // Generation B signalling on the same session is accepted (trickle is ignored: ICE-lite).
      assert.equal(await socket.request('WebRtcUpdate', { kind: 'TrickleFinished' }), null);
    } finally {
      await socket.close();
      await voice.close();
    }
  });

  test('garbage on the voice channel is dropped and counted', async () => {
    const client = await grid.connect('carol', 'bystanders', { voice: true });
    const room = await client.joinRoom('bystanders', { position: [0.1, 0] });
    await room.startMedia();
    const malformed = grid.sfu.voiceStats.malformed;
    for (const junk of [bytes('hello'), new Uint8Array([0x93, 1, 2, 3]), new Uint8Array(0x200).fill(0xff)]) {
      assert.ok(client.sendVoice(junk));
    }
    await eventually(
      () => grid.sfu.voiceStats.malformed - malformed === 3,
      'the 3 junk packets to be counted',
    );
    await client.close();
  });

  test('/room?garbage and /room?<unknown id>: closed with 1008 and a reason', async () => {
    for (const query of ['garbage', '123456', '', '99999999999999999999', `${'9'.repeat(5000)}`]) {
      const socket = await raw(`/room?${query}`);
      const { code, reason } = await closed(socket);
      assert.equal(code, 1008, query);
      assert.match(reason, /unknown room stream .*: call JoinRoom on \/main first/);
    }
  });

  test('a room stream id that is already attached cannot be taken over', async () => {
    const client = await grid.connect('carol', 'bystanders');
    const { stream_id: streamId } = (await client.main.request('JoinRoom', {
      room_id: 'bystanders',
      user_data: new Uint8Array(),
      position: [0, 0],
    })) as { stream_id: number };
    const owner = await raw(`/room?${streamId}`);
    const thief = await raw(`/room?${streamId}`);
    assert.equal((await closed(thief)).code, 1008);
    owner.close();
    await client.close();
  });

  test('WebSocket upgrades on other paths are refused with 404', async () => {
    for (const path of ['/', '/nope', '/main/extra', '/ROOM']) {
      const socket = new WebSocket(`wss://${grid.address}${path}`, { ca: grid.ca });
      socket.on('error', () => {});
      const [, answer] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number }];
      assert.equal(answer.statusCode, 404, path);
      socket.terminate();
    }
  });

  test('a plain GET of /main or /room says it is a WebSocket endpoint (426); other paths are 404', async () => {
    const main = await httpsRequest(`https://${grid.address}/main`, { ca: grid.ca });
    assert.equal(main.status, 426);
    assert.match(main.body, /WebSocket endpoint/);
    assert.equal((await httpsRequest(`https://${grid.address}/room?1`, { ca: grid.ca })).status, 426);
    assert.equal((await httpsRequest(`https://${grid.address}/favicon.ico`, { ca: grid.ca })).status, 404);
  });

  test('a broken WebSocket handshake is answered 400', async () => {
    const answer = await httpsRequest(`https://${grid.address}/main`, {
      ca: grid.ca,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13' },
    });
    assert.equal(answer.status, 400);
  });

  test('plain HTTP and garbage bytes on the TLS port are dropped', async () => {
    const plain = connectTcp(Number(grid.address.split(':')[1]), LOOPBACK);
    plain.on('error', () => {});
    plain.end('GET /main HTTP/1.1\r\nHost: x\r\n\r\n');
    plain.resume();
    await once(plain, 'close');
    const junk = connectTcp(Number(grid.address.split(':')[1]), LOOPBACK);
    junk.on('error', () => {});
    junk.end(Buffer.alloc(4096, 0x16));
    junk.resume();
    await once(junk, 'close');
  });

  test('a TLS client that sends HTTP garbage after the handshake gets 400', async () => {
    const socket = connectTls({ host: LOOPBACK, port: Number(grid.address.split(':')[1]), ca: grid.ca });
    await once(socket, 'secureConnect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.end('\x00\x01 not http at all\r\n\r\n');
    await once(socket, 'close');
    assert.match(Buffer.concat(chunks).toString('utf8'), /^HTTP\/1\.1 400/);
  });
});
