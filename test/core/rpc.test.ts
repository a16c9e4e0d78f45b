import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeMsgpack, encodeRequest, encodeResponse } from '../../server/protocol/msgpackRpc.ts';
import { bytes, FakeConnection, flush, Harness } from './helpers.ts';

describe('RPC dispatch', () => {
  test('an unknown method is answered with an error naming it', () => {
    const h = new Harness();
    const c = h.client();
    assert.deepEqual(c.call('Teleport', {}), { error: 'unknown method "Teleport"', result: null });
  });

  test('bad params are answered with the method and the field path', () => {
    const alice = new Harness().join('alice');
    assert.deepEqual(alice.call('SendMessage', { message: bytes('x'), target_peer_ids: [1, 2, -3] }), {
      error: 'SendMessage.target_peer_ids[2]: expected an unsigned integer',
      result: null,
    });
    assert.equal(
      alice.call('UpdatePeer', { user_data: 'text' }).error,
      'UpdatePeer.user_data: expected bin, got a string',
    );
  });

  test('room methods belong on the room stream, main methods on the main connection', () => {
    const h = new Harness();
    const alice = h.join('alice');
    assert.match(
      String(alice.owner.call('UpdatePeer', { user_data: bytes('') }).error),
      /send it on the room stream/,
    );
    assert.match(String(alice.call('Ping', {}).error), /not allowed on a room stream/);
  });

  test('a malformed frame closes the client with the reason; nothing is answered', () => {
    const h = new Harness();
    const alice = h.join('alice');
    alice.endpoint.handleRpc(new Uint8Array([0xc1]));
    assert.match(String(alice.owner.main.closedWith), /^protocol error: malformed MessagePack/);
    assert.equal(h.sfu.peerCount, 0);
    assert.equal(h.sfu.counters.protocol_errors, 1);
    const c = h.client();
    c.client.handleRpc(encodeMsgpack([0, -1, 'Ping', {}]));
    assert.match(String(c.main.closedWith), /msgid must be an unsigned 32-bit integer/);
  });

  test('responses and notifications from a client are ignored', () => {
    const h = new Harness();
    const c = h.client();
    c.client.handleRpc(encodeResponse(1, null, null));
    c.client.handleRpc(encodeMsgpack([2, 'Hello', {}]));
    assert.equal(c.main.frames.length, 0);
    assert.equal(c.main.closedWith, undefined);
  });

  test('results are nil or maps (the 0.16 SDK rejects bare numbers and strings)', () => {
    const h = new Harness();
    const alice = h.join('alice');
    assert.deepEqual(alice.owner.call('Ping', {}), { error: null, result: null });
    for (const r of alice.owner.main.responses())
      assert.ok(r.result === null || typeof r.result === 'object');
    for (const r of alice.stream.responses()) assert.ok(r.result === null || typeof r.result === 'object');
  });

  test('SetupWebRtc goes to the transport signal function and answers what it returns', async () => {
    const h = new Harness();
    const c = h.client();
    c.call('Authenticate', { token: 'alice@lobby' });
    await flush();
    c.client.handleRpc(encodeRequest(3, 'SetupWebRtc', { sdp: 'offer' }));
    await flush();
    assert.deepEqual(c.main.responses()[1], { msgid: 3, error: null, result: { sdp: 'answer' } });
    assert.deepEqual(c.main.signalCalls, [{ method: 'SetupWebRtc', params: { sdp: 'offer' } }]);
  });

  test('SetupWebRtc and WebRtcUpdate before authentication are refused; the transport builds nothing', async () => {
    const h = new Harness();
    const c = h.client();
    c.client.handleRpc(encodeRequest(1, 'SetupWebRtc', { sdp: 'offer' }));
    c.client.handleRpc(encodeRequest(2, 'WebRtcUpdate', { kind: 'TrickleFinished' }));
    await flush();
    for (const response of c.main.responses()) {
      assert.match(String(response.error), /authenticate first \(Authenticate, or JoinRoom with a token\)/);
    }
    assert.equal(c.main.responses().length, 2);
    assert.deepEqual(c.main.signalCalls, []);
  });

  test('log_rejected_api_calls logs refused calls at info', () => {
    const h = new Harness({ logRejectedCalls: true });
    h.client().call('Nope', {});
    const record = h.logger.records.find((r) => r.message === 'RPC call rejected');
    assert.equal(record?.level, 'info');
    assert.equal(record?.fields.method, 'Nope');
    assert.equal(h.sfu.counters.rpc_rejected, 1);
  });

  test('log_hanging_api_calls warns about a call unanswered after the threshold', async () => {
    let release: (g: { userId: string; roomIds: string[]; namespace: string }) => void = () => {};
    const h = new Harness({
      hangingCallMs: 500,
      authenticate: () => new Promise((resolve) => (release = resolve)),
    });
    const c = h.client();
    c.client.handleRpc(encodeRequest(0, 'Authenticate', { token: 't' }));
    h.clock.advance(499);
    assert.equal(h.logger.records.filter((r) => r.level === 'warn').length, 0);
    h.clock.advance(1);
    assert.equal(h.logger.records.find((r) => r.level === 'warn')?.message, 'RPC call is hanging');
    release({ userId: 'u', roomIds: [], namespace: '' });
    await flush();
    assert.deepEqual(c.main.responses()[0]?.result, { room_ids: [] });
  });
});

/** A generation B JoinRoom (the token in the call) as msgid 0, answered before it returns. */
async function joinGenerationB(client: { handleRpc(bytes: Uint8Array): void }): Promise<void> {
  client.handleRpc(
    encodeRequest(0, 'JoinRoom', {
      token: 'ns/alice@lobby',
      room_id: 'lobby',
      user_data: bytes(''),
      position: [0, 0],
    }),
  );
  await flush();
}

describe('generation B and single-connection transports', () => {
  test('JoinRoom with a token answers {peer_id, stream_id, token}', async () => {
    const h = new Harness({ reconnectToken: (peer) => `reconnect-${peer.id}` });
    const c = h.client();
    await joinGenerationB(c.client);
    const result = c.main.responses()[0]?.result as { peer_id: number; stream_id: number; token: string };
    assert.ok(h.sfu.getRoom('ns', 'lobby')?.peers.has(result.peer_id));
    c.client.handleRpc(encodeRequest(1, 'RequestReconnectToken', {}));
    await flush();
    assert.equal(c.main.responses()[1]?.result, `reconnect-${result.peer_id}`);
  });

  test('the JoinRoom token opens the room stream once (/room?token=), and only while the peer waits for it', async () => {
    const h = new Harness();
    const c = h.client();
    await joinGenerationB(c.client);
    const { token } = c.main.responses()[0]!.result as { token: string };
    assert.match(token, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
    assert.equal(h.sfu.attachRoomStreamByToken('not-the-token', new FakeConnection()), undefined);
    const stream = new FakeConnection();
    assert.ok(h.sfu.attachRoomStreamByToken(token, stream));
    assert.equal(h.sfu.attachRoomStreamByToken(token, new FakeConnection()), undefined, 'usable once');
  });

  test('without a reconnect hook, RequestReconnectToken is refused with a reason', async () => {
    const h = new Harness();
    const c = h.client();
    await joinGenerationB(c.client);
    c.client.handleRpc(encodeRequest(1, 'RequestReconnectToken', {}));
    await flush();
    assert.match(String(c.main.responses()[1]?.error), /reconnect tokens are not configured/);
  });

  test('with roomStreamOnMain, Joined follows the JoinRoom response on the main connection and room methods work there', () => {
    const h = new Harness();
    const main = new FakeConnection();
    const client = h.sfu.connect(main, { roomStreamOnMain: true });
    client.setGrant({ userId: 'alice', roomIds: ['lobby'], namespace: '' });
    client.handleRpc(
      encodeRequest(0, 'JoinRoom', { room_id: 'lobby', user_data: bytes(''), position: [0, 0] }),
    );
    assert.deepEqual(
      main.frames.map((f) => f[0]),
      [1, 2],
      'response first, then the Joined notification',
    );
    client.handleRpc(encodeRequest(1, 'UpdatePeer', { user_data: bytes('x') }));
    assert.deepEqual(main.responses()[1], { msgid: 1, error: null, result: null });
  });
});
