import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decode, encode } from '@msgpack/msgpack';
import { unpack } from 'msgpackr';
import { encodeResponse } from '../../server/protocol/msgpackRpc.ts';
import {
  MAX_STREAM_ID,
  newStreamId,
  parseStreamIdText,
  streamIdFromValue,
} from '../../server/protocol/streamId.ts';

test('stream ids are safe integers in [1, 2^53 - 1], spread over the whole range', () => {
  const ids = Array.from({ length: 2000 }, () => newStreamId());
  assert.ok(ids.every((id) => Number.isSafeInteger(id) && id >= 1 && id <= MAX_STREAM_ID));
  assert.equal(new Set(ids).size, ids.length);
  // 53 random bits: with 2000 draws, ids above 2^52 and ids above 2^32 both appear (p of not: ~2^-2000).
  assert.ok(ids.some((id) => id > 2 ** 52));
  assert.ok(ids.filter((id) => id < 2 ** 32).length < 5, 'ids are not confined to 32 bits');
});

test('newStreamId never returns an id that is taken', () => {
  const taken = new Set<number>();
  let calls = 0;
  const id = newStreamId((candidate) => {
    calls++;
    if (calls < 3) {
      taken.add(candidate);
      return true;
    }
    return false;
  });
  assert.ok(!taken.has(id));
  assert.equal(calls, 3);
});

test('the 0.16 web SDK decoder (msgpackr) and @msgpack/msgpack both read a 53-bit stream id back exactly', () => {
  const id = MAX_STREAM_ID;
  const frame = encodeResponse(1, null, { stream_id: id });
  // msgpackr (what @4players/odin 0.16 bundles) gives a BigInt for uint64; the SDK only
  // interpolates it into `/room?${streamId}`.
  const sdk = unpack(frame) as [number, number, null, { stream_id: bigint }];
  assert.equal(`/room?${sdk[3].stream_id}`, `/room?${id}`);
  const ours = decode(frame) as [number, number, null, { stream_id: number }];
  assert.equal(ours[3].stream_id, id);
  assert.equal(streamIdFromValue(decode(encode(id))), id);
});

test('/room?<text> accepts decimal ids in range only', () => {
  assert.equal(parseStreamIdText('1'), 1);
  assert.equal(parseStreamIdText(String(MAX_STREAM_ID)), MAX_STREAM_ID);
  for (const bad of [
    '',
    '0',
    '01',
    '-1',
    '1e5',
    '9007199254740992',
    '99999999999999999',
    ' 1',
    '1 ',
    'x',
    '0x10',
  ]) {
    assert.equal(parseStreamIdText(bad), undefined, bad);
  }
});

test('a decoded first message is a stream id only when it is a positive safe integer', () => {
  assert.equal(streamIdFromValue(5), 5);
  assert.equal(streamIdFromValue(5n), 5);
  assert.equal(streamIdFromValue(BigInt(MAX_STREAM_ID) + 1n), undefined);
  for (const bad of [0, -1, 1.5, 2 ** 53, '5', null, [5]]) assert.equal(streamIdFromValue(bad), undefined);
});
