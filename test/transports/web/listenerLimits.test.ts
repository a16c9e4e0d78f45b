/**
 * The `[http]` listener's own limits (docs/security.md): a TLS handshake deadline, a deadline
 * for a complete request (slowloris), a connection cap, and log lines an attacker cannot
 * multiply. Real sockets against a real grid; the short timeouts are set in the config so that
 * the test waits for the server's close (an event), never for a sleep.
 */
import assert from 'node:assert/strict';
import { connect as connectTcp, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { LOOPBACK, startTestGrid, type TestGrid } from '../../helpers/testGrid.ts';
import { waitFor } from '../../helpers/waitFor.ts';

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

function openTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: LOOPBACK, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function openTls(grid: TestGrid): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connectTls(
      { host: LOOPBACK, port: grid.webListener.port, ca: grid.ca, servername: 'localhost' },
      () => resolve(socket),
    );
    socket.once('error', reject);
  });
}

describe('handshake and request deadlines', () => {
  let grid: TestGrid;
  before(async () => {
    // Short enough to wait for, long enough for a busy machine's legitimate TLS handshakes and
    // upgrades (client and server share this process) to finish inside them.
    grid = await startTestGrid({ toml: '[http]\nhandshake_timeout = 1500\nrequest_timeout = 3000' });
  });
  after(() => grid.close());

  test('a TCP connection that never sends a TLS hello is closed (handshake_timeout)', async () => {
    const socket = await openTcp(grid.webListener.port);
    socket.on('error', () => {});
    await closed(socket);
  });

  test('a slowloris (headers one line at a time, never finished) is closed (request_timeout)', async () => {
    const socket = await openTls(grid);
    socket.on('error', () => {});
    socket.write('GET /main HTTP/1.1\r\nHost: localhost\r\n');
    let lines = 0;
    const drip = setInterval(() => {
      // Bounded: 300 lines at 100 ms is 30 s, the wait cap of every test here.
      if (socket.destroyed || ++lines > 300) return clearInterval(drip);
      socket.write(`x-slow-${lines}: a\r\n`);
    }, 100);
    await closed(socket);
    clearInterval(drip);
    assert.ok(lines < 300, 'the server closed the connection before the drip ran out');
  });

  test('an upgraded WebSocket outlives request_timeout (the deadline is for the upgrade request only)', async () => {
    const main = await grid.socket('/main');
    // Pings keep it alive for `[http] timeout`; the request deadline must not apply any more.
    const token = await grid.token('lobby', 'ws-user');
    await main.request('Authenticate', { token });
    const start = Date.now();
    await waitFor(() => Date.now() - start > 3_500, 'request_timeout to pass');
    assert.deepEqual(await main.request('Ping', {}), null);
  });

  test('a POST / aborted mid-body leaves no error line; a flood of bad tokens leaves one info line', async () => {
    for (let i = 0; i < 5; i++) {
      const socket = await openTls(grid);
      socket.on('error', () => {});
      socket.write(
        'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc"',
      );
      socket.destroy();
    }
    for (let i = 0; i < 20; i++) {
      const response = await fetchConnect(grid, 'not-a-token');
      assert.equal(response, 401);
    }
    assert.deepEqual(grid.logs.errors, []);
    assert.equal(grid.logs.find('Connect refused').length, 1);
  });
});

/** `POST /` Connect with `token`, over TLS trusting the grid's certificate; the HTTP status. */
async function fetchConnect(grid: TestGrid, token: string): Promise<number> {
  const socket = await openTls(grid);
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Connect', params: {} });
  socket.write(
    `POST / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  await closed(socket);
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
}

describe('max_connections', () => {
  let grid: TestGrid;
  before(async () => {
    grid = await startTestGrid({ toml: '[http]\nmax_connections = 3\nhandshake_timeout = 60000' });
  });
  after(() => grid.close());

  test('connections over the cap are closed at once; those under it stay open', async () => {
    const held = await Promise.all([1, 2, 3].map(() => openTcp(grid.webListener.port)));
    for (const socket of held) socket.on('error', () => {});
    const extra = await openTcp(grid.webListener.port);
    extra.on('error', () => {});
    await closed(extra);
    await waitFor(() => grid.webListener.droppedConnections === 1, 'the drop to be counted');
    assert.ok(held.every((socket) => !socket.destroyed));
    for (const socket of held) socket.destroy();
    await Promise.all(held.map(closed));
    // A slot frees as soon as a held connection closes.
    await waitFor(async () => {
      const socket = await openTcp(grid.webListener.port);
      socket.on('error', () => {});
      const open = await new Promise<boolean>((resolve) => {
        socket.once('close', () => resolve(false));
        setTimeout(() => resolve(!socket.destroyed), 200);
      });
      socket.destroy();
      return open;
    }, 'a connection under the cap to stay open');
  });
});
