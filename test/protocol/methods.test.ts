import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isMethodName,
  MAX_PROPERTIES_DEPTH,
  MAX_PROPERTIES_SIZE,
  MAX_USER_DATA_SIZE,
  validateParams,
} from '../../server/protocol/methods.ts';
import { decodeMsgpack } from '../../server/protocol/msgpackRpc.ts';

const bin = new Uint8Array([1]);

function error(method: Parameters<typeof validateParams>[0], params: unknown): string {
  const result = validateParams(method, params);
  assert.equal(result.ok, false, `${method} accepted ${JSON.stringify(params)}`);
  return result.ok ? '' : result.error.message;
}

describe('method params', () => {
  test('JoinRoom accepts generation A and B, 2D and 3D positions, ints and floats', () => {
    assert.deepEqual(validateParams('JoinRoom', { room_id: 'r', user_data: bin, position: [1, 2.5] }), {
      ok: true,
      params: { room_id: 'r', user_data: bin, position: [1, 2.5] },
    });
    const b = validateParams('JoinRoom', { token: 't', room_id: 'r', user_data: bin, position: [0, 0, -1] });
    assert.ok(b.ok && b.params.token === 't' && b.params.position.length === 3);
    // float32 on the wire (0xca) decodes to a number like any other.
    const f32 = decodeMsgpack(new Uint8Array([0x92, 0xca, 0x3f, 0x00, 0x00, 0x00, 0x00]));
    assert.ok(validateParams('SetPeerPosition', { position: f32 }).ok);
  });

  test('errors name the method and the field path', () => {
    assert.equal(
      error('SendMessage', { message: bin, target_peer_ids: [1, 2, 'x'] }),
      'SendMessage.target_peer_ids[2]: expected an unsigned integer',
    );
    assert.equal(error('SendMessage', { message: 'hi' }), 'SendMessage.message: expected bin, got a string');
    assert.equal(
      error('JoinRoom', { room_id: 'r', user_data: bin, position: [0] }),
      'JoinRoom.position: expected an array of 2 or 3 numbers',
    );
    assert.equal(
      error('SetPeerPosition', { position: [0, Number.NaN] }),
      'SetPeerPosition.position[1]: expected a finite number',
    );
    assert.equal(
      error('StartMedia', { media_id: 70000, properties: {} }),
      'StartMedia.media_id: expected an unsigned integer <= 65535',
    );
    assert.equal(error('UpdatePeer', [1]), 'UpdatePeer: expected a map, got an array');
    assert.equal(error('Authenticate', {}), 'Authenticate.token: expected a string, got nil');
    assert.equal(
      error('WebRtcUpdate', { kind: 'Sdp', type: 'Pranswer', sdp: '' }),
      'WebRtcUpdate.type: expected "Offer" or "Answer"',
    );
  });

  test('sizes are capped', () => {
    assert.equal(
      error('UpdatePeer', { user_data: new Uint8Array(MAX_USER_DATA_SIZE + 1) }),
      `UpdatePeer.user_data: larger than ${MAX_USER_DATA_SIZE} bytes`,
    );
  });

  test('WebRtcUpdate shapes, RequestReconnectToken, Ping', () => {
    assert.ok(
      validateParams('WebRtcUpdate', { kind: 'Trickle', candidate: 'candidate:1', spd_mline_index: 0 }).ok,
    );
    assert.deepEqual(validateParams('WebRtcUpdate', { kind: 'TrickleFinished' }), {
      ok: true,
      params: { kind: 'TrickleFinished' },
    });
    assert.deepEqual(validateParams('RequestReconnectToken', { peer_id: 4 }), {
      ok: true,
      params: { peer_id: 4 },
    });
    assert.deepEqual(validateParams('RequestReconnectToken', {}), { ok: true, params: {} });
    assert.deepEqual(validateParams('Ping', {}), { ok: true, params: {} });
    assert.deepEqual(validateParams('StartMedia', { media_id: 3 }), {
      ok: true,
      params: { media_id: 3, properties: {} },
    });
  });

  test('method names are looked up without prototype surprises', () => {
    assert.equal(isMethodName('JoinRoom'), true);
    assert.equal(isMethodName('toString'), false);
    assert.equal(isMethodName('__proto__'), false);
  });

  test('StartMedia.properties: depth and encoded size are bounded, only plain MessagePack values', () => {
    const nested = (depth: number): Record<string, unknown> => {
      let value: Record<string, unknown> = { leaf: 1 };
      for (let i = 1; i < depth; i++) value = { a: value };
      return value;
    };
    assert.ok(validateParams('StartMedia', { media_id: 1, properties: nested(MAX_PROPERTIES_DEPTH) }).ok);
    assert.equal(
      error('StartMedia', { media_id: 1, properties: nested(MAX_PROPERTIES_DEPTH + 1) }),
      `StartMedia.properties${'.a'.repeat(MAX_PROPERTIES_DEPTH)}: nested deeper than ${MAX_PROPERTIES_DEPTH} levels`,
    );
    assert.match(
      error('StartMedia', { media_id: 1, properties: { kind: 'audio', list: [[[[[[[[[]]]]]]]]] } }),
      /^StartMedia\.properties\.list(\[0\]){7}: nested deeper than 8 levels$/,
    );
    assert.match(
      error('StartMedia', { media_id: 1, properties: { blob: new Uint8Array(MAX_PROPERTIES_SIZE) } }),
      /^StartMedia\.properties: larger than 8192 bytes encoded \(\d+\)$/,
    );
    assert.equal(
      error('StartMedia', { media_id: 1, properties: { when: new Date(0) } }),
      'StartMedia.properties.when: expected a MessagePack value, got an extension type',
    );
    const fine = { kind: 'audio', uid: 'mic', n: [1, 2.5, null, true, new Uint8Array(3), { x: 'y' }] };
    assert.deepEqual(validateParams('StartMedia', { media_id: 1, properties: fine }), {
      ok: true,
      params: { media_id: 1, properties: fine },
    });
  });

  test('WebRtcUpdate.media_map is bounded like properties', () => {
    const deep = JSON.parse(`${'['.repeat(12)}${']'.repeat(12)}`);
    assert.match(
      error('WebRtcUpdate', { kind: 'Sdp', type: 'Offer', sdp: 'v=0', media_map: deep }),
      /^WebRtcUpdate\.media_map(\[0\])+: nested deeper than 8 levels$/,
    );
    assert.ok(
      validateParams('WebRtcUpdate', { kind: 'Sdp', type: 'Offer', sdp: 'v=0', media_map: [[1, 'a']] }).ok,
    );
  });
});
