import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { INCOMING_MESSAGES_OVERFLOW, type LimitParams, RpcRateLimiter } from '../../server/core/limits.ts';
import { TokenBucket } from '../../server/core/tokenBucket.ts';
import { encodeRequest } from '../../server/protocol/msgpackRpc.ts';
import { bytes, defaultLimits, FakeClock, flush, Harness } from './helpers.ts';

const base: LimitParams = {
  ...defaultLimits,
  incomingMessages: { rate: 10, capacity: 50, overflow: 20 },
  mediasPerPeer: 8,
  concurrentStreams: 0,
};
const join = { room_id: 'lobby', user_data: bytes(''), position: [0, 0] };

describe('TokenBucket', () => {
  test('starts full, allows a burst of capacity, then refills at rate per second', () => {
    const bucket = new TokenBucket({ rate: 10, capacity: 3 }, 0);
    assert.deepEqual(
      [1, 2, 3, 4].map(() => bucket.tryTake(0)),
      [true, true, true, false],
    );
    assert.equal(bucket.msUntilToken(0), 100);
    assert.equal(bucket.tryTake(99), false);
    assert.equal(bucket.tryTake(100), true);
    assert.equal(bucket.available(10_000), 3, 'never above capacity');
  });
});

describe('RpcRateLimiter (incoming_messages with overflow)', () => {
  test('calls beyond the bucket wait in order and run as tokens refill; beyond overflow it refuses', () => {
    const clock = new FakeClock();
    const limiter = new RpcRateLimiter({ limits: { rate: 10, capacity: 2, overflow: 2 }, clock });
    const ran: number[] = [];
    const decisions = [1, 2, 3, 4, 5].map((i) => limiter.submit(() => ran.push(i)));
    assert.deepEqual(decisions, ['run', 'run', 'queued', 'queued', 'overflow']);
    assert.deepEqual(ran, [1, 2]);
    clock.advance(100);
    assert.deepEqual(ran, [1, 2, 3]);
    assert.equal(
      limiter.submit(() => ran.push(6)),
      'queued',
      'new calls queue behind waiting ones',
    );
    clock.advance(200);
    assert.deepEqual(ran, [1, 2, 3, 4, 6]);
  });

  test('overflow 0 refuses the first call over the bucket', () => {
    const limiter = new RpcRateLimiter({
      limits: { rate: 1, capacity: 1, overflow: 0 },
      clock: new FakeClock(),
    });
    assert.equal(
      limiter.submit(() => {}),
      'run',
    );
    assert.equal(
      limiter.submit(() => {}),
      'overflow',
    );
  });

  test('the semantics are documented', () => {
    assert.match(INCOMING_MESSAGES_OVERFLOW, /queue of at most `overflow`/);
  });
});

describe('RPC rate limit on a connection', () => {
  test('queued calls are answered later in order; a full queue disconnects the client with a reason', () => {
    const h = new Harness({ limits: { ...base, incomingMessages: { rate: 10, capacity: 2, overflow: 1 } } });
    const alice = h.join('alice');
    const send = (id: number) =>
      alice.endpoint.handleRpc(encodeRequest(id, 'UpdatePeer', { user_data: bytes(`${id}`) }));
    send(10);
    send(11);
    send(12); // queued
    assert.deepEqual(
      alice.stream.responses().map((r) => r.msgid),
      [10, 11],
    );
    h.clock.advance(100);
    assert.deepEqual(
      alice.stream.responses().map((r) => r.msgid),
      [10, 11, 12],
    );
    send(13); // the bucket is empty again: queued
    send(14); // queue full: disconnected
    assert.equal(alice.owner.main.closedWith, 'rate limit exceeded: too many requests');
    assert.equal(h.sfu.counters.rpc_overflow_disconnects, 1);
    assert.equal(h.sfu.peerCount, 0);
    h.clock.advance(1000);
    assert.deepEqual(
      alice.stream.responses().map((r) => r.msgid),
      [10, 11, 12],
      'queued calls die with the client',
    );
  });
});

describe('capacity limits', () => {
  test('max_clients counts authenticated clients: the one over it gets the reason as the answer to Authenticate, then is closed', async () => {
    const h = new Harness({ limits: { ...base, maxClients: 1 } });
    const first = h.client();
    h.client(); // never authenticates: does not count
    first.call('Authenticate', { token: 'alice@lobby' });
    await flush();
    assert.equal(h.sfu.clientCount, 1);
    const second = h.client();
    second.call('Authenticate', { token: 'bob@lobby' });
    await flush();
    const r = second.main.responses()[0]!;
    assert.match(
      String(r.error),
      /server full: the server accepts at most 1 clients \(\[limit\] max_clients\)/,
    );
    assert.ok(second.main.closedWith);
    assert.equal(h.sfu.clientCount, 1);
    assert.equal(h.sfu.counters.refused.server_full, 1);
  });

  test('max_rooms refuses a join that would open a new room, not one into an existing room', () => {
    const h = new Harness({ limits: { ...base, maxRooms: 1 } });
    h.join('alice', 'a');
    const c = h.client({ userId: 'bob', roomIds: ['a', 'b'], namespace: '' });
    assert.match(
      String(c.call('JoinRoom', { ...join, room_id: 'b' }).error),
      /at most 1 rooms \(\[limit\] max_rooms\)/,
    );
    assert.equal(c.call('JoinRoom', { ...join, room_id: 'a' }).error, null);
    assert.equal(h.sfu.counters.refused.too_many_rooms, 1);
  });

  test('max_peers counts peers over all rooms', () => {
    const h = new Harness({ limits: { ...base, maxPeers: 2 } });
    h.join('alice', 'a');
    h.join('bob', 'b');
    const c = h.client({ userId: 'carol', roomIds: ['a'], namespace: '' });
    assert.match(
      String(c.call('JoinRoom', { ...join, room_id: 'a' }).error),
      /at most 2 peers \(\[limit\] max_peers\)/,
    );
    assert.equal(h.sfu.counters.refused.too_many_peers, 1);
  });
});
