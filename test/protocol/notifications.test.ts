import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeRpcFrame } from '../../server/protocol/msgpackRpc.ts';
import * as note from '../../server/protocol/notifications.ts';

const decode = (bytes: Uint8Array) => decodeRpcFrame(bytes);

describe('notifications', () => {
  test('RoomUpdated Joined has the exact ODIN shape', () => {
    const peer = {
      id: 2,
      user_id: 'u',
      user_data: new Uint8Array([1]),
      medias: [{ id: 5, properties: { kind: 'audio' }, paused: false }],
    };
    assert.deepEqual(
      decode(note.joined({ id: 'r', customer: 'c', user_data: new Uint8Array(), peers: [peer] }, [7, 8], 3)),
      {
        type: 'notification',
        method: 'RoomUpdated',
        params: {
          updates: [
            {
              kind: 'Joined',
              room: { id: 'r', customer: 'c', user_data: new Uint8Array(), peers: [peer] },
              media_ids: [7, 8],
              own_peer_id: 3,
            },
          ],
        },
      },
    );
  });

  test('the other builders', () => {
    const params = (bytes: Uint8Array) => (decode(bytes) as { params: unknown }).params;
    assert.deepEqual(params(note.left('PeerKicked')), { updates: [{ kind: 'Left', reason: 'PeerKicked' }] });
    assert.deepEqual(params(note.peerLeft(9)), { updates: [{ kind: 'PeerLeft', peer_id: 9 }] });
    assert.deepEqual(params(note.mediaStopped(1, 2)), { kind: 'MediaStopped', peer_id: 1, media_id: 2 });
    assert.deepEqual(params(note.messageReceived(1, new Uint8Array([9]))), {
      sender_peer_id: 1,
      message: new Uint8Array([9]),
    });
    assert.deepEqual(params(note.roomStatusChanged('Joined')), { status: 'Joined' });
    assert.deepEqual(
      (decode(note.messageReceived(1, new Uint8Array())) as { method: string }).method,
      'MessageReceived',
    );
  });

  test('a peer id of 2^32-1 is encoded as uint32, never uint64', () => {
    const bytes = note.peerLeft(2 ** 32 - 1);
    assert.ok(Buffer.from(bytes).includes(Buffer.from([0xce, 0xff, 0xff, 0xff, 0xff])));
    assert.ok(!bytes.includes(0xcf));
  });
});
