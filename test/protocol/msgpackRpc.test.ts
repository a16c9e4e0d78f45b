import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../server/protocol/errors.ts';
import {
  decodeRpcFrame,
  encodeMsgpack,
  encodeNotification,
  encodeRequest,
  encodeResponse,
} from '../../server/protocol/msgpackRpc.ts';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('MessagePack-RPC codec', () => {
  test('request, response and notification round-trip', () => {
    assert.deepEqual(decodeRpcFrame(encodeRequest(5, 'JoinRoom', { room_id: 'a' })), {
      type: 'request',
      msgid: 5,
      method: 'JoinRoom',
      params: { room_id: 'a' },
    });
    assert.deepEqual(decodeRpcFrame(encodeResponse(5, null, { stream_id: 9 })), {
      type: 'response',
      msgid: 5,
      error: null,
      result: { stream_id: 9 },
    });
    assert.deepEqual(decodeRpcFrame(encodeNotification('RoomUpdated', { updates: [] })), {
      type: 'notification',
      method: 'RoomUpdated',
      params: { updates: [] },
    });
  });

  test('integers take their smallest form: 0 is fixint 0x00, 2^32-1 is uint32 0xce, never 0xcf', () => {
    assert.equal(hex(encodeMsgpack(0)), '00');
    assert.equal(hex(encodeMsgpack(127)), '7f');
    assert.equal(hex(encodeMsgpack(128)), 'cc80');
    assert.equal(hex(encodeMsgpack(65535)), 'cdffff');
    assert.equal(hex(encodeMsgpack(2 ** 32 - 1)), 'ceffffffff');
    assert.equal(hex(encodeMsgpack(-1)), 'ff');
    // A nil result and msgid 0 as the SDK expects them.
    assert.equal(hex(encodeResponse(0, null, null)), '940100c0c0');
  });

  test('Uint8Array is bin, undefined map values are dropped, floats stay floats', () => {
    assert.equal(hex(encodeMsgpack(new Uint8Array([1, 2]))), 'c4020102');
    assert.equal(hex(encodeMsgpack({ a: undefined, b: 1 })), '81a16201');
    assert.equal(encodeMsgpack(0.5)[0], 0xcb);
  });

  test('garbage becomes a ProtocolError with a code, never an exception', () => {
    const cases: [Uint8Array, string][] = [
      [new Uint8Array([0xc1]), 'malformed_msgpack'],
      [new Uint8Array([]), 'malformed_msgpack'],
      [new Uint8Array([0x93, 0x00]), 'malformed_msgpack'],
      [encodeMsgpack({ a: 1 }), 'not_an_array'],
      [encodeMsgpack([0, 1, 'x']), 'wrong_arity'],
      [encodeMsgpack([2, 'x']), 'wrong_arity'],
      [encodeMsgpack([0, -1, 'x', {}]), 'bad_msgid'],
      [encodeMsgpack([0, 2 ** 32, 'x', {}]), 'bad_msgid'],
      [encodeMsgpack([0, 1.5, 'x', {}]), 'bad_msgid'],
      [encodeMsgpack([0, 1, 7, {}]), 'bad_method'],
      [encodeMsgpack([3, 1, 'x', {}]), 'bad_message_type'],
      [Uint8Array.of(...encodeMsgpack([0, 1, 'x', {}]), 0x00), 'malformed_msgpack'],
    ];
    for (const [bytes, code] of cases) {
      const result = decodeRpcFrame(bytes);
      assert.ok(result instanceof ProtocolError, hex(bytes));
      assert.equal(result.code, code, hex(bytes));
    }
  });

  test('a frame over the size limit is refused before decoding', () => {
    const result = decodeRpcFrame(encodeRequest(1, 'SendMessage', { message: new Uint8Array(100) }), 64);
    assert.ok(result instanceof ProtocolError);
    assert.equal(result.code, 'frame_too_large');
  });

  test('random bytes never throw', () => {
    for (let i = 0; i < 2000; i++) {
      const result = decodeRpcFrame(randomBytes(i % 64));
      assert.ok(result instanceof ProtocolError || typeof result === 'object');
    }
  });
});
