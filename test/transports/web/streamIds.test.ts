/**
 * `/room?<stream_id>` is generation A's only credential for a room stream (docs/security.md):
 * ids are 53 random bits, single-use, short-lived, and a source that keeps naming ids that do
 * not wait is refused. Real sockets against a real grid; the guesser connects from another
 * loopback address (127.0.0.2) than the legitimate clients (127.0.0.1).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { AttachGuard } from '../../../server/core/attachGuard.ts';
import { startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';

let grid: TestGrid;
// The guard's clock stands still unless a test moves it: its bucket refills 1 failure a second,
// and on a busy machine 40 TLS connections take long enough to earn a few more.
let nowMs = 1_000_000;
before(async () => {
  grid = await startTestGrid({ attachGuard: new AttachGuard({ now: () => nowMs }) });
});
after(() => grid.close());

/** Opens `/room?<query>` from `localAddress`: the close code, or the HTTP status of a refused upgrade. */
async function attach(
  query: string,
  localAddress: string,
): Promise<{ code?: number; status?: number; socket?: WebSocket }> {
  const socket = new WebSocket(`wss://${grid.address}/room?${query}`, { ca: grid.ca, localAddress });
  grid.track(() => socket.terminate());
  socket.on('error', () => {});
  return await new Promise((resolve) => {
    socket.once('unexpected-response', (_request, response: { statusCode: number }) => {
      socket.terminate();
      resolve({ status: response.statusCode });
    });
    socket.once('close', (code: number) => resolve({ code }));
    socket.once('message', () => resolve({ socket }));
  });
}

async function joinA(user: string, room: string): Promise<number> {
  const client = await grid.connect(user, room);
  const { stream_id: streamId } = (await client.main.request('JoinRoom', {
    room_id: room,
    user_data: new Uint8Array(),
    position: [0, 0],
  })) as { stream_id: number };
  return streamId;
}

test('JoinRoom answers stream ids above 32 bits; the id opens the room stream once', async () => {
  const ids: number[] = [];
  for (let i = 0; i < 4; i++) ids.push(await joinA(`u${i}`, `big-ids-${i}`));
  // 53 random bits: four ids all below 2^32 has probability 2^-84.
  assert.ok(
    ids.some((id) => id > 2 ** 32),
    `ids ${ids}`,
  );
  const first = await attach(String(ids[0]), '127.0.0.1');
  assert.ok(first.socket, 'the room stream opened and Joined arrived');
  assert.equal((await attach(String(ids[0]), '127.0.0.1')).code, 1008, 'single use');
});

test('a source that guesses is refused with 429 after its burst; other sources still attach', async () => {
  const refusedBefore = grid.webListener.attachGuard.refused;
  const answers: { code?: number; status?: number }[] = [];
  // Bounded: 40 guesses. The first 20 (the burst) are looked up and closed with 1008.
  for (let i = 0; i < 40; i++) {
    answers.push(await attach(String(1_000_000 + i), '127.0.0.2'));
  }
  assert.ok(answers.slice(0, 20).every((answer) => answer.code === 1008));
  assert.ok(
    answers.slice(20).every((answer) => answer.status === 429),
    JSON.stringify(answers.slice(20)),
  );
  assert.equal(grid.webListener.attachGuard.refused - refusedBefore, 20);
  // The guesser's own valid id is refused too while it is blocked; a legitimate source attaches.
  const id = await joinA('legit', 'guessed-room');
  assert.equal((await attach(String(id), '127.0.0.2')).status, 429);
  assert.ok((await attach(String(id), '127.0.0.1')).socket);
  // A second later the bucket has forgiven one failure: one more guess is looked up, then 429.
  nowMs += 1_000;
  assert.equal((await attach('2000000', '127.0.0.2')).code, 1008);
  assert.equal((await attach('2000001', '127.0.0.2')).status, 429);
});

test('a generation B peer opens its room stream by its token only, not by its stream id', async () => {
  const main = await grid.socket('/main');
  const answer = (await main.request('JoinRoom', {
    token: await grid.token(['gen-b-ids'], 'bea'),
    room_id: 'gen-b-ids',
    user_data: new Uint8Array(),
    position: [0, 0],
  })) as { stream_id: number; token: string };
  assert.equal((await attach(String(answer.stream_id), '127.0.0.1')).code, 1008);
  assert.ok((await attach(`token=${encodeURIComponent(answer.token)}`, '127.0.0.1')).socket);
});
