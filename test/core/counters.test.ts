import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RpcErrorCode } from '../../server/core/errors.ts';
import { encodeVoicePacket } from '../../server/protocol/voicePacket.ts';
import { bytes, flush, Harness } from './helpers.ts';

describe('counters and observer events that metrics read', () => {
  test('voice bytes in and out are counted beside the packets', () => {
    const h = new Harness();
    const alice = h.join('alice');
    h.join('bob');
    h.join('carol');
    const packet = encodeVoicePacket({
      mediaIds: [alice.startMedia()],
      seq: 1,
      ts: 1800,
      opus: bytes('opus'),
    });
    h.sfu.handleVoice(alice.owner.client, packet);
    assert.equal(h.sfu.voiceStats.received_bytes, packet.length);
    assert.equal(h.sfu.voiceStats.forwarded, 2);
    assert.equal(h.sfu.voiceStats.forwarded_bytes, 2 * packet.length);
  });

  test('every validated call reports its method, duration and outcome on rpccompleted', () => {
    const h = new Harness();
    const seen: [string, number, RpcErrorCode | undefined][] = [];
    h.sfu.observer.on('rpccompleted', (method, ms, code) => seen.push([method, ms, code]));
    const alice = h.join('alice');
    alice.call('StopMedia', { media_id: 1 });
    assert.deepEqual(seen, [
      ['JoinRoom', 0, undefined],
      ['StopMedia', 0, 'bad_media'],
    ]);
  });

  test('refused tokens are counted by the authenticator error code', async () => {
    const codeError = (code: string) => Object.assign(new Error(code), { code });
    const h = new Harness({
      authenticate: async (token) => {
        throw token === 'plain' ? new Error('no code') : codeError(token);
      },
    });
    for (const token of ['expired', 'expired', 'bad_signature', 'plain']) {
      h.client().call('Authenticate', { token });
      await flush();
    }
    assert.deepEqual(h.sfu.counters.auth_failures, { expired: 2, bad_signature: 1, other: 1 });
  });

  test('a server message reaches every peer of the user in that room, from peer id 0', () => {
    const h = new Harness();
    const alice = h.join('alice');
    const bob = h.join('bob');
    const bob2 = h.join('bob');
    assert.equal(h.sfu.sendRoomMessage('', 'lobby', 'bob', bytes('hi')), 2);
    assert.deepEqual(bob.events().at(-1), 'Message from 0');
    assert.deepEqual(bob2.events().at(-1), 'Message from 0');
    assert.ok(!alice.events().includes('Message from 0'));
    assert.equal(h.sfu.sendRoomMessage('', 'lobby', '', bytes('all')), 3);
    assert.equal(h.sfu.sendRoomMessage('', 'nowhere', 'bob', bytes('x')), 0);
  });
});
