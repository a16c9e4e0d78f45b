/**
 * Generation B on the web transport (ODIN-PROTOCOL.md section 3), against a real server:
 * JoinRoom carries the token, WebRTC is negotiated with WebRtcUpdate both ways, and the room
 * stream opens with the token JoinRoom answered (`/room?token=<token>`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OdinRoom } from '../../client/odinClient.ts';
import { RpcSocket } from '../../client/rpcSocket.ts';
import { WebRtcVoice } from '../../client/webrtc/webRtcVoice.ts';
import { encodeVoicePacket } from '../../server/protocol/voicePacket.ts';
import { startTestGrid, type TestGrid } from '../helpers/testGrid.ts';

let grid: TestGrid;
before(async () => {
  grid = await startTestGrid();
});
after(() => grid.close());

type JoinAnswer = { peer_id: number; stream_id: number; token: string };

/** A generation B client: /main without Authenticate, the token in JoinRoom. */
async function joinGenerationB(user: string, room: string) {
  const main = await grid.socket('/main');
  const answer = (await main.request('JoinRoom', {
    token: await grid.token([room], user),
    room_id: room,
    user_data: new Uint8Array(),
    position: [0, 0],
  })) as JoinAnswer;
  return { main, answer };
}

test('a generation B JoinRoom answers {peer_id, stream_id, token}, and /room?token= opens the room stream', async () => {
  const { answer } = await joinGenerationB('carol', 'gen-b');
  assert.ok(answer.peer_id > 0);
  assert.ok(answer.stream_id > 0);
  const stream = await grid.socket(`/room?token=${encodeURIComponent(answer.token)}`);
  const room = new OdinRoom(stream);
  const [joined] = await room.next('update', (update) => update.kind === 'Joined');
  assert.equal((joined as { own_peer_id: number }).own_peer_id, answer.peer_id);
});

test('a room-stream token works once; a second socket with it is refused with a reason', async () => {
  const { answer } = await joinGenerationB('dave', 'gen-b-once');
  await grid.socket(`/room?token=${encodeURIComponent(answer.token)}`);
  const again = await RpcSocket.open(`wss://${grid.address}/room?token=${encodeURIComponent(answer.token)}`, {
    ca: grid.ca,
  });
  const [code, reason] = await new Promise<[number, string]>((resolve) =>
    again.once('close', (c, r) => resolve([c, r])),
  );
  assert.equal(code, 1008);
  assert.match(reason, /unknown room stream/);
});

test('WebRtcUpdate negotiates voice: the offer goes in, the answer comes back as a WebRtcUpdate notification', async () => {
  const { main, answer } = await joinGenerationB('erin', 'gen-b-voice');
  const stream = await grid.socket(`/room?token=${encodeURIComponent(answer.token)}`);
  const room = new OdinRoom(stream);
  await room.next('update', (update) => update.kind === 'Joined');

  const voice = new WebRtcVoice({ localAddress: '127.0.0.1' });
  after(() => voice.close());
  const answered = new Promise<{ kind: string; type?: string; sdp?: string }>((resolve) => {
    main.on('notification', (method, params) => {
      const update = params as { kind: string; type?: string; sdp?: string };
      if (method === 'WebRtcUpdate' && update.kind === 'Sdp') resolve(update);
    });
  });
  assert.equal(
    await main.request('WebRtcUpdate', {
      kind: 'Sdp',
      type: 'Offer',
      sdp: await voice.createOffer(),
      media_map: [],
    }),
    null,
  );
  const sdp = await answered;
  assert.equal(sdp.type, 'Answer');
  await voice.acceptAnswer(sdp.sdp!);
  await voice.waitOpen();
  // Trickle from the client is accepted (the server is ICE-lite and needs none).
  assert.equal(await main.request('WebRtcUpdate', { kind: 'TrickleFinished' }), null);

  // A generation A peer in the same room hears the generation B peer.
  const listener = await grid.connect('frank', 'gen-b-voice', { voice: true, localAddress: '127.0.0.1' });
  const listenerRoom = await listener.joinRoom('gen-b-voice');
  const started = listenerRoom.next('peerUpdated', (update) => update.kind === 'MediaStarted');
  await room.startMedia();
  await started;
  const received: Uint8Array[] = [];
  listener.onVoice((bytes) => received.push(new Uint8Array(bytes)));
  const packet = encodeVoicePacket({
    mediaIds: [room.mediaId],
    seq: 7,
    ts: 1800,
    opus: new Uint8Array([1, 2, 3]),
  });
  const deadline = Date.now() + 5_000;
  while (received.length === 0 && Date.now() < deadline) {
    voice.sendVoice(packet);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(received[0], packet);
});

test('a WebRtcUpdate before any offer is refused with what to send first', async () => {
  const { main } = await joinGenerationB('ivy', 'gen-b-no-offer');
  await assert.rejects(
    main.request('WebRtcUpdate', { kind: 'TrickleFinished' }),
    /send the offer \(kind Sdp, type Offer\) first/,
  );
});

test('a WebRtcUpdate offer before the JoinRoom that authenticates is refused, and builds no session', async () => {
  const main = await grid.socket('/main');
  const sessions = grid.webListener.mux?.sizes.endpoints;
  await assert.rejects(
    main.request('WebRtcUpdate', { kind: 'Sdp', type: 'Offer', sdp: 'v=0', media_map: [] }),
    /WebRtcUpdate: authenticate first/,
  );
  assert.equal(grid.webListener.mux?.sizes.endpoints, sessions);
});

test('RequestReconnectToken answers a fresh sfu token for the same user and room, and a new connection joins with it', async () => {
  const { main, answer } = await joinGenerationB('grace', 'gen-b-reconnect');
  const reconnect = (await main.request('RequestReconnectToken', { peer_id: answer.peer_id })) as string;
  assert.equal(typeof reconnect, 'string');
  const claims = JSON.parse(Buffer.from(reconnect.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  assert.equal(claims.uid, 'grace');
  assert.equal(claims.rid, 'gen-b-reconnect');
  assert.equal(claims.aud, 'sfu');
  await main.close();

  const again = await grid.socket('/main');
  const rejoined = (await again.request('JoinRoom', {
    token: reconnect,
    room_id: 'gen-b-reconnect',
    user_data: new Uint8Array(),
    position: [0, 0],
  })) as JoinAnswer;
  assert.ok(rejoined.peer_id > 0);
});
