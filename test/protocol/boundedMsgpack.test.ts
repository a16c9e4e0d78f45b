import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode } from '@msgpack/msgpack';
import {
  CLIENT_MSGPACK_LIMITS,
  decodeBoundedMsgpack,
  SERVER_MSGPACK_LIMITS,
  scanMsgpack,
} from '../../server/protocol/boundedMsgpack.ts';
import { ProtocolError } from '../../server/protocol/errors.ts';
import { decodeRpcFrame, encodeMsgpack, encodeRequest } from '../../server/protocol/msgpackRpc.ts';
import { deepNesting, nestedHeaderBomb, rpcFrameBomb } from '../helpers/msgpackBombs.ts';

function refused(bytes: Uint8Array, pattern: RegExp): void {
  const value = decodeBoundedMsgpack(bytes);
  assert.ok(value instanceof ProtocolError, `expected a ProtocolError, got ${String(value)}`);
  assert.equal(value.code, 'malformed_msgpack');
  assert.match(value.message, pattern);
}

describe('bounded MessagePack decoding of client bytes', () => {
  test('a 3 KB frame of nested array16/map16/array32 headers is refused before anything is reserved', () => {
    const bomb = rpcFrameBomb(3000);
    // Within the array and map length limits: the bytes-left check is what refuses it.
    const smallBomb = rpcFrameBomb(3000, 200);
    assert.ok(bomb.byteLength > 2900 && bomb.byteLength <= 3000);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200; i++) {
      const frame = decodeRpcFrame(bomb);
      assert.ok(frame instanceof ProtocolError);
      assert.match(frame.message, /array of 65520 elements \(limit 4096\) at byte 16/);
      const small = decodeRpcFrame(smallBomb);
      assert.ok(small instanceof ProtocolError);
      assert.match(small.message, /declared values exceed the bytes left \(\d+ owed, \d+ left\) at byte \d+/);
    }
    // 200 decodes of an unbounded decoder would reserve 200 x ~270 MB; ours keeps nothing.
    assert.ok(process.memoryUsage().heapUsed - before < 32 * 1024 * 1024);
  });

  test('a declared count is checked against the bytes left, counting what outer containers still owe', () => {
    refused(Uint8Array.from([0xdc, 0x00, 0x03, 0x01, 0x02]), /\(3 owed, 2 left\) at byte 0/);
    // [[x, y], z] with z missing: the inner array fits alone, not with the outer's debt.
    refused(Uint8Array.from([0x92, 0x92, 0x01, 0x02]), /\(3 owed, 2 left\) at byte 1/);
    refused(Uint8Array.from([0x81, 0x01]), /\(2 owed, 1 left\)/);
    refused(nestedHeaderBomb(1, 4000), /\(4000 owed, 0 left\)/);
    refused(nestedHeaderBomb(2, 0xffff), /array of 65535 elements \(limit 4096\)/);
    assert.deepEqual(decodeBoundedMsgpack(Uint8Array.from([0x92, 0x92, 0x01, 0x02, 0x03])), [[1, 2], 3]);
  });

  test('nesting deeper than the limit is refused; the limit itself is fine', () => {
    const max = CLIENT_MSGPACK_LIMITS.maxDepth;
    assert.equal(scanMsgpack(deepNesting(max), CLIENT_MSGPACK_LIMITS), undefined);
    refused(deepNesting(max + 1), new RegExp(`nesting deeper than ${max} at byte ${max}`));
    refused(Uint8Array.from([...new Array(max).fill(0x91), 0x90]), /nesting deeper than/);
    refused(Uint8Array.from([...new Array(max).fill(0x91), 0x80]), /nesting deeper than/);
    // Our clients read deeper server frames (a Joined with peers, medias and properties).
    assert.equal(scanMsgpack(deepNesting(40), SERVER_MSGPACK_LIMITS), undefined);
  });

  test('str, bin, array and map lengths have limits; ext values are refused', () => {
    const limits = {
      ...CLIENT_MSGPACK_LIMITS,
      maxStrBytes: 4,
      maxBinBytes: 4,
      maxArrayLength: 2,
      maxMapLength: 2,
    };
    assert.match(scanMsgpack(encodeMsgpack('hello'), limits) ?? '', /str of 5 bytes \(limit 4\)/);
    assert.match(scanMsgpack(encodeMsgpack(new Uint8Array(5)), limits) ?? '', /bin of 5 bytes \(limit 4\)/);
    assert.match(scanMsgpack(encodeMsgpack([1, 2, 3]), limits) ?? '', /array of 3 elements \(limit 2\)/);
    assert.match(
      scanMsgpack(encodeMsgpack({ a: 1, b: 2, c: 3 }), limits) ?? '',
      /map of 3 entries \(limit 2\)/,
    );
    assert.equal(scanMsgpack(encodeMsgpack({ a: [1, 'four'], b: new Uint8Array(4) }), limits), undefined);
    refused(Uint8Array.from([0xd4, 0x01, 0x00]), /ext value/);
    refused(encodeMsgpack(new Date(0)), /ext value/);
  });

  test('truncation, trailing bytes and the never-used byte 0xc1 are refused with the offset', () => {
    refused(Uint8Array.from([]), /truncated: a declared value is missing at byte 0/);
    refused(Uint8Array.from([0xc4, 0x05, 0x01]), /truncated: 5 bytes declared, 1 left at byte 0/);
    refused(Uint8Array.from([0xcd, 0x01]), /truncated header at byte 0/);
    refused(Uint8Array.from([0x01, 0x02]), /1 extra bytes after the value at byte 1/);
    refused(Uint8Array.from([0x91, 0xc1]), /byte 0xc1 is not a MessagePack format at byte 1/);
  });

  test('every well-formed frame within the limits decodes exactly as the library decodes it', () => {
    const values: unknown[] = [
      null,
      true,
      false,
      0,
      -1,
      -33,
      127,
      255,
      65_536,
      2 ** 32 - 1,
      -(2 ** 31),
      2 ** 40,
      0.5,
      Math.fround(1.5),
      '',
      'x'.repeat(31),
      'y'.repeat(300),
      'z'.repeat(70_000).slice(0, 65_000),
      new Uint8Array(0),
      new Uint8Array(300),
      [],
      {},
      [[], {}, [[[]]]],
      { room_id: 'lobby', user_data: new Uint8Array([1, 2]), position: [0.25, -1, 2] },
      new Array(4096).fill(7),
      Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`k${i}`, i])),
    ];
    for (const value of values) {
      const bytes = encodeMsgpack(value);
      assert.deepEqual(
        decodeBoundedMsgpack(bytes),
        decode(bytes),
        `value ${JSON.stringify(value)?.slice(0, 60)}`,
      );
    }
    const request = encodeRequest(3, 'SendMessage', {
      message: new Uint8Array(32 * 1024),
      target_peer_ids: [1, 2],
    });
    assert.equal((decodeRpcFrame(request) as { method: string }).method, 'SendMessage');
  });
});
