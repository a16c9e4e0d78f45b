/**
 * Unauthenticated connections over the real web transport (docs/security.md): they have their
 * own budget per source address and a deadline, and do not take `[limit] max_clients`.
 * The idle sockets come from 127.0.0.2, the real client from 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { startTestGrid, type TestGrid } from '../helpers/testGrid.ts';
import { waitFor } from '../helpers/waitFor.ts';

let grid: TestGrid;
// The deadline outlasts opening the 12 sockets and alice's join on a busy machine (at 1.5 s the
// first idle sockets could be closed before the eighth was open).
before(async () => {
  grid = await startTestGrid({
    toml: '[limit]\nmax_clients = 1\nmax_unauthenticated_per_address = 8\nauthentication_timeout = 5000',
  });
});
after(() => grid.close());

type Idle = { socket: WebSocket; closed: Promise<{ code: number; reason: string }> };

async function idleSocket(): Promise<Idle> {
  const socket = new WebSocket(`wss://${grid.address}/main`, { ca: grid.ca, localAddress: '127.0.0.2' });
  grid.track(() => socket.terminate());
  socket.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code: number, reason: Buffer) =>
      resolve({ code, reason: reason.toString('utf8') }),
    ),
  );
  await new Promise<void>((resolve) => {
    socket.once('open', () => resolve());
    socket.once('close', () => resolve());
  });
  return { socket, closed };
}

test('idle sockets are held to their share and their deadline, and never take max_clients', async () => {
  const idle: Idle[] = [];
  for (let i = 0; i < 12; i++) idle.push(await idleSocket());
  // The 4 over the per-address share are closed at once, with the reason.
  const over = await Promise.all(idle.slice(8).map((s) => s.closed));
  for (const { code, reason } of over) {
    assert.equal(code, 4000);
    assert.match(reason, /too many connections from your address waiting to authenticate/);
  }
  await waitFor(() => grid.sfu.unauthenticatedCount === 8, '8 sockets waiting');
  // max_clients = 1 and 8 sockets open: a real client still authenticates and joins.
  const alice = await grid.connect('alice', 'lobby');
  await alice.joinRoom('lobby');
  assert.equal(grid.sfu.clientCount, 1);
  // Past authentication_timeout every idle socket is closed with the reason; alice stays.
  for (const { code, reason } of await Promise.all(idle.slice(0, 8).map((s) => s.closed))) {
    assert.equal(code, 4000);
    assert.match(reason, /not authenticated within 5000 ms/);
  }
  assert.equal(grid.sfu.unauthenticatedCount, 0);
  assert.equal(grid.sfu.clientCount, 1);
});
