import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AttachGuard } from '../../server/core/attachGuard.ts';
import { sourceOf } from '../../server/core/sourceAddress.ts';
import { encodeRequest } from '../../server/protocol/msgpackRpc.ts';
import { bytes, FakeConnection, flush, Harness } from './helpers.ts';

describe('the source of a connection', () => {
  test('is its IP address without the port; IPv4-mapped IPv6 is IPv4', () => {
    assert.equal(sourceOf('192.0.2.7:4433'), '192.0.2.7');
    assert.equal(sourceOf('[::ffff:192.0.2.7]:4433'), '192.0.2.7');
    assert.equal(sourceOf('::ffff:192.0.2.7:4433'), '192.0.2.7');
  });

  test('an IPv6 address counts by its /64 prefix (one subscriber holds a whole /64)', () => {
    assert.equal(sourceOf('[2001:db8:1:2:aaaa::1]:5000'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('[2001:db8:1:2:bbbb:cccc:dddd:eeee]:5000'), '2001:db8:1:2::/64');
    assert.notEqual(sourceOf('[2001:db8:1:3::1]:5000'), sourceOf('[2001:db8:1:2::1]:5000'));
    assert.equal(sourceOf('[::1]:5000'), '0:0:0:0::/64');
  });
});

describe('failed room-stream attaches per source', () => {
  test('a source is refused once its failures exceed the burst, and forgiven at the rate', () => {
    let now = 0;
    const guard = new AttachGuard({ burst: 3, perSecond: 1, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.ok(guard.allows('192.0.2.1:1000'));
      guard.fail('192.0.2.1:1000');
    }
    assert.equal(guard.allows('192.0.2.1:2000'), false, 'any port of that address');
    assert.ok(guard.allows('192.0.2.2:1000'), 'other sources are not affected');
    now += 1000;
    assert.ok(guard.allows('192.0.2.1:1000'), 'one failure forgiven per second');
    guard.fail('192.0.2.1:1000');
    assert.equal(guard.allows('192.0.2.1:1000'), false);
    assert.equal(guard.refused, 2);
  });

  test('the table stays bounded: refilled sources go first, then the oldest', () => {
    let now = 0;
    const guard = new AttachGuard({ burst: 2, perSecond: 1, maxSources: 64, now: () => now });
    for (let i = 0; i < 10_000; i++) guard.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:1`);
    assert.ok(guard.size <= 64, `size ${guard.size}`);
    now += 10_000;
    guard.fail('192.0.2.9:1');
    assert.ok(guard.size <= 64);
  });
});

describe('attaching by stream id', () => {
  test('a generation B peer is not attached by its stream id when the transport says tokens only', async () => {
    const h = new Harness();
    const c = h.client();
    c.client.handleRpc(
      encodeRequest(0, 'JoinRoom', {
        token: 'ns/bob@lobby',
        room_id: 'lobby',
        user_data: bytes(''),
        position: [0, 0],
      }),
    );
    await flush();
    const { stream_id: streamId, token } = c.main.responses()[0]!.result as {
      stream_id: number;
      token: string;
    };
    assert.equal(h.sfu.attachRoomStream(streamId, new FakeConnection(), { tokenPeers: false }), undefined);
    // The refusal did not use up the wait: the token still opens the stream.
    assert.ok(h.sfu.attachRoomStreamByToken(token, new FakeConnection()));
  });
});
