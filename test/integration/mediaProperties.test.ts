/**
 * Issue 14, defect 3: one peer must not be able to make a room unjoinable. `StartMedia`
 * properties deeper or larger than the limits are refused at the boundary (nothing recorded),
 * a frame nested beyond the decoder's depth closes only its sender, and every later join of
 * the room still gets its `Joined`, with the properties that were accepted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OdinRoom } from '../../client/odinClient.ts';
import { RpcError } from '../../client/rpcSocket.ts';
import { MAX_PROPERTIES_DEPTH } from '../../server/protocol/methods.ts';
import { encodeMsgpack } from '../../server/protocol/msgpackRpc.ts';
import { eventually, startTestGrid, type TestGrid } from '../helpers/testGrid.ts';

/** `{a: {a: ... {leaf: 1}}}`, `depth` maps deep. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

describe('StartMedia properties cannot make a room unjoinable', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid();
  });
  after(() => grid.close());

  async function join(user: string, roomId: string): Promise<OdinRoom> {
    const client = await grid.connect(user, roomId);
    return client.joinRoom(roomId);
  }

  test('too deep or too large properties are refused and not recorded; later joins see the accepted ones', async () => {
    const mallory = await join('mallory', 'deep');
    const pool = mallory.joined.media_ids;
    await assert.rejects(
      mallory.startMedia(pool[0], nested(MAX_PROPERTIES_DEPTH + 4)),
      (error: Error) =>
        error instanceof RpcError &&
        /StartMedia\.properties(\.a)+: nested deeper than 8 levels/.test(error.message),
    );
    await assert.rejects(
      mallory.startMedia(pool[1], { blob: new Uint8Array(9000) }),
      /StartMedia\.properties: larger than 8192 bytes encoded/,
    );
    const accepted = { kind: 'audio', uid: 'mic', extra: nested(MAX_PROPERTIES_DEPTH - 1) };
    assert.equal(await mallory.startMedia(pool[2], accepted), null);

    for (const user of ['alice', 'bob', 'carol']) {
      const room = await join(user, 'deep');
      const peer = room.joined.room.peers.find((p) => p.id === mallory.ownPeerId);
      assert.ok(peer, `${user} sees mallory`);
      assert.deepEqual(
        peer.medias.map((media) => [media.id, media.properties]),
        [[pool[2], accepted]],
        'only the accepted media, with its properties',
      );
    }
    assert.deepEqual(grid.logs.errors, [], 'no internal error was logged');
  });

  test('properties nested beyond the decoder depth: only the sender is closed, the room stays joinable', async () => {
    const mallory = await join('mallory', 'deeper');
    const witness = await join('walter', 'deeper');
    // 120 levels: more than the encoder's limit (100), so the bytes are written by hand.
    const properties = Uint8Array.from([...new Array(120).fill(0x81).flatMap((m) => [m, 0xa1, 0x61]), 0xc0]);
    const head = encodeMsgpack([
      0,
      99,
      'StartMedia',
      { media_id: mallory.joined.media_ids[0], properties: 0 },
    ]);
    // Replace the trailing placeholder 0 (positive fixint 0x00) by the deep properties.
    const frame = Uint8Array.from([...head.subarray(0, head.length - 1), ...properties]);
    const closed = mallory.next('closed');
    mallory.stream.sendRaw(frame);
    const [, reason] = await closed;
    assert.match(reason, /protocol error: malformed MessagePack: nesting deeper than 16/);
    await eventually(() => grid.sfu.getRoom('', 'deeper')?.peers.size === 1, 'mallory gone from the room');

    const late = await join('late', 'deeper');
    assert.deepEqual(
      late.joined.room.peers.map((p) => p.id),
      [witness.ownPeerId],
    );
    assert.deepEqual(grid.logs.errors, [], 'no internal error was logged');
  });
});
