/**
 * Liveness on the [http] listener: WebSocket pings every `ping_interval`, a socket that sends
 * nothing (no message, no pong) for `timeout` is dropped; a client in no room for
 * `no_peers_timeout` is closed with a reason.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { OdinClient } from '../../../client/odinClient.ts';
import { WebRtcVoice } from '../../../client/webrtc/webRtcVoice.ts';
import { decodeMsgpack, encodeRequest } from '../../../server/protocol/msgpackRpc.ts';
import { openWebRtcPeerConnections } from '../../../server/transports/web/webrtc/webRtcSession.ts';
import { eventually, LOOPBACK, startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';

type Closed = { code: number; reason: string; at: number };

function closed(socket: WebSocket): Promise<Closed> {
  return new Promise((resolve) =>
    socket.once('close', (code: number, reason: Buffer) =>
      resolve({ code, reason: reason.toString('utf8'), at: performance.now() }),
    ),
  );
}

// The timeout is short enough to wait for and long enough that a busy machine (server and
// clients share this process's event loop) never drops a client that does answer.
describe('[http] ping_interval = 200, timeout = 2000', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[http]\nping_interval = 200\ntimeout = 2000' });
  });
  after(() => grid.close());

  /** A raw socket; `autoPong: false` makes it a client that stops answering pings. */
  async function raw(path: string, autoPong: boolean): Promise<WebSocket> {
    const socket = new WebSocket(`wss://${grid.address}${path}`, { ca: grid.ca, autoPong });
    grid.track(() => socket.terminate());
    await once(socket, 'open');
    return socket;
  }

  async function call(socket: WebSocket, msgid: number, method: string, params: unknown): Promise<unknown[]> {
    const answer = new Promise<unknown[]>((resolve) =>
      socket.once('message', (data: Buffer) =>
        resolve(decodeMsgpack(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) as unknown[]),
      ),
    );
    socket.send(encodeRequest(msgid, method, params));
    return answer;
  }

  test('a client that does not answer pings is dropped after timeout; one that answers stays', async () => {
    const opened = performance.now(); // before the server can have heard anything of it
    const silent = await raw('/main', false);
    const answering = await raw('/main', true);
    let pings = 0;
    answering.on('ping', () => pings++);
    const { code, reason, at } = await closed(silent);
    assert.equal(code, 1001);
    assert.equal(reason, 'no message or pong for 2000 ms ([http] timeout)');
    assert.ok(at - opened >= 2000, `dropped after the timeout, not before (${(at - opened).toFixed(0)} ms)`);
    assert.equal(answering.readyState, WebSocket.OPEN, 'the client that answers pings is still connected');
    assert.ok(pings >= 3, `pinged every ping_interval (${pings} pings)`);
    answering.close();
    await eventually(() => grid.sfu.clientCount === 0, 'both clients gone');
  });

  test("a dropped client's peer leaves its room: the others get PeerLeft", async () => {
    const bystander = await grid.connect('alice', 'lobby');
    const room = await bystander.joinRoom('lobby');
    const main = await raw('/main', false);
    await call(main, 0, 'Authenticate', { token: await grid.token('lobby', 'ghost') });
    const peerJoined = room.next('update', (u) => u.kind === 'PeerJoined');
    const [, , error, result] = await call(main, 1, 'JoinRoom', {
      room_id: 'lobby',
      user_data: new Uint8Array(),
      position: [0, 0],
    });
    assert.equal(error, null);
    const stream = await raw(`/room?${(result as { stream_id: number }).stream_id}`, false);
    const ghost = (await peerJoined)[0] as { peer: { id: number } };
    const peerLeft = room.next('update', (u) => u.kind === 'PeerLeft', 3_000);
    const [mainClosed, streamClosed] = await Promise.all([closed(main), closed(stream)]);
    assert.equal((await peerLeft)[0].kind, 'PeerLeft');
    assert.equal(((await peerLeft)[0] as { peer_id: number }).peer_id, ghost.peer.id);
    assert.equal(mainClosed.code, 1001);
    assert.ok([1001, 4000].includes(streamClosed.code), `room stream closed (${streamClosed.code})`);
    assert.ok(room.stream.isOpen, 'the bystander stays');
    await bystander.close();
  });

  test("OdinClient.connect fails with the server's reason when it is closed during WebRTC setup", async () => {
    // Close the client right after its SetupWebRtc answer went out: the channel cannot be open yet.
    grid.sfu.observer.once('clientconnected', (client) => {
      const connection = client.connection;
      const send = connection.sendRpc.bind(connection);
      let sent = 0;
      connection.sendRpc = (bytes) => {
        send(bytes);
        if (++sent === 2)
          queueMicrotask(() => grid.sfu.disconnect(client, 'closed by the test during WebRTC setup'));
      };
    });
    await assert.rejects(
      OdinClient.connect(grid.address, await grid.token('lobby', 'alice'), {
        ca: grid.ca,
        localAddress: LOOPBACK,
      }),
      /the server closed the connection during WebRTC setup: 4000 closed by the test during WebRTC setup/,
    );
    await eventually(() => openWebRtcPeerConnections() === 0, 'the server session to close');
  });
});

// Long enough that a busy machine connects, sets up WebRTC and joins well inside it (at 200 ms
// a loaded CI machine was too slow for the WebRTC set-up the first test makes).
describe('[http] no_peers_timeout = 2000', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[http]\nno_peers_timeout = 2000' });
  });
  after(() => grid.close());

  test('a client that joins no room is closed with the reason, its WebRTC session freed', async () => {
    const voice = new WebRtcVoice({ localAddress: LOOPBACK });
    grid.track(() => voice.close());
    const idle = await grid.socket('/main');
    const idleClosed = once(idle, 'close') as Promise<[number, string]>;
    const joined = await grid.connect('busy', 'lobby');
    await joined.joinRoom('lobby');
    const [token, sdp] = await Promise.all([grid.token('lobby', 'idle'), voice.createOffer()]);
    await idle.request('Authenticate', { token });
    await idle.request('SetupWebRtc', { sdp });
    assert.equal(openWebRtcPeerConnections(), 1);
    const [code, reason] = await idleClosed;
    assert.equal(code, 4000);
    assert.match(reason, /^in no room for 2000 ms \(no_peers_timeout\)/);
    assert.ok(joined.main.isOpen, 'a client in a room stays');
    await eventually(() => openWebRtcPeerConnections() === 0, "the idle client's WebRTC session to close");
    await voice.close();
    await joined.close();
  });

  test('the countdown restarts when the last peer leaves; a rejoin in time keeps the client', async () => {
    const client = await grid.connect('alice', ['one', 'two']);
    const one = await client.joinRoom('one');
    await one.leave();
    const two = await client.joinRoom('two');
    const leftAt = performance.now();
    await two.leave();
    const [code, reason] = (await once(client.main, 'close')) as [number, string];
    const waited = performance.now() - leftAt;
    assert.equal(code, 4000);
    assert.match(reason, /no_peers_timeout/);
    assert.ok(waited >= 1990, `closed no_peers_timeout after the last leave (${waited.toFixed(0)} ms)`);
    assert.ok(grid.logs.find('in no room for no_peers_timeout').length >= 1, 'the server logs why');
  });
});
